//! Admin: users — create (with a first key shown once), list, read, change plan, role,
//! status, name and limits, and set quota or used seconds.

use std::sync::Arc;

use super::keys::{mint, IssuedKey};
use super::user_not_found;
use crate::domain::audit::{action, target, Actor, AuditEntry};
use crate::domain::identity::{DisplayName, Email};
use crate::domain::overrides;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::User;
use crate::error::ApiError;
use crate::service::auth::Authenticator;
use crate::service::key_cache::KeyCache;
use crate::store::{NewUser, Page, Store, StoreError, UserFilter, UserPatch};

/// A user as an admin asks for one, before validation.
#[derive(Debug, Clone)]
pub struct NewUserRequest {
    /// Display name.
    pub name: String,
    /// Unique email.
    pub email: String,
    /// Plan (default `free`).
    pub plan: Option<Plan>,
    /// Role (default `user`).
    pub role: Option<Role>,
}

/// Changes to a user as an admin asks for them, before validation: `None` leaves a field
/// alone, `Some(None)` returns an override to the plan's value.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New name.
    pub name: Option<String>,
    /// New plan; the quota follows unless it was customised.
    pub plan: Option<Plan>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// New role.
    pub role: Option<Role>,
    /// Custom quota in seconds.
    pub quota_seconds: Option<Option<f64>>,
    /// Custom requests per minute.
    pub rpm_limit: Option<Option<i64>>,
    /// Custom concurrent requests.
    pub max_streams: Option<Option<i64>>,
}

/// A quota correction (the original `PUT /admin/users/{id}/quota`), before validation.
#[derive(Debug, Clone, Default)]
pub struct QuotaChanges {
    /// New quota in seconds.
    pub quota_seconds: Option<f64>,
    /// New used seconds, e.g. to correct a bill.
    pub used_seconds: Option<f64>,
}

/// Creates, lists, reads and changes users.
#[derive(Clone)]
pub struct UserAdmin {
    store: Arc<dyn Store>,
    /// Hashes first keys with the server's pepper.
    auth: Authenticator,
    /// Keys this node looked up lately, with their users; forgotten when a user changes.
    recent_keys: Arc<KeyCache>,
}

impl UserAdmin {
    /// User administration over `store`, hashing keys with `auth`, clearing `recent_keys`.
    pub fn new(store: Arc<dyn Store>, auth: Authenticator, recent_keys: Arc<KeyCache>) -> Self {
        UserAdmin {
            store,
            auth,
            recent_keys,
        }
    }

    /// Creates a user with a first key named `default`, audited (409 for a taken email).
    pub async fn create_user(
        &self,
        actor: &Actor,
        request: NewUserRequest,
    ) -> Result<(User, IssuedKey), ApiError> {
        let user = NewUser {
            name: DisplayName::parse(&request.name)?.into_string(),
            email: Email::parse(&request.email)?.into_string(),
            plan: request.plan.unwrap_or(Plan::Free),
            role: request.role.unwrap_or(Role::User),
        };
        let (key, plain) = mint(&self.auth, "default".into(), None);
        let email = user.email.clone();
        let audit = actor
            .entry(action::USER_CREATE, target::USER)
            .details(serde_json::json!({
                "name": user.name,
                "email": user.email,
                "plan": user.plan.as_str(),
                "role": user.role.as_str(),
                "key_prefix": key.prefix,
            }));
        match self.store.create_user(user, key, audit).await {
            Ok((user, record)) => Ok((user, IssuedKey { record, plain })),
            Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(format!(
                "a user with email {email} already exists"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of users matching `filter`, and the total matching.
    pub async fn list_users(
        &self,
        filter: UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, i64), ApiError> {
        Ok(self.store.list_users(&filter, page).await?)
    }

    /// User `id` (404 when there is none).
    pub async fn get_user(&self, id: i64) -> Result<User, ApiError> {
        self.store.get_user(id).await.map_err(user_not_found(id))
    }

    /// Changes user `id`'s name, plan, role, status or limits, audited.
    pub async fn patch_user(
        &self,
        actor: &Actor,
        id: i64,
        changes: UserChanges,
    ) -> Result<User, ApiError> {
        let patch = UserPatch {
            name: changes
                .name
                .as_deref()
                .map(DisplayName::parse)
                .transpose()?
                .map(DisplayName::into_string),
            plan: changes.plan,
            role: changes.role,
            is_active: changes.is_active,
            quota_ms: override_with(changes.quota_seconds, |s| {
                overrides::audio_ms("quota_seconds", s)
            })?,
            used_ms: None,
            rpm_limit: override_with(changes.rpm_limit, overrides::rpm_limit)?,
            max_streams: override_with(changes.max_streams, overrides::max_streams)?,
        };
        self.update(actor.entry(action::USER_UPDATE, target::USER), id, patch)
            .await
    }

    /// Sets user `id`'s quota and/or used seconds, audited.
    pub async fn set_quota(
        &self,
        actor: &Actor,
        id: i64,
        changes: QuotaChanges,
    ) -> Result<User, ApiError> {
        let patch = UserPatch {
            quota_ms: changes
                .quota_seconds
                .map(|s| overrides::audio_ms("quota_seconds", s).map(Some))
                .transpose()?,
            used_ms: changes
                .used_seconds
                .map(|s| overrides::audio_ms("used_seconds", s))
                .transpose()?,
            ..UserPatch::default()
        };
        self.update(actor.entry(action::QUOTA_SET, target::USER), id, patch)
            .await
    }

    /// Applies a validated patch with its audit entry, then forgets the keys looked up lately:
    /// they carry the user as it was.
    async fn update(&self, audit: AuditEntry, id: i64, patch: UserPatch) -> Result<User, ApiError> {
        let audit = audit.details(patch_details(&patch));
        let updated = self.store.update_user(id, patch, audit).await;
        let user = updated.map_err(user_not_found(id))?;
        self.recent_keys.clear();
        Ok(user)
    }
}

/// An override as given (`None` leave, `Some(None)` clear, `Some(Some(v))` set), with the
/// set value checked by `rule`.
fn override_with<T, U, E>(
    value: Option<Option<T>>,
    rule: impl FnOnce(T) -> Result<U, E>,
) -> Result<Option<Option<U>>, E> {
    match value {
        Some(Some(v)) => rule(v).map(|v| Some(Some(v))),
        Some(None) => Ok(Some(None)),
        None => Ok(None),
    }
}

/// The fields a patch sets, for the audit log (absent fields are left out; `null` clears).
fn patch_details(patch: &UserPatch) -> serde_json::Value {
    let mut details = serde_json::Map::new();
    let mut set = |name: &str, value: serde_json::Value| {
        details.insert(name.to_string(), value);
    };
    if let Some(name) = &patch.name {
        set("name", name.as_str().into());
    }
    if let Some(plan) = patch.plan {
        set("plan", plan.as_str().into());
    }
    if let Some(role) = patch.role {
        set("role", role.as_str().into());
    }
    if let Some(active) = patch.is_active {
        set("is_active", active.into());
    }
    if let Some(quota) = patch.quota_ms {
        set("quota_ms", quota.into());
    }
    if let Some(used) = patch.used_ms {
        set("used_ms", used.into());
    }
    if let Some(rpm) = patch.rpm_limit {
        set("rpm_limit", rpm.into());
    }
    if let Some(streams) = patch.max_streams {
        set("max_streams", streams.into());
    }
    serde_json::Value::Object(details)
}
