//! Usage reports in SQLite: the shared query (`sql::reports`), its rows read on a blocking
//! thread a few rows ahead of the consumer.
//!
//! Timestamps are stored as RFC 3339 text in UTC (`2026-01-05T12:34:56.789+00:00`), so the
//! UTC day is the first 10 characters and the month the first 7. The bounds of a report are
//! compared with `created_ns` (the same instant as an integer), so that they use the
//! `(user_id, created_ns)` index. Billing cycle bounds (`billing_periods`, `users.cycle_*`)
//! are the same text, so a record is placed in its cycle by comparing text.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::BoxStream;

use super::connection::for_each_row;
use super::readers::Readers;
use crate::store::reports::{midnight, ReportPeriod, UsageReportQuery, UsageReportRow};
use crate::store::sql::reports::{build, report_row, PeriodKeys};
use crate::store::sql::{get, Dialect, Row};
use crate::store::StoreError;

/// Rows read ahead of the consumer, at most.
const READ_AHEAD: usize = 64;

/// A record's day or month as text; a bare date sorts before any instant of that day, so a
/// cycle report's day fallback stays in chronological order.
const KEYS: PeriodKeys = PeriodKeys {
    day: "substr(r.created_at, 1, 10)",
    month: "substr(r.created_at, 1, 7)",
    null_end: "NULL",
};

fn corrupt(what: &str, text: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("usage report {what} {text:?}: {e}"))
}

/// A stored RFC 3339 instant.
fn instant(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| corrupt(what, text, e))
}

fn row(row: &dyn Row, period: ReportPeriod) -> Result<UsageReportRow, StoreError> {
    let key: String = get(row, "period_start")?;
    let end: Option<String> = get(row, "period_end")?;
    let (start, end) = match end {
        // A billing cycle: both bounds are stored instants.
        Some(end) => (instant("period", &key)?, instant("period_end", &end)?),
        None => {
            // A month key is `YYYY-MM`: complete it to the 1st. A cycle without an end is
            // the day fallback, keyed by date.
            let date_text = match period {
                ReportPeriod::Day | ReportPeriod::Cycle => key.clone(),
                ReportPeriod::Month => format!("{key}-01"),
            };
            let date = NaiveDate::parse_from_str(&date_text, "%Y-%m-%d")
                .map_err(|e| corrupt("period", &key, e))?;
            let start = midnight(period.start_of(date));
            (start, period.end_after(start))
        }
    };
    report_row(row, start, end)
}

/// Streams the report: a blocking thread reads it on a reader connection; a consumer that
/// goes away stops it.
pub(super) fn usage(
    readers: &Arc<Readers>,
    query: &UsageReportQuery,
) -> BoxStream<'static, Result<UsageReportRow, StoreError>> {
    let readers = readers.clone();
    let period = query.period;
    let sql = build(Dialect::Sqlite, &KEYS, query);
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        let mut lease = match readers.lease().await {
            Ok(lease) => lease,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let read = tokio::task::spawn_blocking(move || {
            let gone = || StoreError::Unavailable("the report's reader went away".into());
            let done = lease.conn().and_then(|conn| {
                for_each_row(conn, &sql, &mut |found| {
                    // A row that cannot be read ends the report, as its error.
                    let mapped = row(found, period)?;
                    tx.blocking_send(Ok(mapped)).map_err(|_| gone())
                })
            });
            if let Err(e) = done {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let _ = read.await;
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
