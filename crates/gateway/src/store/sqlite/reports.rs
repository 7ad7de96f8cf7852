//! Usage reports in SQLite: one GROUP BY query whose rows are streamed as SQLite yields them.
//!
//! Timestamps are stored as RFC 3339 text in UTC (`2026-01-05T12:34:56.789+00:00`), so the
//! UTC day is the first 10 characters and the month the first 7; bounds bound as the same
//! text compare correctly and can use the `(user_id, created_at)` index.

use futures::stream::BoxStream;
use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::db_err;
use crate::domain::plan::Plan;
use crate::store::reports::{
    midnight, ReportPeriod, StatusCounts, UsageReportQuery, UsageReportRow,
};
use crate::store::StoreError;

/// The select list and join; `{period}` is replaced by the period's key expression.
const SELECT: &str = "SELECT r.user_id AS user_id, u.email AS email, u.plan AS plan, \
     {period} AS period, \
     SUM(r.status = 'success') AS success, \
     SUM(r.status = 'error') AS error, \
     SUM(r.status = 'cancelled') AS cancelled, \
     SUM(r.status = 'quota_exceeded') AS quota_exceeded, \
     SUM(r.status = 'rate_limited') AS rate_limited, \
     SUM(r.status = 'pending') AS pending, \
     COALESCE(SUM(r.audio_ms), 0) AS audio_ms, \
     COALESCE(SUM(r.text_length), 0) AS characters \
     FROM usage_records r JOIN users u ON u.id = r.user_id WHERE 1 = 1";

/// The period key of a record: its UTC date or month as text.
fn period_key(period: ReportPeriod) -> &'static str {
    match period {
        ReportPeriod::Day => "substr(r.created_at, 1, 10)",
        ReportPeriod::Month => "substr(r.created_at, 1, 7)",
    }
}

fn build(query: &UsageReportQuery) -> QueryBuilder<'static, Sqlite> {
    let key = period_key(query.period);
    let mut sql = QueryBuilder::new(SELECT.replace("{period}", key));
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
        " GROUP BY r.user_id, u.email, u.plan, {key} ORDER BY r.user_id, {key}"
    ));
    sql
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("usage report {what}: {e}"))
}

fn row(row: &SqliteRow, period: ReportPeriod) -> Result<UsageReportRow, StoreError> {
    let get = |column: &str| {
        row.try_get::<i64, _>(column)
            .map_err(|e| corrupt(column, e))
    };
    let plan: String = row.try_get("plan").map_err(|e| corrupt("plan", e))?;
    let key: String = row.try_get("period").map_err(|e| corrupt("period", e))?;
    // A month key is `YYYY-MM`: complete it to the 1st.
    let date_text = match period {
        ReportPeriod::Day => key.clone(),
        ReportPeriod::Month => format!("{key}-01"),
    };
    let date = chrono::NaiveDate::parse_from_str(&date_text, "%Y-%m-%d")
        .map_err(|e| corrupt("period", format!("{key:?}: {e}")))?;
    let period_start = midnight(period.start_of(date));
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
    pool: &SqlitePool,
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
