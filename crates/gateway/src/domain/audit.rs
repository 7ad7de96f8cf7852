//! The audit log: who changed what through the admin API (or the command line), written in
//! the same transaction as the change. Details never hold secrets such as a key's text.

use chrono::{DateTime, Utc};

/// Kinds of audited changes, as stored in `audit_log.action`.
pub mod action {
    /// A user was created (with their first key).
    pub const USER_CREATE: &str = "user.create";
    /// A user's plan, role, status, limits or name changed.
    pub const USER_UPDATE: &str = "user.update";
    /// A user's quota or used seconds were set.
    pub const QUOTA_SET: &str = "user.quota.set";
    /// A key was issued.
    pub const KEY_ISSUE: &str = "key.issue";
    /// A key was revoked.
    pub const KEY_REVOKE: &str = "key.revoke";
    /// A voice was registered.
    pub const VOICE_CREATE: &str = "voice.create";
    /// A voice was cloned and registered.
    pub const VOICE_CLONE: &str = "voice.clone";
    /// A user's billing cycle was closed by hand.
    pub const CYCLE_RESET: &str = "user.cycle.reset";
}

/// Target types, as stored in `audit_log.target_type`.
pub mod target {
    /// A user (`target_id` is the numeric id).
    pub const USER: &str = "user";
    /// An API key (`target_id` is the key id, never the key).
    pub const API_KEY: &str = "api_key";
    /// A voice (`target_id` is the numeric id).
    pub const VOICE: &str = "voice";
}

/// An audit row to write with a change. The store fills `target_id` when it is `None`
/// (the id of a row the change creates).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The admin who made the change; `None` for the command line.
    pub actor_user_id: Option<i64>,
    /// One of [`action`].
    pub action: &'static str,
    /// One of [`target`].
    pub target_type: &'static str,
    /// Id of the changed row, when known before the change.
    pub target_id: Option<String>,
    /// What changed (JSON object); never secrets.
    pub details: serde_json::Value,
    /// Request id of the admin request, when there is one.
    pub request_id: Option<String>,
}

impl AuditEntry {
    /// An entry by `actor` in request `request_id` (empty means none).
    pub fn new(
        actor_user_id: Option<i64>,
        action: &'static str,
        target_type: &'static str,
        request_id: String,
    ) -> AuditEntry {
        AuditEntry {
            actor_user_id,
            action,
            target_type,
            target_id: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
            request_id: Some(request_id).filter(|r| !r.is_empty()),
        }
    }

    /// The same entry about `target_id`.
    pub fn target(mut self, target_id: impl ToString) -> AuditEntry {
        self.target_id = Some(target_id.to_string());
        self
    }

    /// The same entry with `details`.
    pub fn details(mut self, details: serde_json::Value) -> AuditEntry {
        self.details = details;
        self
    }
}

/// Who makes an admin write, for its audit entry: the admin's user id (none for the command
/// line) and the id of the request that carried it (none outside a request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    user_id: Option<i64>,
    request_id: String,
}

impl Actor {
    /// The admin `user_id`, in request `request_id`.
    pub fn admin(user_id: i64, request_id: impl Into<String>) -> Actor {
        Actor {
            user_id: Some(user_id),
            request_id: request_id.into(),
        }
    }

    /// An operator at the command line (`create-admin`): no user, no request.
    pub fn command_line() -> Actor {
        Actor {
            user_id: None,
            request_id: String::new(),
        }
    }

    /// The audit entry of this actor's `action` on a `target_type`.
    pub fn entry(&self, action: &'static str, target_type: &'static str) -> AuditEntry {
        AuditEntry::new(self.user_id, action, target_type, self.request_id.clone())
    }
}

/// A stored audit row.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// UUID v7.
    pub id: String,
    /// The admin who made the change; `None` for the command line.
    pub actor_user_id: Option<i64>,
    /// What was done.
    pub action: String,
    /// Kind of the changed row.
    pub target_type: String,
    /// Id of the changed row.
    pub target_id: String,
    /// What changed.
    pub details: serde_json::Value,
    /// Request id, when made through the API.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}
