//! Rate and concurrency limits: one port ([`LimitBackend`]) with an in-process adapter
//! ([`memory`]) and a Redis adapter ([`redis`]) for deployments with several nodes, plus the
//! policy the services use ([`limiter::Limiter`]): which limit applies, why a request is
//! refused ([`Refusal`]), and what happens when Redis is down.
//!
//! Both adapters run the same GCRA arithmetic (`domain::rate`), so a client sees the same
//! answers and headers whichever backend is configured.

mod budget;
pub mod client_ip;
pub mod limiter;
pub mod memory;
pub mod redis;
mod refusal;
mod slot;

use std::time::Duration;

use async_trait::async_trait;

pub use crate::domain::rate::{Rate, RateDecision, Spend};
pub use budget::LimitBudget;
pub use limiter::{Admitted, Limiter, Refused};
pub use refusal::Refusal;
pub use slot::Slot;

/// A backend could not answer (Redis unreachable, timed out, script failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("limiter backend unavailable: {0}")]
pub struct LimitError(pub String);

/// The outcome of asking to start a synthesis request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Admitted: a rate cell was spent and a concurrency slot taken under the lease id.
    Admitted(RateDecision),
    /// Refused by the rate limit; nothing was spent.
    RateLimited(RateDecision),
    /// Refused because every concurrency slot is taken; nothing was spent.
    Busy {
        /// The rate state, not charged.
        rate: RateDecision,
        /// Slots held when refused.
        in_flight: u32,
    },
}

/// Where limit state lives. Keys are opaque strings chosen by [`Limiter`]; every method is a
/// single atomic step (one round trip for Redis).
#[async_trait]
pub trait LimitBackend: Send + Sync {
    /// Name for logs: `memory` or `redis`.
    fn name(&self) -> &'static str;

    /// Whether concurrency leases expire on their own and so must be renewed while held.
    fn leases_expire(&self) -> bool;

    /// One GCRA step on `key`.
    async fn check_rate(
        &self,
        key: &str,
        rate: Rate,
        spend: Spend,
    ) -> Result<RateDecision, LimitError>;

    /// Atomically: refuse if `rate_key` has no cell or `slots_key` already holds `max_slots`
    /// unexpired leases; otherwise spend a cell and add `lease_id`, valid for `lease`.
    async fn admit(
        &self,
        rate_key: &str,
        slots_key: &str,
        rate: Rate,
        max_slots: u32,
        lease_id: &str,
        lease: Duration,
    ) -> Result<Admission, LimitError>;

    /// Pushes a lease's expiry to `lease` from now; `false` if it had already expired.
    async fn renew(
        &self,
        slots_key: &str,
        lease_id: &str,
        lease: Duration,
    ) -> Result<bool, LimitError>;

    /// Gives a slot back (a no-op if the lease is gone).
    async fn release(&self, slots_key: &str, lease_id: &str) -> Result<(), LimitError>;

    /// A cheap round trip, for readiness.
    async fn ping(&self) -> Result<(), LimitError> {
        Ok(())
    }
}
