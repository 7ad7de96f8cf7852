//! The request path's reads (its key, its voice), inline on the calling thread.
//!
//! Every request looks its key up, and its voice when the voice cache has none. Through sqlx
//! each is a hand-off to the connection's worker thread and back, which costs more than the
//! lookup itself: a point query on a unique index over pages that are in memory takes
//! microseconds. So these lookups run right here on a `rusqlite` connection from a small idle
//! list. They cannot wait on the writer: in WAL mode readers see the last committed snapshot
//! without taking the write lock.

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Params};

use super::rows::{self, NamedRow, KEY_COLUMNS, USER_COLUMNS, VOICE_COLUMNS};
use super::writer::store_err;
use crate::domain::records::{ApiKeyRecord, User, Voice};
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
        self.find(&FIND_KEY, [hash], |row| {
            Ok((rows::key(row)?, rows::user(row)?))
        })
    }

    /// An active voice by its friendly name.
    pub(super) fn find_voice(&self, friendly_name: &str) -> Result<Option<Voice>, StoreError> {
        self.find(&FIND_VOICE, [friendly_name], |row| rows::voice(row))
    }

    /// The one row `sql` selects, if any, as `map` reads it.
    fn find<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&NamedRow<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let conn = self.take()?;
        let found = query(&conn, sql, params, map);
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

/// The lookups' SQL, written once.
static FIND_KEY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {KEY_COLUMNS}, {USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?"
    )
});
static FIND_VOICE: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {VOICE_COLUMNS} FROM voices WHERE friendly_name = ? AND is_active = 1")
});

fn query<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&NamedRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(|e| store_err(&e))?;
    statement
        .query_row(params, |row| Ok(map(&NamedRow::new(row))))
        .optional()
        .map_err(|e| store_err(&e))?
        .transpose()
}
