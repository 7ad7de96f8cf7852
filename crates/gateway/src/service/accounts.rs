//! Users and keys: creation with a key shown once, key issue and revocation.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::auth::Authenticator;
use crate::domain::api_key;
use crate::domain::audit::AuditEntry;
use crate::domain::records::{ApiKeyRecord, User};
use crate::error::ApiError;
use crate::store::{NewKey, NewUser, Store, StoreError};

/// A key just issued: the plain text exists only in this value.
pub struct IssuedKey {
    /// Stored metadata.
    pub record: ApiKeyRecord,
    /// The full key, to show once.
    pub plain: String,
}

/// Account management.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    auth: Authenticator,
}

impl Accounts {
    /// Accounts over `store`, hashing keys with `auth`.
    pub fn new(store: Arc<dyn Store>, auth: Authenticator) -> Accounts {
        Accounts { store, auth }
    }

    fn new_key(&self, name: String, expires_at: Option<DateTime<Utc>>) -> (NewKey, String) {
        let generated = api_key::generate();
        let key = NewKey {
            name,
            prefix: generated.display_prefix,
            hash: self.auth.hash(&generated.plain),
            expires_at,
        };
        (key, generated.plain)
    }

    /// Creates a user with a first key named `default`, writing `audit` with it.
    pub async fn create_user(
        &self,
        user: NewUser,
        audit: AuditEntry,
    ) -> Result<(User, IssuedKey), ApiError> {
        let (key, plain) = self.new_key("default".into(), None);
        let email = user.email.clone();
        let audit = audit.details(serde_json::json!({
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

    /// Issues another key to an existing user, writing `audit` with it.
    pub async fn issue_key(
        &self,
        user_id: i64,
        name: String,
        expires_at: Option<DateTime<Utc>>,
        audit: AuditEntry,
    ) -> Result<IssuedKey, ApiError> {
        let (key, plain) = self.new_key(name, expires_at);
        // Metadata only: the key's text never reaches the audit log.
        let audit = audit.details(serde_json::json!({
            "user_id": user_id,
            "name": key.name,
            "key_prefix": key.prefix,
            "expires_at": key.expires_at,
        }));
        match self.store.create_key(user_id, key, audit).await {
            Ok(record) => Ok(IssuedKey { record, plain }),
            Err(StoreError::NotFound) => {
                Err(ApiError::NotFound(format!("user {user_id} not found")))
            }
            Err(e) => Err(e.into()),
        }
    }
}
