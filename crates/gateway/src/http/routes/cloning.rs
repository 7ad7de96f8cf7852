//! Admin: `POST /admin/voices/clone` — multipart sample plus the voice's details.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;

use super::voices::validate_friendly_name;
use crate::domain::options::{is_language_code, Gender};
use crate::engine::CloneSample;
use crate::error::ApiError;
use crate::http::extract::Admin;
use crate::http::views::VoiceResponse;
use crate::http::AppState;
use crate::service::cloning::{self, CloneRequest, MAX_SAMPLE_BYTES};

/// Body limit of the clone route: the largest sample plus the form fields.
pub const MAX_CLONE_BODY: usize = MAX_SAMPLE_BYTES + 64 * 1024;

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
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {e}"))
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or("sample").to_string();
            form.file = Some((filename, field.bytes().await.map_err(bad)?));
        } else if !name.is_empty() {
            let value = field.text().await.map_err(bad)?;
            form.fields.insert(name, value);
        }
    }
    Ok(form)
}

/// Clones a voice from an uploaded sample and registers it (`is_cloned: true`, with expiry).
pub async fn clone_voice(
    State(state): State<AppState>,
    Admin(_): Admin,
    multipart: Multipart,
) -> Result<(StatusCode, Json<VoiceResponse>), ApiError> {
    let mut form = read_form(multipart).await?;
    let (filename, bytes) = form
        .file
        .take()
        .ok_or_else(|| ApiError::field("file", "is required (the audio sample)"))?;
    let field = |name: &str| {
        form.fields
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let friendly_name =
        field("friendly_name").ok_or_else(|| ApiError::field("friendly_name", "is required"))?;
    validate_friendly_name(&friendly_name)?;
    let language = field("language").ok_or_else(|| ApiError::field("language", "is required"))?;
    if !is_language_code(&language) {
        return Err(ApiError::field("language", "must look like en-US"));
    }
    let gender = field("gender")
        .as_deref()
        .and_then(Gender::parse)
        .ok_or_else(|| ApiError::field("gender", "must be male, female or neutral"))?;
    let description = field("description");
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(ApiError::field(
            "description",
            "must be at most 500 characters",
        ));
    }
    let request = CloneRequest {
        sample: CloneSample { bytes, filename },
        friendly_name,
        language,
        gender,
        description,
        voice_id: field("voice_id"),
    };
    let voice = cloning::clone_voice(&state.store, state.synthesis.engines(), request).await?;
    let reason = state.synthesis.unavailable_reason(&voice);
    Ok((
        StatusCode::CREATED,
        Json(VoiceResponse::new(&voice, reason)),
    ))
}
