//! Every setting once: its environment variable, its key in the settings file, the TOML type
//! the file must give it, and how `check-config` shows its effective value (secrets redacted).
//!
//! A new setting is one line here besides its parsing; the settings file, `check-config` and
//! the README test all read this list.

use std::fmt::Display;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::redact::redact_url;
use super::{LogFormat, MinimaxSettings, OnLimiterError, RedisSettings, Settings};
use Kind::{Integer, List, Map, Text};

/// What stands in for a secret in `check-config`'s output.
const REDACTED: &str = "<redacted>";

/// The TOML type a key takes in the settings file, and so how its value becomes the text of
/// the environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string, taken as it is.
    Text,
    /// An integer, written out in decimal.
    Integer,
    /// An array of strings, joined with commas.
    List,
    /// A table of strings, written `key=value,…`.
    Map,
}

/// One setting.
pub(crate) struct SettingKey {
    /// The environment variable.
    pub(crate) var: &'static str,
    /// `section.key` in the settings file.
    pub(crate) key: &'static str,
    /// The TOML type the file must give it.
    pub(crate) kind: Kind,
    /// Its effective value, as the variable would spell it, secrets redacted.
    pub(crate) show: fn(&Settings) -> String,
}

impl SettingKey {
    /// The `[section]` of the settings file this key lives in.
    pub(crate) fn section(&self) -> &'static str {
        self.key
            .split_once('.')
            .map_or(self.key, |(section, _)| section)
    }

    /// The key's name inside its section.
    pub(crate) fn name(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(_, name)| name)
    }
}

const fn setting(
    var: &'static str,
    key: &'static str,
    kind: Kind,
    show: fn(&Settings) -> String,
) -> SettingKey {
    SettingKey {
        var,
        key,
        kind,
        show,
    }
}

/// Every setting, grouped by section in the order `check-config` prints them.
pub(crate) static SETTINGS: &[SettingKey] = &[
    setting("ODEADEV_BIND", "server.bind", Text, |s| s.bind.to_string()),
    setting("ODEADEV_METRICS_BIND", "server.metrics_bind", Text, |s| {
        optional(s.server.metrics_bind)
    }),
    setting(
        "ODEADEV_HEADER_READ_TIMEOUT_SECS",
        "server.header_read_timeout_secs",
        Integer,
        |s| secs(s.server.header_read_timeout),
    ),
    setting(
        "ODEADEV_BODY_TIMEOUT_SECS",
        "server.body_timeout_secs",
        Integer,
        |s| secs(s.server.body_timeout),
    ),
    setting(
        "ODEADEV_BODY_TOTAL_TIMEOUT_SECS",
        "server.body_total_timeout_secs",
        Integer,
        |s| secs(s.server.body_total_timeout),
    ),
    setting(
        "ODEADEV_MAX_CONNECTIONS",
        "server.max_connections",
        Integer,
        |s| s.server.max_connections.to_string(),
    ),
    setting(
        "ODEADEV_MAX_CONNECTIONS_PER_ADDRESS",
        "server.max_connections_per_address",
        Integer,
        |s| s.server.max_connections_per_address.to_string(),
    ),
    setting(
        "ODEADEV_SHUTDOWN_GRACE_SECS",
        "server.shutdown_grace_secs",
        Integer,
        |s| secs(s.server.shutdown_grace),
    ),
    setting(
        "ODEADEV_BACKGROUND_STALL_SECS",
        "server.background_stall_secs",
        Integer,
        |s| secs(s.background_stall),
    ),
    setting(
        "ODEADEV_TRUSTED_PROXIES",
        "server.trusted_proxies",
        List,
        |s| {
            let proxies = &s.limits.trusted_proxies;
            if proxies.is_empty() {
                "none".to_string()
            } else {
                proxies.to_string()
            }
        },
    ),
    setting("ODEADEV_LOG_FORMAT", "server.log_format", Text, |s| {
        match s.log_format {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }
        .to_string()
    }),
    setting("DATABASE_URL", "database.url", Text, |s| {
        s.database.redacted_url()
    }),
    setting(
        "ODEADEV_DB_MAX_CONNECTIONS",
        "database.max_connections",
        Integer,
        |s| s.db_max_connections.to_string(),
    ),
    setting(
        "ODEADEV_DB_ACQUIRE_TIMEOUT_MS",
        "database.acquire_timeout_ms",
        Integer,
        |s| millis(s.db_acquire_timeout),
    ),
    setting(
        "ODEADEV_DB_STATEMENT_TIMEOUT_MS",
        "database.statement_timeout_ms",
        Integer,
        |s| millis(s.db_statement_timeout),
    ),
    setting(
        "ODEADEV_SQLITE_SYNCHRONOUS",
        "database.sqlite_synchronous",
        Text,
        |s| s.sqlite_synchronous.as_str().to_string(),
    ),
    setting("ODEADEV_KEY_PEPPER", "auth.key_pepper", Text, |s| {
        secret(s.key_pepper.is_some())
    }),
    setting("ODEADEV_GENERAL_RPM", "limits.general_rpm", Integer, |s| {
        s.limits.general_rpm.to_string()
    }),
    setting(
        "ODEADEV_AUTH_FAILURES_PER_MINUTE",
        "limits.auth_failures_per_minute",
        Integer,
        |s| s.limits.auth_failures_per_minute.to_string(),
    ),
    setting("REDIS_URL", "redis.url", Text, |s| {
        optional(
            s.limits
                .redis
                .as_ref()
                .map(|r| redact_url(r.url.expose_secret())),
        )
    }),
    setting("ODEADEV_REDIS_PREFIX", "redis.prefix", Text, |s| {
        with_redis(s, |r| r.prefix.clone())
    }),
    setting(
        "ODEADEV_REDIS_TIMEOUT_MS",
        "redis.timeout_ms",
        Integer,
        |s| with_redis(s, |r| millis(r.timeout)),
    ),
    setting(
        "ODEADEV_LIMITS_ON_REDIS_ERROR",
        "redis.on_error",
        Text,
        |s| {
            with_redis(s, |r| {
                match r.on_error {
                    OnLimiterError::Open => "open",
                    OnLimiterError::Closed => "closed",
                }
                .to_string()
            })
        },
    ),
    setting(
        "ODEADEV_CONCURRENCY_LEASE_SECS",
        "redis.concurrency_lease_secs",
        Integer,
        |s| secs(s.limits.slot_lease),
    ),
    setting("ODEADEV_LEASE_SECS", "metering.lease_secs", Integer, |s| {
        secs(s.lease)
    }),
    setting(
        "ODEADEV_REAP_INTERVAL_SECS",
        "metering.reap_interval_secs",
        Integer,
        |s| secs(s.reap_interval),
    ),
    setting("ODEADEV_DEFAULT_VOICE", "voices.default", Text, |s| {
        optional(s.default_voice.as_ref())
    }),
    setting("ODEADEV_OPENAI_VOICES", "voices.openai", Map, |s| {
        if s.openai_voices.is_empty() {
            return "unset".to_string();
        }
        let pairs: Vec<String> = s
            .openai_voices
            .iter()
            .map(|(openai, ours)| format!("{openai}={ours}"))
            .collect();
        pairs.join(",")
    }),
    setting("ODEADEV_LOCAL_PROGRAM", "local.program", Text, |s| {
        s.local.program.display().to_string()
    }),
    setting(
        "ODEADEV_LOCAL_MAX_CONCURRENT",
        "local.max_concurrent",
        Integer,
        |s| s.local.max_concurrent.to_string(),
    ),
    setting(
        "ODEADEV_LOCAL_TIMEOUT_MS",
        "local.timeout_ms",
        Integer,
        |s| millis(s.local.timeout),
    ),
    setting(
        "ODEADEV_LOCAL_QUEUE_TIMEOUT_MS",
        "local.queue_timeout_ms",
        Integer,
        |s| millis(s.local.queue_timeout),
    ),
    setting("ODEADEV_MODELS_DIR", "local.models_dir", Text, |s| {
        s.local.models_dir.display().to_string()
    }),
    setting("ODEADEV_ONNXRUNTIME", "local.onnxruntime", Text, |s| {
        s.local.onnxruntime.display().to_string()
    }),
    setting("MINIMAX_API_KEY", "minimax.api_key", Text, |s| {
        secret(s.minimax.is_some())
    }),
    setting("MINIMAX_BASE_URL", "minimax.base_url", Text, |s| {
        with_minimax(s, |m| m.base_url.to_string())
    }),
    setting("MINIMAX_GROUP_ID", "minimax.group_id", Text, |s| {
        with_minimax(s, |m| optional(m.group_id.as_ref()))
    }),
    setting("MINIMAX_TIMEOUT_MS", "minimax.timeout_ms", Integer, |s| {
        with_minimax(s, |m| millis(m.timeout))
    }),
    setting(
        "MINIMAX_CONNECT_TIMEOUT_MS",
        "minimax.connect_timeout_ms",
        Integer,
        |s| with_minimax(s, |m| millis(m.connect_timeout)),
    ),
    setting("MINIMAX_MAX_RETRIES", "minimax.max_retries", Integer, |s| {
        with_minimax(s, |m| m.max_retries.to_string())
    }),
    setting(
        "MINIMAX_MAX_RESPONSE_BYTES",
        "minimax.max_response_bytes",
        Integer,
        |s| with_minimax(s, |m| m.max_response_bytes.to_string()),
    ),
    setting(
        "MINIMAX_BREAKER_FAILURES",
        "minimax.breaker_failures",
        Integer,
        |s| with_minimax(s, |m| m.breaker_failures.to_string()),
    ),
    setting(
        "MINIMAX_BREAKER_COOLDOWN_MS",
        "minimax.breaker_cooldown_ms",
        Integer,
        |s| with_minimax(s, |m| millis(m.breaker_cooldown)),
    ),
];

/// The setting with this file key, if any.
pub(crate) fn by_key(section: &str, name: &str) -> Option<&'static SettingKey> {
    SETTINGS
        .iter()
        .find(|s| s.section() == section && s.name() == name)
}

/// The sections of the settings file, in catalogue order.
pub(crate) fn sections() -> Vec<&'static str> {
    let mut sections: Vec<&'static str> = Vec::new();
    for setting in SETTINGS {
        if !sections.contains(&setting.section()) {
            sections.push(setting.section());
        }
    }
    sections
}

/// The key names of one section, in catalogue order.
pub(crate) fn names_in(section: &str) -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|s| s.section() == section)
        .map(SettingKey::name)
        .collect()
}

fn optional(value: Option<impl Display>) -> String {
    value.map_or_else(|| "unset".to_string(), |v| v.to_string())
}

fn secret(set: bool) -> String {
    if set { REDACTED } else { "unset" }.to_string()
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}

/// A Redis setting only means something when `REDIS_URL` is set.
fn with_redis(s: &Settings, show: impl Fn(&RedisSettings) -> String) -> String {
    s.limits
        .redis
        .as_ref()
        .map_or_else(|| "unused: REDIS_URL is unset".to_string(), show)
}

/// A MiniMax setting only means something when `MINIMAX_API_KEY` is set.
fn with_minimax(s: &Settings, show: impl Fn(&MinimaxSettings) -> String) -> String {
    s.minimax
        .as_ref()
        .map_or_else(|| "unused: MINIMAX_API_KEY is unset".to_string(), show)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::SETTINGS;

    /// The README's configuration table names every variable with its file key.
    #[test]
    fn the_readme_maps_every_file_key_to_its_variable() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(readme).unwrap();
        for setting in SETTINGS {
            let row = format!("| `{}` | `{}` |", setting.var, setting.key);
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
    }
}
