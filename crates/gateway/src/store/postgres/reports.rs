//! Usage reports in PostgreSQL: the shared query (`sql::reports`), periods truncated in UTC
//! whatever the session's time zone, its rows streamed as the server sends them.

use futures::stream::BoxStream;
use futures::TryStreamExt;
use sqlx::PgPool;

use super::connection::{connect_err, db_err, prepared};
use crate::store::reports::{ReportPeriod, UsageReportQuery, UsageReportRow};
use crate::store::sql::reports::{build, report_row, PeriodKeys};
use crate::store::sql::{get, Dialect, Row};
use crate::store::StoreError;

/// A record's period as a `timestamptz`.
const KEYS: PeriodKeys = PeriodKeys {
    day: "(date_trunc('day', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
    month: "(date_trunc('month', r.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')",
    null_end: "NULL::TIMESTAMPTZ",
};

/// A cycle's end is stored; a day's or month's (and the cycle report's day fallback's)
/// follows from the start.
fn row(row: &dyn Row, period: ReportPeriod) -> Result<UsageReportRow, StoreError> {
    let start: chrono::DateTime<chrono::Utc> = get(row, "period_start")?;
    let end: Option<chrono::DateTime<chrono::Utc>> = get(row, "period_end")?;
    report_row(row, start, end.unwrap_or_else(|| period.end_after(start)))
}

/// Streams the report; the stream owns a pool handle and holds one connection while read.
pub(super) fn usage(
    pool: &PgPool,
    query: &UsageReportQuery,
) -> BoxStream<'static, Result<UsageReportRow, StoreError>> {
    let pool = pool.clone();
    let period = query.period;
    let sql = build(Dialect::Postgres, &KEYS, query);
    Box::pin(async_stream::try_stream! {
        let mut conn = pool.acquire().await.map_err(connect_err)?;
        let mut rows = prepared(&sql).fetch(&mut *conn);
        while let Some(found) = rows.try_next().await.map_err(db_err)? {
            yield row(&found, period)?;
        }
    })
}
