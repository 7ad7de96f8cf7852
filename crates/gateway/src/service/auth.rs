//! Authenticates `Authorization: Bearer <key>`: shape and checksum first (no database work for
//! garbage), then one indexed lookup by keyed hash and a constant-time comparison.
//!
//! An address that keeps failing is throttled before any of that: after
//! `ODEADEV_AUTH_FAILURES_PER_MINUTE` failures its attempts get 429 until its allowance comes
//! back. Only failures count; a caller with a good key is never slowed by its own successes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::domain::api_key;
use crate::domain::plan::Role;
use crate::domain::records::User;
use crate::error::ApiError;
use crate::limits::{LimitBudget, Limiter};
use crate::service::key_cache::KeyCache;
use crate::store::Store;

/// Last-used times are refreshed at most this often per key, to keep reads read-only.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user, as of this request.
    pub user: User,
    /// Id of the key used.
    pub key_id: String,
    /// Display prefix of the key used (safe for logs).
    pub key_prefix: String,
    /// What this request may still wait on the limits backend, all its limiter calls together
    /// (the synthesis admission and slot release draw on it after authentication did).
    pub limit_budget: LimitBudget,
}

impl Principal {
    /// Refuses non-admins with 403.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("admin role required"))
        }
    }
}

/// Why authentication failed before a user was found; used for brute-force accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No or non-Bearer header.
    Missing,
    /// Not shaped like one of our keys.
    Malformed,
    /// Well-formed but unknown.
    Unknown,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl AuthFailure {
    /// Client-facing detail.
    pub fn detail(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing API key: send Authorization: Bearer <key>",
            AuthFailure::Malformed => "malformed API key",
            AuthFailure::Unknown => "invalid API key",
            AuthFailure::Revoked => "API key has been revoked",
            AuthFailure::Expired => "API key has expired",
        }
    }
}

/// Checks API keys.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    pepper: Arc<[u8]>,
    limiter: Option<Limiter>,
    /// Keys looked up lately, for the synthesis routes; shared with the admin services that
    /// change keys and users, which clear it.
    recent: Arc<KeyCache>,
}

impl Authenticator {
    /// An authenticator using `pepper` for key hashes and `recent` for keys looked up lately.
    pub fn new(store: Arc<dyn Store>, pepper: Vec<u8>, recent: Arc<KeyCache>) -> Authenticator {
        Authenticator {
            store,
            pepper: pepper.into(),
            limiter: None,
            recent,
        }
    }

    /// The same, throttling addresses that fail too often (see the module docs).
    pub fn with_limiter(self, limiter: Limiter) -> Authenticator {
        Authenticator {
            limiter: Some(limiter),
            ..self
        }
    }

    /// Authenticates a request from `client`: refuses a throttled address with 429 before any
    /// database work, and counts failures against the address, both within the request's
    /// `budget`, which the principal carries on.
    ///
    /// With `recent`, a key looked up in the last second is not looked up again (see
    /// [`KeyCache`] for what that may leave stale); only the synthesis routes ask for it.
    pub async fn authenticate_from(
        &self,
        header: Option<&str>,
        client: Option<IpAddr>,
        recent: bool,
        budget: &LimitBudget,
    ) -> Result<Result<Principal, AuthFailure>, ApiError> {
        let Some(limiter) = &self.limiter else {
            return self.authenticate(header, recent, budget).await;
        };
        limiter.check_auth_allowed(client, budget).await?;
        let outcome = self.authenticate(header, recent, budget).await?;
        if outcome.is_err() {
            limiter.auth_failed(client, budget).await;
        }
        Ok(outcome)
    }

    /// Hash of a key as stored.
    pub fn hash(&self, key: &str) -> Vec<u8> {
        api_key::hash(&self.pepper, key)
    }

    /// Authenticates an `Authorization` header value (`recent`: see `authenticate_from`) for
    /// a request with this limiter `budget`.
    pub async fn authenticate(
        &self,
        header: Option<&str>,
        recent: bool,
        budget: &LimitBudget,
    ) -> Result<Result<Principal, AuthFailure>, ApiError> {
        let Some(key) = header.and_then(bearer_token) else {
            return Ok(Err(AuthFailure::Missing));
        };
        if !api_key::is_well_formed(key) {
            return Ok(Err(AuthFailure::Malformed));
        }
        let hash = self.hash(key);
        let cached = if recent { self.recent.get(&hash) } else { None };
        let found = match cached {
            Some(found) => Some(found),
            None => {
                let version = self.recent.version();
                let found = self.store.find_key(&hash).await?;
                if let Some(found) = &found {
                    self.recent.put(hash.clone(), found.clone(), version);
                }
                found
            }
        };
        let Some((record, user)) = found else {
            return Ok(Err(AuthFailure::Unknown));
        };
        if !api_key::hashes_match(&record.hash, &hash) {
            return Ok(Err(AuthFailure::Unknown));
        }
        let now = Utc::now();
        if record.revoked_at.is_some() {
            return Ok(Err(AuthFailure::Revoked));
        }
        if record.expires_at.is_some_and(|at| at <= now) {
            return Ok(Err(AuthFailure::Expired));
        }
        let stale = record
            .last_used_at
            .is_none_or(|at| (now - at).to_std().unwrap_or_default() >= TOUCH_INTERVAL);
        if stale {
            self.recent.touched(&hash, now);
            let store = self.store.clone();
            let key_id = record.id.clone();
            // Off the request path: a failed touch must not fail the request.
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(&key_id, now).await {
                    tracing::warn!(error = %e, "could not record key use");
                }
            });
        }
        Ok(Ok(Principal {
            user,
            key_id: record.id,
            key_prefix: record.prefix,
            limit_budget: budget.clone(),
        }))
    }
}

/// The token of a `Bearer` header (scheme case-insensitive).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
