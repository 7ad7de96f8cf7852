//! Admin reports: usage per user per period, streamed as JSON or CSV.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, QueryParams};
use crate::http::AppState;
use crate::service::reports::{self, ReportFilters, ReportFormat, UsageReport};

/// Filters of the usage report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageReportParams {
    /// `day` (UTC days, the default), `month` (UTC calendar months) or `cycle` (each user's
    /// billing cycles: the closed ones, then the current one; a record outside every cycle,
    /// which should not happen, is reported under its own UTC day rather than dropped).
    pub period: Option<String>,
    /// Only this user.
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub user_id: Option<i64>,
    /// Only users on this plan (`free`, `basic`, `pro`, `enterprise`).
    pub plan: Option<String>,
    /// Records at or after this instant (RFC 3339, or a date meaning its midnight UTC).
    pub from: Option<String>,
    /// Records before this instant (same forms); the range is half-open `[from, to)`.
    pub to: Option<String>,
    /// `json` or `csv`; overrides the `Accept` header.
    pub format: Option<String>,
}

/// `?format=` wins; else CSV when `Accept` names `text/csv`; else JSON.
fn negotiate(format: Option<&str>, headers: &HeaderMap) -> Result<ReportFormat, ApiError> {
    if let Some(name) = format {
        return ReportFormat::parse(name)
            .ok_or_else(|| ApiError::field("format", format!("{name:?} is not one of json, csv")));
    }
    let wants_csv = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.trim().to_ascii_lowercase().starts_with("text/csv"));
    Ok(if wants_csv {
        ReportFormat::Csv
    } else {
        ReportFormat::Json
    })
}

/// Usage per user per period: requests by outcome, billed audio seconds and characters.
///
/// With `period=cycle` the periods are billing cycles: each closed cycle's `period_start` and
/// `period_end` are those of its billing period, the current cycle's are the user's
/// `cycle_started_at` and the end it is due to reset at.
///
/// Rows are aggregated by the database and streamed as they are read, so reports of any size
/// start at once and use little memory. A failure after the first byte cuts the body.
#[utoipa::path(
    get,
    path = "/admin/usage",
    tag = "admin",
    params(UsageReportParams),
    responses(
        (status = 200, description = "One entry per user per period, by user then period. CSV has a header row and the columns user_id, email, plan, period_start, period_end, success, error, cancelled, quota_exceeded, rate_limited, pending, total_requests, audio_seconds, characters.",
            content((UsageReport = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody),
        (status = 403, description = "Inactive user, or not an admin", body = ErrorBody),
        (status = 422, description = "A filter broke a rule; `detail` names it", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn usage_report(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    headers: HeaderMap,
    QueryParams(params): QueryParams<UsageReportParams>,
) -> Result<Response, ApiError> {
    let format = negotiate(params.format.as_deref(), &headers)?;
    let query = reports::query(&ReportFilters {
        period: params.period.as_deref(),
        user_id: params.user_id,
        plan: params.plan.as_deref(),
        from: params.from.as_deref(),
        to: params.to.as_deref(),
    })
    .map_err(|e| ApiError::field(e.field, e.message))?;
    let bytes = reports::export(state.store.as_ref(), &query, format).await?;
    let body = Body::from_stream(bytes.map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "usage report cut short");
            std::io::Error::other(e.to_string())
        })
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if format == ReportFormat::Csv {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"usage.csv\""),
        );
    }
    Ok(response)
}
