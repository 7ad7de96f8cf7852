//! Limit settings: where rate and concurrency limits live (in process or Redis) and how they
//! behave when Redis fails.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{bad, millis, parse_num, secs, Env, SettingError};
use crate::domain::rate::MAX_PER_MINUTE;

/// What happens to a request when the Redis limiter cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimiterError {
    /// Let it through unlimited (the default): an outage of Redis is not an outage of speech.
    Open,
    /// Refuse it with 503.
    Closed,
}

/// The Redis limiter backend (`REDIS_URL`).
#[derive(Clone)]
pub struct RedisSettings {
    /// Connection URL (may hold a password: never logged).
    pub url: SecretString,
    /// Prefix of every key (`ODEADEV_REDIS_PREFIX`), so deployments can share a server.
    pub prefix: String,
    /// The longest one request waits on Redis, all its calls together
    /// (`ODEADEV_REDIS_TIMEOUT_MS`).
    pub timeout: Duration,
    /// Behaviour while Redis is down (`ODEADEV_LIMITS_ON_REDIS_ERROR`).
    pub on_error: OnLimiterError,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .finish()
    }
}

/// Rate, concurrency and authentication-failure limits.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Redis, when `REDIS_URL` is set; else limits are kept in process.
    pub redis: Option<RedisSettings>,
    /// Per-user requests per minute on authenticated routes other than synthesis
    /// (`ODEADEV_GENERAL_RPM`).
    pub general_rpm: u32,
    /// Failed authentications per minute allowed from one address
    /// (`ODEADEV_AUTH_FAILURES_PER_MINUTE`).
    pub auth_failures_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (`ODEADEV_TRUSTED_PROXIES`).
    pub trusted_proxies: crate::limits::client_ip::TrustedProxies,
    /// Lifetime of a concurrency slot on Redis between renewals
    /// (`ODEADEV_CONCURRENCY_LEASE_SECS`).
    pub slot_lease: Duration,
}

pub(super) fn load_limits(env: &dyn Env) -> Result<LimitSettings, SettingError> {
    let on_error = match env
        .get("ODEADEV_LIMITS_ON_REDIS_ERROR")
        .as_deref()
        .map(str::trim)
    {
        None | Some("open") => OnLimiterError::Open,
        Some("closed") => OnLimiterError::Closed,
        Some(other) => {
            return Err(bad(
                "ODEADEV_LIMITS_ON_REDIS_ERROR",
                format!("{other:?} is not open or closed"),
            ))
        }
    };
    let prefix = env
        .get("ODEADEV_REDIS_PREFIX")
        .unwrap_or_else(|| "odeadev:".to_string());
    if prefix.len() > 64 || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "ODEADEV_REDIS_PREFIX",
            "must be at most 64 characters without spaces",
        ));
    }
    let timeout = millis(env, "ODEADEV_REDIS_TIMEOUT_MS", 250, 10, 10_000)?;
    let redis = match env.get("REDIS_URL") {
        None => None,
        Some(raw) => {
            let url = Url::parse(raw.trim())
                .map_err(|_| bad("REDIS_URL", "is not a URL like redis://host:6379"))?;
            if !matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                return Err(bad("REDIS_URL", "must start with redis:// or rediss://"));
            }
            Some(RedisSettings {
                url: SecretString::from(raw.trim().to_string()),
                prefix,
                timeout,
                on_error,
            })
        }
    };
    let trusted_proxies = crate::limits::client_ip::TrustedProxies::parse(
        &env.get("ODEADEV_TRUSTED_PROXIES").unwrap_or_default(),
    )
    .map_err(|r| bad("ODEADEV_TRUSTED_PROXIES", r))?;
    Ok(LimitSettings {
        redis,
        general_rpm: per_minute(env, "ODEADEV_GENERAL_RPM", 600)?,
        auth_failures_per_minute: per_minute(env, "ODEADEV_AUTH_FAILURES_PER_MINUTE", 30)?,
        trusted_proxies,
        slot_lease: secs(env, "ODEADEV_CONCURRENCY_LEASE_SECS", 60, 3, 3_600)?,
    })
}

/// A per-minute limit, in `1..=MAX_PER_MINUTE` like every rate the gateway enforces.
fn per_minute(env: &dyn Env, name: &'static str, default: u32) -> Result<u32, SettingError> {
    let rule = format!("a number in 1..={MAX_PER_MINUTE}");
    parse_num(
        env,
        name,
        default,
        |v| (1..=MAX_PER_MINUTE).contains(v),
        &rule,
    )
}
