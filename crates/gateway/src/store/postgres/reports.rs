//! Usage reports in PostgreSQL: one GROUP BY query whose rows are streamed as the server
//! sends them. Periods are truncated in UTC whatever the session's time zone.

use futures::stream::BoxStream;
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use super::db_err;
use crate::domain::plan::Plan;
use crate::store::reports::{ReportPeriod, StatusCounts, UsageReportQuery, UsageReportRow};
use crate::store::StoreError;

/// The select list and join; `{period}` is replaced by the period's start expression.
/// `SUM` over BIGINT is NUMERIC in PostgreSQL: cast back so it decodes as `i64`.
const SELECT: &str = "SELECT r.user_id AS user_id, u.email AS email, u.plan AS plan, \
     {period} AS period_start, \
     COUNT(*) FILTER (WHERE r.status = 'success') AS success, \
     COUNT(*) FILTER (WHERE r.status = 'error') AS error, \
     COUNT(*) FILTER (WHERE r.status = 'cancelled') AS cancelled, \
     COUNT(*) FILTER (WHERE r.status = 'quota_exceeded') AS quota_exceeded, \
     COUNT(*) FILTER (WHERE r.status = 'rate_limited') AS rate_limited, \
     COUNT(*) FILTER (WHERE r.status = 'pending') AS pending, \
     COALESCE(SUM(r.audio_ms), 0)::BIGINT AS audio_ms, \
     COALESCE(SUM(r.text_length), 0)::BIGINT AS characters \
     FROM usage_records r JOIN users u ON u.id = r.user_id WHERE TRUE";

/// The start of a record's period, as a `timestamptz`.
fn period_start(period: ReportPeriod) -> &'static str {
    match period {
        ReportPeriod::Day => {
            "(date_trunc('day', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        }
        ReportPeriod::Month => {
            "(date_trunc('month', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        }
    }
}

fn build(query: &UsageReportQuery) -> QueryBuilder<'static, Postgres> {
    let start = period_start(query.period);
    let mut sql = QueryBuilder::new(SELECT.replace("{period}", start));
    if let Some(user_id) = query.user_id {
        sql.push(" AND r.user_id = ").push_bind(user_id);
    }
    if let Some(plan) = query.plan {
        sql.push(" AND u.plan = ").push_bind(plan.as_str());
    }
    if let Some(from) = query.from {
        sql.push(" AND r.created_at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(" AND r.created_at < ").push_bind(to);
    }
    sql.push(format!(
        " GROUP BY r.user_id, u.email, u.plan, {start} ORDER BY r.user_id, {start}"
    ));
    sql
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("usage report {what}: {e}"))
}

fn row(row: &PgRow, period: ReportPeriod) -> Result<UsageReportRow, StoreError> {
    let get = |column: &str| {
        row.try_get::<i64, _>(column)
            .map_err(|e| corrupt(column, e))
    };
    let plan: String = row.try_get("plan").map_err(|e| corrupt("plan", e))?;
    let period_start: chrono::DateTime<chrono::Utc> = row
        .try_get("period_start")
        .map_err(|e| corrupt("period_start", e))?;
    Ok(UsageReportRow {
        user_id: get("user_id")?,
        email: row.try_get("email").map_err(|e| corrupt("email", e))?,
        plan: Plan::parse(&plan).ok_or_else(|| corrupt("plan", &plan))?,
        period_start,
        period_end: period.end_after(period_start),
        requests: StatusCounts {
            success: get("success")?,
            error: get("error")?,
            cancelled: get("cancelled")?,
            quota_exceeded: get("quota_exceeded")?,
            rate_limited: get("rate_limited")?,
            pending: get("pending")?,
        },
        audio_ms: get("audio_ms")?,
        characters: get("characters")?,
    })
}

/// Streams the report; the stream owns a pool handle and holds one connection while read.
pub fn usage(
    pool: &PgPool,
    query: &UsageReportQuery,
) -> BoxStream<'static, Result<UsageReportRow, StoreError>> {
    let pool = pool.clone();
    let period = query.period;
    let mut sql = build(query);
    Box::pin(async_stream::try_stream! {
        let mut rows = sql.build().fetch(&pool);
        while let Some(found) = rows.try_next().await.map_err(db_err)? {
            yield row(&found, period)?;
        }
    })
}
