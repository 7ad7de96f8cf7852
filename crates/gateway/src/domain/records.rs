//! The records the gateway keeps: users, keys, voices, usage.

use chrono::{DateTime, Utc};

use super::options::Gender;
use super::plan::{Plan, Role};
use crate::engine::Provider;

/// A customer or admin.
#[derive(Debug, Clone)]
pub struct User {
    /// Numeric id (public).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Billing plan.
    pub plan: Plan,
    /// Admin or not.
    pub role: Role,
    /// Audio milliseconds allowed per cycle.
    pub quota_ms: i64,
    /// Whether `quota_ms` was set by hand (kept when the plan changes).
    pub quota_custom: bool,
    /// Audio milliseconds billed this cycle.
    pub used_ms: i64,
    /// Audio milliseconds reserved by requests in flight.
    pub reserved_ms: i64,
    /// Per-user requests-per-minute override.
    pub rpm_limit: Option<i64>,
    /// Per-user concurrent-request override.
    pub max_streams: Option<i64>,
    /// Inactive users are refused with 403.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Cycles are monthly from this instant (creation time by default).
    pub cycle_anchor: DateTime<Utc>,
    /// Start of the current billing cycle.
    pub cycle_started_at: DateTime<Utc>,
    /// When the current cycle ends and `used_ms` starts again from zero.
    pub cycle_ends_at: DateTime<Utc>,
}

impl User {
    /// `max(0, quota − used)`, as the original service showed it.
    pub fn remaining_ms(&self) -> i64 {
        (self.quota_ms - self.used_ms).max(0)
    }

    /// `min(100, used/quota·100)`.
    pub fn quota_percentage_used(&self) -> f64 {
        if self.quota_ms <= 0 {
            return if self.used_ms > 0 { 100.0 } else { 0.0 };
        }
        (self.used_ms as f64 / self.quota_ms as f64 * 100.0).min(100.0)
    }

    /// Effective requests-per-minute limit.
    pub fn rpm(&self) -> u32 {
        self.rpm_limit
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(self.plan.limits().rpm)
    }

    /// Effective concurrent-request limit.
    pub fn streams(&self) -> u32 {
        self.max_streams
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(self.plan.limits().max_streams)
    }
}

/// An API key's metadata (never the key itself).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// UUID v7.
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Name given at issue.
    pub name: String,
    /// First characters of the key, safe to show.
    pub prefix: String,
    /// HMAC of the key.
    pub hash: Vec<u8>,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// After this the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful authentication (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A voice clients can choose.
#[derive(Debug, Clone)]
pub struct Voice {
    /// Numeric id.
    pub id: i64,
    /// Unique name clients use (`voice_name` / `voice_id`).
    pub friendly_name: String,
    /// Engine that speaks it.
    pub provider: Provider,
    /// The engine's own id for it.
    pub engine_voice_id: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Free text.
    pub description: Option<String>,
    /// Display name of a verified voice (e.g. "Marcus").
    pub display_name: Option<String>,
    /// Accent, for the listing.
    pub accent: Option<String>,
    /// Tone, for the listing.
    pub tone: Option<String>,
    /// Use cases, for the listing.
    pub use_cases: Vec<String>,
    /// Curated voice.
    pub is_verified: bool,
    /// Made by voice cloning.
    pub is_cloned: bool,
    /// Inactive voices are hidden and refused.
    pub is_active: bool,
    /// Cloned voices expire when unused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Outcome of one accepted or refused request, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageStatus {
    /// Reserved, engine call in flight.
    Pending,
    /// Audio delivered and billed.
    Success,
    /// Failed; nothing billed.
    Error,
    /// Refused: quota could not cover the estimate.
    QuotaExceeded,
    /// Refused by a rate or concurrency limit: counted per user and hour, not recorded one by
    /// one (only records older than the `usage_refusals` table say it).
    RateLimited,
    /// The client went away; billed for what was delivered.
    Cancelled,
}

impl UsageStatus {
    /// Stored/wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageStatus::Pending => "pending",
            UsageStatus::Success => "success",
            UsageStatus::Error => "error",
            UsageStatus::QuotaExceeded => "quota_exceeded",
            UsageStatus::RateLimited => "rate_limited",
            UsageStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<UsageStatus> {
        [
            UsageStatus::Pending,
            UsageStatus::Success,
            UsageStatus::Error,
            UsageStatus::QuotaExceeded,
            UsageStatus::RateLimited,
            UsageStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// One usage record.
#[derive(Debug, Clone)]
pub struct UsageRecord {
    /// UUID v7.
    pub id: String,
    /// Who.
    pub user_id: i64,
    /// With which key.
    pub key_id: Option<String>,
    /// Which voice, when resolved.
    pub voice_id: Option<i64>,
    /// Our request id.
    pub request_id: String,
    /// Route template, e.g. `/v1/tts`.
    pub endpoint: String,
    /// Engine used.
    pub engine: Option<String>,
    /// Model asked for.
    pub model_used: Option<String>,
    /// Characters of text.
    pub text_length: i64,
    /// Outcome.
    pub status: UsageStatus,
    /// Reserved while pending.
    pub reserved_ms: i64,
    /// Billed milliseconds of audio.
    pub audio_ms: i64,
    /// Stable error code, when not a success.
    pub error_code: Option<String>,
    /// Generic error text (never an upstream message).
    pub error_message: Option<String>,
    /// When the request arrived.
    pub created_at: DateTime<Utc>,
    /// When it was settled.
    pub settled_at: Option<DateTime<Utc>>,
}

/// Totals over a user's usage records and counted refusals.
#[derive(Debug, Clone, Default)]
pub struct UsageStats {
    /// All records, plus the refusals counted by a limit.
    pub total_requests: i64,
    /// `success` records.
    pub successful_requests: i64,
    /// Every settled record that is not a success (errors, cancellations, refusals).
    pub failed_requests: i64,
    /// `quota_exceeded` records.
    pub quota_exceeded_requests: i64,
    /// Requests refused by a rate or concurrency limit (counted per hour, not recorded).
    pub rate_limited_requests: i64,
    /// Sum of billed audio.
    pub total_audio_ms: i64,
}
