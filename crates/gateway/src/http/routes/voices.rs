//! Voices: the catalogue for clients, and admin registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::audit::{action, target};
use crate::domain::options::{is_language_code, Gender};
use crate::domain::records::Voice;
use crate::engine::Provider;
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, Authed, JsonBody, QueryParams};
use crate::http::routes::audit::entry;
use crate::http::views::VoiceResponse;
use crate::http::AppState;
use crate::store::{NewVoice, StoreError, VoiceFilter};

/// Filters of `GET /v1/voices`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VoiceQuery {
    /// Language in `en-US` form.
    pub language: Option<String>,
    /// `male`, `female` or `neutral`.
    pub gender: Option<Gender>,
}

impl VoiceQuery {
    fn filter(self, include_inactive: bool) -> Result<VoiceFilter, ApiError> {
        if let Some(language) = &self.language {
            if !is_language_code(language) {
                return Err(ApiError::field("language", "must look like en-US"));
            }
        }
        Ok(VoiceFilter {
            language: self.language,
            gender: self.gender,
            include_inactive,
        })
    }
}

fn views(state: &AppState, voices: &[Voice]) -> Vec<VoiceResponse> {
    voices
        .iter()
        .map(|v| VoiceResponse::new(v, state.synthesis.unavailable_reason(v)))
        .collect()
}

/// Active voices, optionally filtered.
#[utoipa::path(
    get,
    path = "/v1/voices",
    tag = "voices",
    params(VoiceQuery),
    responses((status = 200, description = "Active voices", body = Vec<VoiceResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_voices(
    State(state): State<AppState>,
    Authed(_caller): Authed,
    QueryParams(query): QueryParams<VoiceQuery>,
) -> Result<Json<Vec<VoiceResponse>>, ApiError> {
    let voices = state.store.list_voices(&query.filter(false)?).await?;
    Ok(Json(views(&state, &voices)))
}

/// Every voice, inactive and cloned ones included, with expiry.
#[utoipa::path(
    get,
    path = "/admin/voices",
    tag = "admin",
    params(VoiceQuery),
    responses((status = 200, description = "Every voice, with expiry of cloned ones", body = Vec<VoiceResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn admin_list_voices(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    QueryParams(query): QueryParams<VoiceQuery>,
) -> Result<Json<Vec<VoiceResponse>>, ApiError> {
    let voices = state.store.list_voices(&query.filter(true)?).await?;
    Ok(Json(views(&state, &voices)))
}

/// A voice in the later catalogue shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceListItem {
    /// Name to pass as `voice_id` (or `voice_name`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Accent.
    pub accent: Option<String>,
    /// Tone.
    pub tone: Option<String>,
    /// Use cases.
    pub use_cases: Vec<String>,
    /// Curated voice.
    pub is_verified: bool,
    /// Engine.
    pub provider: Provider,
    /// Whether this server can speak it now.
    pub available: bool,
}

/// Active voices in the later catalogue shape.
#[utoipa::path(
    get,
    path = "/v1/voices/list",
    tag = "voices",
    params(VoiceQuery),
    responses((status = 200, description = "Active voices, catalogue shape", body = Vec<VoiceListItem>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_voice_catalogue(
    State(state): State<AppState>,
    Authed(_caller): Authed,
    QueryParams(query): QueryParams<VoiceQuery>,
) -> Result<Json<Vec<VoiceListItem>>, ApiError> {
    let voices = state.store.list_voices(&query.filter(false)?).await?;
    Ok(Json(
        voices
            .iter()
            .map(|v| VoiceListItem {
                id: v.friendly_name.clone(),
                name: v
                    .display_name
                    .clone()
                    .unwrap_or_else(|| v.friendly_name.clone()),
                description: v.description.clone(),
                language: v.language.clone(),
                gender: v.gender,
                accent: v.accent.clone(),
                tone: v.tone.clone(),
                use_cases: v.use_cases.clone(),
                is_verified: v.is_verified,
                provider: v.provider,
                available: state.synthesis.unavailable_reason(v).is_none(),
            })
            .collect(),
    ))
}

/// Body of `POST /admin/voices`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateVoiceRequest {
    /// Unique name: 1..=64 of `A-Z a-z 0-9 . _ -`.
    pub friendly_name: String,
    /// The engine's voice id (the original field name; MiniMax voice id).
    #[serde(alias = "engine_voice_id")]
    pub minimax_voice_id: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Description (≤ 500 characters).
    pub description: Option<String>,
    /// Made by cloning.
    #[serde(default)]
    pub is_cloned: bool,
    /// Engine (default `minimax`).
    pub provider: Option<Provider>,
}

/// Checks a friendly name.
pub fn validate_friendly_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "friendly_name",
            "must be 1 to 64 characters of letters, digits, '.', '_' or '-'",
        ))
    }
}

/// Registers a voice.
#[utoipa::path(
    post,
    path = "/admin/voices",
    tag = "admin",
    request_body = CreateVoiceRequest,
    responses((status = 201, body = VoiceResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody), (status = 409, description = "Name taken", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create_voice(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(body): JsonBody<CreateVoiceRequest>,
) -> Result<(StatusCode, Json<VoiceResponse>), ApiError> {
    validate_friendly_name(&body.friendly_name)?;
    let engine_id = body.minimax_voice_id.as_str();
    if engine_id.is_empty() || engine_id.len() > 256 || engine_id.chars().any(char::is_control) {
        return Err(ApiError::field(
            "minimax_voice_id",
            "must be 1 to 256 characters without control characters",
        ));
    }
    if !is_language_code(&body.language) {
        return Err(ApiError::field("language", "must look like en-US"));
    }
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(ApiError::field(
            "description",
            "must be at most 500 characters",
        ));
    }
    let voice = NewVoice {
        friendly_name: body.friendly_name.clone(),
        provider: body.provider.unwrap_or(Provider::Minimax),
        engine_voice_id: body.minimax_voice_id,
        language: body.language,
        gender: body.gender,
        description: body.description,
        is_cloned: body.is_cloned,
        expires_at: None,
    };
    let audit = entry(&admin, action::VOICE_CREATE, target::VOICE).details(serde_json::json!({
        "friendly_name": voice.friendly_name,
        "provider": voice.provider.as_str(),
        "engine_voice_id": voice.engine_voice_id,
        "language": voice.language,
        "gender": voice.gender.as_str(),
        "is_cloned": voice.is_cloned,
    }));
    let created = state.store.create_voice(voice, audit);
    let voice = created.await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict(format!(
            "a voice named {} already exists",
            body.friendly_name
        )),
        other => other.into(),
    })?;
    state.synthesis.forget_voices();
    let reason = state.synthesis.unavailable_reason(&voice);
    Ok((
        StatusCode::CREATED,
        Json(VoiceResponse::new(&voice, reason)),
    ))
}
