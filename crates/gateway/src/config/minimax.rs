//! MiniMax upstream settings, present only when `MINIMAX_API_KEY` is set; the base URL is
//! validated (https, or http to a loopback host).

use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{bad, millis, parse_num, Env, SettingError};

/// MiniMax upstream settings; present only when `MINIMAX_API_KEY` is set.
#[derive(Debug, Clone)]
pub struct MinimaxSettings {
    /// Upstream API key, never logged.
    pub api_key: SecretString,
    /// Validated base URL: https, or http to a loopback host.
    pub base_url: Url,
    /// Optional numeric group id, sent as `GroupId`.
    pub group_id: Option<String>,
    /// Total time allowed for one attempt.
    pub timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for retryable failures only.
    pub max_retries: u32,
    /// Largest upstream response body accepted.
    pub max_response_bytes: usize,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before a trial request.
    pub breaker_cooldown: Duration,
}

pub(super) fn load_minimax(env: &dyn Env) -> Result<Option<MinimaxSettings>, SettingError> {
    let Some(api_key) = env.get("MINIMAX_API_KEY") else {
        return Ok(None);
    };
    let base_raw = env
        .get("MINIMAX_BASE_URL")
        .unwrap_or_else(|| "https://api.minimax.io".to_string());
    let base_url = validate_base_url(&base_raw).map_err(|r| bad("MINIMAX_BASE_URL", r))?;
    let group_id = match env.get("MINIMAX_GROUP_ID") {
        Some(g) if g.len() <= 32 && g.bytes().all(|b| b.is_ascii_digit()) => Some(g),
        Some(_) => return Err(bad("MINIMAX_GROUP_ID", "must be digits only")),
        None => None,
    };
    Ok(Some(MinimaxSettings {
        api_key: SecretString::from(api_key),
        base_url,
        group_id,
        timeout: millis(env, "MINIMAX_TIMEOUT_MS", 30_000, 100, 600_000)?,
        connect_timeout: millis(env, "MINIMAX_CONNECT_TIMEOUT_MS", 3_000, 10, 60_000)?,
        max_retries: parse_num(
            env,
            "MINIMAX_MAX_RETRIES",
            2,
            |v| *v <= 10,
            "a number in 0..=10",
        )?,
        max_response_bytes: parse_num(
            env,
            "MINIMAX_MAX_RESPONSE_BYTES",
            64 * 1024 * 1024,
            |v| (1024..=1024 * 1024 * 1024).contains(v),
            "a byte count in 1024..=1073741824",
        )?,
        breaker_failures: parse_num(
            env,
            "MINIMAX_BREAKER_FAILURES",
            5,
            |v| (1..=1000).contains(v),
            "a number in 1..=1000",
        )?,
        breaker_cooldown: millis(env, "MINIMAX_BREAKER_COOLDOWN_MS", 30_000, 10, 3_600_000)?,
    }))
}

/// Accepts https anywhere, http only to a loopback host (a local simulator); no credentials,
/// query or fragment.
pub fn validate_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not contain a query or fragment".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err("has no host".into()),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err("http is allowed only to a loopback host; use https".into()),
        other => Err(format!("scheme {other:?} is not https")),
    }
}
