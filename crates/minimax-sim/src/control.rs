//! `/_sim/*` control routes (no auth): fault queue, request log, stats and
//! hosted audio.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::responses::json_body;
use crate::state::{lock, SimState};

fn ok_json(v: Value) -> Response {
    json_body(StatusCode::OK, v.to_string())
}

/// `POST /_sim/faults`: one fault object or an array of them.
pub(crate) async fn add_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let faults: Vec<Fault> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => match items.into_iter().map(serde_json::from_value).collect() {
            Ok(f) => f,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("bad fault: {e}")).into_response(),
        },
        Ok(v) => match serde_json::from_value(v) {
            Ok(f) => vec![f],
            Err(e) => return (StatusCode::BAD_REQUEST, format!("bad fault: {e}")).into_response(),
        },
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad json: {e}")).into_response(),
    };
    let mut queue = lock(&state.faults);
    for f in faults {
        if let Err(e) = queue.push(f) {
            return (StatusCode::BAD_REQUEST, format!("bad fault: {e}")).into_response();
        }
    }
    ok_json(json!({"queued": queue.list().len()}))
}

/// `GET /_sim/faults`.
pub(crate) async fn list_faults(State(state): State<Arc<SimState>>) -> Response {
    ok_json(json!(lock(&state.faults).list()))
}

/// `DELETE /_sim/faults`.
pub(crate) async fn clear_faults(State(state): State<Arc<SimState>>) -> Response {
    lock(&state.faults).clear();
    ok_json(json!({"cleared": true}))
}

/// `GET /_sim/requests`.
pub(crate) async fn list_requests(State(state): State<Arc<SimState>>) -> Response {
    let body = lock(&state.requests).to_json();
    ok_json(body)
}

/// `DELETE /_sim/requests`.
pub(crate) async fn clear_requests(State(state): State<Arc<SimState>>) -> Response {
    lock(&state.requests).clear();
    ok_json(json!({"cleared": true}))
}

/// `GET /_sim/stats`.
pub(crate) async fn stats(State(state): State<Arc<SimState>>) -> Response {
    ok_json(json!({"t2a_requests": state.t2a_requests.load(Ordering::Relaxed)}))
}

/// `GET /_sim/audio/{id}`: audio handed out as a URL.
pub(crate) async fn audio(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let found = lock(&state.hosted).get(&id);
    match found {
        Some((bytes, ct)) => (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response(),
        None => crate::responses::not_found().await,
    }
}
