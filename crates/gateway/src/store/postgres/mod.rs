//! PostgreSQL, the scale-out backend: a pool for the shared operations, and connections of
//! its own for the metering hot path. All cross-node guarantees come from row locks and
//! conditional updates, never from memory.

mod connection;
mod gate;
mod metering;
mod metering_connections;
mod reports;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use super::closing::close_pool;
use super::reports::{UsageReportQuery, UsageReportRow};
use super::schema;
use super::sql::backend::{Backend, Work};
use super::{PoolStats, Reservation, Settled, Settlement, StoreError, UsageContext};
use connection::{connect_err, db_err, PgConn};
use gate::Gate;
use metering_connections::MeteringConnections;

/// Migrations for PostgreSQL, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connection pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PgPoolSettings {
    /// Connections this node opens at most: half (rounded down) for the metering statements,
    /// the rest for the shared pool; a budget of one is not split.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// Server-side limit on one statement (`statement_timeout`, per connection).
    pub statement_timeout: Duration,
}

/// The PostgreSQL backend.
pub struct PostgresBackend {
    pool: PgPool,
    /// Where every synthesis's reservation and settlement run.
    metering: Arc<MeteringConnections>,
    /// Whether the database is known to be down, and every call's deadline.
    gate: Arc<Gate>,
    /// Options for the dedicated migration connection (no statement timeout); boxed because
    /// they are large and rarely used.
    migrate_options: Arc<PgConnectOptions>,
}

/// A pooled connection idle this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

impl PostgresBackend {
    /// Connects to `url` (honouring `sslmode`, `sslrootcert`, … in it). Does not migrate.
    pub(crate) async fn open(
        url: &str,
        settings: PgPoolSettings,
    ) -> Result<PostgresBackend, StoreError> {
        let base = PgConnectOptions::from_str(url)
            .map_err(db_err)?
            .application_name("odeadev-tts");
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = base.clone().options([("statement_timeout", timeout_ms)]);
        let budget = settings.max_connections.max(1);
        let gate = Arc::new(Gate::new(
            settings.statement_timeout + gate::DEADLINE_MARGIN,
        ));
        let outages = gate.clone();
        let metering_size = if budget >= 2 { budget / 2 } else { 0 };
        let pool = PgPoolOptions::new()
            .max_connections(budget - metering_size)
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings every connection it hands out by default: a round trip before each
            // query. Only a connection idle long enough for the server or a middlebox to have
            // dropped it is checked; one that dies in use fails its statement with a 503 and
            // is discarded.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                let opened = std::time::Instant::now().checked_sub(meta.age);
                let outage = opened.is_some_and(|at| outages.predates_last_outage(at));
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE || outage {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        let gate = Arc::new(Gate::new(
            settings.statement_timeout + gate::DEADLINE_MARGIN,
        ));
        let metering = Arc::new(MeteringConnections::new(
            options,
            metering_size,
            settings.acquire_timeout,
            pool.clone(),
            gate.clone(),
        ));
        // Waiting for another node's migration lock, or a long migration, must not be cut off
        // by the request-sized statement timeout.
        let migrate_options = Arc::new(base.options([("statement_timeout", "0")]));
        Ok(PostgresBackend {
            pool,
            metering,
            gate,
            migrate_options,
        })
    }

    /// Applies pending migrations; safe to run from several nodes at once.
    ///
    /// sqlx's PostgreSQL migrator holds `pg_advisory_lock` (keyed on the database name) from
    /// before it creates `_sqlx_migrations` until it is done, so concurrent runs queue and the
    /// later ones find nothing to do. It runs on a dedicated connection that is closed
    /// afterwards: the migrator does not unlock on error, and ending the session releases
    /// the lock whatever happened.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.migrate_options.connect().await.map_err(connect_err)?;
        let result = MIGRATOR.run(&mut conn).await;
        let _ = conn.close().await;
        result.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Names of embedded migrations not yet applied, e.g. `0002_local_voices`.
    pub(crate) async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied: Vec<(i64,)> =
            match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
            {
                Ok(rows) => rows,
                // 42P01 undefined_table: nothing was ever applied.
                Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42P01") => Vec::new(),
                Err(e) => return Err(db_err(e)),
            };
        let applied: Vec<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(schema::pending(&MIGRATOR, &applied))
    }

    /// A cheap round trip, for readiness; it goes to the database even while it is known to
    /// be down, and says when it is back.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        let Some(result) = self.gate.bounded(ping).await else {
            return Err(self.gate.timed_out());
        };
        self.gate.observe(&result);
        result.map(|_| ()).map_err(db_err)
    }

    /// A pooled connection, unless the database is known to be down.
    async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        self.gate.admit()?;
        let conn = self.pool.acquire().await;
        self.gate.connected(&conn);
        conn.map_err(connect_err)
    }

    /// The shared pool and the metering connections, for the pool gauge.
    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        let shared = PoolStats {
            name: "main",
            in_use: self.pool.size().saturating_sub(idle),
            idle,
        };
        std::iter::once(shared)
            .chain(self.metering.stats())
            .collect()
    }

    /// Closes every connection, so that the server sees each session end cleanly.
    pub(crate) async fn close(&self) {
        self.metering.close().await;
        close_pool(&self.pool).await;
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn write<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        let mut conn = self.acquire().await?;
        let gate = self.gate.as_ref();
        let transaction = async {
            let begun = sqlx::Connection::begin(&mut *conn).await;
            gate.observe(&begun);
            let mut tx = begun.map_err(db_err)?;
            match work(&mut PgConn::new(&mut tx, gate)).await {
                Ok(value) => {
                    let committed = tx.commit().await;
                    gate.observe(&committed);
                    committed.map_err(db_err)?;
                    Ok(value)
                }
                Err(e) => {
                    // Dropped unfinished, sqlx rolls the transaction back when the connection
                    // is next used; an explicit rollback says so at once.
                    let _ = tx.rollback().await;
                    Err(e)
                }
            }
        };
        match self.gate.bounded(transaction).await {
            Some(result) => result,
            None => {
                // Whatever state it is in, it must not serve another request.
                conn.close_on_drop();
                Err(self.gate.timed_out())
            }
        }
    }

    async fn read<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        let mut conn = self.acquire().await?;
        let gate = self.gate.as_ref();
        match self
            .gate
            .bounded(work(&mut PgConn::new(&mut conn, gate)))
            .await
        {
            Some(result) => result,
            None => {
                conn.close_on_drop();
                Err(self.gate.timed_out())
            }
        }
    }

    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        self.gate.admit()?;
        let fast =
            metering::reserve_fast(&self.metering, &self.gate, usage, estimate_ms, lease_until);
        // Timed out, the metering connection is dropped unfinished, which closes it.
        let reserved = self
            .gate
            .bounded(fast)
            .await
            .ok_or_else(|| self.gate.timed_out())??;
        if reserved {
            return Ok(Reservation::Reserved);
        }
        let usage = usage.clone();
        self.write(Box::new(move |c| {
            async move { super::sql::metering::reserve(c, &usage, estimate_ms, lease_until).await }
                .boxed()
        }))
        .await
    }

    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError> {
        self.gate.admit()?;
        let settling = metering::settle(&self.metering, &self.gate, usage_id, &settlement);
        let settled = self
            .gate
            .bounded(settling)
            .await
            .ok_or_else(|| self.gate.timed_out())??;
        if let Some(settled) = settled {
            return Ok(settled);
        }
        let usage_id = usage_id.to_owned();
        self.read(Box::new(move |c| {
            async move { super::sql::metering::remaining_after(c, &usage_id).await }.boxed()
        }))
        .await
    }

    fn usage_report(
        &self,
        query: &UsageReportQuery,
    ) -> BoxStream<'static, Result<UsageReportRow, StoreError>> {
        reports::usage(&self.pool, query)
    }
}
