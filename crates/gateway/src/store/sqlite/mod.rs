//! SQLite store: the embedded default, WAL mode. The metering hot path (reservation fast path,
//! settlement) runs on its own connection, inline when idle and with group commit under load
//! (see `writer.rs`), and the request path's reads inline too (see `readers.rs`); other writes
//! go through one sqlx writer connection, other reads through a pool of readers.

mod audit;
mod backup;
mod checkpoint;
mod cycles;
mod instants;
mod keys;
mod metering;
mod readers;
mod reports;
mod rows;
mod usage;
mod users;
mod voices;
mod writer;

#[cfg(test)]
mod time_key_tests;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::closing::close_pool;
use super::*;
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::cycle::BillingPeriod;
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStats, UsageStatus, User, Voice};
pub use backup::BackupSummary;

/// Migrations for SQLite, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    writer: writer::Writer,
    readers: std::sync::Arc<readers::Readers>,
    _checkpointer: checkpoint::Checkpointer,
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("unique"),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file. Does not migrate.
    pub async fn open(path: &Path, readers: u32) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db_err)?
            .filename(path)
            .create_if_missing(true)
            // A new database gets 512-byte pages (an existing file keeps its own). A metered
            // request changes a few small rows, yet writes each page it touches to the log
            // whole, about nine per request: at 4 KiB pages that was 37 KB, and syncing it at
            // every checkpoint was most of a single client's p99 (1.2–1.3 ms against 0.8–0.9).
            // Rows here are a few hundred bytes; longer error messages overflow, which is rare.
            .page_size(512)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000")
            // Checkpoints run on their own thread, not inside a request's commit.
            .pragma("wal_autocheckpoint", "0");
        // A connection to a local file does not drop; sqlx's ping before every hand-out
        // would only add a trip to the connection's worker thread.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(readers.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        let (growth, checkpoint_calls) = checkpoint::LogGrowth::new();
        let writer = writer::Writer::start(path, growth.clone())?;
        let pause = writer.pause_handle();
        let checkpointer = checkpoint::Checkpointer::start(path, pause, growth, checkpoint_calls)?;
        let readers = std::sync::Arc::new(readers::Readers::open(path)?);
        Ok(SqliteStore {
            write,
            read,
            writer,
            readers,
            _checkpointer: checkpointer,
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.write).await
    }

    /// Names of embedded migrations not yet applied, e.g. `0002_local_voices`.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied: Vec<(i64,)> =
            match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.read)
                .await
            {
                Ok(rows) => rows,
                Err(sqlx::Error::Database(_)) => Vec::new(),
                Err(e) => return Err(db_err(e)),
            };
        let applied: Vec<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(schema::pending(&MIGRATOR, &applied))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        close_pool(&self.write).await;
        close_pool(&self.read).await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        [("write", &self.write), ("read", &self.read)]
            .into_iter()
            .map(|(name, pool)| {
                let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
                PoolStats {
                    name,
                    in_use: pool.size().saturating_sub(idle),
                    idle,
                }
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn key_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ('key_pepper', ?) ON CONFLICT (name) DO NOTHING")
            .bind(hex::encode(candidate))
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM settings WHERE name = 'key_pepper'")
                .fetch_one(&self.write)
                .await
                .map_err(db_err)?;
        hex::decode(value).map_err(|e| StoreError::Corrupt(format!("key_pepper: {e}")))
    }

    async fn create_user(
        &self,
        user: NewUser,
        key: NewKey,
    ) -> Result<(User, ApiKeyRecord), StoreError> {
        users::create(&self.write, user, key, None).await
    }

    async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        users::get(&self.read, id).await
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, i64), StoreError> {
        users::list(&self.read, filter, page).await
    }

    async fn update_user(&self, id: i64, patch: UserPatch) -> Result<User, StoreError> {
        users::update(&self.write, id, patch, None).await
    }

    async fn create_key(&self, user_id: i64, key: NewKey) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        users::get(&mut *tx, user_id).await?;
        let record = keys::insert(&mut tx, user_id, key).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn list_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        keys::list(&self.read, user_id).await
    }

    async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyRecord, StoreError> {
        keys::revoke(&self.write, key_id, None).await
    }

    async fn find_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError> {
        self.readers.find_key(hash)
    }

    async fn touch_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        keys::touch(&self.write, key_id, at).await
    }

    async fn create_voice(&self, voice: NewVoice) -> Result<Voice, StoreError> {
        voices::create(&self.write, voice, None).await
    }

    async fn list_voices(&self, filter: &VoiceFilter) -> Result<Vec<Voice>, StoreError> {
        voices::list(&self.read, filter).await
    }

    async fn find_voice(&self, friendly_name: &str) -> Result<Option<Voice>, StoreError> {
        self.readers.find_voice(friendly_name)
    }

    async fn touch_cloned_voice(
        &self,
        voice_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        voices::touch_cloned(&self.write, voice_id, expires_at).await
    }

    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let now = Utc::now();
        match self
            .writer
            .reserve(usage, estimate_ms, lease_until, now)
            .await?
        {
            writer::FastReserve::Reserved => Ok(Reservation::Reserved),
            // Cycle rollover, quota refusal and inactive users stay on the full path.
            writer::FastReserve::NeedsSlowPath => {
                metering::reserve(&self.write, usage, estimate_ms, lease_until).await
            }
        }
    }

    async fn extend_lease(
        &self,
        usage_id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        metering::extend_lease(&self.write, usage_id, lease_until).await
    }

    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError> {
        self.writer.settle(usage_id, settlement, Utc::now()).await
    }

    async fn settle_unreserved(
        &self,
        usage: &UsageContext,
        settlement: Settlement,
    ) -> Result<Settled, StoreError> {
        metering::settle_unreserved(&self.write, usage, settlement).await
    }

    async fn record_refusal(
        &self,
        usage: &UsageContext,
        status: UsageStatus,
        error_code: &str,
        error_message: &str,
    ) -> Result<(), StoreError> {
        metering::record_refusal(&self.write, usage, status, error_code, error_message).await
    }

    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        metering::reap_expired(&self.write, now).await
    }

    async fn list_usage(&self, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, StoreError> {
        usage::list(&self.read, user_id, page).await
    }

    async fn usage_stats(&self, user_id: i64) -> Result<UsageStats, StoreError> {
        usage::stats(&self.read, user_id).await
    }

    // Billing cycles and audit

    async fn create_user_audited(
        &self,
        user: NewUser,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<(User, ApiKeyRecord), StoreError> {
        users::create(&self.write, user, key, Some(audit)).await
    }

    async fn update_user_audited(
        &self,
        id: i64,
        patch: UserPatch,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        users::update(&self.write, id, patch, Some(audit)).await
    }

    async fn create_key_audited(
        &self,
        user_id: i64,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        users::get(&mut *tx, user_id).await?;
        let record = keys::insert(&mut tx, user_id, key).await?;
        audit::insert(&mut tx, &audit.target(&record.id)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn revoke_key_audited(
        &self,
        key_id: &str,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError> {
        keys::revoke(&self.write, key_id, Some(audit)).await
    }

    async fn create_voice_audited(
        &self,
        voice: NewVoice,
        audit: AuditEntry,
    ) -> Result<Voice, StoreError> {
        voices::create(&self.write, voice, Some(audit)).await
    }

    async fn reset_cycle(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        cycles::reset(&self.write, user_id, now, audit).await
    }

    async fn roll_over_cycles(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        cycles::roll_over_due(&self.write, now).await
    }

    async fn list_billing_periods(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<BillingPeriod>, StoreError> {
        cycles::list_periods(&self.read, user_id, page).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        audit::list(&self.read, filter, page).await
    }

    // Reports
    fn usage_report(
        &self,
        query: &crate::store::reports::UsageReportQuery,
    ) -> futures::stream::BoxStream<
        'static,
        Result<crate::store::reports::UsageReportRow, StoreError>,
    > {
        self::reports::usage(&self.read, query)
    }
}
