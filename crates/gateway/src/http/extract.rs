//! Extractors with our error body: JSON bodies and query strings whose errors name the field,
//! numeric path ids, and the authenticated caller.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::context::{current_request_id, RequestLog};
use super::json;
use super::AppState;
use crate::domain::audit::Actor;
use crate::error::ApiError;
use crate::limits::LimitBudget;
use crate::service::auth::Principal;

/// A JSON body (see `json.rs`): not declared JSON → 415, malformed → 400, not an object or a
/// field against the rules → 422 naming the field, too large → 413, too slow → 408.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json::is_json(request.headers()) {
            return Err(json::not_json());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_error)?;
        json::parse_body(&bytes).map(JsonBody)
    }
}

/// Why a body could not be read, in the API's words.
pub fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge("request body is too large".into());
    }
    if super::request_body::is_too_slow(&rejection) {
        return ApiError::RequestTimeout("the request body took too long to arrive".into());
    }
    ApiError::BadRequest(format!("could not read the request body: {rejection}"))
}

/// A `multipart/form-data` body; any other content type → 415, a broken form → 400.
pub struct FormBody(pub axum::extract::Multipart);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !is_form {
            return Err(ApiError::UnsupportedMediaType(
                "send the form as multipart/form-data".into(),
            ));
        }
        axum::extract::Multipart::from_request(request, state)
            .await
            .map(FormBody)
            .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))
    }
}

/// Query parameters; bad values → 422 naming the parameter.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        json::parse_query(parts.uri.query().unwrap_or_default()).map(QueryParams)
    }
}

/// A numeric id in the path (a whole number written `5.0` is 5, as JSON Schema's `integer`
/// says; see `numbers.rs`).
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::field("id", "missing"))?;
        super::numbers::parse_integer(&raw)
            .map(IdPath)
            .ok_or_else(|| ApiError::field("id", format!("{raw:?} is not a numeric id")))
    }
}

/// Any active user. Throttles addresses that fail authentication too often and, outside
/// synthesis routes (marked with [`SynthesisRoute`]), spends one request of the user's general
/// rate limit; synthesis routes are limited by the synthesis service instead.
pub struct Authed(pub Principal);

/// Marks a route whose limits the synthesis service applies (added as a route extension).
#[derive(Debug, Clone, Copy)]
pub struct SynthesisRoute;

/// The client's address: the TCP peer, or what trusted proxies say it is.
fn client_ip(parts: &Parts, state: &AppState) -> Option<std::net::IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    state.limits.client_ip(peer, forwarded)
}

/// The request's one limiter budget: made on first use and kept in its extensions, so that
/// however many extractors ask, all its limiter calls share it.
fn limit_budget(parts: &mut Parts, state: &AppState) -> LimitBudget {
    if let Some(budget) = parts.extensions.get::<LimitBudget>() {
        return budget.clone();
    }
    let budget = state.limits.budget();
    parts.extensions.insert(budget.clone());
    budget
}

/// An active admin.
pub struct Admin(pub Principal);

impl Admin {
    /// Who makes this request's admin writes, for their audit entries.
    pub fn actor(&self) -> Actor {
        Actor::admin(self.0.user.id, current_request_id())
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let budget = limit_budget(parts, state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let synthesis = parts.extensions.get::<SynthesisRoute>().is_some();
        let principal = state
            .auth
            .authenticate_from(header, client_ip(parts, state), synthesis, &budget)
            .await?
            .map_err(|failure| ApiError::Unauthorized(failure.detail()))?;
        if let Some(log) = parts.extensions.get::<RequestLog>() {
            log.update(|f| {
                f.user_id = Some(principal.user.id);
                f.key_prefix = Some(principal.key_prefix.clone());
            });
        }
        if !principal.user.is_active {
            return Err(ApiError::Forbidden("user is inactive"));
        }
        if !synthesis {
            state
                .limits
                .check_general(principal.user.id, &budget)
                .await?;
        }
        Ok(Authed(principal))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authed(principal) = Authed::from_request_parts(parts, state).await?;
        principal.require_admin()?;
        Ok(Admin(principal))
    }
}
