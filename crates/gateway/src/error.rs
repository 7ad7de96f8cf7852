//! The one error type every request path ends in, with its status and stable code.
//!
//! 5xx errors carry an internal cause for the log only; clients get fixed text.

use crate::domain::field::InvalidField;
use crate::engine::EngineError;
use crate::limits::Refusal;
use crate::store::StoreError;

/// A request failure as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (e.g. broken JSON).
    #[error("{0}")]
    BadRequest(String),
    /// A field broke a rule; the message names the field.
    #[error("{0}")]
    Validation(String),
    /// Missing, malformed, unknown, revoked or expired key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// Route exists, method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A unique value is taken.
    #[error("{0}")]
    Conflict(String),
    /// Body over the route's limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A body in a form the route does not take (not JSON, not multipart).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The client took too long to send its request.
    #[error("{0}")]
    RequestTimeout(String),
    /// The quota cannot cover the request's estimate.
    #[error("quota exceeded: {:.1} seconds remaining, {:.1} seconds needed", *available_ms as f64 / 1000.0, *needed_ms as f64 / 1000.0)]
    QuotaExceeded {
        /// Quota left after reservations in flight.
        available_ms: i64,
        /// The request's estimate.
        needed_ms: i64,
    },
    /// A rate or concurrency limit refused the request.
    #[error("{detail}")]
    RateLimited {
        /// Which limit, in words.
        detail: String,
        /// Seconds until a retry may succeed (≥ 1).
        retry_after_secs: u64,
    },
    /// The voice's engine is not usable here (not configured, breaker open, account problem).
    #[error("{detail}")]
    EngineUnavailable {
        /// Client-safe text.
        detail: String,
        /// Log-only cause.
        cause: String,
    },
    /// The engine failed or answered badly.
    #[error("the speech engine failed; please retry later")]
    UpstreamFailed {
        /// Log-only cause.
        cause: String,
    },
    /// The engine did not answer in time.
    #[error("the speech engine did not answer in time")]
    UpstreamTimeout,
    /// Every slot of the local engine stayed taken for the whole bounded wait.
    #[error("the local speech engine is busy; please retry in a moment")]
    EngineBusy,
    /// The database failed.
    #[error("the service is temporarily unavailable; please retry later")]
    StoreUnavailable {
        /// Log-only cause.
        cause: String,
    },
    /// A bug.
    #[error("internal error")]
    Internal {
        /// Log-only cause.
        cause: String,
    },
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Validation(_) => 422,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::RequestTimeout(_) => 408,
            ApiError::QuotaExceeded { .. } | ApiError::RateLimited { .. } => 429,
            ApiError::EngineUnavailable { .. } | ApiError::StoreUnavailable { .. } => 503,
            ApiError::UpstreamFailed { .. } => 502,
            ApiError::UpstreamTimeout => 504,
            ApiError::EngineBusy => 503,
            ApiError::Internal { .. } => 500,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation(_) => "validation_error",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::EngineUnavailable { .. } => "engine_unavailable",
            ApiError::UpstreamFailed { .. } => "upstream_error",
            ApiError::UpstreamTimeout => "upstream_timeout",
            ApiError::EngineBusy => "engine_busy",
            ApiError::StoreUnavailable { .. } => "service_unavailable",
            ApiError::Internal { .. } => "internal_error",
        }
    }

    /// The internal cause, for the log line of this request.
    pub fn cause(&self) -> Option<&str> {
        match self {
            ApiError::EngineUnavailable { cause, .. }
            | ApiError::UpstreamFailed { cause }
            | ApiError::StoreUnavailable { cause }
            | ApiError::Internal { cause } => Some(cause),
            _ => None,
        }
    }

    /// A field-named validation error: `"<field>: <message>"`.
    pub fn field(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::Validation(format!("{field}: {message}"))
    }

    /// An internal error with a log-only cause.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal {
            cause: cause.to_string(),
        }
    }
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        ApiError::field(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Unavailable(cause) | StoreError::Unanswered(cause) => {
                ApiError::StoreUnavailable { cause }
            }
            StoreError::Corrupt(cause) => ApiError::Internal { cause },
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let cause = e.to_string();
        match e {
            EngineError::NotConfigured(reason) => ApiError::EngineUnavailable {
                detail: reason.to_string(),
                cause,
            },
            EngineError::CircuitOpen | EngineError::Account(_) => ApiError::EngineUnavailable {
                detail: "the speech engine is temporarily unavailable; please retry later".into(),
                cause,
            },
            EngineError::Timeout => ApiError::UpstreamTimeout,
            EngineError::Busy => ApiError::EngineBusy,
            EngineError::InvalidInput(_) => {
                ApiError::field("text", "the speech engine could not synthesize this input")
            }
            EngineError::UnknownVoice(_)
            | EngineError::Unavailable(_)
            | EngineError::BadResponse(_) => ApiError::UpstreamFailed { cause },
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal.retry_after_secs() {
            Some(retry_after_secs) => ApiError::RateLimited {
                detail: refusal.to_string(),
                retry_after_secs,
            },
            // The backend is down and the policy fails closed: the client sees an outage.
            None => ApiError::StoreUnavailable {
                cause: refusal.to_string(),
            },
        }
    }
}
