//! Voices: the catalogue for clients, and admin registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::options::Gender;
use crate::engine::Provider;
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, Authed, JsonBody, QueryParams};
use crate::http::views::VoiceResponse;
use crate::http::AppState;
use crate::service::admin::NewVoiceRequest;
use crate::service::voices::ListedVoice;

/// Filters of `GET /v1/voices`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VoiceQuery {
    /// Language in `en-US` form.
    pub language: Option<String>,
    /// `male`, `female` or `neutral`.
    pub gender: Option<Gender>,
}

fn views(voices: &[ListedVoice]) -> Vec<VoiceResponse> {
    voices.iter().map(VoiceResponse::from).collect()
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
    let voices = state.voices.active(query.language, query.gender).await?;
    Ok(Json(views(&voices)))
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
    let voices = state.voices.all(query.language, query.gender).await?;
    Ok(Json(views(&voices)))
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

impl From<&ListedVoice> for VoiceListItem {
    fn from(listed: &ListedVoice) -> Self {
        let v = &listed.voice;
        VoiceListItem {
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
            available: listed.unavailable_reason.is_none(),
        }
    }
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
    let voices = state.voices.active(query.language, query.gender).await?;
    Ok(Json(voices.iter().map(VoiceListItem::from).collect()))
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
    admin: Admin,
    JsonBody(body): JsonBody<CreateVoiceRequest>,
) -> Result<(StatusCode, Json<VoiceResponse>), ApiError> {
    let request = NewVoiceRequest {
        friendly_name: body.friendly_name,
        engine_voice_id: body.minimax_voice_id,
        language: body.language,
        gender: body.gender,
        description: body.description,
        is_cloned: body.is_cloned,
        provider: body.provider,
    };
    let voices = &state.admin.voices;
    let voice = voices.register_voice(&admin.actor(), request).await?;
    Ok((StatusCode::CREATED, Json(VoiceResponse::from(&voice))))
}
