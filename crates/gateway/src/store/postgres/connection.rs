//! The shared SQL run on PostgreSQL: [`PgConn`] is the [`Conn`] of the `sql` operations, over
//! an sqlx connection (pooled, in a transaction, or one of the metering connections).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow};
use sqlx::{PgConnection, Postgres};

use super::gate::Gate;
use crate::store::sql::{Arg, Conn, Dialect, Query, Row, RowSink};
use crate::store::StoreError;

/// An sqlx error of a statement as the store reports it.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("unique"),
        // The connection broke while the statement was out: it may have been applied.
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
            StoreError::Unanswered(e.to_string())
        }
        // Everything else (pool timeout, statement timeout, server errors) means the
        // database cannot do the job right now, and did not do it.
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// An sqlx error of getting a connection: nothing was sent.
pub(crate) fn connect_err(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// `query` as sqlx's, its values bound with their PostgreSQL types.
pub(super) fn prepared<'q>(query: &'q Query<'_>) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    let mut prepared = sqlx::query(query.sql());
    for arg in query.args() {
        prepared = match arg {
            Arg::Int(v) => prepared.bind(*v),
            Arg::Bool(v) => prepared.bind(*v),
            Arg::Text(v) => prepared.bind(v.as_deref()),
            Arg::Bytes(v) => prepared.bind(v.as_ref()),
            Arg::Time(v) => prepared.bind(*v),
            Arg::Json(v) => prepared.bind(sqlx::types::Json(v.as_ref())),
        };
    }
    prepared
}

/// Runs `query`, keeping sqlx's error (the metering connections look at it).
pub(super) async fn execute_raw(
    conn: &mut PgConnection,
    query: &Query<'_>,
) -> Result<PgQueryResult, sqlx::Error> {
    prepared(query).execute(conn).await
}

/// Runs `query` and hands each row to `sink`, keeping sqlx's error.
pub(super) async fn for_each_raw(
    conn: &mut PgConnection,
    query: &Query<'_>,
    sink: &mut RowSink<'_>,
) -> Result<Result<(), StoreError>, sqlx::Error> {
    let mut rows = prepared(query).fetch(conn);
    while let Some(row) = rows.try_next().await? {
        if let Err(e) = sink(&row) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

fn read<'r, T>(row: &'r PgRow, column: &str) -> Result<Option<T>, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    sqlx::Row::try_get(row, column).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

impl Row for PgRow {
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        read(self, column)
    }

    fn flag(&self, column: &str) -> Result<Option<bool>, StoreError> {
        read(self, column)
    }

    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        read(self, column)
    }

    fn bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read(self, column)
    }

    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        read(self, column)
    }

    fn json(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
        read::<sqlx::types::Json<serde_json::Value>>(self, column).map(|v| v.map(|j| j.0))
    }
}

/// The shared operations' connection on PostgreSQL; what it finds goes to the gate.
pub(super) struct PgConn<'a> {
    conn: &'a mut PgConnection,
    gate: &'a Gate,
}

impl<'a> PgConn<'a> {
    pub(super) fn new(conn: &'a mut PgConnection, gate: &'a Gate) -> PgConn<'a> {
        PgConn { conn, gate }
    }
}

#[async_trait]
impl Conn for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, query: &Query<'_>) -> Result<u64, StoreError> {
        let done = execute_raw(self.conn, query).await;
        self.gate.observe(&done);
        done.map(|done| done.rows_affected()).map_err(db_err)
    }

    async fn for_each(
        &mut self,
        query: &Query<'_>,
        sink: &mut RowSink<'_>,
    ) -> Result<(), StoreError> {
        let done = for_each_raw(self.conn, query, sink).await;
        self.gate.observe(&done);
        done.map_err(db_err)?
    }
}
