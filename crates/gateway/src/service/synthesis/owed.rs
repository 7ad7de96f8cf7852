//! Settlements owed: one the database could not take (it was down, or crashed) is kept here
//! and retried as soon as the database answers again, so that every accepted request gets its
//! one record and its reservation stops holding quota at once, not when its lease runs out.
//!
//! The retry loop runs as the supervised task `settlement_retry`. It tries every owed
//! settlement when one is added and then on a backoff while the database stays down (from
//! [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]); a settlement whose record turns out to be gone
//! (its reservation lost in a crash) is written settled, within the quota still free. What is
//! owed when the process ends is lost with it: the lease reaper then settles the reservation
//! as failed.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::SynthesisService;
use crate::runtime::supervision::Heartbeat;
use crate::store::{Settled, Settlement, Store, StoreError, UsageContext};

/// The first wait before retrying while the database stays down.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A settlement the database did not take.
struct Owed {
    usage: UsageContext,
    settlement: Settlement,
}

/// The owed settlements of this node.
#[derive(Default)]
pub(super) struct OwedSettlements {
    owed: Mutex<Vec<Owed>>,
    added: Notify,
}

impl OwedSettlements {
    fn owed(&self) -> std::sync::MutexGuard<'_, Vec<Owed>> {
        self.owed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many are owed now.
    pub(super) fn len(&self) -> usize {
        self.owed().len()
    }
}

/// Settles `usage` with `settlement` once: its pending record, or, when that is gone, a record
/// written settled.
pub(super) async fn settle_once(
    store: &dyn Store,
    usage: &UsageContext,
    settlement: &Settlement,
) -> Result<Settled, StoreError> {
    match store.settle(&usage.id, settlement.clone()).await {
        // No record at all: its reservation was lost in a database crash while the request
        // went on (see `Store::settle_unreserved`). The request is still recorded, once.
        Err(StoreError::NotFound) => {
            tracing::warn!(usage_id = %usage.id, "the reservation is gone; recording the settlement without it");
            store.settle_unreserved(usage, settlement.clone()).await
        }
        other => other,
    }
}

impl SynthesisService {
    /// Keeps a settlement the database did not take, to retry it soon.
    pub(super) fn owe(&self, usage: &UsageContext, settlement: Settlement) {
        tracing::warn!(usage_id = %usage.id, "the database did not take a settlement; retrying it until it does");
        let mut owed = self.owed.owed();
        owed.push(Owed {
            usage: usage.clone(),
            settlement,
        });
        crate::metrics::settlements_owed(owed.len());
        drop(owed);
        self.owed.added.notify_one();
    }

    /// Retries owed settlements until the task is dropped, beating `heartbeat` around each
    /// pass.
    pub async fn settle_owed(self, heartbeat: Heartbeat) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            heartbeat.beat(false);
            if self.owed.len() == 0 {
                // Beat while nothing is owed too, once per supervision period: a task quiet
                // for longer counts as stalled, and `/ready` would fail on an idle node. (A
                // notification that comes meanwhile is kept for the next wait.)
                let added = self.owed.added.notified();
                if tokio::time::timeout(heartbeat.period(), added)
                    .await
                    .is_err()
                {
                    continue;
                }
                backoff = FIRST_BACKOFF;
            } else {
                tokio::time::sleep(backoff).await;
            }
            heartbeat.beat(true);
            if self.retry_owed().await {
                backoff = FIRST_BACKOFF;
            } else {
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// One pass over what is owed; false when the database is still down.
    pub(super) async fn retry_owed(&self) -> bool {
        let pending = std::mem::take(&mut *self.owed.owed());
        let mut left = Vec::new();
        let mut down = false;
        for owed in pending {
            if down {
                left.push(owed);
                continue;
            }
            match settle_once(self.store.as_ref(), &owed.usage, &owed.settlement).await {
                Ok(_) => self.forget(&owed.usage.id),
                // Written by an earlier try whose answer was lost: settled.
                Err(StoreError::Conflict(_)) => self.forget(&owed.usage.id),
                Err(e) if e.is_outage() => {
                    tracing::debug!(error = %e, "the database is still down; settlements wait");
                    down = true;
                    left.push(owed);
                }
                Err(e) => {
                    tracing::error!(usage_id = %owed.usage.id, error = %e, "an owed settlement cannot be written; the reaper will settle it");
                    self.forget(&owed.usage.id);
                }
            }
        }
        let mut owed = self.owed.owed();
        owed.extend(left);
        crate::metrics::settlements_owed(owed.len());
        !down
    }
}
