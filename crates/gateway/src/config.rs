//! Settings from the environment over an optional TOML settings file, validated once at
//! start-up.
//!
//! Every setting has a default that gives the embedded set-up (SQLite in the working directory,
//! local engine). A bad value stops start-up with a message naming the setting. The rules are
//! written against [`Env`]; `sources` layers the file under the environment behind it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

mod catalogue;
mod database;
mod file;
mod limits;
mod minimax;
mod redact;
mod sources;

use database::{parse_database, parse_sqlite_synchronous};
pub use database::{DatabaseSettings, SqliteSynchronous};
pub use file::{FileError, KeyProblem};
use limits::load_limits;
pub use limits::{LimitSettings, OnLimiterError, RedisSettings};
use minimax::load_minimax;
pub use minimax::{validate_base_url, MinimaxSettings};
pub use sources::{ConfigError, EffectiveSetting, LoadedSettings, Origin, CONFIG_VAR};

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

/// Local (eSpeak NG) engine settings.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Program to run.
    pub program: PathBuf,
    /// Processes allowed at once.
    pub max_concurrent: usize,
    /// Time allowed for one synthesis.
    pub timeout: Duration,
    /// Longest wait for a free slot of the Piper engine before a 503 (`ODEADEV_LOCAL_QUEUE_TIMEOUT_MS`).
    pub queue_timeout: Duration,
    /// Folder of the neural voices' files (`ODEADEV_MODELS_DIR`).
    pub models_dir: PathBuf,
    /// The ONNX Runtime shared library (`ODEADEV_ONNXRUNTIME`).
    pub onnxruntime: PathBuf,
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
    /// Connections to the database per node (`ODEADEV_DB_MAX_CONNECTIONS`; SQLite: readers).
    pub db_max_connections: u32,
    /// How long a request waits for a pooled PostgreSQL connection
    /// (`ODEADEV_DB_ACQUIRE_TIMEOUT_MS`).
    pub db_acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` for every pooled connection
    /// (`ODEADEV_DB_STATEMENT_TIMEOUT_MS`).
    pub db_statement_timeout: Duration,
    /// SQLite commit durability (`ODEADEV_SQLITE_SYNCHRONOUS`); ignored on PostgreSQL.
    pub sqlite_synchronous: SqliteSynchronous,
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
    /// How long background work may be stuck before `/ready` fails naming it
    /// (`ODEADEV_BACKGROUND_STALL_SECS`).
    pub background_stall: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Rate, concurrency and authentication-failure limits.
    pub limits: LimitSettings,
    /// HTTP connection timeouts and the shutdown grace period.
    pub server: ServerSettings,
    /// OpenAI voice name → our voice name (`ODEADEV_OPENAI_VOICES=alloy=marcy,onyx=marcus`).
    pub openai_voices: Vec<(String, String)>,
}

/// Socket timeouts and graceful shutdown.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// Time a client has to send a request's headers (also bounds idle keep-alive).
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// How long requests and streams in flight may finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// A second listener for `/metrics` only (e.g. on a private interface).
    pub metrics_bind: Option<SocketAddr>,
    /// Client connections open at once, at most (`ODEADEV_MAX_CONNECTIONS`).
    pub max_connections: u32,
    /// Client connections open at once from one address (trusted proxies exempt).
    pub max_connections_per_address: u32,
    /// Longest time a whole request body may take (`ODEADEV_BODY_TOTAL_TIMEOUT_SECS`).
    pub body_total_timeout: Duration,
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
        let models_dir = env
            .get("ODEADEV_MODELS_DIR")
            .map_or_else(|| PathBuf::from("models"), PathBuf::from);
        Ok(Settings {
            bind,
            db_max_connections: parse_num(
                env,
                "ODEADEV_DB_MAX_CONNECTIONS",
                8,
                |v| (1..=512).contains(v),
                "a number in 1..=512",
            )?,
            db_acquire_timeout: millis(env, "ODEADEV_DB_ACQUIRE_TIMEOUT_MS", 5_000, 100, 600_000)?,
            db_statement_timeout: millis(
                env,
                "ODEADEV_DB_STATEMENT_TIMEOUT_MS",
                10_000,
                100,
                3_600_000,
            )?,
            sqlite_synchronous: parse_sqlite_synchronous(env.get("ODEADEV_SQLITE_SYNCHRONOUS"))?,
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
                queue_timeout: millis(env, "ODEADEV_LOCAL_QUEUE_TIMEOUT_MS", 3_000, 0, 600_000)?,
                onnxruntime: env.get("ODEADEV_ONNXRUNTIME").map_or_else(
                    || models_dir.join("onnxruntime").join("libonnxruntime.so"),
                    PathBuf::from,
                ),
                models_dir,
            },
            default_voice: env.get("ODEADEV_DEFAULT_VOICE"),
            lease: secs(env, "ODEADEV_LEASE_SECS", 300, 1, 86_400)?,
            reap_interval: secs(env, "ODEADEV_REAP_INTERVAL_SECS", 15, 1, 3_600)?,
            background_stall: secs(env, "ODEADEV_BACKGROUND_STALL_SECS", 30, 1, 3_600)?,
            log_format,
            limits: load_limits(env)?,
            server: ServerSettings {
                header_read_timeout: secs(env, "ODEADEV_HEADER_READ_TIMEOUT_SECS", 10, 1, 3_600)?,
                body_timeout: secs(env, "ODEADEV_BODY_TIMEOUT_SECS", 30, 1, 3_600)?,
                body_total_timeout: secs(env, "ODEADEV_BODY_TOTAL_TIMEOUT_SECS", 120, 1, 3_600)?,
                max_connections: parse_num(
                    env,
                    "ODEADEV_MAX_CONNECTIONS",
                    4_096,
                    |v| (1..=1_000_000).contains(v),
                    "a number in 1..=1000000",
                )?,
                max_connections_per_address: parse_num(
                    env,
                    "ODEADEV_MAX_CONNECTIONS_PER_ADDRESS",
                    256,
                    |v| (1..=1_000_000).contains(v),
                    "a number in 1..=1000000",
                )?,
                shutdown_grace: secs(env, "ODEADEV_SHUTDOWN_GRACE_SECS", 30, 0, 3_600)?,
                metrics_bind: env
                    .get("ODEADEV_METRICS_BIND")
                    .map(|raw| {
                        raw.trim().parse().map_err(|_| {
                            bad(
                                "ODEADEV_METRICS_BIND",
                                format!("{raw:?} is not an address like 127.0.0.1:9100"),
                            )
                        })
                    })
                    .transpose()?,
            },
            openai_voices: parse_voice_map(env.get("ODEADEV_OPENAI_VOICES"))?,
        })
    }
}

fn parse_voice_map(raw: Option<String>) -> Result<Vec<(String, String)>, SettingError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                Ok((from.trim().to_string(), to.trim().to_string()))
            }
            _ => Err(bad(
                "ODEADEV_OPENAI_VOICES",
                format!("{pair:?} is not openai_voice=our_voice"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests;
