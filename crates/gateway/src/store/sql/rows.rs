//! Row → record mapping, one function per record, for both databases: columns are read by
//! name, so a select list names exactly the columns its record needs.

use super::{get, Row};
use crate::domain::audit::AuditRecord;
use crate::domain::cycle::BillingPeriod;
use crate::domain::options::Gender;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStatus, User, Voice};
use crate::engine::Provider;
use crate::store::StoreError;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

/// A stored name parsed by `parse`, or corrupt data.
fn parsed<T>(
    row: &dyn Row,
    column: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = get(row, column)?;
    parse(&text).ok_or_else(|| corrupt(column, &text))
}

/// Columns of `users` (aliased `u`) that [`user`] reads.
pub(crate) const USER_COLUMNS: &str = "u.id, u.name, u.email, u.plan, u.role, u.quota_ms, u.quota_custom, u.used_ms, u.reserved_ms, u.rpm_limit, u.max_streams, u.is_active, u.created_at, u.updated_at, u.cycle_anchor, u.cycle_started_at, u.cycle_ends_at";

/// Reads a [`User`] from a row with [`USER_COLUMNS`].
pub(crate) fn user(row: &dyn Row) -> Result<User, StoreError> {
    Ok(User {
        id: get(row, "id")?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        plan: parsed(row, "plan", Plan::parse)?,
        role: parsed(row, "role", Role::parse)?,
        quota_ms: get(row, "quota_ms")?,
        quota_custom: get(row, "quota_custom")?,
        used_ms: get(row, "used_ms")?,
        reserved_ms: get(row, "reserved_ms")?,
        rpm_limit: get(row, "rpm_limit")?,
        max_streams: get(row, "max_streams")?,
        is_active: get(row, "is_active")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        cycle_anchor: get(row, "cycle_anchor")?,
        cycle_started_at: get(row, "cycle_started_at")?,
        cycle_ends_at: get(row, "cycle_ends_at")?,
    })
}

/// Columns of `api_keys` (aliased `k`) that [`key`] reads, renamed so that they do not clash
/// with a user's in a join.
pub(crate) const KEY_COLUMNS: &str = "k.id AS k_id, k.user_id AS k_user_id, k.name AS k_name, k.prefix AS k_prefix, k.key_hash AS k_hash, k.created_at AS k_created_at, k.expires_at AS k_expires_at, k.last_used_at AS k_last_used_at, k.revoked_at AS k_revoked_at";

/// Reads an [`ApiKeyRecord`] from a row with [`KEY_COLUMNS`].
pub(crate) fn key(row: &dyn Row) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: get(row, "k_id")?,
        user_id: get(row, "k_user_id")?,
        name: get(row, "k_name")?,
        prefix: get(row, "k_prefix")?,
        hash: get(row, "k_hash")?,
        created_at: get(row, "k_created_at")?,
        expires_at: get(row, "k_expires_at")?,
        last_used_at: get(row, "k_last_used_at")?,
        revoked_at: get(row, "k_revoked_at")?,
    })
}

/// Reads a key and its owner from a row with [`KEY_COLUMNS`] and [`USER_COLUMNS`].
pub(crate) fn key_and_user(row: &dyn Row) -> Result<(ApiKeyRecord, User), StoreError> {
    Ok((key(row)?, user(row)?))
}

/// Columns of `voices` that [`voice`] reads.
pub(crate) const VOICE_COLUMNS: &str = "id, friendly_name, provider, engine_voice_id, language, gender, description, display_name, accent, tone, use_cases, is_verified, is_cloned, is_active, expires_at, created_at";

/// Reads a [`Voice`] from a row with [`VOICE_COLUMNS`].
pub(crate) fn voice(row: &dyn Row) -> Result<Voice, StoreError> {
    Ok(Voice {
        id: get(row, "id")?,
        friendly_name: get(row, "friendly_name")?,
        provider: parsed(row, "provider", Provider::parse)?,
        engine_voice_id: get(row, "engine_voice_id")?,
        language: get(row, "language")?,
        gender: parsed(row, "gender", Gender::parse)?,
        description: get(row, "description")?,
        display_name: get(row, "display_name")?,
        accent: get(row, "accent")?,
        tone: get(row, "tone")?,
        use_cases: parsed(row, "use_cases", |text| serde_json::from_str(text).ok())?,
        is_verified: get(row, "is_verified")?,
        is_cloned: get(row, "is_cloned")?,
        is_active: get(row, "is_active")?,
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
    })
}

/// Columns of `usage_records` that [`usage`] reads.
pub(crate) const USAGE_COLUMNS: &str = "id, user_id, key_id, voice_id, request_id, endpoint, engine, model_used, text_length, status, reserved_ms, audio_ms, error_code, error_message, created_at, settled_at";

/// Reads a [`UsageRecord`] from a row with [`USAGE_COLUMNS`].
pub(crate) fn usage(row: &dyn Row) -> Result<UsageRecord, StoreError> {
    Ok(UsageRecord {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        key_id: get(row, "key_id")?,
        voice_id: get(row, "voice_id")?,
        request_id: get(row, "request_id")?,
        endpoint: get(row, "endpoint")?,
        engine: get(row, "engine")?,
        model_used: get(row, "model_used")?,
        text_length: get(row, "text_length")?,
        status: parsed(row, "status", UsageStatus::parse)?,
        reserved_ms: get(row, "reserved_ms")?,
        audio_ms: get(row, "audio_ms")?,
        error_code: get(row, "error_code")?,
        error_message: get(row, "error_message")?,
        created_at: get(row, "created_at")?,
        settled_at: get(row, "settled_at")?,
    })
}

/// Columns of `billing_periods` that [`period`] reads.
pub(crate) const PERIOD_COLUMNS: &str =
    "user_id, period_start, period_end, quota_ms, used_ms, requests, reason, closed_at";

/// Reads a [`BillingPeriod`] from a row with [`PERIOD_COLUMNS`].
pub(crate) fn period(row: &dyn Row) -> Result<BillingPeriod, StoreError> {
    Ok(BillingPeriod {
        user_id: get(row, "user_id")?,
        period_start: get(row, "period_start")?,
        period_end: get(row, "period_end")?,
        quota_ms: get(row, "quota_ms")?,
        used_ms: get(row, "used_ms")?,
        requests: get(row, "requests")?,
        reason: get(row, "reason")?,
        closed_at: get(row, "closed_at")?,
    })
}

/// Columns of `audit_log` that [`audit`] reads.
pub(crate) const AUDIT_COLUMNS: &str =
    "id, actor_user_id, action, target_type, target_id, details, request_id, created_at";

/// Reads an [`AuditRecord`] from a row with [`AUDIT_COLUMNS`].
pub(crate) fn audit(row: &dyn Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: get(row, "id")?,
        actor_user_id: get(row, "actor_user_id")?,
        action: get(row, "action")?,
        target_type: get(row, "target_type")?,
        target_id: get(row, "target_id")?,
        details: get(row, "details")?,
        request_id: get(row, "request_id")?,
        created_at: get(row, "created_at")?,
    })
}
