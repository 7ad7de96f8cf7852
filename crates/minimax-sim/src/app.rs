//! The axum router: API routes, control routes, 404 fallback and layers.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::responses::not_found;
use crate::state::SimState;
use crate::{control, files, recorder, t2a, trace, voice_api};

/// Builds the full application.
pub(crate) fn router(state: Arc<SimState>) -> Router {
    // Wrong methods on known paths answer like unknown paths (MiniMax is a
    // Go mux: `GET /v1/get_voice` is a plain 404, not a 405).
    let api = Router::new()
        .route("/v1/t2a_v2", post(t2a::t2a).fallback(not_found))
        .route("/v1/files/upload", post(files::upload).fallback(not_found))
        .route(
            "/v1/voice_clone",
            post(voice_api::voice_clone).fallback(not_found),
        )
        .route(
            "/v1/get_voice",
            post(voice_api::get_voice).fallback(not_found),
        )
        .route(
            "/v1/delete_voice",
            post(voice_api::delete_voice).fallback(not_found),
        );
    let control = Router::new()
        .route(
            "/_sim/faults",
            get(control::list_faults)
                .post(control::add_faults)
                .delete(control::clear_faults)
                .fallback(not_found),
        )
        .route(
            "/_sim/requests",
            get(control::list_requests)
                .delete(control::clear_requests)
                .fallback(not_found),
        )
        .route("/_sim/stats", get(control::stats).fallback(not_found))
        .route("/_sim/audio/{id}", get(control::audio).fallback(not_found));
    api.merge(control)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            recorder::record_layer,
        ))
        .layer(DefaultBodyLimit::max(recorder::MAX_BODY))
        .layer(middleware::from_fn(trace::trace_layer))
        .with_state(state)
}
