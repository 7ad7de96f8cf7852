//! Usage reports: validates the filters and encodes the store's row stream as JSON or CSV
//! bytes as it comes, for the admin API and the `export-usage` command alike.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use serde::Serialize;

use crate::domain::field::InvalidField;
use crate::domain::plan::Plan;
use crate::store::reports::{midnight, ReportPeriod, UsageReportQuery, UsageReportRow};
use crate::store::{Store, StoreError};

/// Output encoding of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// `{"data": [...]}`.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

impl ReportFormat {
    /// Parses `json` or `csv`.
    pub fn parse(value: &str) -> Option<ReportFormat> {
        match value {
            "json" => Some(ReportFormat::Json),
            "csv" => Some(ReportFormat::Csv),
            _ => None,
        }
    }

    /// The media type of the encoded report.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A filter that broke a rule: which one (as the caller spelled it: `from`, `period`, …),
/// and why.
pub type FilterError = InvalidField;

/// Report filters as given, before validation.
#[derive(Debug, Clone, Default)]
pub struct ReportFilters<'a> {
    /// `day`, `month` or `cycle` (default `day`).
    pub period: Option<&'a str>,
    /// Only this user.
    pub user_id: Option<i64>,
    /// Only users on this plan.
    pub plan: Option<&'a str>,
    /// Start instant, inclusive (RFC 3339, or a date meaning its midnight UTC).
    pub from: Option<&'a str>,
    /// End instant, exclusive (same forms).
    pub to: Option<&'a str>,
}

/// Parses an RFC 3339 instant, or a `YYYY-MM-DD` date meaning its midnight UTC.
pub fn parse_instant(value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(midnight)
        .map_err(|_| {
            format!(
                "{value:?} is not an RFC 3339 time (2026-01-31T00:00:00Z) or a date (2026-01-31)"
            )
        })
}

/// Names of the periods, for messages.
fn period_names() -> String {
    let names: Vec<&str> = ReportPeriod::ALL.iter().map(|p| p.as_str()).collect();
    names.join(", ")
}

/// Checks the filters and turns them into a store query.
pub fn query(filters: &ReportFilters<'_>) -> Result<UsageReportQuery, FilterError> {
    let period = match filters.period {
        None => ReportPeriod::Day,
        Some(name) => ReportPeriod::parse(name).ok_or_else(|| {
            FilterError::new(
                "period",
                format!("{name:?} is not one of {}", period_names()),
            )
        })?,
    };
    let plan = match filters.plan {
        None => None,
        Some(name) => Some(Plan::parse(name).ok_or_else(|| {
            FilterError::new(
                "plan",
                format!("{name:?} is not one of free, basic, pro, enterprise"),
            )
        })?),
    };
    if filters.user_id.is_some_and(|id| id < 1) {
        return Err(FilterError::new("user_id", "must be a positive user id"));
    }
    let instant = |field: &'static str, value: Option<&str>| {
        value
            .map(parse_instant)
            .transpose()
            .map_err(|message| FilterError::new(field, message))
    };
    let from = instant("from", filters.from)?;
    let to = instant("to", filters.to)?;
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            return Err(FilterError::new("to", "must be later than from"));
        }
    }
    Ok(UsageReportQuery {
        period,
        user_id: filters.user_id,
        plan,
        from,
        to,
    })
}

/// Request counts of one report entry, by outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestCounts {
    /// Audio delivered and billed.
    pub success: i64,
    /// Engine or internal failures.
    pub error: i64,
    /// Clients that went away.
    pub cancelled: i64,
    /// Refused for quota.
    pub quota_exceeded: i64,
    /// Refused by a rate or concurrency limit.
    pub rate_limited: i64,
    /// Still in flight when the report ran.
    pub pending: i64,
}

/// One user's usage in one period, as reported.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReportEntry {
    /// The user.
    pub user_id: i64,
    /// Their email.
    pub email: String,
    /// Their current plan.
    pub plan: Plan,
    /// First instant of the period (UTC).
    pub period_start: DateTime<Utc>,
    /// First instant after the period (UTC).
    pub period_end: DateTime<Utc>,
    /// Requests by outcome.
    pub requests: RequestCounts,
    /// Every request recorded in the period.
    pub total_requests: i64,
    /// Billed audio seconds.
    pub audio_seconds: f64,
    /// Characters of text asked for.
    pub characters: i64,
}

impl From<&UsageReportRow> for UsageReportEntry {
    fn from(r: &UsageReportRow) -> Self {
        let c = r.requests;
        UsageReportEntry {
            user_id: r.user_id,
            email: r.email.clone(),
            plan: r.plan,
            period_start: r.period_start,
            period_end: r.period_end,
            requests: RequestCounts {
                success: c.success,
                error: c.error,
                cancelled: c.cancelled,
                quota_exceeded: c.quota_exceeded,
                rate_limited: c.rate_limited,
                pending: c.pending,
            },
            total_requests: c.total(),
            audio_seconds: r.audio_ms as f64 / 1000.0,
            characters: r.characters,
        }
    }
}

/// The whole JSON report, for the API document (it is written row by row, not built).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// One entry per user per period, by user then period.
    pub data: Vec<UsageReportEntry>,
}

/// CSV columns, in order.
pub const CSV_HEADER: [&str; 14] = [
    "user_id",
    "email",
    "plan",
    "period_start",
    "period_end",
    "success",
    "error",
    "cancelled",
    "quota_exceeded",
    "rate_limited",
    "pending",
    "total_requests",
    "audio_seconds",
    "characters",
];

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Encodes rows one at a time, keeping only the current row's bytes.
struct Encoder {
    format: ReportFormat,
    rows: u64,
}

/// One CSV record (RFC 4180 quoting, CRLF line end).
fn csv_record<I: IntoIterator<Item = String>>(fields: I) -> Result<Bytes, StoreError> {
    let failed = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("csv: {e}"));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(fields).map_err(|e| failed(&e))?;
    writer.into_inner().map(Bytes::from).map_err(|e| failed(&e))
}

impl Encoder {
    fn new(format: ReportFormat) -> Encoder {
        Encoder { format, rows: 0 }
    }

    fn head(&mut self) -> Result<Bytes, StoreError> {
        match self.format {
            ReportFormat::Json => Ok(Bytes::from_static(b"{\"data\":[")),
            ReportFormat::Csv => csv_record(CSV_HEADER.iter().map(|h| h.to_string())),
        }
    }

    fn row(&mut self, row: &UsageReportRow) -> Result<Bytes, StoreError> {
        self.rows += 1;
        match self.format {
            ReportFormat::Json => {
                let mut out = if self.rows == 1 {
                    Vec::new()
                } else {
                    vec![b',']
                };
                serde_json::to_writer(&mut out, &UsageReportEntry::from(row))
                    .map_err(|e| StoreError::Corrupt(format!("json: {e}")))?;
                Ok(Bytes::from(out))
            }
            ReportFormat::Csv => {
                let c = row.requests;
                csv_record([
                    row.user_id.to_string(),
                    row.email.clone(),
                    row.plan.as_str().to_string(),
                    time(row.period_start),
                    time(row.period_end),
                    c.success.to_string(),
                    c.error.to_string(),
                    c.cancelled.to_string(),
                    c.quota_exceeded.to_string(),
                    c.rate_limited.to_string(),
                    c.pending.to_string(),
                    c.total().to_string(),
                    (row.audio_ms as f64 / 1000.0).to_string(),
                    row.characters.to_string(),
                ])
            }
        }
    }

    fn tail(&self) -> Bytes {
        match self.format {
            ReportFormat::Json => Bytes::from_static(b"]}\n"),
            ReportFormat::Csv => Bytes::new(),
        }
    }
}

/// Encodes a row stream: the head, each row as it arrives, then the tail. An error ends the
/// stream with that error, so a reader sees a cut document rather than a short valid one.
pub fn encode(
    rows: BoxStream<'static, Result<UsageReportRow, StoreError>>,
    format: ReportFormat,
) -> BoxStream<'static, Result<Bytes, StoreError>> {
    Box::pin(async_stream::try_stream! {
        let mut encoder = Encoder::new(format);
        yield encoder.head()?;
        let mut rows = rows;
        while let Some(row) = rows.next().await {
            yield encoder.row(&row?)?;
        }
        let tail = encoder.tail();
        if !tail.is_empty() {
            yield tail;
        }
    })
}

/// Starts a report: waits for the database's first answer, so that a failing database is an
/// error before any byte is sent, then streams the encoded rest.
pub async fn export(
    store: &dyn Store,
    query: &UsageReportQuery,
    format: ReportFormat,
) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
    let mut rows = store.usage_report(query);
    let first = rows.next().await.transpose()?;
    let rows: BoxStream<'static, _> = match first {
        Some(first) => Box::pin(stream::once(async move { Ok(first) }).chain(rows)),
        None => Box::pin(stream::empty()),
    };
    Ok(encode(rows, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_the_bad_field() {
        let bad = |f: ReportFilters<'_>| query(&f).err().map(|e| e.field);
        assert_eq!(
            bad(ReportFilters {
                period: Some("week"),
                ..Default::default()
            }),
            Some("period")
        );
        assert_eq!(
            bad(ReportFilters {
                from: Some("yesterday"),
                ..Default::default()
            }),
            Some("from")
        );
        assert_eq!(
            bad(ReportFilters {
                from: Some("2026-02-01"),
                to: Some("2026-01-01T00:00:00Z"),
                ..Default::default()
            }),
            Some("to")
        );
        assert_eq!(
            bad(ReportFilters {
                plan: Some("gold"),
                ..Default::default()
            }),
            Some("plan")
        );
    }

    #[test]
    fn cycle_is_a_period_and_the_message_lists_it() {
        let period = |name| {
            query(&ReportFilters {
                period: Some(name),
                ..Default::default()
            })
        };
        assert_eq!(
            period("cycle").ok().map(|q| q.period),
            Some(ReportPeriod::Cycle)
        );
        let message = period("week").err().map(|e| e.message);
        assert_eq!(
            message.as_deref(),
            Some("\"week\" is not one of day, month, cycle")
        );
    }

    #[test]
    fn dates_mean_midnight_utc() {
        let at = parse_instant("2026-01-31").ok();
        assert_eq!(at.map(time).as_deref(), Some("2026-01-31T00:00:00Z"));
        let at = parse_instant("2026-01-31T01:00:00+01:00").ok();
        assert_eq!(at.map(time).as_deref(), Some("2026-01-31T00:00:00Z"));
    }
}
