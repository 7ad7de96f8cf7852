//! Admin: API keys — issue (shown once), list (metadata only), revoke.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::audit::{action, target};
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, IdPath, JsonBody};
use crate::http::routes::audit::entry;
use crate::http::views::KeyResponse;
use crate::http::AppState;
use crate::store::StoreError;

/// Body of `POST /admin/users/{id}/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Name, 1..=100 characters (default `key`).
    pub name: Option<String>,
    /// Expiry time (RFC 3339, in the future).
    pub expires_at: Option<DateTime<Utc>>,
    /// Or: expiry in days from now (1..=3650).
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

fn expiry(body: &CreateKeyRequest) -> Result<Option<DateTime<Utc>>, ApiError> {
    match (body.expires_at, body.expires_in_days) {
        (Some(_), Some(_)) => Err(ApiError::field(
            "expires_in_days",
            "give either expires_at or expires_in_days, not both",
        )),
        (Some(at), None) if at <= Utc::now() => {
            Err(ApiError::field("expires_at", "must be in the future"))
        }
        (Some(at), None) => Ok(Some(at)),
        (None, Some(days)) if !(1..=3650).contains(&days) => Err(ApiError::field(
            "expires_in_days",
            "must be between 1 and 3650",
        )),
        (None, Some(days)) => Ok(Some(Utc::now() + Duration::days(days))),
        (None, None) => Ok(None),
    }
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
    Admin(admin): Admin,
    IdPath(user_id): IdPath,
    JsonBody(body): JsonBody<CreateKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.name.as_deref().unwrap_or("key").trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    let expires_at = expiry(&body)?;
    let audit = entry(&admin, action::KEY_ISSUE, target::API_KEY);
    let issued = state
        .accounts
        .issue_key(user_id, name, expires_at, audit)
        .await?;
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
    state.store.get_user(user_id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("user {user_id} not found")),
        other => other.into(),
    })?;
    let keys = state.store.list_keys(user_id).await?;
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
    responses((status = 200, description = "Revoked", body = KeyResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 404, description = "No such key", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(key_id): Path<String>,
) -> Result<Json<KeyResponse>, ApiError> {
    if uuid::Uuid::parse_str(&key_id).is_err() {
        return Err(ApiError::NotFound(format!("key {key_id} not found")));
    }
    let audit = entry(&admin, action::KEY_REVOKE, target::API_KEY);
    let revoked = state.store.revoke_key(&key_id, audit);
    let key = revoked.await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("key {key_id} not found")),
        other => other.into(),
    })?;
    state.auth.forget_recent_keys();
    Ok(Json(KeyResponse::from(&key)))
}
