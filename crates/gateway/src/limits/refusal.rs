//! Why the limiter refused a request, in the limiter's own words: the services turn a
//! [`Refusal`] into the client's answer (429 with `Retry-After`, or 503).

use super::LimitError;

/// Seconds a client refused for concurrency should wait: a slot frees whenever a request ends.
const BUSY_RETRY_SECS: u64 = 1;

/// A limit said no, or the backend could not answer while the policy is to fail closed.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// A per-minute rate (the synthesis or the general one) has no request left.
    Rate {
        /// Requests per minute allowed.
        limit: u32,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// Every concurrency slot of the user is taken.
    Concurrency {
        /// Synthesis requests allowed at a time.
        limit: u32,
    },
    /// The address failed authentication too often.
    AuthFailures {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// The backend could not answer, and `ODEADEV_LIMITS_ON_REDIS_ERROR=closed`.
    Unavailable(LimitError),
}

impl Refusal {
    /// Seconds the client should wait before retrying; `None` when the backend is down
    /// (nothing says when it comes back).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Refusal::Rate {
                retry_after_secs, ..
            }
            | Refusal::AuthFailures { retry_after_secs } => Some(*retry_after_secs),
            Refusal::Concurrency { .. } => Some(BUSY_RETRY_SECS),
            Refusal::Unavailable(_) => None,
        }
    }

    /// Whether a limit refused (rather than the backend failing): such refusals of synthesis
    /// requests belong in the usage records.
    pub fn is_limit(&self) -> bool {
        !matches!(self, Refusal::Unavailable(_))
    }
}

/// "request" or "requests".
fn requests(count: u32) -> &'static str {
    if count == 1 {
        "request"
    } else {
        "requests"
    }
}

impl std::fmt::Display for Refusal {
    /// Names the limit; client-safe for limits, log-only for an unavailable backend.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Rate { limit, .. } => write!(
                f,
                "rate limit of {limit} {} per minute exceeded",
                requests(*limit)
            ),
            Refusal::Concurrency { limit } => write!(
                f,
                "concurrency limit of {limit} synthesis {} at a time reached",
                requests(*limit)
            ),
            Refusal::AuthFailures { .. } => f.write_str(
                "too many failed authentication attempts from this address; try again later",
            ),
            Refusal::Unavailable(error) => write!(f, "rate limiter: {error}"),
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_their_limit_and_when_to_retry() {
        let rate = Refusal::Rate {
            limit: 1,
            retry_after_secs: 7,
        };
        assert_eq!(
            rate.to_string(),
            "rate limit of 1 request per minute exceeded"
        );
        assert_eq!(rate.retry_after_secs(), Some(7));
        let busy = Refusal::Concurrency { limit: 2 };
        assert_eq!(
            busy.to_string(),
            "concurrency limit of 2 synthesis requests at a time reached"
        );
        assert_eq!(busy.retry_after_secs(), Some(BUSY_RETRY_SECS));
        let down = Refusal::Unavailable(LimitError("timed out".into()));
        assert_eq!(down.retry_after_secs(), None);
        assert!(!down.is_limit() && busy.is_limit() && rate.is_limit());
    }
}
