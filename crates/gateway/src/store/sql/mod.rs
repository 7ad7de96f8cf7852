//! The SQL both databases speak, and every business operation written once in it.
//!
//! An operation is an `async fn` over [`Conn`], a connection (inside a transaction when it
//! writes) of either backend. Its SQL uses `$1`, `$2`, … placeholders (SQLite reads them as
//! numbered parameters too), values are bound as [`Arg`]s, and rows are read through [`Row`]
//! by column name, with one mapping per record in [`rows`]. Where the dialects really
//! differ, an operation asks its connection's [`Dialect`] for the fragment; the metering hot
//! paths and the report queries live in the backends' own folders.

pub(crate) mod admins;
pub(crate) mod audit;
pub(crate) mod backend;
pub(crate) mod cycles;
pub(crate) mod keys;
pub(crate) mod metering;
pub(crate) mod reports;
pub(crate) mod rows;
pub(crate) mod store;
pub(crate) mod usage;
pub(crate) mod users;
pub(crate) mod voices;

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Which database a connection talks to, for the few fragments the two spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite: timestamps as RFC 3339 text, booleans as integers, one writer at a time.
    Sqlite,
    /// PostgreSQL: TIMESTAMPTZ, BOOLEAN, row locks.
    Postgres,
}

impl Dialect {
    /// Appended to a `SELECT` that reads a row it will change: PostgreSQL locks the row
    /// (concurrent writers on other nodes); SQLite's write transaction already holds the
    /// database's only write lock.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Appended to a `SELECT … LIMIT` that claims rows to change, so that workers on several
    /// nodes share them instead of waiting on each other.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The two-argument maximum: SQLite's scalar `MAX`, PostgreSQL's `GREATEST`.
    pub(crate) fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// The column a user's usage records are keyed by in time: SQLite indexes an integer
    /// copy of `created_at` (`created_ns`, see migration 0005); PostgreSQL's TIMESTAMPTZ is
    /// already an integer.
    pub(crate) fn usage_time_column(self) -> &'static str {
        match self {
            Dialect::Sqlite => "created_ns",
            Dialect::Postgres => "created_at",
        }
    }

    /// `at` as a value comparable with [`Dialect::usage_time_column`].
    pub(crate) fn usage_time(self, at: DateTime<Utc>) -> Arg<'static> {
        match self {
            Dialect::Sqlite => Arg::Int(Some(unix_nanos(&at))),
            Dialect::Postgres => Arg::Time(Some(at)),
        }
    }
}

/// An instant as nanoseconds since the Unix epoch (SQLite's `created_ns`). Instants beyond
/// what 64 bits hold (before 1677, after 2262) saturate: as a bound they still fall before or
/// after every record.
pub(crate) fn unix_nanos(at: &DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A value bound to a placeholder. Every variant carries its type, NULL included, because
/// PostgreSQL wants to know the type of a NULL.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    /// BIGINT / INTEGER.
    Int(Option<i64>),
    /// BOOLEAN (SQLite: 0 or 1).
    Bool(bool),
    /// TEXT.
    Text(Option<Cow<'a, str>>),
    /// BYTEA / BLOB.
    Bytes(Cow<'a, [u8]>),
    /// TIMESTAMPTZ (SQLite: RFC 3339 text, see `sqlite::connection::timestamp`).
    Time(Option<DateTime<Utc>>),
    /// JSONB (SQLite: its text).
    Json(Cow<'a, serde_json::Value>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(Cow::Borrowed(v))
    }
}
impl From<DateTime<Utc>> for Arg<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Time(Some(v))
    }
}
impl From<Option<DateTime<Utc>>> for Arg<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Time(v)
    }
}
impl<'a> From<&'a serde_json::Value> for Arg<'a> {
    fn from(v: &'a serde_json::Value) -> Self {
        Arg::Json(Cow::Borrowed(v))
    }
}

/// A statement and its values. Built either whole (`Query::new(SQL).bind(a).bind(b)`, with
/// `$1`, `$2` in the text) or piece by piece for dynamic filters (`push`, `push_bind`, which
/// numbers its placeholder itself).
#[derive(Debug, Clone)]
pub(crate) struct Query<'a> {
    sql: Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

impl<'a> Query<'a> {
    /// A statement whose placeholders are already in its text.
    pub(crate) fn new(sql: impl Into<Cow<'a, str>>) -> Query<'a> {
        Query {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, value: impl Into<Arg<'a>>) -> Query<'a> {
        self.args.push(value.into());
        self
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Query<'a> {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends a placeholder for `value`, numbered after the ones bound so far.
    pub(crate) fn push_bind(&mut self, value: impl Into<Arg<'a>>) -> &mut Query<'a> {
        self.args.push(value.into());
        let placeholder = format!("${}", self.args.len());
        self.sql.to_mut().push_str(&placeholder);
        self
    }

    /// The statement's text.
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The values, in placeholder order.
    pub(crate) fn args(&self) -> &[Arg<'a>] {
        &self.args
    }
}

/// A result row, read by column name. A value that does not decode as asked is corrupt data.
pub(crate) trait Row {
    /// An integer.
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A boolean (SQLite: an integer).
    fn flag(&self, column: &str) -> Result<Option<bool>, StoreError>;
    /// Text.
    fn text(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// Bytes.
    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// An instant (SQLite: RFC 3339 text).
    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// JSON (SQLite: its text).
    fn json(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError>;
}

/// A type a column can be read as: `get::<i64>(row, "id")`, `get::<Option<String>>(…)`.
pub(crate) trait Column: Sized {
    /// Reads `column`; NULL is an error unless `Self` is an `Option`.
    fn read(row: &dyn Row, column: &str) -> Result<Self, StoreError>;
}

fn required<T>(column: &str, value: Option<T>) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("{column}: unexpected NULL")))
}

macro_rules! column_types {
    ($($ty:ty => $getter:ident),* $(,)?) => {$(
        impl Column for $ty {
            fn read(row: &dyn Row, column: &str) -> Result<Self, StoreError> {
                required(column, row.$getter(column)?)
            }
        }
        impl Column for Option<$ty> {
            fn read(row: &dyn Row, column: &str) -> Result<Self, StoreError> {
                row.$getter(column)
            }
        }
    )*};
}

column_types! {
    i64 => int,
    bool => flag,
    String => text,
    Vec<u8> => bytes,
    DateTime<Utc> => time,
    serde_json::Value => json,
}

/// Reads `column` of `row` as `T`.
pub(crate) fn get<T: Column>(row: &dyn Row, column: &str) -> Result<T, StoreError> {
    T::read(row, column)
}

/// What a connection calls for each row it reads.
pub(crate) type RowSink<'s> = dyn FnMut(&dyn Row) -> Result<(), StoreError> + Send + 's;

/// A connection of either backend: inside the write transaction of [`backend::Backend::write`],
/// or a reader's.
#[async_trait]
pub(crate) trait Conn: Send {
    /// Which database this is.
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns the rows it changed.
    async fn execute(&mut self, query: &Query<'_>) -> Result<u64, StoreError>;

    /// Runs a statement and hands each row to `sink`, in order, as it is read.
    async fn for_each(
        &mut self,
        query: &Query<'_>,
        sink: &mut RowSink<'_>,
    ) -> Result<(), StoreError>;
}

/// Every row of `query`, as `map` reads it.
pub(crate) async fn fetch_all<T: Send>(
    conn: &mut dyn Conn,
    query: &Query<'_>,
    map: fn(&dyn Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    conn.for_each(query, &mut |row| {
        found.push(map(row)?);
        Ok(())
    })
    .await?;
    Ok(found)
}

/// The first row of `query`, if any.
pub(crate) async fn fetch_optional<T: Send>(
    conn: &mut dyn Conn,
    query: &Query<'_>,
    map: fn(&dyn Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut found = None;
    conn.for_each(query, &mut |row| {
        if found.is_none() {
            found = Some(map(row)?);
        }
        Ok(())
    })
    .await?;
    Ok(found)
}

/// The first row of `query`; none is [`StoreError::NotFound`].
pub(crate) async fn fetch_one<T: Send>(
    conn: &mut dyn Conn,
    query: &Query<'_>,
    map: fn(&dyn Row) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    fetch_optional(conn, query, map)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The integer in the first column named `n` of the first row (`SELECT COUNT(*) AS n …`).
pub(crate) async fn fetch_count(conn: &mut dyn Conn, query: &Query<'_>) -> Result<i64, StoreError> {
    fetch_one(conn, query, |row| get(row, "n")).await
}
