//! Admin use cases: users, keys, voices (registered and cloned), billing cycles and the
//! audit log.
//!
//! Every write goes through one method here that validates its input with the domain types,
//! builds its audit entry from the [`Actor`](crate::domain::audit::Actor) the caller passes,
//! makes one audited store call (the change and its audit row commit together), and clears
//! the caches the change makes stale. Reads go through here too, so handlers never hold the
//! store or a cache.

mod audit;
mod cloning;
mod cycles;
mod keys;
mod users;
mod voices;

use std::sync::Arc;

pub use audit::AuditLog;
pub use audit::MAX_FILTER as MAX_AUDIT_FILTER;
pub use cloning::{CloneRequest, MAX_SAMPLE_BYTES};
pub use cycles::CycleAdmin;
pub use keys::{IssuedKey, KeyAdmin, NewKeyRequest};
pub use users::{NewUserRequest, QuotaChanges, UserAdmin, UserChanges};
pub use voices::{NewVoiceRequest, VoiceAdmin};

use crate::error::ApiError;
use crate::service::auth::Authenticator;
use crate::service::key_cache::KeyCache;
use crate::service::voice_cache::VoiceCache;
use crate::service::voices::VoiceCatalogue;
use crate::store::{Store, StoreError, LAST_ADMIN_KEY};

/// Every admin service, built over the same store and caches.
#[derive(Clone)]
pub struct AdminServices {
    /// Users and their quotas.
    pub users: UserAdmin,
    /// API keys.
    pub keys: KeyAdmin,
    /// Voice registration and cloning.
    pub voices: VoiceAdmin,
    /// Billing cycles.
    pub cycles: CycleAdmin,
    /// The audit log.
    pub audit: AuditLog,
}

impl AdminServices {
    /// The admin services over `store`: keys hashed with `auth`, voices listed through
    /// `catalogue`, and the caches the request path reads (`recent_keys`, `recent_voices`)
    /// cleared when a change makes them stale.
    pub fn new(
        store: Arc<dyn Store>,
        auth: Authenticator,
        catalogue: VoiceCatalogue,
        recent_keys: Arc<KeyCache>,
        recent_voices: Arc<VoiceCache>,
    ) -> AdminServices {
        AdminServices {
            users: UserAdmin::new(store.clone(), auth.clone(), recent_keys.clone()),
            keys: KeyAdmin::new(store.clone(), auth, recent_keys.clone()),
            voices: VoiceAdmin::new(store.clone(), catalogue, recent_voices),
            cycles: CycleAdmin::new(store.clone(), recent_keys),
            audit: AuditLog::new(store),
        }
    }
}

/// Maps a store error about user `id`: "not found" names the user.
fn user_not_found(id: i64) -> impl FnOnce(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => ApiError::NotFound(format!("user {id} not found")),
        other => locks_admins_out(other),
    }
}

/// The answer to a change the store refused because no admin could sign in after it.
fn locks_admins_out(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(LAST_ADMIN_KEY) => ApiError::Conflict(
            "refused: no active admin would be left with a usable API key, and nobody could \
             administer this server; issue another admin a key first, or create an admin on \
             the server with `odeadev-tts create-admin NAME EMAIL`"
                .into(),
        ),
        other => other.into(),
    }
}
