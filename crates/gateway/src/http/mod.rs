//! HTTP layer (axum only): router, extractors, error mapping, middleware, one file per resource.

pub mod context;
pub mod error;
pub mod extract;
pub mod json;
pub mod numbers;
pub mod openapi;
pub mod request_body;
pub mod routes;
pub mod stream_body;
pub mod views;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::error::ApiError;
use crate::limits::Limiter;
use crate::service::account::AccountService;
use crate::service::admin::AdminServices;
use crate::service::auth::Authenticator;
use crate::service::synthesis::SynthesisService;
use crate::service::voices::VoiceCatalogue;
use crate::store::Store;

/// JSON bodies are small: 5,000 characters of text fit easily.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The books, for readiness, metrics and reports only: every other route goes through a
    /// service.
    pub store: Arc<dyn Store>,
    /// The database's lifecycle handle: readiness, pool gauges, background work.
    pub database: crate::store::Database,
    /// Key checks.
    pub auth: Authenticator,
    /// Admin writes and reads: users, keys, voices, billing cycles, the audit log.
    pub admin: AdminServices,
    /// The caller's own usage.
    pub account: AccountService,
    /// Voices and whether this server can speak them.
    pub voices: VoiceCatalogue,
    /// Speech with metering.
    pub synthesis: SynthesisService,
    /// Rate, concurrency and failed-authentication limits.
    pub limits: Limiter,
    /// Operator overrides of OpenAI voice names → our voices.
    pub openai_voices: Arc<std::collections::HashMap<String, String>>,
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Every documented route, and the API document built from the same annotations: a route
/// cannot be served without being documented. Synthesis routes carry [`extract::SynthesisRoute`]:
/// their limits are the synthesis service's, not the general per-user limit.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use routes::reports;
    use routes::{account, cloning, health, keys, openai, operations, tts, users, voices};
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let synthesis = OpenApiRouter::new()
        .routes(routes!(tts::create_speech))
        .routes(routes!(tts::stream_speech))
        .routes(routes!(openai::create_speech))
        .layer(Extension(extract::SynthesisRoute));
    let cloning = OpenApiRouter::new()
        .routes(routes!(cloning::clone_voice))
        .layer(DefaultBodyLimit::max(cloning::MAX_CLONE_BODY))
        .layer(axum::middleware::from_fn(|request, next| {
            request_body::limit_declared_length(cloning::MAX_CLONE_BODY, request, next)
        }));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(operations::ready))
        .routes(routes!(operations::metrics))
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(users::get_user, users::patch_user))
        .routes(routes!(users::put_quota))
        .routes(routes!(keys::create_key, keys::list_keys))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(voices::create_voice, voices::admin_list_voices))
        .routes(routes!(voices::list_voices))
        .routes(routes!(voices::list_voice_catalogue))
        .routes(routes!(account::get_me))
        .routes(routes!(account::list_usage))
        .routes(routes!(account::usage_stats))
        .routes(routes!(openai::list_models))
        // Billing cycles and audit
        .routes(routes!(routes::cycles::reset_cycle))
        .routes(routes!(routes::cycles::list_billing_periods))
        .routes(routes!(routes::audit::list_audit))
        .routes(routes!(reports::usage_report))
        .merge(synthesis)
        // Every route but cloning's takes a small JSON body at most.
        .layer(axum::middleware::from_fn(|request, next| {
            request_body::limit_declared_length(MAX_JSON_BODY, request, next)
        }))
        .merge(cloning)
        .split_for_parts()
}

/// `/openapi.json`'s answer: the document, or a 500 if it could not be serialised.
fn serve_document(document: &Result<axum::body::Bytes, String>) -> Response {
    match document {
        Ok(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes.clone(),
        )
            .into_response(),
        Err(cause) => ApiError::internal(cause).into_response(),
    }
}

/// The router of the optional metrics-only listener (`ODEADEV_METRICS_BIND`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::operations::metrics))
        .with_state(state)
}

/// The whole router: the API, its document at `/openapi.json` and the page at `/docs`, every
/// request body under `deadlines`.
pub fn router(state: AppState, deadlines: request_body::BodyDeadlines) -> Router {
    use routes::operations;
    let (api, generated) = api();
    // Serialised once: the document never changes while the process runs.
    let document = openapi::document(&generated)
        .and_then(|document| serde_json::to_vec(&document))
        .map(axum::body::Bytes::from)
        .map_err(|e| e.to_string());
    api.route(
        "/openapi.json",
        get(move || std::future::ready(serve_document(&document))),
    )
    .route("/docs", get(operations::docs))
    .route("/docs/swagger-ui-bundle.js", get(operations::docs_js))
    .route("/docs/swagger-ui.css", get(operations::docs_css))
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
    .layer(axum::middleware::from_fn(move |request, next| {
        request_body::guard_body(deadlines, request, next)
    }))
    .layer(axum::middleware::from_fn(context::request_context))
    .with_state(state)
}
