//! What the store's operations take and give back, besides the domain records.

use chrono::{DateTime, Utc};

use crate::domain::options::Gender;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::UsageStatus;
use crate::engine::Provider;

/// What [`StoreError::Conflict`](super::StoreError::Conflict) says of a change that would
/// leave no active admin with a usable key: revoking the last one, deactivating or demoting
/// the last admin who has one.
pub const LAST_ADMIN_KEY: &str = "last usable admin key";

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

/// Requests of one user refused by a limit in one hour, to add to the counts kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalCount {
    /// Who.
    pub user_id: i64,
    /// The start of the hour (UTC) the refusals fell in.
    pub hour: DateTime<Utc>,
    /// Why (`rate_limited`).
    pub status: UsageStatus,
    /// How many.
    pub requests: i64,
}

impl RefusalCount {
    /// `requests` rate-limited refusals of `user_id` in the hour holding `at`.
    pub fn rate_limited(user_id: i64, at: DateTime<Utc>, requests: i64) -> Self {
        use chrono::{DurationRound, TimeDelta};
        Self {
            user_id,
            hour: at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at),
            status: UsageStatus::RateLimited,
            requests,
        }
    }
}
