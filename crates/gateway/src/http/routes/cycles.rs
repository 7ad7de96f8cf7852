//! Admin: billing cycles — close a user's cycle now, and list their closed periods (what a
//! reset does: `service::admin::CycleAdmin`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ListResponse, Paging};
use crate::domain::cycle::BillingPeriod;
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, IdPath, QueryParams};
use crate::http::views::{secs, UserResponse};
use crate::http::AppState;

/// Closes a user's current billing cycle now and starts a new one (same anchor).
#[utoipa::path(
    post,
    path = "/admin/users/{id}/cycle/reset",
    tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "The user, in a new cycle with used seconds at zero", body = UserResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn reset_cycle(
    State(state): State<AppState>,
    admin: Admin,
    IdPath(id): IdPath,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state.admin.cycles.reset_cycle(&admin.actor(), id).await?;
    Ok(Json(UserResponse::from(&user)))
}

/// A closed billing cycle.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingPeriodResponse {
    /// Start of the cycle.
    pub period_start: DateTime<Utc>,
    /// End of the cycle (exclusive).
    pub period_end: DateTime<Utc>,
    /// Quota in force when it closed, in seconds.
    pub quota_seconds: f64,
    /// Audio seconds billed in it.
    pub used_seconds: f64,
    /// Requests recorded while it was current (accepted and refused).
    pub requests: i64,
    /// `rollover` (the cycle ran out) or `reset` (an admin closed it).
    pub reason: String,
    /// When it was closed.
    pub closed_at: DateTime<Utc>,
}

impl From<BillingPeriod> for BillingPeriodResponse {
    fn from(p: BillingPeriod) -> Self {
        BillingPeriodResponse {
            period_start: p.period_start,
            period_end: p.period_end,
            quota_seconds: secs(p.quota_ms),
            used_seconds: secs(p.used_ms),
            requests: p.requests,
            reason: p.reason,
            closed_at: p.closed_at,
        }
    }
}

/// A user's closed billing periods, newest first.
#[utoipa::path(
    get,
    path = "/admin/users/{id}/billing-periods",
    tag = "admin",
    params(("id" = i64, Path, description = "User id"), Paging),
    responses((status = 200, description = "Closed periods, newest first", body = ListResponse<BillingPeriodResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_billing_periods(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    IdPath(id): IdPath,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<ListResponse<BillingPeriodResponse>>, ApiError> {
    let page = paging.page()?;
    let periods = state.admin.cycles.list_billing_periods(id, page).await?;
    Ok(Json(ListResponse {
        data: periods
            .into_iter()
            .map(BillingPeriodResponse::from)
            .collect(),
        total: None,
        limit: page.limit,
        offset: page.offset,
    }))
}
