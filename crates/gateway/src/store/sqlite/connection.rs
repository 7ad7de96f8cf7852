//! Every SQLite connection this store opens, set up in one place, and the shared SQL run on
//! one: [`SqliteConn`] is the [`Conn`] of the `sql` operations, over a `rusqlite` connection.
//!
//! A statement's `$1`, `$2`, … placeholders become SQLite's numbered `?1`, `?2`, … (SQLite
//! would read `$1` as a *named* parameter, numbered by first appearance, which a statement
//! using `$2` before `$1` would get wrong). Instants are stored as RFC 3339 text in UTC
//! ([`timestamp`]), booleans as 0 or 1, JSON as its text.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::store::sql::{Arg, Conn, Dialect, Query, Row, RowSink};
use crate::store::StoreError;

/// How long a connection waits for another's write lock before giving up (the writer
/// thread and the checkpointer; callers running inline never wait, see `writer.rs`).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How much a commit waits for the disk (`ODEADEV_SQLITE_SYNCHRONOUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// The log is synced at checkpoints, not at each commit: a power failure (not a crash of
    /// the process) can lose the last commits, never corrupt the file.
    #[default]
    Normal,
    /// Every commit syncs the log: nothing committed is lost, at one disk flush per commit.
    Full,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The one connection that writes (and migrates), and the checkpointer's.
    Write,
    /// A reader: read-only, never takes the write lock.
    Read,
}

/// Opens a connection to `path` with every setting this store relies on. A new database file
/// is created with 512-byte pages (an existing one keeps its own): a metered request changes a
/// few small rows, yet writes each page it touches to the log whole; at 4 KiB pages that was
/// 37 KB a request, and syncing it at checkpoints was most of a single client's p99.
pub(super) fn open(
    path: &Path,
    role: Role,
    synchronous: Synchronous,
) -> rusqlite::Result<Connection> {
    let conn = match role {
        Role::Write => Connection::open(path)?,
        Role::Read => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if role == Role::Write {
        // Only takes effect before the first table exists, and must precede WAL mode.
        conn.pragma_update(None, "page_size", 512)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    // Checkpoints run on their own thread (`checkpoint.rs`), never inside a request's commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// An instant as this store writes it: RFC 3339 in UTC with `+00:00` and 0, 3, 6 or 9
/// fraction digits (`to_rfc3339_opts(SecondsFormat::AutoSi, false)`, the form sqlx wrote
/// before this store used rusqlite alone). Stored instants are compared as text, and `+`
/// sorts before any digit, so these compare as the instants do.
pub(super) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A rusqlite error as the store reports it.
pub(super) fn store_err(e: &rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => StoreError::Conflict("unique"),
                _ => StoreError::Conflict("constraint"),
            }
        }
        // Busy, locked, I/O and everything else: the database is not usable right now.
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// `sql` with `$n` placeholders as SQLite's `?n`; no string literal in this store's SQL holds a
/// `$`.
fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        std::borrow::Cow::Owned(sql.replace('$', "?"))
    } else {
        std::borrow::Cow::Borrowed(sql)
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(*v)),
            Arg::Bool(v) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            Arg::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Arg::Time(Some(at)) => ToSqlOutput::Owned(Value::Text(timestamp(at))),
            Arg::Json(v) => ToSqlOutput::Owned(Value::Text(v.to_string())),
            Arg::Int(None) | Arg::Text(None) | Arg::Time(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Runs `query` on `conn` and hands each row to `sink`.
pub(super) fn for_each_row(
    conn: &Connection,
    query: &Query<'_>,
    sink: &mut RowSink<'_>,
) -> Result<(), StoreError> {
    let mut statement = conn
        .prepare_cached(&numbered(query.sql()))
        .map_err(|e| store_err(&e))?;
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement
        .query(rusqlite::params_from_iter(query.args()))
        .map_err(|e| store_err(&e))?;
    while let Some(row) = rows.next().map_err(|e| store_err(&e))? {
        sink(&NamedRow { row, names: &names })?;
    }
    Ok(())
}

/// Runs `query` on `conn`; returns the rows it changed.
pub(super) fn execute(conn: &Connection, query: &Query<'_>) -> Result<u64, StoreError> {
    let mut statement = conn
        .prepare_cached(&numbered(query.sql()))
        .map_err(|e| store_err(&e))?;
    let changed = statement
        .execute(rusqlite::params_from_iter(query.args()))
        .map_err(|e| store_err(&e))?;
    Ok(changed as u64)
}

/// A rusqlite row with its statement's column names, read once per statement: rusqlite's own
/// lookup by name asks SQLite for every column's name on each call.
struct NamedRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: &'r [String],
}

impl NamedRow<'_, '_> {
    fn value(&self, column: &str) -> Result<ValueRef<'_>, StoreError> {
        let index = self
            .names
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {column}")))?;
        self.row
            .get_ref(index)
            .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }

    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<Option<T>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            value => T::column_result(value)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{column}: {e}"))),
        }
    }
}

impl Row for NamedRow<'_, '_> {
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.get(column)
    }

    fn flag(&self, column: &str) -> Result<Option<bool>, StoreError> {
        self.get(column)
    }

    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.get(column)
    }

    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(column)
    }

    /// rusqlite's reading of RFC 3339 text (also `YYYY-MM-DD HH:MM:SS`, with or without an
    /// offset, as a hand-edited row may hold).
    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get(column)
    }

    fn json(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.text(column)?
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
            })
            .transpose()
    }
}

/// The shared operations' connection, over a rusqlite connection. Its methods never wait:
/// SQLite's calls block the thread until they are done, so each returned future is ready the
/// first time it is polled.
pub(super) struct SqliteConn<'a> {
    conn: &'a mut Connection,
}

impl<'a> SqliteConn<'a> {
    pub(super) fn new(conn: &'a mut Connection) -> SqliteConn<'a> {
        SqliteConn { conn }
    }
}

#[async_trait]
impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, query: &Query<'_>) -> Result<u64, StoreError> {
        execute(self.conn, query)
    }

    async fn for_each(
        &mut self,
        query: &Query<'_>,
        sink: &mut RowSink<'_>,
    ) -> Result<(), StoreError> {
        for_each_row(self.conn, query, sink)
    }
}

/// Runs a shared operation on `conn` to its end, on this thread. The operation awaits only
/// [`SqliteConn`]'s methods, which never wait, so it completes at its first poll; if one ever
/// did wait, this reports it instead of blocking.
pub(super) fn run_on<T>(
    conn: &mut Connection,
    work: impl for<'c> FnOnce(&'c mut dyn Conn) -> futures::future::BoxFuture<'c, Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut sqlite = SqliteConn::new(conn);
    let mut future = pin!(work(&mut sqlite));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Corrupt(
            "an SQLite operation waited on something other than SQLite".into(),
        )),
    }
}
