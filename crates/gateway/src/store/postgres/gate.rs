//! What this node knows of the database's health, so that an outage is answered at once.
//!
//! While the database is known to be down (no connection to it could be made, or a call did
//! not answer within its deadline), calls fail at once with `Unavailable` instead of each waiting out the
//! pool's acquire timeout; one call every [`PROBE_EVERY`] is let through as a probe, and the
//! first call that succeeds opens the gate again. Every call also has a deadline on this side
//! (the statement timeout plus [`DEADLINE_MARGIN`]): a server that stopped answering (frozen,
//! or cut off by the network) cannot enforce its own `statement_timeout`.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::StoreError;

/// How often a call is let through to see whether a database known to be down is back.
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Time a call gets beyond the server's statement timeout before this side gives up on it.
pub(super) const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct State {
    /// Why the database is known to be down, since when.
    down: Option<(Instant, String)>,
    last_probe: Option<Instant>,
    /// When the last outage began (kept after it ended).
    last_outage: Option<Instant>,
}

/// The gate (see the module docs).
#[derive(Debug)]
pub(super) struct Gate {
    state: Mutex<State>,
    deadline: Duration,
}

impl Gate {
    /// A gate whose calls each get `deadline`.
    pub(super) fn new(deadline: Duration) -> Gate {
        Gate {
            state: Mutex::new(State::default()),
            deadline,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets a call go to the database, unless it is known to be down and this is not the
    /// moment for a probe.
    pub(super) fn admit(&self) -> Result<(), StoreError> {
        let mut state = self.state();
        let Some((since, why)) = &state.down else {
            return Ok(());
        };
        if state
            .last_probe
            .is_some_and(|probe| probe.elapsed() < PROBE_EVERY)
        {
            return Err(StoreError::Unavailable(format!(
                "the database has been unreachable for {} ms ({why})",
                since.elapsed().as_millis()
            )));
        }
        state.last_probe = Some(Instant::now());
        Ok(())
    }

    /// Notes what a statement found: an answer means the database is there. A failure does
    /// not mean it is not: a connection the server dropped (a restart, a terminated backend)
    /// fails once and the next one is made afresh; only failing to make one says it is down.
    pub(super) fn observe<T, E>(&self, result: &Result<T, E>) {
        if result.is_ok() {
            self.up();
        }
    }

    /// Notes the outcome of getting a connection: failing to make one means the database is
    /// unreachable.
    pub(super) fn connected<T, E: std::fmt::Display>(&self, result: &Result<T, E>) {
        match result {
            Ok(_) => {}
            Err(e) => self.down(e.to_string()),
        }
    }

    /// Notes that the database answered.
    pub(super) fn up(&self) {
        let mut state = self.state();
        if let Some((since, _)) = state.down.take() {
            tracing::info!(
                down_ms = since.elapsed().as_millis() as u64,
                "the database answers again"
            );
        }
    }

    /// Notes that the database could not be reached.
    pub(super) fn down(&self, why: String) {
        let mut state = self.state();
        if state.down.is_none() {
            tracing::error!(
                why,
                "the database is unreachable; answering 503 at once until it is back"
            );
            let now = Instant::now();
            state.down = Some((now, why));
            state.last_probe = Some(now);
            state.last_outage = Some(now);
        }
    }

    /// Whether a connection in use or idle since `since` may have been cut by the last outage
    /// (a server restart ends every session): such a connection is checked before it is used
    /// again, so that the first requests after an outage do not fail on it.
    pub(super) fn predates_last_outage(&self, since: Instant) -> bool {
        self.state()
            .last_outage
            .is_some_and(|outage| since <= outage)
    }

    /// Runs `call` within this side's deadline; `None` when it outlived it, which marks the
    /// database down (the caller then discards the connection the call was using).
    pub(super) async fn bounded<T>(&self, call: impl Future<Output = T>) -> Option<T> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => Some(result),
            Err(_) => {
                self.down(format!("no answer within {} ms", self.deadline.as_millis()));
                None
            }
        }
    }

    /// The error of a call that outlived its deadline: whatever it sent may still be applied.
    pub(super) fn timed_out(&self) -> StoreError {
        StoreError::Unanswered(format!(
            "the database gave no answer within {} ms",
            self.deadline.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_known_down_is_refused_at_once_but_probed() {
        let gate = Gate::new(Duration::from_secs(1));
        assert!(gate.admit().is_ok());
        gate.connected::<(), _>(&Err("connection refused"));
        assert!(gate.admit().is_err(), "refused at once while down");
        std::thread::sleep(PROBE_EVERY);
        assert!(gate.admit().is_ok(), "a probe goes through");
        assert!(gate.admit().is_err(), "one probe at a time");
        gate.observe::<(), ()>(&Ok(()));
        assert!(gate.admit().is_ok(), "open again once it answers");
        assert!(gate.predates_last_outage(Instant::now() - Duration::from_secs(5)));
        assert!(!gate.predates_last_outage(Instant::now()));
        gate.observe::<(), _>(&Err("connection reset"));
        assert!(
            gate.admit().is_ok(),
            "a statement's failure is not an outage"
        );
    }
}
