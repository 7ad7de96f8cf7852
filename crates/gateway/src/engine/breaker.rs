//! A small circuit breaker per engine: after `threshold` consecutive failures it opens and
//! refuses calls at once for `cooldown`, then lets one trial call through (half-open).

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// Thread-safe breaker state.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A permit for one call, or `None` while the breaker refuses calls. A permit dropped
    /// without an outcome (its caller went away) counts as neutral, so an abandoned
    /// half-open trial never wedges the breaker.
    pub fn permit(&self) -> Option<Permit<'_>> {
        self.try_acquire().then_some(Permit {
            breaker: self,
            settled: false,
        })
    }

    /// Whether a call may go ahead now. In half-open state only one trial call is allowed.
    pub fn try_acquire(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen {
                    trial_in_flight: true,
                };
                true
            }
            State::Open { .. } => false,
            State::HalfOpen { trial_in_flight } => {
                if trial_in_flight {
                    false
                } else {
                    *state = State::HalfOpen {
                        trial_in_flight: true,
                    };
                    true
                }
            }
        }
    }

    /// Records a successful call: closes the breaker.
    pub fn record_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// Records a failed call that counts against the engine's health.
    pub fn record_failure(&self) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
    }

    /// Records a call that ended without saying anything about health (e.g. bad input).
    pub fn record_neutral(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { .. } = *state {
            *state = State::HalfOpen {
                trial_in_flight: false,
            };
        }
    }

    /// `closed`, `open` or `half_open`.
    pub fn state_name(&self) -> &'static str {
        match *self.lock() {
            State::Closed { .. } => "closed",
            State::Open { until } if Instant::now() >= until => "half_open",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

/// One admitted call; record its outcome with [`Permit::success`], [`Permit::failure`] or
/// [`Permit::neutral`].
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    settled: bool,
}

impl Permit<'_> {
    /// The call succeeded.
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.record_success();
    }

    /// The call failed in a way that says the engine is unhealthy.
    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.record_failure();
    }

    /// The call ended without saying anything about the engine's health.
    pub fn neutral(mut self) {
        self.settled = true;
        self.breaker.record_neutral();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.record_neutral();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_after_cooldown() {
        let b = CircuitBreaker::new(3, Duration::from_millis(20));
        for _ in 0..2 {
            assert!(b.try_acquire());
            b.record_failure();
        }
        assert_eq!(b.state_name(), "closed");
        assert!(b.try_acquire());
        b.record_failure();
        assert_eq!(b.state_name(), "open");
        assert!(!b.try_acquire());
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.try_acquire());
        assert!(!b.try_acquire(), "only one trial call while half-open");
        b.record_success();
        assert_eq!(b.state_name(), "closed");
        assert!(b.try_acquire());
    }

    #[test]
    fn a_failed_trial_reopens() {
        let b = CircuitBreaker::new(1, Duration::from_millis(10));
        b.record_failure();
        std::thread::sleep(Duration::from_millis(15));
        assert!(b.try_acquire());
        b.record_failure();
        assert_eq!(b.state_name(), "open");
    }

    #[test]
    fn an_abandoned_trial_frees_the_half_open_slot() {
        let b = CircuitBreaker::new(1, Duration::from_millis(5));
        b.record_failure();
        std::thread::sleep(Duration::from_millis(10));
        let trial = b.permit();
        assert!(trial.is_some());
        assert!(b.permit().is_none());
        drop(trial);
        assert!(
            b.permit().is_some(),
            "a dropped trial lets the next call try"
        );
    }

    #[test]
    fn success_resets_the_count() {
        let b = CircuitBreaker::new(2, Duration::from_secs(60));
        b.record_failure();
        b.record_success();
        b.record_failure();
        assert_eq!(b.state_name(), "closed");
    }
}
