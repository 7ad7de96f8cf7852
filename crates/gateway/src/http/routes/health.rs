//! Liveness.

use axum::Json;
use serde_json::{json, Value};

/// Always `{"status":"ok"}` while the process serves.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
