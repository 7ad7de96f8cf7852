//! Liveness.

use axum::Json;
use serde_json::{json, Value};

/// Always `{"status":"ok"}` while the process serves.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "The process serves", body = Object, example = json!({"status": "ok"}))))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
