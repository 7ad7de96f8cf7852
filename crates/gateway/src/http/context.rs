//! Per-request context: the request id (echoed when well-formed, generated otherwise), the
//! security headers, and the one completion log line per request.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ErrorCause;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// Header carrying the request id both ways.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The current request's id (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.to_string()).unwrap_or_default()
}

/// Fields the handlers fill in for the completion log line.
#[derive(Debug, Default, Clone)]
pub struct LogFields {
    /// Authenticated user.
    pub user_id: Option<i64>,
    /// Display prefix of the key used.
    pub key_prefix: Option<String>,
    /// Engine that served the request.
    pub engine: Option<&'static str>,
    /// Milliseconds spent in the engine.
    pub engine_ms: Option<u64>,
    /// Audio milliseconds billed.
    pub audio_ms: Option<i64>,
}

/// Shared, fillable log fields of one request (in the request's extensions).
#[derive(Debug, Default, Clone)]
pub struct RequestLog(Arc<Mutex<LogFields>>);

impl RequestLog {
    /// Changes the fields.
    pub fn update(&self, f: impl FnOnce(&mut LogFields)) {
        let mut fields = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut fields);
    }

    fn snapshot(&self) -> LogFields {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The request id of this request (in the request's extensions).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: request id, log fields, security headers, completion log line.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id: Arc<str> = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(Arc::from)
        .unwrap_or_else(|| Arc::from(uuid::Uuid::now_v7().simple().to_string()));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let log = RequestLog::default();
    request.extensions_mut().insert(log.clone());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    let fields = log.snapshot();
    let status = response.status().as_u16();
    let cause = response
        .extensions()
        .get::<ErrorCause>()
        .map(|c| c.0.as_str());
    let elapsed = started.elapsed().as_secs_f64();
    crate::metrics::http_request(&route, method.as_str(), status, elapsed);
    let duration_ms = elapsed * 1000.0;
    if status >= 500 {
        tracing::error!(request_id = %id, %method, route, status, duration_ms, user_id = fields.user_id, key_prefix = fields.key_prefix, engine = fields.engine, engine_ms = fields.engine_ms, audio_ms = fields.audio_ms, cause, "request failed");
    } else {
        tracing::info!(request_id = %id, %method, route, status, duration_ms, user_id = fields.user_id, key_prefix = fields.key_prefix, engine = fields.engine, engine_ms = fields.engine_ms, audio_ms = fields.audio_ms, "request completed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn request_ids_must_be_tame() {
        assert!(well_formed("abc-123_X.y:z"));
        assert!(!well_formed(""));
        assert!(!well_formed("has space"));
        assert!(!well_formed("new\nline"));
        assert!(!well_formed(&"a".repeat(129)));
    }
}
