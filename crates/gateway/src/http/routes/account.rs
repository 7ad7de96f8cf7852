//! The caller's own account: profile, usage records and totals.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ListResponse, Paging};
use crate::domain::records::UsageRecord;
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Authed, QueryParams};
use crate::http::views::{secs, UserResponse};
use crate::http::AppState;

/// The caller.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "account",
    responses((status = 200, body = UserResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_me(Authed(me): Authed) -> Json<UserResponse> {
    Json(UserResponse::from(&me.user))
}

/// One usage record.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecordResponse {
    /// Record id.
    pub id: String,
    /// Request id of the request.
    pub request_id: String,
    /// Route.
    pub endpoint: String,
    /// Voice id, when resolved.
    pub voice_id: Option<i64>,
    /// Engine.
    pub engine: Option<String>,
    /// Model asked for.
    pub model_used: Option<String>,
    /// Characters of text.
    pub text_length: i64,
    /// Billed audio seconds.
    pub audio_seconds: f64,
    /// `pending`, `success`, `error`, `quota_exceeded`, `rate_limited` or `cancelled`.
    pub status: &'static str,
    /// Stable error code.
    pub error_code: Option<String>,
    /// Generic error text.
    pub error_message: Option<String>,
    /// Arrival time.
    pub timestamp: DateTime<Utc>,
    /// Settlement time.
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<&UsageRecord> for UsageRecordResponse {
    fn from(r: &UsageRecord) -> Self {
        UsageRecordResponse {
            id: r.id.clone(),
            request_id: r.request_id.clone(),
            endpoint: r.endpoint.clone(),
            voice_id: r.voice_id,
            engine: r.engine.clone(),
            model_used: r.model_used.clone(),
            text_length: r.text_length,
            audio_seconds: secs(r.audio_ms),
            status: r.status.as_str(),
            error_code: r.error_code.clone(),
            error_message: r.error_message.clone(),
            timestamp: r.created_at,
            settled_at: r.settled_at,
        }
    }
}

/// The caller's usage records, newest first.
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "account",
    params(Paging),
    responses((status = 200, description = "Own usage records, newest first", body = ListResponse<UsageRecordResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_usage(
    State(state): State<AppState>,
    Authed(me): Authed,
    QueryParams(paging): QueryParams<Paging>,
) -> Result<Json<ListResponse<UsageRecordResponse>>, ApiError> {
    let page = paging.page()?;
    let records = state.account.usage(me.user.id, page).await?;
    Ok(Json(ListResponse {
        data: records.iter().map(UsageRecordResponse::from).collect(),
        total: None,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Totals over the caller's usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageStatsResponse {
    /// Every recorded request, plus those refused by a rate or concurrency limit.
    pub total_requests: i64,
    /// Successes.
    pub successful_requests: i64,
    /// Everything settled that was not a success (errors, cancellations, refusals).
    pub failed_requests: i64,
    /// Of the failed: refused for quota.
    pub quota_exceeded_requests: i64,
    /// Of the failed: refused by a rate or concurrency limit (counted, not listed in
    /// `/v1/usage`; the count reaches the database within a second).
    pub rate_limited_requests: i64,
    /// Billed audio seconds over all records.
    pub total_audio_seconds: f64,
    /// `min(100, used/quota·100)` for the current cycle.
    pub quota_used_percentage: f64,
}

/// The caller's usage totals.
#[utoipa::path(
    get,
    path = "/v1/usage/stats",
    tag = "account",
    responses((status = 200, body = UsageStatsResponse), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn usage_stats(
    State(state): State<AppState>,
    Authed(me): Authed,
) -> Result<Json<UsageStatsResponse>, ApiError> {
    let stats = state.account.usage_stats(me.user.id).await?;
    Ok(Json(UsageStatsResponse {
        total_requests: stats.total_requests,
        successful_requests: stats.successful_requests,
        failed_requests: stats.failed_requests,
        quota_exceeded_requests: stats.quota_exceeded_requests,
        rate_limited_requests: stats.rate_limited_requests,
        total_audio_seconds: secs(stats.total_audio_ms),
        quota_used_percentage: (me.user.quota_percentage_used() * 100.0).round() / 100.0,
    }))
}
