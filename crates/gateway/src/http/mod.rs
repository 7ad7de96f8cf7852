//! HTTP layer (axum only): router, extractors, error mapping, middleware, one file per resource.

pub mod context;
pub mod error;
pub mod extract;
pub mod routes;
pub mod stream_body;
pub mod views;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Router};

use crate::error::ApiError;
use crate::limits::Limiter;
use crate::service::accounts::Accounts;
use crate::service::auth::Authenticator;
use crate::service::synthesis::SynthesisService;
use crate::store::Store;

/// JSON bodies are small: 5,000 characters of text fit easily.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The books.
    pub store: Arc<dyn Store>,
    /// Key checks.
    pub auth: Authenticator,
    /// Users and keys.
    pub accounts: Accounts,
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

/// The whole router. Synthesis routes carry [`SynthesisRoute`]: their limits are the
/// synthesis service's, not the general per-user limit.
pub fn router(state: AppState) -> Router {
    use extract::SynthesisRoute;
    use routes::{account, cloning, health, keys, openai, tts, users, voices};
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/admin/users",
            post(users::create_user).get(users::list_users),
        )
        .route(
            "/admin/users/{id}",
            get(users::get_user).patch(users::patch_user),
        )
        .route("/admin/users/{id}/quota", put(users::put_quota))
        .route(
            "/admin/users/{id}/keys",
            post(keys::create_key).get(keys::list_keys),
        )
        .route("/admin/keys/{key_id}", delete(keys::revoke_key))
        .route(
            "/admin/voices",
            post(voices::create_voice).get(voices::admin_list_voices),
        )
        .route(
            "/admin/voices/clone",
            post(cloning::clone_voice).layer(DefaultBodyLimit::max(cloning::MAX_CLONE_BODY)),
        )
        .route("/v1/voices", get(voices::list_voices))
        .route("/v1/voices/list", get(voices::list_voice_catalogue))
        .route("/v1/me", get(account::get_me))
        .route("/v1/usage", get(account::list_usage))
        .route("/v1/usage/stats", get(account::usage_stats))
        .route(
            "/v1/tts",
            post(tts::create_speech).layer(Extension(SynthesisRoute)),
        )
        .route(
            "/v2/tts",
            post(tts::stream_speech).layer(Extension(SynthesisRoute)),
        )
        .route(
            "/v1/audio/speech",
            post(openai::create_speech).layer(Extension(SynthesisRoute)),
        )
        .route("/v1/models", get(openai::list_models))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(context::request_context))
        .with_state(state)
}
