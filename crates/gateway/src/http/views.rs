//! Response bodies shared by several routes, field for field as the original service sent them
//! (plus newer fields). Durations are seconds; times are RFC 3339 UTC.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::options::Gender;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::{ApiKeyRecord, User};
use crate::engine::Provider;
use crate::service::voices::ListedVoice;

/// Milliseconds as seconds.
pub fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Numeric id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Billing plan.
    pub plan: Plan,
    /// Role (`user` or `admin`).
    pub role: Role,
    /// Audio seconds allowed per billing cycle.
    pub quota_seconds: f64,
    /// Audio seconds billed this cycle.
    pub used_seconds: f64,
    /// `max(0, quota − used)`.
    pub remaining_seconds: f64,
    /// Seconds reserved by requests in flight.
    pub reserved_seconds: f64,
    /// `min(100, used/quota·100)`.
    pub quota_percentage_used: f64,
    /// Effective requests per minute.
    pub rpm_limit: u32,
    /// Effective concurrent requests.
    pub max_streams: u32,
    /// Inactive users are refused.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Start of the current billing cycle (cycles are monthly from the user's anchor).
    pub cycle_started_at: DateTime<Utc>,
    /// When the current cycle ends and used seconds start again from zero.
    pub cycle_resets_at: DateTime<Utc>,
}

impl From<&User> for UserResponse {
    fn from(u: &User) -> Self {
        UserResponse {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            plan: u.plan,
            role: u.role,
            quota_seconds: secs(u.quota_ms),
            used_seconds: secs(u.used_ms),
            remaining_seconds: secs(u.remaining_ms()),
            reserved_seconds: secs(u.reserved_ms),
            quota_percentage_used: (u.quota_percentage_used() * 100.0).round() / 100.0,
            rpm_limit: u.rpm(),
            max_streams: u.streams(),
            is_active: u.is_active,
            created_at: u.created_at,
            updated_at: u.updated_at,
            cycle_started_at: u.cycle_started_at,
            cycle_resets_at: u.cycle_ends_at,
        }
    }
}

/// An API key's metadata; the key itself is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    /// Key id (for revocation).
    pub id: String,
    /// Owner.
    pub user_id: i64,
    /// Name given at issue.
    pub name: String,
    /// First characters of the key.
    pub prefix: String,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Whether revoked.
    pub revoked: bool,
    /// When revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiKeyRecord> for KeyResponse {
    fn from(k: &ApiKeyRecord) -> Self {
        KeyResponse {
            id: k.id.clone(),
            user_id: k.user_id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked: k.revoked_at.is_some(),
            revoked_at: k.revoked_at,
        }
    }
}

/// A voice.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceResponse {
    /// Numeric id.
    pub id: i64,
    /// Name to pass as `voice_name` / `voice_id`.
    pub friendly_name: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Description.
    pub description: Option<String>,
    /// Made by voice cloning.
    pub is_cloned: bool,
    /// Active.
    pub is_active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Engine that speaks it (`minimax` or `local`).
    pub provider: Provider,
    /// Whether this server can speak it now.
    pub available: bool,
    /// Why not, when not available.
    pub unavailable_reason: Option<&'static str>,
    /// Expiry of a cloned voice (deleted upstream after 7 days unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&ListedVoice> for VoiceResponse {
    fn from(listed: &ListedVoice) -> Self {
        let (v, unavailable_reason) = (&listed.voice, listed.unavailable_reason);
        VoiceResponse {
            id: v.id,
            friendly_name: v.friendly_name.clone(),
            language: v.language.clone(),
            gender: v.gender,
            description: v.description.clone(),
            is_cloned: v.is_cloned,
            is_active: v.is_active,
            created_at: v.created_at,
            provider: v.provider,
            available: unavailable_reason.is_none(),
            unavailable_reason,
            expires_at: v.expires_at,
        }
    }
}
