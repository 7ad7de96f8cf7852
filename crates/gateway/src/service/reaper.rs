//! Settles reservations whose lease ran out (their node died or lost the database) as
//! failed, so no quota stays locked. Safe to run on every node at once: each expired record
//! is settled by exactly one conditional update.
//!
//! A second loop, the cycle sweep, closes billing cycles that ended (so `used_ms` is zero and
//! the closed totals are in `billing_periods` even for users who make no request); requests
//! also roll their own cycle over, so this sweep is about timeliness, not correctness. Safe
//! on many nodes too: each cycle is closed by one conditional update on its start.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::runtime::supervision::Heartbeat;
use crate::store::Store;

/// Reaps once; returns how many reservations were released.
pub async fn reap_once(store: &dyn Store) -> u64 {
    match store.reap_expired(Utc::now()).await {
        Ok(0) => 0,
        Ok(n) => {
            crate::metrics::reservations_reaped(n);
            tracing::warn!(reaped = n, "released expired reservations");
            n
        }
        Err(e) => {
            tracing::error!(error = %e, "could not reap expired reservations");
            0
        }
    }
}

/// Closes every billing cycle that ended; returns how many.
pub async fn roll_over_once(store: &dyn Store) -> u64 {
    match store.roll_over_cycles(Utc::now()).await {
        Ok(0) => 0,
        Ok(n) => {
            tracing::info!(closed = n, "closed billing cycles");
            n
        }
        Err(e) => {
            tracing::error!(error = %e, "could not roll billing cycles over");
            0
        }
    }
}

/// Reaps every `interval` until the task is dropped, beating `heartbeat` around each pass.
pub async fn run_reaper(store: Arc<dyn Store>, interval: Duration, heartbeat: Heartbeat) {
    every(interval, heartbeat, || reap_once(store.as_ref())).await;
}

/// Closes ended cycles every `interval` until the task is dropped, beating `heartbeat`
/// around each pass.
pub async fn run_cycle_sweep(store: Arc<dyn Store>, interval: Duration, heartbeat: Heartbeat) {
    every(interval, heartbeat, || roll_over_once(store.as_ref())).await;
}

async fn every<F, Fut>(interval: Duration, heartbeat: Heartbeat, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        heartbeat.beat(false);
        tick.tick().await;
        heartbeat.beat(true);
        pass().await;
    }
}
