//! PostgreSQL store: the scale-out backend. One pool shared by every gateway node's requests;
//! all cross-node guarantees come from row locks and conditional updates, never from memory.

mod audit;
mod cycles;
mod keys;
mod metering;
mod metering_connections;
mod reports;
mod rows;
mod usage;
mod users;
mod voices;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use super::closing::close_pool;
use super::*;
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::cycle::BillingPeriod;
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStats, UsageStatus, User, Voice};
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

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Where every synthesis's reservation and settlement run.
    metering: Arc<MeteringConnections>,
    /// Options for the dedicated migration connection (no statement timeout); boxed because
    /// they are large and rarely used.
    migrate_options: Arc<PgConnectOptions>,
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict("unique"),
        // Everything else (I/O, TLS, pool timeout, statement timeout, server errors) means the
        // database cannot do the job right now.
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// A pooled connection idle this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (honouring `sslmode`, `sslrootcert`, … in it). Does not migrate.
    pub async fn open(url: &str, settings: PgPoolSettings) -> Result<PostgresStore, StoreError> {
        let base = PgConnectOptions::from_str(url)
            .map_err(db_err)?
            .application_name("odeadev-tts");
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = base.clone().options([("statement_timeout", timeout_ms)]);
        let budget = settings.max_connections.max(1);
        let metering_size = if budget >= 2 { budget / 2 } else { 0 };
        let pool = PgPoolOptions::new()
            .max_connections(budget - metering_size)
            .acquire_timeout(settings.acquire_timeout)
            // sqlx pings every connection it hands out by default: a round trip before each
            // query. Only a connection idle long enough for the server or a middlebox to have
            // dropped it is checked; one that dies in use fails its statement with a 503 and
            // is discarded.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        let metering = Arc::new(MeteringConnections::new(
            options,
            metering_size,
            settings.acquire_timeout,
            pool.clone(),
        ));
        // Waiting for another node's migration lock, or a long migration, must not be cut off
        // by the request-sized statement timeout.
        let migrate_options = Arc::new(base.options([("statement_timeout", "0")]));
        Ok(PostgresStore {
            pool,
            metering,
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
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let mut conn = self.migrate_options.connect().await?;
        let result = MIGRATOR.run(&mut conn).await;
        let _ = conn.close().await;
        result
    }

    /// Names of embedded migrations not yet applied, e.g. `0002_local_voices`.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
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
}

#[async_trait]
impl Store for PostgresStore {
    async fn close(&self) {
        self.metering.close().await;
        close_pool(&self.pool).await;
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
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

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn key_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        // First writer wins; every node then reads the same pepper.
        sqlx::query("INSERT INTO settings (name, value) VALUES ('key_pepper', $1) ON CONFLICT (name) DO NOTHING")
            .bind(hex::encode(candidate))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM settings WHERE name = 'key_pepper'")
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        hex::decode(value).map_err(|e| StoreError::Corrupt(format!("key_pepper: {e}")))
    }

    async fn create_user(
        &self,
        user: NewUser,
        key: NewKey,
    ) -> Result<(User, ApiKeyRecord), StoreError> {
        users::create(&self.pool, user, key, None).await
    }

    async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        users::get_pooled(&self.pool, id).await
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, i64), StoreError> {
        users::list(&self.pool, filter, page).await
    }

    async fn update_user(&self, id: i64, patch: UserPatch) -> Result<User, StoreError> {
        users::update(&self.pool, id, patch, None).await
    }

    async fn create_key(&self, user_id: i64, key: NewKey) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Share-lock the owner so it cannot vanish between the check and the insert.
        users::get(&mut tx, user_id, " FOR SHARE").await?;
        let record = keys::insert(&mut tx, user_id, key).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(record)
    }

    async fn list_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        keys::list(&self.pool, user_id).await
    }

    async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyRecord, StoreError> {
        keys::revoke(&self.pool, key_id, None).await
    }

    async fn find_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError> {
        keys::find(&self.pool, hash).await
    }

    async fn touch_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        keys::touch(&self.pool, key_id, at).await
    }

    async fn create_voice(&self, voice: NewVoice) -> Result<Voice, StoreError> {
        voices::create(&self.pool, voice, None).await
    }

    async fn list_voices(&self, filter: &VoiceFilter) -> Result<Vec<Voice>, StoreError> {
        voices::list(&self.pool, filter).await
    }

    async fn find_voice(&self, friendly_name: &str) -> Result<Option<Voice>, StoreError> {
        voices::find(&self.pool, friendly_name).await
    }

    async fn touch_cloned_voice(
        &self,
        voice_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        voices::touch_cloned(&self.pool, voice_id, expires_at).await
    }

    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        metering::reserve(&self.pool, &self.metering, usage, estimate_ms, lease_until).await
    }

    async fn extend_lease(
        &self,
        usage_id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        metering::extend_lease(&self.pool, usage_id, lease_until).await
    }

    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError> {
        metering::settle(&self.pool, &self.metering, usage_id, settlement).await
    }

    async fn settle_unreserved(
        &self,
        usage: &UsageContext,
        settlement: Settlement,
    ) -> Result<Settled, StoreError> {
        metering::settle_unreserved(&self.pool, usage, settlement).await
    }

    async fn record_refusal(
        &self,
        usage: &UsageContext,
        status: UsageStatus,
        error_code: &str,
        error_message: &str,
    ) -> Result<(), StoreError> {
        metering::record_refusal(&self.pool, usage, status, error_code, error_message).await
    }

    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        metering::reap_expired(&self.pool, now).await
    }

    async fn list_usage(&self, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, StoreError> {
        usage::list(&self.pool, user_id, page).await
    }

    async fn usage_stats(&self, user_id: i64) -> Result<UsageStats, StoreError> {
        usage::stats(&self.pool, user_id).await
    }

    // Billing cycles and audit

    async fn create_user_audited(
        &self,
        user: NewUser,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<(User, ApiKeyRecord), StoreError> {
        users::create(&self.pool, user, key, Some(audit)).await
    }

    async fn update_user_audited(
        &self,
        id: i64,
        patch: UserPatch,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        users::update(&self.pool, id, patch, Some(audit)).await
    }

    async fn create_key_audited(
        &self,
        user_id: i64,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Share-lock the owner so it cannot vanish between the check and the insert.
        users::get(&mut tx, user_id, " FOR SHARE").await?;
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
        keys::revoke(&self.pool, key_id, Some(audit)).await
    }

    async fn create_voice_audited(
        &self,
        voice: NewVoice,
        audit: AuditEntry,
    ) -> Result<Voice, StoreError> {
        voices::create(&self.pool, voice, Some(audit)).await
    }

    async fn reset_cycle(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        cycles::reset(&self.pool, user_id, now, audit).await
    }

    async fn roll_over_cycles(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        cycles::roll_over_due(&self.pool, now).await
    }

    async fn list_billing_periods(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<BillingPeriod>, StoreError> {
        cycles::list_periods(&self.pool, user_id, page).await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        audit::list(&self.pool, filter, page).await
    }

    // Reports
    fn usage_report(
        &self,
        query: &crate::store::reports::UsageReportQuery,
    ) -> futures::stream::BoxStream<
        'static,
        Result<crate::store::reports::UsageReportRow, StoreError>,
    > {
        self::reports::usage(&self.pool, query)
    }
}
