//! Admin: API keys — issue (shown once), list (metadata only), revoke.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, IdPath, JsonBody};
use crate::http::views::KeyResponse;
use crate::http::AppState;
use crate::service::admin::NewKeyRequest;

/// Body of `POST /admin/users/{id}/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Name, 1..=100 characters (default `key`).
    pub name: Option<String>,
    /// Expiry time (RFC 3339, in the future).
    pub expires_at: Option<DateTime<Utc>>,
    /// Or: expiry in days from now (1..=3650); not both.
    #[serde(default, deserialize_with = "crate::http::numbers::integer")]
    pub expires_in_days: Option<i64>,
}

/// Answer of key issue: the key is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateKeyResponse {
    /// The plain API key, shown once.
    pub api_key: String,
    /// The key's metadata.
    pub key: KeyResponse,
}

/// Issues a named key to a user.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/keys",
    tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    request_body = CreateKeyRequest,
    responses((status = 201, description = "Issued; the key is shown only here", body = CreateKeyResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(user_id): IdPath,
    JsonBody(body): JsonBody<CreateKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = NewKeyRequest {
        name: body.name,
        expires_at: body.expires_at,
        expires_in_days: body.expires_in_days,
    };
    let keys = &state.admin.keys;
    let issued = keys.issue_key(&admin.actor(), user_id, request).await?;
    let body = CreateKeyResponse {
        api_key: issued.plain,
        key: KeyResponse::from(&issued.record),
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    ))
}

/// Lists a user's keys (metadata only).
#[utoipa::path(
    get,
    path = "/admin/users/{id}/keys",
    tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "Key metadata, newest first", body = Vec<KeyResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_keys(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    IdPath(user_id): IdPath,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    let keys = state.admin.keys.list_keys(user_id).await?;
    Ok(Json(keys.iter().map(KeyResponse::from).collect()))
}

/// Revokes a key: requests with it are refused from now on by this node, and within a
/// second by every other node (their synthesis routes reuse a key looked up in the last
/// second).
#[utoipa::path(
    delete,
    path = "/admin/keys/{key_id}",
    tag = "admin",
    params(("key_id" = String, Path, description = "Key id")),
    responses((status = 200, description = "Revoked", body = KeyResponse), (status = 409, description = "Refused: no active admin would be left with a usable API key", body = ErrorBody), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 404, description = "No such key", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    Path(key_id): Path<String>,
) -> Result<Json<KeyResponse>, ApiError> {
    let key = state.admin.keys.revoke_key(&admin.actor(), &key_id).await?;
    Ok(Json(KeyResponse::from(&key)))
}
