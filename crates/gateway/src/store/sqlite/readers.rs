//! The request path's key lookup, read inline on the calling thread.
//!
//! Every request looks its key up. Through sqlx that is a hand-off to the connection's worker
//! thread and back, which costs more than the lookup itself: a point query on a unique index
//! over pages that are in memory takes microseconds. So this lookup runs right here on a
//! `rusqlite` connection from a small idle list. It cannot wait on the writer: in WAL mode
//! readers see the last committed snapshot without taking the write lock.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::rows::{corrupt, KEY_COLUMNS, USER_COLUMNS};
use super::writer::store_err;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::{ApiKeyRecord, User};
use crate::store::StoreError;

/// Idle connections kept; more are opened when many requests read at once, and closed after.
const IDLE: usize = 8;

/// Read-only connections, taken for one lookup at a time.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// Opens the first connection now, so a bad path fails at start-up.
    pub(super) fn open(path: &Path) -> Result<Readers, StoreError> {
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        let first = readers.connect()?;
        readers.give_back(first);
        Ok(readers)
    }

    /// A key by its hash, with its user.
    pub(super) fn find_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError> {
        let conn = self.take()?;
        let found = lookup(&conn, hash);
        self.give_back(conn);
        found
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE {
                idle.push(conn);
            }
        }
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Connection::open_with_flags(&self.path, flags)
            .and_then(|conn| {
                conn.busy_timeout(Duration::from_secs(5))?;
                Ok(conn)
            })
            .map_err(|e| store_err(&e))
    }
}

/// The lookup's SQL, written once.
static FIND_KEY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {KEY_COLUMNS}, {USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?"
    )
});

fn lookup(conn: &Connection, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError> {
    let mut statement = conn.prepare_cached(&FIND_KEY).map_err(|e| store_err(&e))?;
    statement
        .query_row([hash], |row| Ok(record(row)))
        .optional()
        .map_err(|e| store_err(&e))?
        .transpose()
}

/// Maps a row of `KEY_COLUMNS, USER_COLUMNS`, in that order.
fn record(row: &Row<'_>) -> Result<(ApiKeyRecord, User), StoreError> {
    let key = ApiKeyRecord {
        id: get(row, 0)?,
        user_id: get(row, 1)?,
        name: get(row, 2)?,
        prefix: get(row, 3)?,
        hash: get(row, 4)?,
        created_at: time(row, 5)?,
        expires_at: optional_time(row, 6)?,
        last_used_at: optional_time(row, 7)?,
        revoked_at: optional_time(row, 8)?,
    };
    let plan: String = get(row, 12)?;
    let role: String = get(row, 13)?;
    let user = User {
        id: get(row, 9)?,
        name: get(row, 10)?,
        email: get(row, 11)?,
        plan: Plan::parse(&plan).ok_or_else(|| corrupt("plan", &plan))?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        quota_ms: get(row, 14)?,
        quota_custom: get(row, 15)?,
        used_ms: get(row, 16)?,
        reserved_ms: get(row, 17)?,
        rpm_limit: get(row, 18)?,
        max_streams: get(row, 19)?,
        is_active: get(row, 20)?,
        created_at: time(row, 21)?,
        updated_at: time(row, 22)?,
        cycle_anchor: time(row, 23)?,
        cycle_started_at: time(row, 24)?,
        cycle_ends_at: time(row, 25)?,
    };
    Ok((key, user))
}

fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, index: usize) -> Result<T, StoreError> {
    row.get(index)
        .map_err(|e| StoreError::Corrupt(format!("column {index}: {e}")))
}

fn time(row: &Row<'_>, index: usize) -> Result<DateTime<Utc>, StoreError> {
    let text: String = get(row, index)?;
    parse_time(&text).ok_or_else(|| corrupt("timestamp", &text))
}

fn optional_time(row: &Row<'_>, index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    let text: Option<String> = get(row, index)?;
    text.map(|t| parse_time(&t).ok_or_else(|| corrupt("timestamp", &t)))
        .transpose()
}

/// Timestamps as sqlx writes them (RFC 3339), or SQLite's own `YYYY-MM-DD HH:MM:SS` in UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|at| at.and_utc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_time;

    #[test]
    fn reads_the_timestamp_forms_sqlite_holds() {
        let sqlx = parse_time("2026-11-27T21:45:42.123456789+00:00").unwrap();
        assert_eq!(sqlx.timestamp_subsec_nanos(), 123_456_789);
        let zulu = parse_time("2026-11-27T21:45:42Z").unwrap();
        let plain = parse_time("2026-11-27 21:45:42").unwrap();
        assert_eq!(zulu, plain);
        assert_eq!(parse_time("2026-11-27 23:45:42+02:00"), Some(plain));
        assert!(parse_time("yesterday").is_none());
    }
}
