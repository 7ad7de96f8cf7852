//! Usage reports in SQLite: one GROUP BY query whose rows are streamed as SQLite yields them.
//!
//! Timestamps are stored as RFC 3339 text in UTC (`2026-01-05T12:34:56.789+00:00`), so the
//! UTC day is the first 10 characters and the month the first 7. The bounds of a report are
//! bound as nanoseconds since the epoch and compared with `created_ns` (the same instant as
//! an integer), so that they use the `(user_id, created_ns)` index. Billing cycle bounds
//! (`billing_periods`, `users.cycle_*`) are the same text, so a record is placed in its cycle
//! by comparing text.

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::db_err;
use super::instants::unix_nanos;
use crate::domain::plan::Plan;
use crate::store::reports::{
    midnight, ReportPeriod, StatusCounts, UsageReportQuery, UsageReportRow,
};
use crate::store::StoreError;

/// The select list; `{period}` is replaced by the period's key expression and `{end}` by
/// its end expression (`NULL` when the end follows from the key).
const SELECT: &str = "SELECT r.user_id AS user_id, u.email AS email, u.plan AS plan, \
     {period} AS period, {end} AS period_end, \
     SUM(r.status = 'success') AS success, \
     SUM(r.status = 'error') AS error, \
     SUM(r.status = 'cancelled') AS cancelled, \
     SUM(r.status = 'quota_exceeded') AS quota_exceeded, \
     SUM(r.status = 'rate_limited') AS rate_limited, \
     SUM(r.status = 'pending') AS pending, \
     COALESCE(SUM(r.audio_ms), 0) AS audio_ms, \
     COALESCE(SUM(r.text_length), 0) AS characters \
     FROM usage_records r JOIN users u ON u.id = r.user_id";

/// The closed cycle holding a record, if any (at most one: a user's closed cycles do not
/// overlap). Found through the `(user_id, period_start)` unique index.
const CYCLE_JOIN: &str = " LEFT JOIN billing_periods bp ON bp.user_id = r.user_id \
     AND bp.period_start <= r.created_at AND r.created_at < bp.period_end";

/// A record's cycle start: its closed cycle's, else the current cycle's when the record is
/// not older than it, else (never expected) its own UTC date, which [`row`] reads as a day.
/// Bare dates sort before any instant of that day, so the order stays chronological.
const CYCLE_KEY: &str = "(CASE WHEN bp.id IS NOT NULL THEN bp.period_start \
     WHEN r.created_at >= u.cycle_started_at THEN u.cycle_started_at \
     ELSE substr(r.created_at, 1, 10) END)";

/// A record's cycle end, NULL for the day fallback of [`CYCLE_KEY`].
const CYCLE_END: &str = "(CASE WHEN bp.id IS NOT NULL THEN bp.period_end \
     WHEN r.created_at >= u.cycle_started_at THEN u.cycle_ends_at END)";

/// How a period groups records: the extra join, the key and, when the key alone does not
/// give it, the end.
struct Shape {
    join: &'static str,
    key: &'static str,
    end: Option<&'static str>,
}

/// The period key of a record: its UTC date or month as text, or its billing cycle.
fn shape(period: ReportPeriod) -> Shape {
    match period {
        ReportPeriod::Day => Shape {
            join: "",
            key: "substr(r.created_at, 1, 10)",
            end: None,
        },
        ReportPeriod::Month => Shape {
            join: "",
            key: "substr(r.created_at, 1, 7)",
            end: None,
        },
        ReportPeriod::Cycle => Shape {
            join: CYCLE_JOIN,
            key: CYCLE_KEY,
            end: Some(CYCLE_END),
        },
    }
}

fn build(query: &UsageReportQuery) -> QueryBuilder<'static, Sqlite> {
    let Shape { join, key, end } = shape(query.period);
    let select = SELECT
        .replace("{period}", key)
        .replace("{end}", end.unwrap_or("NULL"));
    let mut sql = QueryBuilder::new(format!("{select}{join} WHERE 1 = 1"));
    if let Some(user_id) = query.user_id {
        sql.push(" AND r.user_id = ").push_bind(user_id);
    }
    if let Some(plan) = query.plan {
        sql.push(" AND u.plan = ").push_bind(plan.as_str());
    }
    if let Some(from) = query.from {
        sql.push(" AND r.created_ns >= ")
            .push_bind(unix_nanos(&from));
    }
    if let Some(to) = query.to {
        sql.push(" AND r.created_ns < ").push_bind(unix_nanos(&to));
    }
    // The end is grouped too, so a fallback day never merges with a cycle starting at the
    // same text (a day key has no time, but keep the groups apart whatever the data).
    let group_end = end.map(|e| format!(", {e}")).unwrap_or_default();
    sql.push(format!(
        " GROUP BY r.user_id, u.email, u.plan, {key}{group_end} ORDER BY r.user_id, {key}{group_end}"
    ));
    sql
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("usage report {what}: {e}"))
}

/// A stored RFC 3339 instant.
fn instant(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| corrupt(what, format!("{text:?}: {e}")))
}

fn row(row: &SqliteRow, period: ReportPeriod) -> Result<UsageReportRow, StoreError> {
    let get = |column: &str| {
        row.try_get::<i64, _>(column)
            .map_err(|e| corrupt(column, e))
    };
    let plan: String = row.try_get("plan").map_err(|e| corrupt("plan", e))?;
    let key: String = row.try_get("period").map_err(|e| corrupt("period", e))?;
    let end: Option<String> = row
        .try_get("period_end")
        .map_err(|e| corrupt("period_end", e))?;
    let (period_start, period_end) = match end {
        // A billing cycle: both bounds are stored instants.
        Some(end) => (instant("period", &key)?, instant("period_end", &end)?),
        None => {
            // A month key is `YYYY-MM`: complete it to the 1st. A cycle without an end is
            // the day fallback, keyed by date.
            let date_text = match period {
                ReportPeriod::Day | ReportPeriod::Cycle => key.clone(),
                ReportPeriod::Month => format!("{key}-01"),
            };
            let date = chrono::NaiveDate::parse_from_str(&date_text, "%Y-%m-%d")
                .map_err(|e| corrupt("period", format!("{key:?}: {e}")))?;
            let start = midnight(period.start_of(date));
            (start, period.end_after(start))
        }
    };
    Ok(UsageReportRow {
        user_id: get("user_id")?,
        email: row.try_get("email").map_err(|e| corrupt("email", e))?,
        plan: Plan::parse(&plan).ok_or_else(|| corrupt("plan", &plan))?,
        period_start,
        period_end,
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
