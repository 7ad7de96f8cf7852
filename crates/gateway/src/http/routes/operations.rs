//! Operations: readiness (`/ready`), Prometheus metrics (`/metrics`), the API document
//! (`/openapi.json`) and its interactive page (`/docs`), served from the binary itself.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok`, `error`, `degraded` (Redis down while failing open), `disabled`, `unavailable`,
    /// or a breaker state (`closed`, `half_open`, `open`).
    pub status: String,
    /// Why not ok, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Readiness of the gateway and its dependencies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Database.
    pub database: Check,
    /// Redis (limits), when configured.
    pub redis: Check,
    /// Engine breaker states by engine, with availability.
    pub engines: std::collections::BTreeMap<&'static str, Check>,
    /// Background work by name (`sqlite_writer`, `sqlite_checkpointer`, `reaper`,
    /// `cycle_sweep`): `ok`, `stalled`, `dead` or `stopped`, with why when not ok.
    pub background: std::collections::BTreeMap<&'static str, Check>,
}

fn ok() -> Check {
    Check {
        status: "ok".into(),
        detail: None,
    }
}

fn failed(detail: impl Into<String>) -> Check {
    Check {
        status: "error".into(),
        detail: Some(detail.into()),
    }
}

/// Whether the gateway can serve: database reachable, limits backend usable, at least one
/// engine usable, every piece of background work running on time. 503 when not.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; the failing checks say why", body = Readiness)
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = match tokio::time::timeout(PROBE_TIMEOUT, state.database.ping()).await {
        Ok(Ok(())) => ok(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database failed");
            failed("database unreachable")
        }
        Err(_) => failed("database did not answer in time"),
    };
    let redis = match state.limits.ping().await {
        None => Check {
            status: "disabled".into(),
            detail: Some("limits are kept in process (REDIS_URL not set)".into()),
        },
        Some(Ok(())) => ok(),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "readiness: redis failed");
            // Failing open, the node still serves (unlimited, loudly): not a reason to take
            // it out of the load balancer.
            Check {
                status: if state.limits.fails_closed() {
                    "error"
                } else {
                    "degraded"
                }
                .into(),
                detail: Some("redis unreachable".into()),
            }
        }
    };
    let mut engines = std::collections::BTreeMap::new();
    let mut any_engine = false;
    for engine in state.synthesis.engines().all() {
        let name = engine.provider().as_str();
        let breaker = engine.breaker_state();
        crate::metrics::breaker_state(name, breaker);
        let check = match engine.unavailable_reason() {
            Some(reason) => Check {
                status: "unavailable".into(),
                detail: Some(reason.into()),
            },
            None => Check {
                status: breaker.into(),
                detail: None,
            },
        };
        any_engine |= check.status != "unavailable" && check.status != "open";
        engines.insert(name, check);
    }
    let background: std::collections::BTreeMap<&'static str, Check> = state
        .database
        .supervisor()
        .check()
        .into_iter()
        .map(|task| {
            let check = Check {
                status: task.liveness.as_str().into(),
                detail: task.detail,
            };
            (task.name, check)
        })
        .collect();
    let background_ok = background.values().all(|check| check.status == "ok");
    let is_ready =
        database.status == "ok" && redis.status != "error" && any_engine && background_ok;
    let body = Readiness {
        status: if is_ready { "ready" } else { "not_ready" },
        database,
        redis,
        engines,
        background,
    };
    let status = if is_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    for engine in state.synthesis.engines().all() {
        crate::metrics::breaker_state(engine.provider().as_str(), engine.breaker_state());
    }
    state.database.supervisor().check();
    for pool in state.database.pool_stats() {
        crate::metrics::db_pool(pool.name, pool.in_use, pool.idle);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
        .into_response()
}

const SWAGGER_JS: &[u8] = include_bytes!("../../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../../assets/swagger-ui/swagger-ui.css");

/// The interactive API page (Swagger UI, vendored from the npm registry, served locally).
pub async fn docs() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>OdeaDev TTS API</title>",
        "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"></head><body>",
        "<div id=\"swagger-ui\"></div>",
        "<script src=\"/docs/swagger-ui-bundle.js\"></script>",
        "<script>window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui'});</script>",
        "</body></html>"
    ))
}

/// Swagger UI's script.
pub async fn docs_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SWAGGER_JS,
    )
}

/// Swagger UI's style sheet.
pub async fn docs_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SWAGGER_CSS,
    )
}
