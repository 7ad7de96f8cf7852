//! The database settings: `DATABASE_URL` picks SQLite (a file) or PostgreSQL (a server);
//! `ODEADEV_SQLITE_SYNCHRONOUS` sets how durable an SQLite commit is.

use std::path::PathBuf;

use url::Url;

use super::redact::redact_url;
use super::{bad, SettingError};

/// Where the books live. `Debug` hides the PostgreSQL password.
#[derive(Clone, PartialEq, Eq)]
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

impl DatabaseSettings {
    /// The setting as `DATABASE_URL` would spell it, with any password replaced: safe to show.
    pub fn redacted_url(&self) -> String {
        match self {
            DatabaseSettings::Sqlite { path } => format!("sqlite://{}", path.display()),
            DatabaseSettings::Postgres { url } => redact_url(url),
        }
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSettings::Sqlite { path } => {
                f.debug_struct("Sqlite").field("path", path).finish()
            }
            DatabaseSettings::Postgres { .. } => f
                .debug_struct("Postgres")
                .field("url", &self.redacted_url())
                .finish(),
        }
    }
}

pub(super) fn parse_database(raw: Option<String>) -> Result<DatabaseSettings, SettingError> {
    let Some(raw) = raw else {
        return Ok(DatabaseSettings::Sqlite {
            path: PathBuf::from("odeadev.db"),
        });
    };
    let raw = raw.trim();
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        check_postgres_url(raw)?;
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

/// How far an SQLite commit is pushed to disk before it returns (`ODEADEV_SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    /// `PRAGMA synchronous = NORMAL` (the default).
    #[default]
    Normal,
    /// `PRAGMA synchronous = FULL`.
    Full,
}

impl SqliteSynchronous {
    /// The setting as written (`normal`, `full`), which is also a value `PRAGMA synchronous`
    /// accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSynchronous::Normal => "normal",
            SqliteSynchronous::Full => "full",
        }
    }
}

pub(super) fn parse_sqlite_synchronous(
    raw: Option<String>,
) -> Result<SqliteSynchronous, SettingError> {
    let Some(raw) = raw else {
        return Ok(SqliteSynchronous::default());
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "normal" => Ok(SqliteSynchronous::Normal),
        "full" => Ok(SqliteSynchronous::Full),
        _ => Err(bad(
            "ODEADEV_SQLITE_SYNCHRONOUS",
            format!("{raw:?} is not normal or full"),
        )),
    }
}

/// TLS modes libpq (and sqlx) understand in `?sslmode=`.
const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

fn check_postgres_url(raw: &str) -> Result<(), SettingError> {
    // Never echo the URL itself: it may hold a password.
    let url = Url::parse(raw).map_err(|e| bad("DATABASE_URL", format!("not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) && !url.query_pairs().any(|(k, _)| k == "host") {
        return Err(bad("DATABASE_URL", "the PostgreSQL URL has no host"));
    }
    for (key, value) in url.query_pairs() {
        if key == "sslmode" && !SSL_MODES.contains(&value.as_ref()) {
            return Err(bad(
                "DATABASE_URL",
                format!("sslmode {value:?} is not one of {}", SSL_MODES.join(", ")),
            ));
        }
    }
    Ok(())
}
