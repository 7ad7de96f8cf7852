//! Billing cycles: pure date arithmetic, no clock and no database.
//!
//! A user's cycles are monthly from their anchor: the same day of the month and time of day,
//! clamped to the month's last day (anchor Jan 31 → Feb 28/29 → Mar 31). A cycle normally
//! starts on such a boundary; after an admin reset it starts at the reset time and runs to
//! the next boundary of the same anchor (a short cycle), so the anchor never moves.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

/// `anchor` moved `months` calendar months forward, day clamped to the target month's end.
pub fn add_months(anchor: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    // chrono clamps to the month's last day; it fails only past the year 262143.
    anchor
        .checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whole calendar months from `anchor`'s month to `at`'s month (negative when earlier).
fn month_span(anchor: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
    (i64::from(at.year()) - i64::from(anchor.year())) * 12 + i64::from(at.month())
        - i64::from(anchor.month())
}

/// The last boundary at or before `at`: the start of the natural cycle containing `at`
/// (the anchor itself when `at` is before it).
pub fn boundary_at_or_before(anchor: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
    let span = month_span(anchor, at);
    if span <= 0 {
        return anchor;
    }
    let months = u32::try_from(span).unwrap_or(u32::MAX);
    let candidate = add_months(anchor, months);
    if candidate <= at {
        candidate
    } else {
        // `add_months` is monotonic, and one month less lands in the previous month.
        add_months(anchor, months - 1)
    }
}

/// The first boundary strictly after `at`: when the cycle containing `at` ends.
pub fn boundary_after(anchor: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
    if at < anchor {
        return anchor;
    }
    let start = boundary_at_or_before(anchor, at);
    let span = u32::try_from(month_span(anchor, start).max(0)).unwrap_or(u32::MAX);
    add_months(anchor, span.saturating_add(1))
}

/// What to do with a user's stored cycle at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleCheck {
    /// The cycle that started at `started_at` is still running; it ends at `ends_at`.
    Running {
        /// End of the current cycle.
        ends_at: DateTime<Utc>,
    },
    /// The cycle is over: close `[started_at, closed_end)` and start the cycle containing
    /// `now` in one step, however many months were missed.
    RollOver {
        /// End of the closed cycle.
        closed_end: DateTime<Utc>,
        /// Start of the new cycle (the last boundary at or before `now`).
        next_start: DateTime<Utc>,
        /// End of the new cycle.
        next_end: DateTime<Utc>,
    },
}

/// Checks a cycle that started at `started_at` (a boundary, or a reset time) against `now`.
pub fn check(anchor: DateTime<Utc>, started_at: DateTime<Utc>, now: DateTime<Utc>) -> CycleCheck {
    let ends_at = boundary_after(anchor, started_at);
    if now < ends_at {
        return CycleCheck::Running { ends_at };
    }
    let next_start = boundary_at_or_before(anchor, now);
    CycleCheck::RollOver {
        closed_end: ends_at,
        next_start,
        next_end: boundary_after(anchor, next_start),
    }
}

/// Days in a month (for callers that show them; also pins the clamping rule in tests).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// A closed billing cycle's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingPeriod {
    /// Owner.
    pub user_id: i64,
    /// Start of the cycle.
    pub period_start: DateTime<Utc>,
    /// End of the cycle (exclusive).
    pub period_end: DateTime<Utc>,
    /// Quota in force when it closed.
    pub quota_ms: i64,
    /// Milliseconds billed in it.
    pub used_ms: i64,
    /// Usage records created while the cycle was current (from its start to its closing).
    pub requests: i64,
    /// `rollover` (the cycle ran out) or `reset` (an admin closed it).
    pub reason: String,
    /// When it was closed.
    pub closed_at: DateTime<Utc>,
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn month_ends_clamp_and_recover() {
        let anchor = t("2025-01-31T10:30:00Z");
        assert_eq!(add_months(anchor, 1), t("2025-02-28T10:30:00Z"));
        assert_eq!(add_months(anchor, 2), t("2025-03-31T10:30:00Z"));
        assert_eq!(add_months(anchor, 3), t("2025-04-30T10:30:00Z"));
        assert_eq!(add_months(anchor, 12), t("2026-01-31T10:30:00Z"));
    }

    #[test]
    fn leap_years_give_february_29() {
        let anchor = t("2024-01-31T00:00:00Z");
        assert_eq!(add_months(anchor, 1), t("2024-02-29T00:00:00Z"));
        let leap_day = t("2024-02-29T12:00:00Z");
        assert_eq!(add_months(leap_day, 12), t("2025-02-28T12:00:00Z"));
        assert_eq!(add_months(leap_day, 48), t("2028-02-29T12:00:00Z"));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2025, 12), 31);
    }

    #[test]
    fn boundaries_around_an_instant() {
        let anchor = t("2025-01-31T10:30:00Z");
        let mid_march = t("2025-03-15T00:00:00Z");
        assert_eq!(
            boundary_at_or_before(anchor, mid_march),
            t("2025-02-28T10:30:00Z")
        );
        assert_eq!(boundary_after(anchor, mid_march), t("2025-03-31T10:30:00Z"));
        // Exactly on a boundary: that boundary starts the cycle.
        let on = t("2025-02-28T10:30:00Z");
        assert_eq!(boundary_at_or_before(anchor, on), on);
        assert_eq!(boundary_after(anchor, on), t("2025-03-31T10:30:00Z"));
        // Same day, earlier time: still the previous cycle.
        let before = t("2025-02-28T10:29:59Z");
        assert_eq!(boundary_at_or_before(anchor, before), anchor);
        // Before the anchor (clock skew): the first cycle.
        let early = t("2025-01-01T00:00:00Z");
        assert_eq!(boundary_at_or_before(anchor, early), anchor);
        assert_eq!(boundary_after(anchor, early), anchor);
    }

    #[test]
    fn a_running_cycle_reports_its_end() {
        let anchor = t("2025-01-15T00:00:00Z");
        assert_eq!(
            check(anchor, anchor, t("2025-02-14T23:59:59Z")),
            CycleCheck::Running {
                ends_at: t("2025-02-15T00:00:00Z")
            }
        );
    }

    #[test]
    fn a_missed_year_rolls_over_in_one_step() {
        let anchor = t("2024-01-31T08:00:00Z");
        assert_eq!(
            check(anchor, anchor, t("2025-03-01T00:00:00Z")),
            CycleCheck::RollOver {
                closed_end: t("2024-02-29T08:00:00Z"),
                next_start: t("2025-02-28T08:00:00Z"),
                next_end: t("2025-03-31T08:00:00Z"),
            }
        );
    }

    #[test]
    fn a_reset_cycle_ends_at_the_next_anchor_boundary() {
        let anchor = t("2025-01-31T08:00:00Z");
        let reset = t("2025-03-10T12:00:00Z");
        assert_eq!(
            check(anchor, reset, t("2025-03-20T00:00:00Z")),
            CycleCheck::Running {
                ends_at: t("2025-03-31T08:00:00Z")
            }
        );
        assert_eq!(
            check(anchor, reset, t("2025-04-01T00:00:00Z")),
            CycleCheck::RollOver {
                closed_end: t("2025-03-31T08:00:00Z"),
                next_start: t("2025-03-31T08:00:00Z"),
                next_end: t("2025-04-30T08:00:00Z"),
            }
        );
    }
}
