//! Admin: `POST /admin/voices/clone` — multipart sample plus the voice's details.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;

use crate::domain::options::Gender;
use crate::engine::CloneSample;
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, FormBody};
use crate::http::views::VoiceResponse;
use crate::http::AppState;
use crate::http::{json, request_body};
use crate::service::admin::{CloneRequest, MAX_SAMPLE_BYTES};

/// Body limit of the clone route: the largest sample plus the form fields.
pub const MAX_CLONE_BODY: usize = MAX_SAMPLE_BYTES + 64 * 1024;

/// The multipart form of `POST /admin/voices/clone` (for the API document).
#[derive(utoipa::ToSchema)]
pub struct CloneVoiceForm {
    /// The sample: mp3, m4a or wav, at most 20 MB, 10 s to 5 min.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Unique name clients will use: 1..=64 of `A-Z a-z 0-9 . _ -`.
    pub friendly_name: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Description (≤ 500 characters).
    pub description: Option<String>,
    /// MiniMax voice id (8–256 characters, starts with a letter); generated when absent.
    pub voice_id: Option<String>,
}

#[derive(Default)]
struct Form {
    file: Option<(String, Bytes)>,
    fields: std::collections::HashMap<String, String>,
}

async fn read_form(mut multipart: Multipart) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("the sample must be at most 20 MB".into())
        } else if request_body::is_too_slow(&e) {
            ApiError::RequestTimeout("the request body took too long to arrive".into())
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {e}"))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        json::check_text(&name, &name)?;
        if name == "file" {
            let filename = field.file_name().unwrap_or("sample").to_string();
            json::check_text("file", &filename)?;
            form.file = Some((filename, field.bytes().await.map_err(bad)?));
        } else if !name.is_empty() {
            let value = field.text().await.map_err(bad)?;
            json::check_text(&name, &value)?;
            form.fields.insert(name, value);
        }
    }
    Ok(form)
}

/// Clones a voice from an uploaded sample and registers it (`is_cloned: true`, with expiry).
#[utoipa::path(
    post,
    path = "/admin/voices/clone",
    tag = "admin",
    request_body(content = CloneVoiceForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "Cloned and registered", body = VoiceResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody), (status = 409, description = "Name or voice id taken", body = ErrorBody), (status = 413, description = "Sample over 20 MB", body = ErrorBody), (status = 503, description = "MiniMax not configured or unavailable", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn clone_voice(
    State(state): State<AppState>,
    admin: Admin,
    FormBody(multipart): FormBody,
) -> Result<(StatusCode, Json<VoiceResponse>), ApiError> {
    let mut form = read_form(multipart).await?;
    // Blank fields count as absent: an HTML form sends its empty inputs too.
    let mut field = |name: &str| {
        form.fields
            .remove(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let request = CloneRequest {
        friendly_name: field("friendly_name"),
        language: field("language"),
        gender: field("gender"),
        description: field("description"),
        voice_id: field("voice_id"),
        sample: form
            .file
            .take()
            .map(|(filename, bytes)| CloneSample { bytes, filename }),
    };
    let voices = &state.admin.voices;
    let voice = voices.clone_voice(&admin.actor(), request).await?;
    Ok((StatusCode::CREATED, Json(VoiceResponse::from(&voice))))
}
