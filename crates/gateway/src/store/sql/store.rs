//! The one implementation of [`Store`]: each operation runs its shared SQL on the backend's
//! connection ([`Backend::write`] for changes, [`Backend::read`] for reads), or hands over to
//! the backend's own hot path.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::FutureExt;

use super::backend::Backend;
use super::{audit, cycles, keys, metering, usage, users, voices, Conn, Query};
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::cycle::BillingPeriod;
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStats, User, Voice};
use crate::store::reports::{UsageReportQuery, UsageReportRow};
use crate::store::*;

/// The store over a backend.
pub(crate) struct SqlStore<B> {
    backend: B,
}

impl<B: Backend> SqlStore<B> {
    /// The store over `backend`.
    pub(crate) fn new(backend: B) -> SqlStore<B> {
        SqlStore { backend }
    }

    /// The backend, for what the lifecycle handle does beside the operations.
    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.backend.write(Box::new(work)).await
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.backend.read(Box::new(work)).await
    }

    async fn lookup<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.backend.lookup(Box::new(work)).await
    }
}

#[async_trait]
impl<B: Backend> Store for SqlStore<B> {
    async fn key_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let candidate = hex::encode(candidate);
        let stored: String = self
            .write(move |c| {
                async move {
                    // First writer wins; every node then reads the same pepper.
                    let insert = Query::new(
                        "INSERT INTO settings (name, value) VALUES ('key_pepper', $1) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(candidate);
                    c.execute(&insert).await?;
                    let select = Query::new("SELECT value FROM settings WHERE name = 'key_pepper'");
                    super::fetch_one(c, &select, |row| super::get(row, "value")).await
                }
                .boxed()
            })
            .await?;
        hex::decode(stored).map_err(|e| StoreError::Corrupt(format!("key_pepper: {e}")))
    }

    async fn create_user(
        &self,
        user: NewUser,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<(User, ApiKeyRecord), StoreError> {
        self.write(move |c| users::create(c, user, key, audit).boxed())
            .await
    }

    async fn get_user(&self, id: i64) -> Result<User, StoreError> {
        self.read(move |c| users::get_user(c, id, "").boxed()).await
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, i64), StoreError> {
        let filter = filter.clone();
        self.read(move |c| async move { users::list(c, &filter, page).await }.boxed())
            .await
    }

    async fn update_user(
        &self,
        id: i64,
        patch: UserPatch,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        self.write(move |c| users::update(c, id, patch, audit).boxed())
            .await
    }

    async fn create_key(
        &self,
        user_id: i64,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError> {
        self.write(move |c| keys::create(c, user_id, key, audit).boxed())
            .await
    }

    async fn list_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read(move |c| keys::list(c, user_id).boxed()).await
    }

    async fn revoke_key(
        &self,
        key_id: &str,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError> {
        let key_id = key_id.to_owned();
        self.write(move |c| async move { keys::revoke(c, &key_id, audit).await }.boxed())
            .await
    }

    async fn find_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError> {
        let hash = hash.to_vec();
        self.lookup(move |c| async move { keys::find(c, &hash).await }.boxed())
            .await
    }

    async fn touch_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let key_id = key_id.to_owned();
        self.write(move |c| async move { keys::touch(c, &key_id, at).await }.boxed())
            .await
    }

    async fn create_voice(&self, voice: NewVoice, audit: AuditEntry) -> Result<Voice, StoreError> {
        self.write(move |c| voices::create(c, voice, audit).boxed())
            .await
    }

    async fn list_voices(&self, filter: &VoiceFilter) -> Result<Vec<Voice>, StoreError> {
        let filter = filter.clone();
        self.read(move |c| async move { voices::list(c, &filter).await }.boxed())
            .await
    }

    async fn find_voice(&self, friendly_name: &str) -> Result<Option<Voice>, StoreError> {
        let name = friendly_name.to_owned();
        self.lookup(move |c| async move { voices::find(c, &name).await }.boxed())
            .await
    }

    async fn touch_cloned_voice(
        &self,
        voice_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(move |c| voices::touch_cloned(c, voice_id, expires_at).boxed())
            .await
    }

    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        self.backend.reserve(usage, estimate_ms, lease_until).await
    }

    async fn extend_lease(
        &self,
        usage_id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let usage_id = usage_id.to_owned();
        self.write(move |c| {
            async move { metering::extend_lease(c, &usage_id, lease_until).await }.boxed()
        })
        .await
    }

    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError> {
        self.backend.settle(usage_id, settlement).await
    }

    async fn settle_unreserved(
        &self,
        usage: &UsageContext,
        settlement: Settlement,
    ) -> Result<Settled, StoreError> {
        let usage = usage.clone();
        self.write(move |c| {
            async move { metering::settle_unreserved(c, &usage, settlement).await }.boxed()
        })
        .await
    }

    async fn count_refusals(&self, counts: &[RefusalCount]) -> Result<(), StoreError> {
        let counts = counts.to_vec();
        self.write(move |c| async move { metering::count_refusals(c, &counts).await }.boxed())
            .await
    }

    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let reaped = self
                .write(move |c| metering::reap_batch(c, now).boxed())
                .await?;
            total += reaped;
            if reaped < metering::REAP_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn list_usage(&self, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, StoreError> {
        self.read(move |c| usage::list(c, user_id, page).boxed())
            .await
    }

    async fn usage_stats(&self, user_id: i64) -> Result<UsageStats, StoreError> {
        self.read(move |c| usage::stats(c, user_id).boxed()).await
    }

    async fn reset_cycle(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        self.write(move |c| cycles::reset(c, user_id, now, audit).boxed())
            .await
    }

    /// One short transaction per user, so the sweep never holds a lock for long.
    async fn roll_over_cycles(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut after = 0_i64;
        let mut closed = 0;
        loop {
            let due = self
                .read(move |c| cycles::due_users(c, now, after).boxed())
                .await?;
            for &user_id in &due {
                if self
                    .write(move |c| cycles::roll_if_due(c, user_id, now).boxed())
                    .await?
                {
                    closed += 1;
                }
            }
            match due.last() {
                Some(&last) if due.len() as i64 == cycles::SWEEP_BATCH => after = last,
                _ => return Ok(closed),
            }
        }
    }

    async fn list_billing_periods(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<BillingPeriod>, StoreError> {
        self.read(move |c| cycles::list_periods(c, user_id, page).boxed())
            .await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        let filter = filter.clone();
        self.read(move |c| async move { audit::list(c, &filter, page).await }.boxed())
            .await
    }

    fn usage_report(
        &self,
        query: &UsageReportQuery,
    ) -> futures::stream::BoxStream<'static, Result<UsageReportRow, StoreError>> {
        self.backend.usage_report(query)
    }
}
