//! The usage report's query, built the same for both databases but for how each names a
//! record's day and month, and the totals of a report row.

use super::{get, Dialect, Query, Row};
use crate::domain::plan::Plan;
use crate::store::reports::{ReportPeriod, StatusCounts, UsageReportQuery, UsageReportRow};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// The select list; `{period}` is replaced by the period's key and `{end}` by its end (a
/// NULL when the end follows from the key). `SUM` over BIGINT is NUMERIC in PostgreSQL: cast
/// back so it reads as an integer.
const SELECT: &str = "SELECT r.user_id AS user_id, u.email AS email, u.plan AS plan, \
     {period} AS period_start, {end} AS period_end, \
     {count:success} AS success, \
     {count:error} AS error, \
     {count:cancelled} AS cancelled, \
     {count:quota_exceeded} AS quota_exceeded, \
     {count:rate_limited} AS rate_limited, \
     {count:pending} AS pending, \
     CAST(COALESCE(SUM(r.audio_ms), 0) AS BIGINT) AS audio_ms, \
     CAST(COALESCE(SUM(r.text_length), 0) AS BIGINT) AS characters \
     FROM ({records}) r JOIN users u ON u.id = r.user_id";

/// Usage records and refusal counts as one relation: a record is one request, a refusal
/// count is `requests` of them at its hour, with no audio or text. `{time}` is SQLite's
/// integer time key, present in both tables there.
const RECORDS: &str =
    "SELECT user_id, created_at,{time} status, audio_ms, text_length, 1 AS n FROM usage_records \
     UNION ALL SELECT user_id, created_at,{time} status, 0, 0, requests FROM usage_refusals";

/// The requests of one status in a group.
fn count(status: &str) -> String {
    format!("CAST(COALESCE(SUM(r.n) FILTER (WHERE r.status = '{status}'), 0) AS BIGINT)")
}

/// The closed cycle holding a record, if any (at most one: a user's closed cycles do not
/// overlap). Found through the `(user_id, period_start)` unique index.
const CYCLE_JOIN: &str = " LEFT JOIN billing_periods bp ON bp.user_id = r.user_id \
     AND bp.period_start <= r.created_at AND r.created_at < bp.period_end";

/// A record's cycle end, NULL for the day fallback of the cycle key.
const CYCLE_END: &str = "(CASE WHEN bp.id IS NOT NULL THEN bp.period_end \
     WHEN r.created_at >= u.cycle_started_at THEN u.cycle_ends_at END)";

/// How a database names the period of a record `r`.
pub(crate) struct PeriodKeys {
    /// The record's UTC day.
    pub day: &'static str,
    /// The record's UTC month.
    pub month: &'static str,
    /// A NULL of the end's type.
    pub null_end: &'static str,
}

/// The report's query for `query`, periods named by `keys`.
pub(crate) fn build(
    dialect: Dialect,
    keys: &PeriodKeys,
    query: &UsageReportQuery,
) -> Query<'static> {
    // A record's cycle: its closed cycle's start, else the current cycle's when the record is
    // not older than it, else (never expected) its own UTC day, so totals always add up.
    let cycle = format!(
        "(CASE WHEN bp.id IS NOT NULL THEN bp.period_start \
         WHEN r.created_at >= u.cycle_started_at THEN u.cycle_started_at ELSE {} END)",
        keys.day
    );
    let (join, key, end) = match query.period {
        ReportPeriod::Day => ("", keys.day.to_string(), None),
        ReportPeriod::Month => ("", keys.month.to_string(), None),
        ReportPeriod::Cycle => (CYCLE_JOIN, cycle, Some(CYCLE_END)),
    };
    let time_key = match dialect {
        Dialect::Sqlite => " created_ns,",
        Dialect::Postgres => "",
    };
    let mut select = SELECT
        .replace("{records}", &RECORDS.replace("{time}", time_key))
        .replace("{period}", &key)
        .replace("{end}", end.unwrap_or(keys.null_end));
    for status in [
        "success",
        "error",
        "cancelled",
        "quota_exceeded",
        "rate_limited",
        "pending",
    ] {
        select = select.replace(&format!("{{count:{status}}}"), &count(status));
    }
    let mut sql = Query::new(format!("{select}{join} WHERE TRUE"));
    if let Some(user_id) = query.user_id {
        sql.push(" AND r.user_id = ").push_bind(user_id);
    }
    if let Some(plan) = query.plan {
        sql.push(" AND u.plan = ").push_bind(plan.as_str());
    }
    // Bounds on the indexed time key, so that they use the user's index.
    let time = dialect.usage_time_column();
    if let Some(from) = query.from {
        sql.push(&format!(" AND r.{time} >= "))
            .push_bind(dialect.usage_time(from));
    }
    if let Some(to) = query.to {
        sql.push(&format!(" AND r.{time} < "))
            .push_bind(dialect.usage_time(to));
    }
    // The end is grouped too, so a fallback day never merges with a cycle starting at the
    // same instant.
    let group_end = end.map(|e| format!(", {e}")).unwrap_or_default();
    sql.push(&format!(
        " GROUP BY r.user_id, u.email, u.plan, {key}{group_end} ORDER BY r.user_id, {key}{group_end}"
    ));
    sql
}

/// A report row's figures around the period bounds its database read.
pub(crate) fn report_row(
    row: &dyn Row,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
) -> Result<UsageReportRow, StoreError> {
    let plan: String = get(row, "plan")?;
    Ok(UsageReportRow {
        user_id: get(row, "user_id")?,
        email: get(row, "email")?,
        plan: Plan::parse(&plan)
            .ok_or_else(|| StoreError::Corrupt(format!("usage report plan {plan:?}")))?,
        period_start,
        period_end,
        requests: StatusCounts {
            success: get(row, "success")?,
            error: get(row, "error")?,
            cancelled: get(row, "cancelled")?,
            quota_exceeded: get(row, "quota_exceeded")?,
            rate_limited: get(row, "rate_limited")?,
            pending: get(row, "pending")?,
        },
        audio_ms: get(row, "audio_ms")?,
        characters: get(row, "characters")?,
    })
}
