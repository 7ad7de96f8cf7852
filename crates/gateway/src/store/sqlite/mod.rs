//! SQLite, the embedded default, through one driver (rusqlite) for all of its work, in WAL
//! mode:
//!
//! - every write on one connection ([`writer`]): inline on the caller's thread when idle,
//!   group-committed on the writer thread under load;
//! - reads on a few read-only connections ([`readers`]): point lookups of the request path
//!   inline, the rest on blocking threads;
//! - WAL checkpoints on a thread of their own ([`checkpoint`]);
//! - migrations ([`migrate`]) on the writer, backups ([`backup`]) on a reader.
//!
//! Every connection is opened by [`connection::open`], the one place that sets PRAGMAs.

mod backup;
mod batch;
mod checkpoint;
mod connection;
mod metering;
mod migrate;
mod readers;
mod reports;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod time_key_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::runtime::supervision::Supervisor;
use crate::store::reports::{UsageReportQuery, UsageReportRow};
use crate::store::schema;
use crate::store::sql::backend::{Backend, Work};
use crate::store::{PoolStats, Reservation, Settled, Settlement, StoreError, UsageContext};
pub use backup::BackupSummary;
pub use connection::Synchronous;
pub use migrate::MIGRATOR;

/// How to open the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file (created when missing).
    pub path: PathBuf,
    /// Reader connections at most.
    pub readers: u32,
    /// How much a commit waits for the disk.
    pub synchronous: Synchronous,
}

/// The SQLite backend.
pub struct SqliteBackend {
    writer: writer::Writer,
    readers: Arc<readers::Readers>,
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteBackend {
    /// Opens (creating when missing) the database file and starts the writer and checkpoint
    /// threads, whose heartbeats go to `supervisor`. Does not migrate.
    pub(crate) fn open(
        options: &SqliteOptions,
        supervisor: &Supervisor,
    ) -> Result<SqliteBackend, StoreError> {
        let path: &Path = &options.path;
        let open = |role| {
            connection::open(path, role, options.synchronous).map_err(|e| connection::store_err(&e))
        };
        // The writer's connection first: it creates the file and sets it to WAL mode.
        let write = open(connection::Role::Write)?;
        let (growth, checkpoint_calls) = checkpoint::LogGrowth::new();
        let writer = writer::Writer::start(
            write,
            growth.clone(),
            supervisor.heartbeat("sqlite_writer", Duration::from_secs(1)),
        )?;
        let checkpointer = checkpoint::Checkpointer::start(
            path,
            options.synchronous,
            writer.pause_handle(),
            growth,
            checkpoint_calls,
            supervisor.heartbeat("sqlite_checkpointer", checkpoint::INTERVAL),
        )?;
        let readers = readers::Readers::open(path, options.readers)?;
        Ok(SqliteBackend {
            writer,
            readers,
            _checkpointer: checkpointer,
        })
    }

    /// Applies pending migrations, all in one transaction.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        self.writer.run(migrate::apply).await
    }

    /// Names of embedded migrations not yet applied, e.g. `0002_local_voices`.
    pub(crate) async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let mut lease = self.readers.lease().await?;
        let applied = migrate::applied(lease.conn()?)?;
        Ok(schema::pending(&MIGRATOR, &applied))
    }

    /// A cheap round trip, for readiness.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let mut lease = self.readers.lease().await?;
        lease
            .conn()?
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(|e| connection::store_err(&e))
    }

    /// Writes a consistent copy to `dest` (which must not exist) and verifies it.
    pub(crate) async fn backup_into(&self, dest: &Path) -> Result<BackupSummary, StoreError> {
        let mut lease = self.readers.lease().await?;
        let dest = dest.to_path_buf();
        tokio::task::spawn_blocking(move || backup::backup_into(lease.conn()?, &dest))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite backup task: {e}")))?
    }

    /// The writer and the readers, for the pool gauge.
    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        let (in_use, idle) = self.readers.stats();
        let writing = u32::from(self.writer.busy());
        vec![
            PoolStats {
                name: "write",
                in_use: writing,
                idle: 1 - writing,
            },
            PoolStats {
                name: "read",
                in_use,
                idle,
            },
        ]
    }

    /// Refuses new reads; the threads end when the last handle goes.
    pub(crate) fn close(&self) {
        self.readers.close();
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn write<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        self.writer
            .run(move |conn| connection::run_on(conn, work))
            .await
    }

    async fn read<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        self.readers.blocking(work).await
    }

    async fn lookup<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        self.readers.inline(work).await
    }

    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        metering::reserve(&self.writer, usage, estimate_ms, lease_until).await
    }

    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError> {
        metering::settle(&self.writer, usage_id, settlement).await
    }

    fn usage_report(
        &self,
        query: &UsageReportQuery,
    ) -> BoxStream<'static, Result<UsageReportRow, StoreError>> {
        reports::usage(&self.readers, query)
    }
}
