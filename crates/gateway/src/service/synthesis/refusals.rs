//! Requests refused by a rate or concurrency limit are counted, not recorded one by one: a
//! flood of them must cost nothing durable. Each node adds them up in memory, per user, hour
//! and status, and the supervised task `refusal_flush` adds its counts to the database every
//! [`FLUSH_EVERY`] (one upsert per user and hour), and once more at shutdown. A crash loses at
//! most the last second's counts of refusals; accepted requests keep their one record each.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SynthesisService;
use crate::runtime::supervision::Heartbeat;
use crate::store::RefusalCount;

/// How often counts go to the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Refusals counted and not yet in the database, by (user, hour).
#[derive(Default)]
pub(super) struct RefusalCounts {
    counts: Mutex<HashMap<(i64, DateTime<Utc>), i64>>,
}

impl RefusalCounts {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, DateTime<Utc>), i64>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one refusal of `user_id` at `at`.
    pub(super) fn count(&self, user_id: i64, at: DateTime<Utc>) {
        let hour = RefusalCount::rate_limited(user_id, at, 1).hour;
        *self.counts().entry((user_id, hour)).or_insert(0) += 1;
    }

    fn take(&self) -> Vec<RefusalCount> {
        self.counts()
            .drain()
            .map(|((user_id, hour), requests)| RefusalCount::rate_limited(user_id, hour, requests))
            .collect()
    }

    /// Puts back counts the database did not take.
    fn restore(&self, counts: Vec<RefusalCount>) {
        let mut held = self.counts();
        for count in counts {
            *held.entry((count.user_id, count.hour)).or_insert(0) += count.requests;
        }
    }
}

impl SynthesisService {
    /// Adds this node's counts to the database; true when there is nothing left to add.
    pub async fn flush_refusals(&self) -> bool {
        let counts = self.refusals.take();
        if counts.is_empty() {
            return true;
        }
        match self.store.count_refusals(&counts).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not add refusal counts; keeping them for the next try");
                self.refusals.restore(counts);
                false
            }
        }
    }

    /// Flushes every [`FLUSH_EVERY`] until the task is dropped.
    pub async fn run_refusal_flush(self, heartbeat: Heartbeat) {
        let mut tick = crate::runtime::ticks::every(FLUSH_EVERY);
        loop {
            heartbeat.beat(false);
            tick.tick().await;
            heartbeat.beat(true);
            self.flush_refusals().await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refusals_add_up_per_user_and_hour() {
        let counts = RefusalCounts::default();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        counts.count(1, at("2026-12-07T10:05:00Z"));
        counts.count(1, at("2026-12-07T10:59:59Z"));
        counts.count(1, at("2026-12-07T11:00:00Z"));
        counts.count(2, at("2026-12-07T10:30:00Z"));
        let mut taken = counts.take();
        taken.sort_by_key(|c| (c.user_id, c.hour));
        let summary: Vec<(i64, String, i64)> = taken
            .iter()
            .map(|c| (c.user_id, c.hour.to_rfc3339(), c.requests))
            .collect();
        assert_eq!(
            summary,
            [
                (1, "2026-12-07T10:00:00+00:00".to_string(), 2),
                (1, "2026-12-07T11:00:00+00:00".to_string(), 1),
                (2, "2026-12-07T10:00:00+00:00".to_string(), 1),
            ]
        );
        assert!(counts.take().is_empty());
        counts.restore(taken);
        assert_eq!(
            counts.take().len(),
            3,
            "counts the database refused come back"
        );
    }
}
