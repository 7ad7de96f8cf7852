//! The database as the process holds it: opened once, migrated, checked, backed up and
//! closed here; its [`Store`] is what the services use.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::postgres::{PgPoolSettings, PostgresBackend};
use super::sql::store::SqlStore;
use super::sqlite::{BackupSummary, SqliteBackend, SqliteOptions};
use super::{PoolStats, Store, StoreError};
use crate::runtime::supervision::Supervisor;

/// Which database to open, and how.
#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// The embedded default.
    Sqlite(SqliteOptions),
    /// The scale-out backend.
    Postgres {
        /// Connection URL (may hold a password: never logged).
        url: String,
        /// Pool settings.
        pool: PgPoolSettings,
    },
}

#[derive(Clone)]
enum Opened {
    Sqlite(Arc<SqlStore<SqliteBackend>>),
    Postgres(Arc<SqlStore<PostgresBackend>>),
}

/// An open database (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Database {
    opened: Opened,
    supervisor: Supervisor,
}

impl Database {
    /// Opens the database (creating an SQLite file when missing); its background threads
    /// report to `supervisor`. Does not migrate.
    pub async fn open(config: &DatabaseConfig, supervisor: Supervisor) -> anyhow::Result<Database> {
        let opened = match config {
            DatabaseConfig::Sqlite(options) => {
                let backend = SqliteBackend::open(options, &supervisor).with_context(|| {
                    format!("cannot open SQLite database {}", options.path.display())
                })?;
                Opened::Sqlite(Arc::new(SqlStore::new(backend)))
            }
            DatabaseConfig::Postgres { url, pool } => {
                // The URL is not in the message: it may hold a password.
                let backend = PostgresBackend::open(url, *pool)
                    .await
                    .context("cannot connect to the PostgreSQL database in DATABASE_URL")?;
                Opened::Postgres(Arc::new(SqlStore::new(backend)))
            }
        };
        Ok(Database { opened, supervisor })
    }

    /// The store the services use.
    pub fn store(&self) -> Arc<dyn Store> {
        match &self.opened {
            Opened::Sqlite(store) => store.clone(),
            Opened::Postgres(store) => store.clone(),
        }
    }

    /// Where the database's background work reports (and the process's other background
    /// work may too).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// Applies pending migrations (safe from several nodes at once on PostgreSQL).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.opened {
            Opened::Sqlite(store) => store.backend().migrate().await,
            Opened::Postgres(store) => store.backend().migrate().await,
        }
        .context("applying database migrations")
    }

    /// Names of embedded migrations the database has not applied, oldest first.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        match &self.opened {
            Opened::Sqlite(store) => store.backend().pending_migrations().await,
            Opened::Postgres(store) => store.backend().pending_migrations().await,
        }
        .context("reading the applied database migrations")
    }

    /// Fails, naming the first missing migration, unless the schema is current.
    pub async fn require_current_schema(&self) -> anyhow::Result<()> {
        match self.pending_migrations().await?.first() {
            None => Ok(()),
            Some(first) => anyhow::bail!(
                "database schema is behind: migration {first} has not been applied; run odeadev-tts migrate"
            ),
        }
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.opened {
            Opened::Sqlite(store) => store.backend().ping().await,
            Opened::Postgres(store) => store.backend().ping().await,
        }
    }

    /// Connections by pool, for metrics.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        match &self.opened {
            Opened::Sqlite(store) => store.backend().pool_stats(),
            Opened::Postgres(store) => store.backend().pool_stats(),
        }
    }

    /// An online copy of an SQLite database at `dest` (which must not exist), verified;
    /// `None` for PostgreSQL, which `pg_dump` backs up.
    pub async fn backup_into(&self, dest: &Path) -> Option<Result<BackupSummary, StoreError>> {
        match &self.opened {
            Opened::Sqlite(store) => Some(store.backend().backup_into(dest).await),
            Opened::Postgres(_) => None,
        }
    }

    /// Closes the connections, so that a PostgreSQL server sees each session end cleanly
    /// instead of its socket dropping when the process exits.
    pub async fn close(&self) {
        match &self.opened {
            Opened::Sqlite(store) => store.backend().close(),
            Opened::Postgres(store) => store.backend().close().await,
        }
    }
}
