//! Settings from the environment, validated once at start-up.
//!
//! Every setting has a default that gives the embedded set-up (SQLite in the working directory,
//! local engine). A bad value stops start-up with a message naming the setting.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// A setting that could not be used, named as the operator wrote it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct SettingError {
    /// Environment variable name.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(name: &'static str, reason: impl Into<String>) -> SettingError {
    SettingError {
        name,
        reason: reason.into(),
    }
}

/// Where the books live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSettings {
    /// An SQLite file, created when missing.
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// Connection URL (may hold a password: never logged).
        url: String,
    },
}

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

/// Local (eSpeak NG) engine settings.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Program to run.
    pub program: PathBuf,
    /// Processes allowed at once.
    pub max_concurrent: usize,
    /// Time allowed for one synthesis.
    pub timeout: Duration,
}

/// Log output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// All validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Database.
    pub database: DatabaseSettings,
    /// Connections in the database pool.
    pub db_max_connections: u32,
    /// Server pepper for API key hashes; `None` = kept in the database (embedded set-up).
    pub key_pepper: Option<SecretString>,
    /// MiniMax, when configured.
    pub minimax: Option<MinimaxSettings>,
    /// Local engine.
    pub local: LocalSettings,
    /// Voice used when a request names none.
    pub default_voice: Option<String>,
    /// How long a quota reservation stays valid without its request settling it.
    pub lease: Duration,
    /// How often expired reservations are reaped.
    pub reap_interval: Duration,
    /// Log format.
    pub log_format: LogFormat,
}

/// Reads a variable; an empty value counts as unset.
pub trait Env {
    /// The value of `name`, if set and not empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name)
            .filter(|v| !v.trim().is_empty())
            .cloned()
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_string())
            .filter(|v| !v.trim().is_empty())
    }
}

fn parse_num<T: std::str::FromStr>(
    env: &dyn Env,
    name: &'static str,
    default: T,
    check: impl Fn(&T) -> bool,
    rule: &str,
) -> Result<T, SettingError> {
    match env.get(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<T>() {
            Ok(v) if check(&v) => Ok(v),
            _ => Err(bad(name, format!("{raw:?} is not {rule}"))),
        },
    }
}

fn millis(
    env: &dyn Env,
    name: &'static str,
    default_ms: u64,
    min: u64,
    max: u64,
) -> Result<Duration, SettingError> {
    let rule = format!("a whole number of milliseconds in {min}..={max}");
    parse_num(env, name, default_ms, |v| (min..=max).contains(v), &rule).map(Duration::from_millis)
}

fn secs(
    env: &dyn Env,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, SettingError> {
    let rule = format!("a whole number of seconds in {min}..={max}");
    parse_num(env, name, default, |v| (min..=max).contains(v), &rule).map(Duration::from_secs)
}

impl Settings {
    /// Reads and validates every setting; `bind_override` is the `--bind` flag.
    pub fn load(env: &dyn Env, bind_override: Option<&str>) -> Result<Settings, SettingError> {
        let bind_raw = bind_override
            .map(str::to_string)
            .or_else(|| env.get("ODEADEV_BIND"))
            .unwrap_or_else(|| "127.0.0.1:8000".to_string());
        let bind: SocketAddr = bind_raw.trim().parse().map_err(|_| {
            bad(
                "ODEADEV_BIND",
                format!("{bind_raw:?} is not an address like 127.0.0.1:8000"),
            )
        })?;
        let database = parse_database(env.get("DATABASE_URL"))?;
        let key_pepper = match env.get("ODEADEV_KEY_PEPPER") {
            Some(p) if p.len() < 32 => {
                return Err(bad("ODEADEV_KEY_PEPPER", "must be at least 32 characters"))
            }
            Some(p) => Some(SecretString::from(p)),
            None => None,
        };
        let log_format = match env.get("ODEADEV_LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "ODEADEV_LOG_FORMAT",
                    format!("{other:?} is not json or pretty"),
                ))
            }
        };
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Settings {
            bind,
            db_max_connections: parse_num(
                env,
                "ODEADEV_DB_MAX_CONNECTIONS",
                8,
                |v| (1..=512).contains(v),
                "a number in 1..=512",
            )?,
            database,
            key_pepper,
            minimax: load_minimax(env)?,
            local: LocalSettings {
                program: env
                    .get("ODEADEV_LOCAL_PROGRAM")
                    .map_or_else(|| PathBuf::from("espeak-ng"), PathBuf::from),
                max_concurrent: parse_num(
                    env,
                    "ODEADEV_LOCAL_MAX_CONCURRENT",
                    cpus,
                    |v| (1..=256).contains(v),
                    "a number in 1..=256",
                )?,
                timeout: millis(env, "ODEADEV_LOCAL_TIMEOUT_MS", 30_000, 100, 600_000)?,
            },
            default_voice: env.get("ODEADEV_DEFAULT_VOICE"),
            lease: secs(env, "ODEADEV_LEASE_SECS", 300, 1, 86_400)?,
            reap_interval: secs(env, "ODEADEV_REAP_INTERVAL_SECS", 15, 1, 3_600)?,
            log_format,
        })
    }
}

fn parse_database(raw: Option<String>) -> Result<DatabaseSettings, SettingError> {
    let Some(raw) = raw else {
        return Ok(DatabaseSettings::Sqlite {
            path: PathBuf::from("odeadev.db"),
        });
    };
    let raw = raw.trim();
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        Url::parse(raw).map_err(|e| bad("DATABASE_URL", format!("not a valid URL: {e}")))?;
        return Ok(DatabaseSettings::Postgres {
            url: raw.to_string(),
        });
    }
    let path = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            bad(
                "DATABASE_URL",
                "must start with sqlite:// (a file path) or postgres://",
            )
        })?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(bad("DATABASE_URL", "the SQLite file path is empty"));
    }
    Ok(DatabaseSettings::Sqlite {
        path: PathBuf::from(path),
    })
}

fn load_minimax(env: &dyn Env) -> Result<Option<MinimaxSettings>, SettingError> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_the_embedded_setup() {
        let s = Settings::load(&[("X", "")], None).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(
            s.database,
            DatabaseSettings::Sqlite {
                path: "odeadev.db".into()
            }
        );
        assert!(s.minimax.is_none());
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Settings::load(&[("ODEADEV_BIND", "nope")], None).unwrap_err();
        assert_eq!(e.name, "ODEADEV_BIND");
        let e = Settings::load(&[("DATABASE_URL", "mysql://x")], None).unwrap_err();
        assert_eq!(e.name, "DATABASE_URL");
        let e = Settings::load(
            &[("MINIMAX_API_KEY", "k"), ("MINIMAX_GROUP_ID", "12a")],
            None,
        )
        .unwrap_err();
        assert_eq!(e.name, "MINIMAX_GROUP_ID");
    }

    #[test]
    fn base_url_must_be_https_or_loopback_http() {
        assert!(validate_base_url("https://api.minimax.io").is_ok());
        assert!(validate_base_url("http://127.0.0.1:9").is_ok());
        assert!(validate_base_url("http://localhost:9").is_ok());
        assert!(validate_base_url("http://[::1]:9").is_ok());
        assert!(validate_base_url("http://evil.example").is_err());
        assert!(validate_base_url("ftp://127.0.0.1").is_err());
        assert!(validate_base_url("https://u:p@api.minimax.io").is_err());
        assert!(validate_base_url("https://api.minimax.io/?x=1").is_err());
    }

    #[test]
    fn database_url_forms() {
        let s = Settings::load(&[("DATABASE_URL", "sqlite:///tmp/a.db")], None).unwrap();
        assert_eq!(
            s.database,
            DatabaseSettings::Sqlite {
                path: "/tmp/a.db".into()
            }
        );
        let s = Settings::load(&[("DATABASE_URL", "sqlite:rel.db?mode=rwc")], None).unwrap();
        assert_eq!(
            s.database,
            DatabaseSettings::Sqlite {
                path: "rel.db".into()
            }
        );
    }
}
