//! Admin: API keys — issue (the key's text exists only in the answer), list (metadata
//! only), revoke.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::user_not_found;
use crate::domain::api_key;
use crate::domain::audit::{action, target, Actor};
use crate::domain::identity::{KeyExpiry, KeyName};
use crate::domain::records::ApiKeyRecord;
use crate::error::ApiError;
use crate::service::auth::Authenticator;
use crate::service::key_cache::KeyCache;
use crate::store::{NewKey, Store, StoreError};

/// A key just issued: the plain text exists only in this value.
pub struct IssuedKey {
    /// Stored metadata.
    pub record: ApiKeyRecord,
    /// The full key, to show once.
    pub plain: String,
}

/// A new key, hashed for the store, and its plain text to show once.
pub(super) fn mint(
    auth: &Authenticator,
    name: String,
    expires_at: Option<DateTime<Utc>>,
) -> (NewKey, String) {
    let generated = api_key::generate();
    let key = NewKey {
        name,
        prefix: generated.display_prefix,
        hash: auth.hash(&generated.plain),
        expires_at,
    };
    (key, generated.plain)
}

/// A key as an admin asks for it, before validation.
#[derive(Debug, Clone, Default)]
pub struct NewKeyRequest {
    /// Name (default [`KeyName::DEFAULT`]).
    pub name: Option<String>,
    /// Expiry time, in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// Or: expiry in days from now.
    pub expires_in_days: Option<i64>,
}

/// Issues, lists and revokes API keys.
#[derive(Clone)]
pub struct KeyAdmin {
    store: Arc<dyn Store>,
    /// Hashes new keys with the server's pepper.
    auth: Authenticator,
    /// Keys this node looked up lately; forgotten when one is revoked.
    recent_keys: Arc<KeyCache>,
}

impl KeyAdmin {
    /// Key administration over `store`, hashing with `auth`, clearing `recent_keys`.
    pub fn new(store: Arc<dyn Store>, auth: Authenticator, recent_keys: Arc<KeyCache>) -> Self {
        KeyAdmin {
            store,
            auth,
            recent_keys,
        }
    }

    /// Issues another key to user `user_id`, audited.
    pub async fn issue_key(
        &self,
        actor: &Actor,
        user_id: i64,
        request: NewKeyRequest,
    ) -> Result<IssuedKey, ApiError> {
        let name = KeyName::parse(request.name.as_deref().unwrap_or(KeyName::DEFAULT))?;
        let expiry = KeyExpiry::parse(request.expires_at, request.expires_in_days, Utc::now())?;
        let (key, plain) = mint(&self.auth, name.into_string(), expiry.at());
        // Metadata only: the key's text never reaches the audit log.
        let audit = actor
            .entry(action::KEY_ISSUE, target::API_KEY)
            .details(serde_json::json!({
                "user_id": user_id,
                "name": key.name,
                "key_prefix": key.prefix,
                "expires_at": key.expires_at,
            }));
        let record = self.store.create_key(user_id, key, audit).await;
        let record = record.map_err(user_not_found(user_id))?;
        Ok(IssuedKey { record, plain })
    }

    /// A user's keys, newest first (404 for an unknown user).
    pub async fn list_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, ApiError> {
        self.store
            .get_user(user_id)
            .await
            .map_err(user_not_found(user_id))?;
        Ok(self.store.list_keys(user_id).await?)
    }

    /// Revokes a key, audited: this node refuses it from now on, the others within a second
    /// (see [`KeyCache`]).
    pub async fn revoke_key(&self, actor: &Actor, key_id: &str) -> Result<ApiKeyRecord, ApiError> {
        let not_found = || ApiError::NotFound(format!("key {key_id} not found"));
        // Key ids are UUIDs: anything else names no key, and needs no database trip.
        if uuid::Uuid::parse_str(key_id).is_err() {
            return Err(not_found());
        }
        let audit = actor.entry(action::KEY_REVOKE, target::API_KEY);
        let key = match self.store.revoke_key(key_id, audit).await {
            Ok(key) => key,
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(other) => return Err(super::locks_admins_out(other)),
        };
        self.recent_keys.clear();
        Ok(key)
    }
}
