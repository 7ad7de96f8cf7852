//! Admin: billing cycles — close a user's cycle now, and list their closed periods.
//!
//! A reset closes the current cycle at the moment of the request (its totals go to the
//! billing periods), zeroes used seconds and starts a new cycle there; the anchor stays, so
//! that cycle is short: it ends at the anchor's next monthly boundary, and later cycles are
//! whole months again. Reservations in flight are kept and settle into the new cycle.

use std::sync::Arc;

use chrono::Utc;

use super::user_not_found;
use crate::domain::audit::{action, target, Actor};
use crate::domain::cycle::BillingPeriod;
use crate::domain::records::User;
use crate::error::ApiError;
use crate::service::key_cache::KeyCache;
use crate::store::{Page, Store};

/// Resets billing cycles and lists closed ones.
#[derive(Clone)]
pub struct CycleAdmin {
    store: Arc<dyn Store>,
    /// Keys this node looked up lately, with their users; forgotten when a user changes.
    recent_keys: Arc<KeyCache>,
}

impl CycleAdmin {
    /// Cycle administration over `store`, clearing `recent_keys`.
    pub fn new(store: Arc<dyn Store>, recent_keys: Arc<KeyCache>) -> Self {
        CycleAdmin { store, recent_keys }
    }

    /// Closes user `user_id`'s current cycle now and starts a new one, audited.
    pub async fn reset_cycle(&self, actor: &Actor, user_id: i64) -> Result<User, ApiError> {
        let audit = actor.entry(action::CYCLE_RESET, target::USER);
        let reset = self.store.reset_cycle(user_id, Utc::now(), audit).await;
        let user = reset.map_err(user_not_found(user_id))?;
        self.recent_keys.clear();
        Ok(user)
    }

    /// A user's closed billing periods, newest first (404 for an unknown user).
    pub async fn list_billing_periods(
        &self,
        user_id: i64,
        page: Page,
    ) -> Result<Vec<BillingPeriod>, ApiError> {
        self.store
            .get_user(user_id)
            .await
            .map_err(user_not_found(user_id))?;
        Ok(self.store.list_billing_periods(user_id, page).await?)
    }
}
