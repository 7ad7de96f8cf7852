//! Records every `/v1/*` request (bounded ring) for `GET /_sim/requests`.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::state::{lock, SimState};

/// How many requests are kept.
const CAPACITY: usize = 1000;
/// Largest request body the simulator reads (uploads may be up to 20 MB).
pub(crate) const MAX_BODY: usize = 32 * 1024 * 1024;
/// Bodies above this are not kept: they are uploads, not JSON worth showing.
const MAX_KEPT_BODY: usize = 1024 * 1024;

/// One recorded request; the body stays raw and is parsed only when listed,
/// keeping the hot path cheap.
pub(crate) struct RecordedRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
}

impl RecordedRequest {
    fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), json!(v));
        }
        let body = self
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .unwrap_or(Value::Null);
        json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "body": body,
        })
    }
}

/// Ring buffer of the most recent requests.
#[derive(Default)]
pub(crate) struct RequestLog {
    entries: VecDeque<RecordedRequest>,
}

impl RequestLog {
    fn push(&mut self, r: RecordedRequest) {
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(r);
    }

    /// All entries, oldest first, as the JSON the control API returns.
    pub fn to_json(&self) -> Value {
        Value::Array(self.entries.iter().map(RecordedRequest::to_json).collect())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Middleware: buffers `/v1/*` bodies, records them, and passes them on.
pub(crate) async fn record_layer(
    State(state): State<Arc<SimState>>,
    req: Request,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let record = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body: (bytes.len() <= MAX_KEPT_BODY).then(|| bytes.clone()),
    };
    lock(&state.requests).push(record);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
