//! Usage reports in PostgreSQL: one GROUP BY query whose rows are streamed as the server
//! sends them. Periods are truncated in UTC whatever the session's time zone; billing cycles
//! are read from `billing_periods` and the user's current cycle.

use futures::stream::BoxStream;
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

use super::db_err;
use crate::domain::plan::Plan;
use crate::store::reports::{ReportPeriod, StatusCounts, UsageReportQuery, UsageReportRow};
use crate::store::StoreError;

/// The select list; `{period}` is replaced by the period's start expression and `{end}` by
/// its end expression (a NULL `timestamptz` when the end follows from the start).
/// `SUM` over BIGINT is NUMERIC in PostgreSQL: cast back so it decodes as `i64`.
const SELECT: &str = "SELECT r.user_id AS user_id, u.email AS email, u.plan AS plan, \
     {period} AS period_start, {end} AS period_end, \
     COUNT(*) FILTER (WHERE r.status = 'success') AS success, \
     COUNT(*) FILTER (WHERE r.status = 'error') AS error, \
     COUNT(*) FILTER (WHERE r.status = 'cancelled') AS cancelled, \
     COUNT(*) FILTER (WHERE r.status = 'quota_exceeded') AS quota_exceeded, \
     COUNT(*) FILTER (WHERE r.status = 'rate_limited') AS rate_limited, \
     COUNT(*) FILTER (WHERE r.status = 'pending') AS pending, \
     COALESCE(SUM(r.audio_ms), 0)::BIGINT AS audio_ms, \
     COALESCE(SUM(r.text_length), 0)::BIGINT AS characters \
     FROM usage_records r JOIN users u ON u.id = r.user_id";

/// The closed cycle holding a record, if any (at most one: a user's closed cycles do not
/// overlap). Found through the `(user_id, period_start)` unique index.
const CYCLE_JOIN: &str = " LEFT JOIN billing_periods bp ON bp.user_id = r.user_id \
     AND bp.period_start <= r.created_at AND r.created_at < bp.period_end";

/// A record's cycle start: its closed cycle's, else the current cycle's when the record is
/// not older than it, else (never expected) the start of its own UTC day.
const CYCLE_START: &str = "(CASE WHEN bp.id IS NOT NULL THEN bp.period_start \
     WHEN r.created_at >= u.cycle_started_at THEN u.cycle_started_at \
     ELSE (date_trunc('day', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') END)";

/// A record's cycle end, NULL for the day fallback of [`CYCLE_START`].
const CYCLE_END: &str = "(CASE WHEN bp.id IS NOT NULL THEN bp.period_end \
     WHEN r.created_at >= u.cycle_started_at THEN u.cycle_ends_at END)";

/// How a period groups records: the extra join, the start and, when the start alone does
/// not give it, the end.
struct Shape {
    join: &'static str,
    start: &'static str,
    end: Option<&'static str>,
}

/// The start of a record's period, as a `timestamptz`.
fn shape(period: ReportPeriod) -> Shape {
    match period {
        ReportPeriod::Day => Shape {
            join: "",
            start: "(date_trunc('day', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
            end: None,
        },
        ReportPeriod::Month => Shape {
            join: "",
            start: "(date_trunc('month', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
            end: None,
        },
        ReportPeriod::Cycle => Shape {
            join: CYCLE_JOIN,
            start: CYCLE_START,
            end: Some(CYCLE_END),
        },
    }
}

fn build(query: &UsageReportQuery) -> QueryBuilder<'static, Postgres> {
    let Shape { join, start, end } = shape(query.period);
    let select = SELECT
        .replace("{period}", start)
        .replace("{end}", end.unwrap_or("NULL::TIMESTAMPTZ"));
    let mut sql = QueryBuilder::new(format!("{select}{join} WHERE TRUE"));
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
    // The end is grouped too, so a fallback day never merges with a cycle that happens to
    // start at the same midnight.
    let group_end = end.map(|e| format!(", {e}")).unwrap_or_default();
    sql.push(format!(
        " GROUP BY r.user_id, u.email, u.plan, {start}{group_end} ORDER BY r.user_id, {start}{group_end}"
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
    // A cycle's end is stored; a day's or month's (and the cycle report's day fallback's)
    // follows from the start.
    let period_end: Option<chrono::DateTime<chrono::Utc>> = row
        .try_get("period_end")
        .map_err(|e| corrupt("period_end", e))?;
    Ok(UsageReportRow {
        user_id: get("user_id")?,
        email: row.try_get("email").map_err(|e| corrupt("email", e))?,
        plan: Plan::parse(&plan).ok_or_else(|| corrupt("plan", &plan))?,
        period_start,
        period_end: period_end.unwrap_or_else(|| period.end_after(period_start)),
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
