//! Admin: the audit log — who changed what, newest first.

use std::sync::Arc;

use crate::domain::audit::AuditRecord;
use crate::domain::field::InvalidField;
use crate::error::ApiError;
use crate::store::{AuditFilter, Page, Store};

/// Longest filter value, in bytes.
pub const MAX_FILTER: usize = 128;

/// Reads the audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn Store>,
}

/// A filter value as given: when present, 1 to 128 characters without control characters
/// (counted as the API document's `maxLength` counts).
fn filter_value(
    field: &'static str,
    value: Option<String>,
) -> Result<Option<String>, InvalidField> {
    match value {
        Some(v)
            if v.is_empty()
                || v.chars().count() > MAX_FILTER
                || v.chars().any(char::is_control) =>
        {
            Err(InvalidField::new(
                field,
                "must be 1 to 128 printable characters",
            ))
        }
        other => Ok(other),
    }
}

impl AuditLog {
    /// The audit log of `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        AuditLog { store }
    }

    /// Rows matching `filter` (action, target type, target id), newest first, and the total.
    pub async fn list(
        &self,
        filter: AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, i64), ApiError> {
        let filter = AuditFilter {
            action: filter_value("action", filter.action)?,
            target_type: filter_value("target_type", filter.target_type)?,
            target_id: filter_value("target_id", filter.target_id)?,
        };
        Ok(self.store.list_audit(&filter, page).await?)
    }
}
