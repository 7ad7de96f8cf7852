//! Store port: one method per business operation, each owning its transaction.
//!
//! Quota arithmetic happens in the database with conditional updates, never as
//! read-modify-write in application memory, so it holds across any number of nodes.

mod closing;
pub mod postgres;
pub mod reports;
pub mod schema;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::cycle::BillingPeriod;
use crate::domain::options::Gender;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStats, UsageStatus, User, Voice};
use crate::engine::Provider;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is taken.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or failed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data we cannot read (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A new user and their first key.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Plan.
    pub plan: Plan,
    /// Role.
    pub role: Role,
}

/// A new API key (hash only).
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Name.
    pub name: String,
    /// Display prefix.
    pub prefix: String,
    /// HMAC of the key.
    pub hash: Vec<u8>,
    /// Optional expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New plan (quota follows unless it was set by hand).
    pub plan: Option<Plan>,
    /// New role.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// `Some(Some(ms))` sets a custom quota, `Some(None)` returns to the plan's.
    pub quota_ms: Option<Option<i64>>,
    /// Set used milliseconds (support corrections).
    pub used_ms: Option<i64>,
    /// `Some(Some(n))` overrides the plan's rpm, `Some(None)` clears the override.
    pub rpm_limit: Option<Option<i64>>,
    /// Same for concurrent requests.
    pub max_streams: Option<Option<i64>>,
    /// New name.
    pub name: Option<String>,
}

/// Filters for the user listing.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only this plan.
    pub plan: Option<Plan>,
    /// Only active or inactive users.
    pub is_active: Option<bool>,
}

/// A page of a listing.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// A new voice.
#[derive(Debug, Clone)]
pub struct NewVoice {
    /// Unique name.
    pub friendly_name: String,
    /// Engine.
    pub provider: Provider,
    /// Engine's id.
    pub engine_voice_id: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Free text.
    pub description: Option<String>,
    /// Cloned voice.
    pub is_cloned: bool,
    /// Expiry of a cloned voice.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Filters for the voice listing.
#[derive(Debug, Clone, Default)]
pub struct VoiceFilter {
    /// Only this language.
    pub language: Option<String>,
    /// Only this gender.
    pub gender: Option<Gender>,
    /// Include inactive voices (admin listing).
    pub include_inactive: bool,
}

/// What the request is, for its usage record.
#[derive(Debug, Clone)]
pub struct UsageContext {
    /// Record id (UUID v7), chosen by the caller.
    pub id: String,
    /// Who.
    pub user_id: i64,
    /// Key used.
    pub key_id: Option<String>,
    /// Voice, when resolved.
    pub voice_id: Option<i64>,
    /// Request id.
    pub request_id: String,
    /// Route template.
    pub endpoint: &'static str,
    /// Engine.
    pub engine: Option<&'static str>,
    /// Model.
    pub model_used: Option<String>,
    /// Characters.
    pub text_length: i64,
}

/// Result of trying to reserve quota.
#[derive(Debug, Clone)]
pub enum Reservation {
    /// Reserved; the usage record is `pending` until settled.
    Reserved,
    /// Not enough quota; a `quota_exceeded` record was written.
    Insufficient {
        /// `quota − used − reserved`, at the moment of refusal.
        available_ms: i64,
    },
}

/// How a pending request ended.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// Final status (success, error or cancelled).
    pub status: UsageStatus,
    /// Milliseconds to bill (at most the reservation).
    pub billed_ms: i64,
    /// Stable error code.
    pub error_code: Option<String>,
    /// Generic error text.
    pub error_message: Option<String>,
}

/// A settlement's error code and message, as a usage record stores them.
pub(crate) fn settlement_error(settlement: &Settlement) -> Option<(&str, &str)> {
    settlement
        .error_code
        .as_deref()
        .zip(settlement.error_message.as_deref())
}

/// Result of a settlement.
#[derive(Debug, Clone)]
pub struct Settled {
    /// False when the reaper had already settled the record.
    pub applied: bool,
    /// The user's remaining milliseconds afterwards.
    pub remaining_ms: i64,
}

/// Connections of one database pool, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    /// `read`, `write` or `main`.
    pub name: &'static str,
    /// Connections checked out.
    pub in_use: u32,
    /// Connections idle in the pool.
    pub idle: u32,
}

/// Filters for the audit log listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this action (e.g. `user.create`).
    pub action: Option<String>,
    /// Only this target type (`user`, `api_key`, `voice`).
    pub target_type: Option<String>,
    /// Only this target id.
    pub target_id: Option<String>,
}

/// All persistent state of the gateway.
#[async_trait]
pub trait Store: Send + Sync {
    /// Pool usage, for metrics (none when the store has no pool).
    fn pool_stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }

    /// Closes the store's connections, at shutdown once nothing uses it any more; a server
    /// then sees each session end cleanly instead of its socket dropping.
    async fn close(&self) {}

    /// Cheap round trip for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Returns the stored key pepper, storing `candidate` first if there is none.
    async fn key_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Creates a user and their first key in one transaction.
    async fn create_user(
        &self,
        user: NewUser,
        key: NewKey,
    ) -> Result<(User, ApiKeyRecord), StoreError>;
    /// A user by id.
    async fn get_user(&self, id: i64) -> Result<User, StoreError>;
    /// A page of users, and the total matching.
    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, i64), StoreError>;
    /// Applies a patch and returns the new user.
    async fn update_user(&self, id: i64, patch: UserPatch) -> Result<User, StoreError>;

    /// Issues another key to a user.
    async fn create_key(&self, user_id: i64, key: NewKey) -> Result<ApiKeyRecord, StoreError>;
    /// Keys of a user, newest first.
    async fn list_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes a key (idempotent) and returns it.
    async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyRecord, StoreError>;
    /// The key with this hash and its owner.
    async fn find_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError>;
    /// Records a successful use of a key.
    async fn touch_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Adds a voice.
    async fn create_voice(&self, voice: NewVoice) -> Result<Voice, StoreError>;
    /// Voices matching a filter, by id.
    async fn list_voices(&self, filter: &VoiceFilter) -> Result<Vec<Voice>, StoreError>;
    /// An active voice by friendly name.
    async fn find_voice(&self, friendly_name: &str) -> Result<Option<Voice>, StoreError>;
    /// Records a use of a cloned voice: MiniMax deletes cloned voices unused for 7 days, so
    /// each use pushes its expiry to `expires_at`.
    async fn touch_cloned_voice(
        &self,
        voice_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Atomically reserves `estimate_ms` of the user's quota and writes the `pending` usage
    /// record, or writes a `quota_exceeded` record when the quota cannot cover it.
    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError>;
    /// Pushes a pending record's lease further out (long streams).
    async fn extend_lease(
        &self,
        usage_id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Settles a pending record: bills, releases the reservation, writes the outcome.
    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError>;
    /// Settles a request whose pending record does not exist: writes its record already
    /// settled and bills it, in one transaction. A reservation can be lost while its request
    /// goes on: PostgreSQL commits reservations without waiting for the disk, and SQLite's
    /// last commits before an operating-system crash are not on disk either. The lost
    /// reservation held nothing any more, so nothing is released.
    async fn settle_unreserved(
        &self,
        usage: &UsageContext,
        settlement: Settlement,
    ) -> Result<Settled, StoreError>;
    /// Writes a record for a request refused before any reservation (rate limited).
    async fn record_refusal(
        &self,
        usage: &UsageContext,
        status: UsageStatus,
        error_code: &str,
        error_message: &str,
    ) -> Result<(), StoreError>;
    /// Settles every pending record whose lease ran out as failed; returns how many.
    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// A user's usage records, newest first.
    async fn list_usage(&self, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, StoreError>;
    /// Totals over a user's usage records.
    async fn usage_stats(&self, user_id: i64) -> Result<UsageStats, StoreError>;

    // Billing cycles and audit
    //
    // Admin writes go through the `*_audited` methods: the change and its `audit_log` row
    // commit together. A cycle rolls over lazily inside `reserve` (same transaction), or in
    // `roll_over_cycles`; both close it with one conditional update on `cycle_started_at`,
    // so racing nodes roll over once. Reservations carry over: a settlement after the
    // rollover bills into the new cycle.

    /// [`Store::create_user`] plus its audit row (target: the new user's id).
    async fn create_user_audited(
        &self,
        user: NewUser,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<(User, ApiKeyRecord), StoreError>;
    /// [`Store::update_user`] plus its audit row.
    async fn update_user_audited(
        &self,
        id: i64,
        patch: UserPatch,
        audit: AuditEntry,
    ) -> Result<User, StoreError>;
    /// [`Store::create_key`] plus its audit row (target: the new key's id).
    async fn create_key_audited(
        &self,
        user_id: i64,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError>;
    /// [`Store::revoke_key`] plus its audit row.
    async fn revoke_key_audited(
        &self,
        key_id: &str,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError>;
    /// [`Store::create_voice`] plus its audit row (target: the new voice's id).
    async fn create_voice_audited(
        &self,
        voice: NewVoice,
        audit: AuditEntry,
    ) -> Result<Voice, StoreError>;
    /// Closes the user's current cycle at `now` (writes its billing period, zeroes
    /// `used_ms`) and starts a new one at `now` with the same anchor; audited.
    async fn reset_cycle(
        &self,
        user_id: i64,
        now: DateTime<Utc>,
        audit: AuditEntry,
    ) -> Result<User, StoreError>;
    /// Rolls over every cycle that ended by `now`; returns how many were closed.
    async fn roll_over_cycles(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// A user's closed billing periods, newest first.
    async fn list_billing_periods(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<BillingPeriod>, StoreError>;
    /// Audit rows matching `filter`, newest first, and the total matching.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, i64), StoreError>;

    // Reports
    /// Usage aggregated per user per period, in (user, period) order, streamed from the
    /// database as it is read: the report is never held in memory.
    fn usage_report(
        &self,
        query: &reports::UsageReportQuery,
    ) -> futures::stream::BoxStream<'static, Result<reports::UsageReportRow, StoreError>>;
}
