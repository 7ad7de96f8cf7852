//! Periodic work that starts one period from now.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Ticks every `period`, the first time one `period` from now.
///
/// `tokio::time::interval`'s first tick is "immediate", but it still goes through the timer
/// wheel, whose deadlines round up to the next millisecond: awaiting it costs up to a
/// millisecond of wall time on every request (seen as the largest wait of a metered request
/// at concurrency 1). Renewals have nothing to do at time zero, so they start here instead.
pub fn every(period: Duration) -> Interval {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}
