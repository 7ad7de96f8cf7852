//! The caller's own account: their usage records and totals.

use std::sync::Arc;

use crate::domain::records::{UsageRecord, UsageStats};
use crate::error::ApiError;
use crate::store::{Page, Store};

/// Reads a user's own usage.
#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn Store>,
}

impl AccountService {
    /// Accounts kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        AccountService { store }
    }

    /// User `user_id`'s usage records, newest first.
    pub async fn usage(&self, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, ApiError> {
        Ok(self.store.list_usage(user_id, page).await?)
    }

    /// Totals over user `user_id`'s usage records.
    pub async fn usage_stats(&self, user_id: i64) -> Result<UsageStats, ApiError> {
        Ok(self.store.usage_stats(user_id).await?)
    }
}
