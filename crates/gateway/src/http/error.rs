//! Turns [`ApiError`] into the one error body: `{"detail","code","request_id"}`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::context::current_request_id;
use crate::error::ApiError;
use crate::limits::RateDecision;
use crate::service::synthesis::SynthesisError;

/// The error body every non-2xx response carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Human-readable reason; old clients read this field.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// The request id, also in `X-Request-ID`.
    pub request_id: String,
}

/// Attached to error responses so the request log can record the internal cause once.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

/// Adds what every error response carries besides its body, whatever the body's shape:
/// `Retry-After` for limit refusals, and the internal cause for the request log.
pub fn attach_error_metadata(response: &mut Response, error: &ApiError) {
    if let ApiError::RateLimited {
        retry_after_secs, ..
    } = error
    {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from((*retry_after_secs).max(1)));
    }
    if let ApiError::EngineBusy = error {
        // A slot frees as soon as one synthesis ends: seconds at most.
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    if let Some(cause) = error.cause() {
        response
            .extensions_mut()
            .insert(ErrorCause(cause.to_string()));
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            detail: self.to_string(),
            code: self.code(),
            request_id: current_request_id(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        attach_error_metadata(&mut response, &self);
        response
    }
}

/// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (whole seconds until
/// the allowance is whole again) for a rate state, if there is one.
pub fn add_rate_limit_headers(headers: &mut HeaderMap, rate: Option<&RateDecision>) {
    let Some(rate) = rate else { return };
    for (name, value) in [
        ("ratelimit-limit", u64::from(rate.limit)),
        ("ratelimit-remaining", u64::from(rate.remaining)),
        ("ratelimit-reset", rate.reset_secs()),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

impl IntoResponse for SynthesisError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        add_rate_limit_headers(response.headers_mut(), self.rate_limit.as_ref());
        response
    }
}
