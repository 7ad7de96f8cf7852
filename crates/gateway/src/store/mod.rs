//! The store port: all persistent state, one method per business operation, each owning its
//! transaction.
//!
//! Quota arithmetic happens in the database with conditional updates, never as
//! read-modify-write in application memory, so it holds across any number of nodes. Every
//! operation is written once, in SQL both databases speak ([`sql`]), over a small
//! [`sql::backend::Backend`] seam; `sqlite/` and `postgres/` hold how each database is reached
//! and the few operations each writes its own way (the metering hot path, reports). A
//! [`Database`] is the handle the process opens, migrates, checks and closes.

mod closing;
mod database;
pub mod postgres;
pub mod reports;
pub mod schema;
pub(crate) mod sql;
pub mod sqlite;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::domain::cycle::BillingPeriod;
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStats, User, Voice};
pub use database::{Database, DatabaseConfig};
pub use types::*;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is taken.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached or failed; nothing was written.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement was sent and no answer came (the server hung, or the connection broke):
    /// the write may or may not have been applied.
    #[error("database gave no answer: {0}")]
    Unanswered(String),
    /// Stored data we cannot read (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database is out of reach (not answering), as opposed to answering no.
    pub fn is_outage(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Unanswered(_))
    }
}

/// All persistent state of the gateway.
///
/// Admin writes take the [`AuditEntry`] that is written in the same transaction as the
/// change. A cycle rolls over lazily inside `reserve` (same transaction), or in
/// `roll_over_cycles`; both close it with one conditional update on `cycle_started_at`, so
/// racing nodes roll over once. Reservations carry over: a settlement after the rollover
/// bills into the new cycle.
#[async_trait]
pub trait Store: Send + Sync {
    /// Returns the stored key pepper, storing `candidate` first if there is none.
    async fn key_pepper(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    // Users and keys

    /// Creates a user and their first key (audit target: the new user's id).
    async fn create_user(
        &self,
        user: NewUser,
        key: NewKey,
        audit: AuditEntry,
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
    async fn update_user(
        &self,
        id: i64,
        patch: UserPatch,
        audit: AuditEntry,
    ) -> Result<User, StoreError>;
    /// Issues another key to a user (audit target: the new key's id).
    async fn create_key(
        &self,
        user_id: i64,
        key: NewKey,
        audit: AuditEntry,
    ) -> Result<ApiKeyRecord, StoreError>;
    /// Keys of a user, newest first.
    async fn list_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes a key (a second revocation changes nothing) and returns it.
    async fn revoke_key(&self, key_id: &str, audit: AuditEntry)
        -> Result<ApiKeyRecord, StoreError>;
    /// The key with this hash and its owner.
    async fn find_key(&self, hash: &[u8]) -> Result<Option<(ApiKeyRecord, User)>, StoreError>;
    /// Records a successful use of a key.
    async fn touch_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    // Voices

    /// Adds a voice (audit target: the new voice's id).
    async fn create_voice(&self, voice: NewVoice, audit: AuditEntry) -> Result<Voice, StoreError>;
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

    // Metering

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
    /// reservation held nothing any more, so nothing is released, and the bill is capped at
    /// the quota still free: a crash never takes a user past their quota.
    async fn settle_unreserved(
        &self,
        usage: &UsageContext,
        settlement: Settlement,
    ) -> Result<Settled, StoreError>;
    /// Adds to the counts of refused requests (rate and concurrency limits), kept per user,
    /// hour and status rather than as a record each.
    async fn count_refusals(&self, counts: &[RefusalCount]) -> Result<(), StoreError>;
    /// Settles every pending record whose lease ran out as failed; returns how many.
    async fn reap_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    // Usage, cycles, audit and reports

    /// A user's usage records, newest first.
    async fn list_usage(&self, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, StoreError>;
    /// Totals over a user's usage records.
    async fn usage_stats(&self, user_id: i64) -> Result<UsageStats, StoreError>;
    /// Closes the user's current cycle at `now` (writes its billing period, zeroes
    /// `used_ms`) and starts a new one at `now` with the same anchor.
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
    /// Usage aggregated per user per period, in (user, period) order, streamed from the
    /// database as it is read: the report is never held in memory.
    fn usage_report(
        &self,
        query: &reports::UsageReportQuery,
    ) -> futures::stream::BoxStream<'static, Result<reports::UsageReportRow, StoreError>>;
}
