//! In-process limits for a single node: GCRA state in a map keyed by limit key, concurrency as
//! a set of lease ids per key. Leases never expire here: the process that holds them is the
//! process that would forget them.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Admission, LimitBackend, LimitError};
use crate::domain::rate::{gcra, Rate, RateDecision, Spend};

/// Past this many rate keys, keys whose allowance is whole again are dropped.
const PRUNE_ABOVE: usize = 4_096;

#[derive(Default)]
struct State {
    /// Theoretical arrival time per key, µs since `started`.
    tats: HashMap<String, u64>,
    /// Lease ids held per slots key.
    slots: HashMap<String, HashSet<String>>,
    /// When `tats` was last pruned, µs.
    pruned_at: u64,
}

/// The in-process backend.
pub struct MemoryLimits {
    started: Instant,
    state: Mutex<State>,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits::new()
    }
}

impl MemoryLimits {
    /// An empty limiter.
    pub fn new() -> MemoryLimits {
        MemoryLimits {
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The state; a panic while holding the lock cannot leave it inconsistent (every update
    /// is a single insert or remove), so poisoning is ignored.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn step(&mut self, key: &str, now: u64, rate: Rate, spend: Spend) -> RateDecision {
        let (decision, store) = gcra(self.tats.get(key).copied(), now, rate, spend);
        if let Some(tat) = store {
            self.tats.insert(key.to_string(), tat);
            self.prune(now);
        }
        decision
    }

    /// Keys whose TAT has passed are the same as absent keys.
    fn prune(&mut self, now: u64) {
        if self.tats.len() > PRUNE_ABOVE && now.saturating_sub(self.pruned_at) >= 1_000_000 {
            self.tats.retain(|_, tat| *tat > now);
            self.pruned_at = now;
        }
    }
}

#[async_trait]
impl LimitBackend for MemoryLimits {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn leases_expire(&self) -> bool {
        false
    }

    async fn check_rate(
        &self,
        key: &str,
        rate: Rate,
        spend: Spend,
    ) -> Result<RateDecision, LimitError> {
        let now = self.now_us();
        Ok(self.state().step(key, now, rate, spend))
    }

    async fn admit(
        &self,
        rate_key: &str,
        slots_key: &str,
        rate: Rate,
        max_slots: u32,
        lease_id: &str,
        _lease: Duration,
    ) -> Result<Admission, LimitError> {
        let now = self.now_us();
        let mut state = self.state();
        let peek = state.step(rate_key, now, rate, Spend::Peek);
        if !peek.allowed {
            return Ok(Admission::RateLimited(peek));
        }
        let held = state.slots.get(slots_key).map_or(0, HashSet::len);
        let in_flight = u32::try_from(held).unwrap_or(u32::MAX);
        if in_flight >= max_slots {
            return Ok(Admission::Busy {
                rate: peek,
                in_flight,
            });
        }
        let charged = state.step(rate_key, now, rate, Spend::Charge);
        state
            .slots
            .entry(slots_key.to_string())
            .or_default()
            .insert(lease_id.to_string());
        Ok(Admission::Admitted(charged))
    }

    async fn renew(
        &self,
        slots_key: &str,
        lease_id: &str,
        _lease: Duration,
    ) -> Result<bool, LimitError> {
        Ok(self
            .state()
            .slots
            .get(slots_key)
            .is_some_and(|s| s.contains(lease_id)))
    }

    async fn release(&self, slots_key: &str, lease_id: &str) -> Result<(), LimitError> {
        let mut state = self.state();
        if let Some(set) = state.slots.get_mut(slots_key) {
            set.remove(lease_id);
            if set.is_empty() {
                state.slots.remove(slots_key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn admits_up_to_the_slots_and_releases() {
        let m = MemoryLimits::new();
        let rate = Rate::per_minute(100);
        let a = m.admit("r", "s", rate, 2, "a", LEASE).await.unwrap();
        assert!(matches!(a, Admission::Admitted(d) if d.remaining == 99));
        m.admit("r", "s", rate, 2, "b", LEASE).await.unwrap();
        let c = m.admit("r", "s", rate, 2, "c", LEASE).await.unwrap();
        assert!(matches!(c, Admission::Busy { in_flight: 2, rate } if rate.remaining == 98));
        assert!(m.renew("s", "a", LEASE).await.unwrap());
        m.release("s", "a").await.unwrap();
        assert!(!m.renew("s", "a", LEASE).await.unwrap());
        let c = m.admit("r", "s", rate, 2, "c", LEASE).await.unwrap();
        assert!(matches!(c, Admission::Admitted(_)));
    }

    #[tokio::test]
    async fn rate_refusals_take_no_slot_and_keys_are_separate() {
        let m = MemoryLimits::new();
        let rate = Rate::per_minute(1);
        m.admit("r", "s", rate, 5, "a", LEASE).await.unwrap();
        let b = m.admit("r", "s", rate, 5, "b", LEASE).await.unwrap();
        assert!(matches!(b, Admission::RateLimited(d) if !d.allowed));
        assert!(!m.renew("s", "b", LEASE).await.unwrap());
        let other = m.admit("r2", "s2", rate, 5, "c", LEASE).await.unwrap();
        assert!(matches!(other, Admission::Admitted(_)));
    }
}
