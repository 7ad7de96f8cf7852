//! Pure GCRA (generic cell rate algorithm) arithmetic, shared by every limiter backend.
//!
//! A limit of `n` per minute emits one cell every `60 s / n` and tolerates a burst of a whole
//! minute's allowance. The only state is the theoretical arrival time (TAT) of the next cell,
//! in microseconds on the backend's clock. The Redis script in `limits::redis` mirrors
//! [`gcra`] line for line; the unit tests here are the specification for both.

/// Microseconds in a minute.
const MINUTE_US: u64 = 60_000_000;

/// The highest per-minute limit any setting or user may have: far above what one node serves,
/// and still a whole number of microseconds (60) between cells.
pub const MAX_PER_MINUTE: u32 = 1_000_000;

/// A per-minute limit with a burst of one minute's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_minute: u32,
}

impl Rate {
    /// `per_minute` requests a minute; zero is treated as one (a limit always admits something).
    pub fn per_minute(per_minute: u32) -> Rate {
        Rate {
            per_minute: per_minute.max(1),
        }
    }

    /// The limit, requests per minute.
    pub fn limit(self) -> u32 {
        self.per_minute
    }

    /// Time between cells, µs.
    pub fn emission_us(self) -> u64 {
        MINUTE_US / u64::from(self.per_minute)
    }

    /// Cells allowed back to back.
    pub fn burst(self) -> u32 {
        self.per_minute
    }
}

/// Whether a check spends a cell or only asks whether one is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Take a cell when allowed.
    Charge,
    /// Ask only; the state never changes.
    Peek,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The limit, requests per minute.
    pub limit: u32,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// Microseconds until the allowance is whole again.
    pub reset_us: u64,
    /// When refused: microseconds until a request would be allowed (≥ 1); else 0.
    pub retry_after_us: u64,
}

impl RateDecision {
    /// Whole seconds until the allowance is whole again (rounded up).
    pub fn reset_secs(&self) -> u64 {
        self.reset_us.div_ceil(1_000_000)
    }

    /// Whole seconds to wait before retrying (rounded up, at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_us.div_ceil(1_000_000).max(1)
    }
}

/// One GCRA step: the stored TAT (`None` = never seen), the time now, the rate, and whether to
/// spend. Returns the decision and the TAT to store (`None` = leave the state alone).
pub fn gcra(tat: Option<u64>, now: u64, rate: Rate, spend: Spend) -> (RateDecision, Option<u64>) {
    let t = rate.emission_us();
    let window = t * u64::from(rate.burst());
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + t;
    let allow_at = new_tat.saturating_sub(window);
    if now < allow_at {
        let decision = RateDecision {
            allowed: false,
            limit: rate.limit(),
            remaining: 0,
            reset_us: tat - now,
            retry_after_us: (allow_at - now).max(1),
        };
        return (decision, None);
    }
    let (after, store) = match spend {
        Spend::Charge => (new_tat, Some(new_tat)),
        Spend::Peek => (tat, None),
    };
    let decision = RateDecision {
        allowed: true,
        limit: rate.limit(),
        remaining: u32::try_from((now + window - after) / t).unwrap_or(u32::MAX),
        reset_us: after - now,
        retry_after_us: 0,
    };
    (decision, store)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn run(rate: u32, times: &[u64]) -> Vec<RateDecision> {
        let mut tat = None;
        times
            .iter()
            .map(|&now| {
                let (d, new) = gcra(tat, now, Rate::per_minute(rate), Spend::Charge);
                if new.is_some() {
                    tat = new;
                }
                d
            })
            .collect()
    }

    #[test]
    fn a_fresh_key_allows_a_burst_of_one_minute_then_refuses() {
        let now = 1_000 * S;
        let decisions = run(10, &[now; 12]);
        assert!(decisions[..10].iter().all(|d| d.allowed));
        assert_eq!(decisions[0].remaining, 9);
        assert_eq!(decisions[9].remaining, 0);
        assert!(!decisions[10].allowed && !decisions[11].allowed);
        // One cell comes back every 6 s.
        assert_eq!(decisions[10].retry_after_us, 6 * S);
        assert_eq!(decisions[10].retry_after_secs(), 6);
        assert_eq!(decisions[10].reset_secs(), 60);
    }

    #[test]
    fn cells_return_smoothly() {
        let t0 = 1_000 * S;
        let mut times = vec![t0; 10];
        times.push(t0 + 6 * S - 1);
        times.push(t0 + 6 * S);
        times.push(t0 + 6 * S);
        let d = run(10, &times);
        assert!(!d[10].allowed);
        assert_eq!(d[10].retry_after_us, 1);
        assert!(d[11].allowed);
        assert!(!d[12].allowed);
    }

    #[test]
    fn an_idle_key_recovers_its_whole_burst_and_no_more() {
        let t0 = 1_000 * S;
        let mut times = vec![t0; 10];
        times.extend([t0 + 3_600 * S; 11]);
        let d = run(10, &times);
        assert!(d[10..20].iter().all(|d| d.allowed));
        assert!(!d[20].allowed);
    }

    #[test]
    fn peeking_never_spends() {
        let rate = Rate::per_minute(2);
        let now = 50 * S;
        let (d, store) = gcra(None, now, rate, Spend::Peek);
        assert!(d.allowed && store.is_none());
        assert_eq!(d.remaining, 2);
        assert_eq!(d.reset_us, 0);
        let (_, tat) = gcra(None, now, rate, Spend::Charge);
        let (_, tat) = gcra(tat, now, rate, Spend::Charge);
        let (d, store) = gcra(tat, now, rate, Spend::Peek);
        assert!(!d.allowed && store.is_none());
        assert_eq!(d.retry_after_us, 30 * S);
    }

    #[test]
    fn refusals_do_not_move_the_state() {
        let rate = Rate::per_minute(1);
        let (_, tat) = gcra(None, 0, rate, Spend::Charge);
        let (d, store) = gcra(tat, 0, rate, Spend::Charge);
        assert!(!d.allowed && store.is_none());
        assert_eq!(d.retry_after_secs(), 60);
        let (d, _) = gcra(tat, 60 * S, rate, Spend::Charge);
        assert!(d.allowed);
    }

    #[test]
    fn zero_is_treated_as_one_and_retry_after_is_at_least_a_second() {
        assert_eq!(Rate::per_minute(0).limit(), 1);
        let d = RateDecision {
            allowed: false,
            limit: 1,
            remaining: 0,
            reset_us: 0,
            retry_after_us: 1,
        };
        assert_eq!(d.retry_after_secs(), 1);
    }
}
