//! Report types of the store port: what an aggregated usage report asks for and each row it
//! yields. Rows are streamed, so a report never has to fit in memory.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};

use crate::domain::plan::Plan;

/// How usage records are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportPeriod {
    /// UTC calendar days.
    Day,
    /// UTC calendar months.
    Month,
    /// Each user's billing cycles: the closed ones in `billing_periods` and the current one
    /// (`users.cycle_started_at` to `users.cycle_ends_at`). A record in neither (a gap the
    /// cycle bookkeeping should never leave) is grouped under its own UTC day instead of
    /// being dropped, so totals always add up.
    Cycle,
}

impl ReportPeriod {
    /// Every period, in the order they are documented.
    pub const ALL: [ReportPeriod; 3] =
        [ReportPeriod::Day, ReportPeriod::Month, ReportPeriod::Cycle];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportPeriod::Day => "day",
            ReportPeriod::Month => "month",
            ReportPeriod::Cycle => "cycle",
        }
    }

    /// Parses a wire name.
    pub fn parse(value: &str) -> Option<ReportPeriod> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// The start of the period holding `date` (itself for days, the 1st for months). Cycles
    /// come from the database; a record outside every cycle falls back to its day, so for
    /// [`ReportPeriod::Cycle`] this is the day too.
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        match self {
            ReportPeriod::Day | ReportPeriod::Cycle => date,
            ReportPeriod::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The exclusive end of the period starting at `start` (for [`ReportPeriod::Cycle`], of
    /// the fallback day: a cycle's end comes from the database).
    pub fn end_after(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let next = match self {
            ReportPeriod::Day | ReportPeriod::Cycle => start.checked_add_days(Days::new(1)),
            ReportPeriod::Month => start.checked_add_months(Months::new(1)),
        };
        next.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Midnight UTC at the start of `date`.
pub fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

/// What a usage report covers. Time bounds are half-open: `[from, to)`.
#[derive(Debug, Clone)]
pub struct UsageReportQuery {
    /// Grouping in time.
    pub period: ReportPeriod,
    /// Only this user.
    pub user_id: Option<i64>,
    /// Only users currently on this plan.
    pub plan: Option<Plan>,
    /// Records created at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Records created before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// Request counts of one report row, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
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

impl StatusCounts {
    /// Every request counted.
    pub fn total(&self) -> i64 {
        self.success
            + self.error
            + self.cancelled
            + self.quota_exceeded
            + self.rate_limited
            + self.pending
    }
}

/// One user's usage in one period.
#[derive(Debug, Clone)]
pub struct UsageReportRow {
    /// The user.
    pub user_id: i64,
    /// Their email.
    pub email: String,
    /// Their current plan.
    pub plan: Plan,
    /// First instant of the period.
    pub period_start: DateTime<Utc>,
    /// First instant after the period.
    pub period_end: DateTime<Utc>,
    /// Requests by outcome.
    pub requests: StatusCounts,
    /// Billed audio, milliseconds.
    pub audio_ms: i64,
    /// Characters of text asked for.
    pub characters: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_where_the_next_one_starts() {
        let jan31 = midnight(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap_or_default());
        assert_eq!(
            ReportPeriod::Day.end_after(jan31).to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        let jan1 = midnight(ReportPeriod::Month.start_of(jan31.date_naive()));
        assert_eq!(
            ReportPeriod::Month.end_after(jan1).to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        assert_eq!(ReportPeriod::parse("month"), Some(ReportPeriod::Month));
        assert_eq!(ReportPeriod::parse("cycle"), Some(ReportPeriod::Cycle));
        assert_eq!(
            ReportPeriod::Cycle.end_after(jan31).to_rfc3339(),
            "2026-02-01T00:00:00+00:00",
            "records outside every cycle fall back to their day"
        );
        assert_eq!(ReportPeriod::parse("week"), None);
    }
}
