//! The limits policy the services use: per-user synthesis rate and concurrency, a generous
//! per-user rate for other routes, and per-address throttling of failed authentication.
//!
//! Every backend call of a request draws on the request's one [`LimitBudget`] (made by
//! [`Limiter::budget`], passed to every call), so a slow or dead Redis holds a request at most
//! `ODEADEV_REDIS_TIMEOUT_MS` in all. When the backend cannot answer, or the budget is spent,
//! `ODEADEV_LIMITS_ON_REDIS_ERROR` decides: open lets the request through unlimited, closed
//! refuses it with 503. The first failure of an incident is logged as a warning, the recovery
//! as info, and the failures between at debug.

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::client_ip::TrustedProxies;
use super::memory::MemoryLimits;
use super::redis::RedisLimits;
use super::{Admission, LimitBackend, LimitBudget, LimitError, Refusal, Slot};
use crate::config::{LimitSettings, OnLimiterError};
use crate::domain::rate::{Rate, RateDecision, Spend};
use crate::domain::records::User;

/// Bound on in-process calls, which never wait on anything but a short lock.
const MEMORY_TIMEOUT: Duration = Duration::from_secs(1);

struct Inner {
    backend: Arc<dyn LimitBackend>,
    prefix: String,
    general: Rate,
    auth_failures: Rate,
    on_error: OnLimiterError,
    timeout: Duration,
    slot_lease: Duration,
    trusted: TrustedProxies,
    incident: AtomicBool,
}

/// Limits for every node of this deployment (cheap to clone).
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

/// A synthesis request let through.
pub struct Admitted {
    /// The user's rate state after this request; `None` when the backend was unavailable.
    pub rate: Option<RateDecision>,
    /// The concurrency slot; hold it until the request (or its stream) ends.
    pub slot: Slot,
}

/// A synthesis request refused.
#[derive(Debug)]
pub struct Refused {
    /// Why: a limit, or the backend down while failing closed.
    pub reason: Refusal,
    /// The user's rate state, for the response headers.
    pub rate: Option<RateDecision>,
}

impl Refused {
    /// Counts the refusal by limit in the metrics.
    fn counted(limit: &'static str, refused: Refused) -> Refused {
        crate::metrics::limit_refused(limit);
        refused
    }
}

impl Limiter {
    /// The limiter the settings describe: Redis when `REDIS_URL` is set, else in process.
    pub fn from_settings(settings: &LimitSettings) -> Result<Limiter, LimitError> {
        use secrecy::ExposeSecret;
        let (backend, prefix, on_error, timeout): (Arc<dyn LimitBackend>, _, _, _) =
            match &settings.redis {
                Some(redis) => (
                    Arc::new(RedisLimits::new(redis.url.expose_secret(), redis.timeout)?),
                    redis.prefix.clone(),
                    redis.on_error,
                    redis.timeout,
                ),
                None => (
                    Arc::new(MemoryLimits::new()),
                    String::new(),
                    OnLimiterError::Open,
                    MEMORY_TIMEOUT,
                ),
            };
        Ok(Limiter {
            inner: Arc::new(Inner {
                backend,
                prefix,
                general: Rate::per_minute(settings.general_rpm),
                auth_failures: Rate::per_minute(settings.auth_failures_per_minute),
                on_error,
                timeout,
                slot_lease: settings.slot_lease,
                trusted: settings.trusted_proxies.clone(),
                incident: AtomicBool::new(false),
            }),
        })
    }

    /// A new request's allowance for waiting on the backend, to pass to each of its calls.
    pub fn budget(&self) -> LimitBudget {
        LimitBudget::new(self.inner.timeout)
    }

    /// `memory` or `redis`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The client address of a request from `peer` (see [`TrustedProxies::client_ip`]).
    pub fn client_ip<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        peer.map(|peer| self.inner.trusted.client_ip(peer, forwarded_for))
    }

    fn key(&self, user_id: i64, what: &str) -> String {
        // The hash tag keeps one user's keys in one Redis Cluster slot, for the admit script.
        format!("{}{{u:{user_id}}}:{what}", self.inner.prefix)
    }

    fn auth_key(&self, client: Option<IpAddr>) -> String {
        match client {
            Some(ip) => format!("{}authfail:{ip}", self.inner.prefix),
            None => format!("{}authfail:unknown", self.inner.prefix),
        }
    }

    async fn bounded<T>(
        &self,
        budget: &LimitBudget,
        call: impl Future<Output = Result<T, LimitError>>,
    ) -> Result<T, LimitError> {
        match budget.within(call).await {
            Some(Ok(value)) => {
                if self.inner.incident.swap(false, Ordering::Relaxed) {
                    tracing::info!(backend = self.backend_name(), "rate limiter recovered");
                }
                Ok(value)
            }
            Some(Err(e)) => Err(e),
            None => Err(LimitError(format!(
                "no answer within the request's {} ms",
                budget.allowance().as_millis()
            ))),
        }
    }

    /// Applies the outage policy to a failed call.
    fn degraded(&self, error: &LimitError) -> Result<(), Refusal> {
        let mode = match self.inner.on_error {
            OnLimiterError::Open => "letting requests through unlimited",
            OnLimiterError::Closed => "refusing limited requests with 503",
        };
        crate::metrics::limiter_backend_error(self.backend_name());
        if !self.inner.incident.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                backend = self.backend_name(),
                error = %error,
                "RATE LIMITER UNAVAILABLE: {mode} until it recovers (ODEADEV_LIMITS_ON_REDIS_ERROR)"
            );
        } else {
            tracing::debug!(error = %error, "rate limiter still unavailable");
        }
        match self.inner.on_error {
            OnLimiterError::Open => Ok(()),
            OnLimiterError::Closed => Err(Refusal::Unavailable(error.clone())),
        }
    }

    /// Whether requests are refused while the backend is down (`ODEADEV_LIMITS_ON_REDIS_ERROR=closed`).
    pub fn fails_closed(&self) -> bool {
        matches!(self.inner.on_error, OnLimiterError::Closed)
    }

    /// Readiness of the backend: `None` when it is in process (nothing to check), else the
    /// outcome of a bounded round trip.
    pub async fn ping(&self) -> Option<Result<(), LimitError>> {
        if !self.inner.backend.leases_expire() {
            return None;
        }
        Some(
            self.bounded(&self.budget(), self.inner.backend.ping())
                .await,
        )
    }

    /// Admits a synthesis request at the user's rate and concurrency, or says why not. The
    /// slot gives itself back within the same `budget`.
    pub async fn admit_synthesis(
        &self,
        user: &User,
        budget: &LimitBudget,
    ) -> Result<Admitted, Refused> {
        let rate = Rate::per_minute(user.rpm());
        let max_slots = user.streams();
        let rate_key = self.key(user.id, "tts");
        let slots_key = self.key(user.id, "slots");
        let lease_id = uuid::Uuid::new_v4().to_string();
        let backend = &self.inner.backend;
        let call = backend.admit(
            &rate_key,
            &slots_key,
            rate,
            max_slots,
            &lease_id,
            self.inner.slot_lease,
        );
        match self.bounded(budget, call).await {
            Ok(Admission::Admitted(decision)) => Ok(Admitted {
                rate: Some(decision),
                slot: Slot::held(
                    backend.clone(),
                    slots_key,
                    lease_id,
                    self.inner.slot_lease,
                    budget,
                ),
            }),
            Ok(Admission::RateLimited(decision)) => Err(Refused::counted(
                "rpm",
                Refused {
                    reason: Refusal::Rate {
                        limit: decision.limit,
                        retry_after_secs: decision.retry_after_secs(),
                    },
                    rate: Some(decision),
                },
            )),
            Ok(Admission::Busy { rate, .. }) => Err(Refused::counted(
                "concurrency",
                Refused {
                    reason: Refusal::Concurrency { limit: max_slots },
                    rate: Some(rate),
                },
            )),
            Err(error) => {
                // The script may have run before the answer was lost: give the slot back.
                drop(Slot::maybe_taken(
                    backend.clone(),
                    slots_key,
                    lease_id,
                    budget,
                ));
                match self.degraded(&error) {
                    Ok(()) => Ok(Admitted {
                        rate: None,
                        slot: Slot::unlimited(),
                    }),
                    Err(reason) => Err(Refused { reason, rate: None }),
                }
            }
        }
    }

    /// Spends one request of the per-user limit on routes other than synthesis.
    pub async fn check_general(&self, user_id: i64, budget: &LimitBudget) -> Result<(), Refusal> {
        let key = self.key(user_id, "api");
        let call = self
            .inner
            .backend
            .check_rate(&key, self.inner.general, Spend::Charge);
        match self.bounded(budget, call).await {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => {
                crate::metrics::limit_refused("general");
                Err(Refusal::Rate {
                    limit: d.limit,
                    retry_after_secs: d.retry_after_secs(),
                })
            }
            Err(e) => self.degraded(&e),
        }
    }

    /// Refuses an address that has failed authentication too often, before any key is read.
    pub async fn check_auth_allowed(
        &self,
        client: Option<IpAddr>,
        budget: &LimitBudget,
    ) -> Result<(), Refusal> {
        let key = self.auth_key(client);
        let call = self
            .inner
            .backend
            .check_rate(&key, self.inner.auth_failures, Spend::Peek);
        match self.bounded(budget, call).await {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => {
                crate::metrics::limit_refused("auth_failures");
                Err(Refusal::AuthFailures {
                    retry_after_secs: d.retry_after_secs(),
                })
            }
            Err(e) => self.degraded(&e),
        }
    }

    /// Counts a failed authentication against the address.
    pub async fn auth_failed(&self, client: Option<IpAddr>, budget: &LimitBudget) {
        let key = self.auth_key(client);
        let call = self
            .inner
            .backend
            .check_rate(&key, self.inner.auth_failures, Spend::Charge);
        if let Err(e) = self.bounded(budget, call).await {
            // The request fails with 401 whatever the policy says.
            let _ = self.degraded(&e);
        }
    }
}
