//! One request's allowance for waiting on the limits backend. Every limiter call a request
//! makes — the failed-authentication check and count, the general rate, the synthesis
//! admission and the slot's release — draws on the same [`LimitBudget`] of
//! `ODEADEV_REDIS_TIMEOUT_MS`, so a frozen Redis holds a request that long in all, not that
//! long per call. Once it is spent, later calls of the request skip the backend at once.
//!
//! The budget counts only time spent waiting on the backend, not the request's own time
//! between calls: a slow database lookup between two Redis calls leaves the second one all
//! the budget the first left.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// What one request may still wait on the limits backend, shared by its clones (the request's
/// principal travels with the synthesis to a task of its own when the client leaves). Made
/// once per request by [`Limiter::budget`](super::Limiter::budget); every limiter call of the
/// request takes it.
#[derive(Debug, Clone)]
pub struct LimitBudget {
    allowance: Duration,
    left_us: Arc<AtomicU64>,
}

impl LimitBudget {
    /// A budget of `allowance` in all.
    pub(super) fn new(allowance: Duration) -> LimitBudget {
        let us = u64::try_from(allowance.as_micros()).unwrap_or(u64::MAX);
        LimitBudget {
            allowance,
            left_us: Arc::new(AtomicU64::new(us)),
        }
    }

    /// The whole allowance, spent or not (the bound on work the budget hands to the
    /// background).
    pub(super) fn allowance(&self) -> Duration {
        self.allowance
    }

    /// What is left to wait.
    pub(super) fn remaining(&self) -> Duration {
        Duration::from_micros(self.left_us.load(Ordering::Relaxed))
    }

    /// Runs `call` for at most what is left, and takes the time it took off the budget.
    /// `None` when it did not finish in time (the budget is then spent) or the budget was
    /// spent already (`call` is not polled at all).
    pub(super) async fn within<F: Future>(&self, call: F) -> Option<F::Output> {
        let left = self.remaining();
        if left.is_zero() {
            return None;
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(left, call).await;
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let spent = match outcome {
            Ok(_) => took,
            Err(_) => u64::MAX,
        };
        // The request's calls follow one another: no other spender races this update.
        let _ = self
            .left_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |us| {
                Some(us.saturating_sub(spent))
            });
        outcome.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::LimitBudget;

    #[tokio::test]
    async fn calls_share_one_allowance_and_skip_once_it_is_spent() {
        let allowance = Duration::from_millis(250);
        let budget = LimitBudget::new(allowance);
        let quick = budget.within(tokio::time::sleep(Duration::from_millis(20)));
        assert_eq!(quick.await, Some(()));
        let left = budget.remaining();
        assert!(left <= allowance - Duration::from_millis(20), "{left:?}");
        assert!(!left.is_zero());

        // A clone draws on the same allowance: a call that never ends gets what is left.
        let clone = budget.clone();
        let started = tokio::time::Instant::now();
        assert_eq!(clone.within(std::future::pending::<()>()).await, None);
        assert!(started.elapsed() >= left);
        assert_eq!(budget.remaining(), Duration::ZERO);

        let mut polled = false;
        let skipped = budget.within(async { polled = true });
        assert_eq!(skipped.await, None);
        assert!(!polled, "a spent budget does not call the backend");
        assert_eq!(budget.allowance(), allowance);
    }
}
