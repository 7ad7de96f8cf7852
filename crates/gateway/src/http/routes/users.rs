//! Admin: users.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{double_option, ListResponse, Paging};
use crate::domain::plan::{Plan, Role};
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, IdPath, JsonBody, QueryParams};
use crate::http::views::{KeyResponse, UserResponse};
use crate::http::AppState;
use crate::service::admin::{NewUserRequest, QuotaChanges, UserChanges};
use crate::store::UserFilter;

/// Body of `POST /admin/users`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// Display name, 1..=200 characters.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Plan (default `free`).
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Role (default `user`).
    #[serde(default)]
    pub role: Option<Role>,
}

/// Answer of `POST /admin/users`: the key is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateUserResponse {
    /// The new user.
    pub user: UserResponse,
    /// The plain API key, shown once.
    pub api_key: String,
    /// The key's metadata.
    pub key: KeyResponse,
}

/// Creates a user and their first key.
#[utoipa::path(
    post,
    path = "/admin/users",
    tag = "admin",
    request_body = CreateUserRequest,
    responses((status = 201, description = "Created; the key is shown only here", body = CreateUserResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody), (status = 409, description = "Email already used", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn create_user(
    State(state): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = NewUserRequest {
        name: body.name,
        email: body.email,
        plan: body.plan,
        role: body.role,
    };
    let users = &state.admin.users;
    let (user, key) = users.create_user(&admin.actor(), request).await?;
    let body = CreateUserResponse {
        user: UserResponse::from(&user),
        api_key: key.plain,
        key: KeyResponse::from(&key.record),
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    ))
}

/// Filters of `GET /admin/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Only this plan.
    pub plan: Option<Plan>,
    /// Only active (true) or inactive (false) users.
    pub is_active: Option<bool>,
    /// Rows per page, 1..=200 (default 50).
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub limit: Option<i64>,
    /// Rows to skip.
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub offset: Option<i64>,
}

/// Lists users.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    params(UserListQuery),
    responses((status = 200, description = "A page of users", body = ListResponse<UserResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_users(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    QueryParams(query): QueryParams<UserListQuery>,
) -> Result<Json<ListResponse<UserResponse>>, ApiError> {
    let page = Paging {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    let filter = UserFilter {
        plan: query.plan,
        is_active: query.is_active,
    };
    let (users, total) = state.admin.users.list_users(filter, page).await?;
    Ok(Json(ListResponse {
        data: users.iter().map(UserResponse::from).collect(),
        total: Some(total),
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A user by id.
#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = UserResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_user(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    IdPath(id): IdPath,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state.admin.users.get_user(id).await?;
    Ok(Json(UserResponse::from(&user)))
}

/// Body of `PATCH /admin/users/{id}`; absent fields stay, `null` clears an override.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    /// New name.
    pub name: Option<String>,
    /// New plan; the quota follows unless it was customised.
    pub plan: Option<Plan>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// New role.
    pub role: Option<Role>,
    /// Custom quota in seconds (≥ 0); `null` returns to the plan's.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f64>)]
    pub quota_seconds: Option<Option<f64>>,
    /// Custom requests per minute (1..=1000000); `null` returns to the plan's.
    #[serde(default, deserialize_with = "crate::http::numbers::nullable_integer")]
    #[schema(value_type = Option<i64>)]
    pub rpm_limit: Option<Option<i64>>,
    /// Custom concurrent requests (1..=10000); `null` returns to the plan's.
    #[serde(default, deserialize_with = "crate::http::numbers::nullable_integer")]
    #[schema(value_type = Option<i64>)]
    pub max_streams: Option<Option<i64>>,
}

/// Changes a user's plan, status, role or limits.
#[utoipa::path(
    patch,
    path = "/admin/users/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    request_body = PatchUserRequest,
    responses((status = 200, body = UserResponse), (status = 409, description = "Refused: no active admin would be left with a usable API key", body = ErrorBody), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn patch_user(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PatchUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = UserChanges {
        name: body.name,
        plan: body.plan,
        is_active: body.is_active,
        role: body.role,
        quota_seconds: body.quota_seconds,
        rpm_limit: body.rpm_limit,
        max_streams: body.max_streams,
    };
    let users = &state.admin.users;
    let user = users.patch_user(&admin.actor(), id, changes).await?;
    Ok(Json(UserResponse::from(&user)))
}

/// Body of `PUT /admin/users/{id}/quota`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuotaRequest {
    /// New quota in seconds (≥ 0).
    pub quota_seconds: Option<f64>,
    /// New used seconds (≥ 0), e.g. to correct a bill.
    pub used_seconds: Option<f64>,
}

/// Sets a user's quota and/or used seconds (the original endpoint).
#[utoipa::path(
    put,
    path = "/admin/users/{id}/quota",
    tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    request_body = QuotaRequest,
    responses((status = 200, body = UserResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn put_quota(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<QuotaRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = QuotaChanges {
        quota_seconds: body.quota_seconds,
        used_seconds: body.used_seconds,
    };
    let users = &state.admin.users;
    let user = users.set_quota(&admin.actor(), id, changes).await?;
    Ok(Json(UserResponse::from(&user)))
}
