//! The audit log: rows written inside the change's transaction, and the listing.

use chrono::Utc;

use super::rows::{self, AUDIT_COLUMNS};
use super::{fetch_all, fetch_count, Conn, Query};
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::store::{AuditFilter, Page, StoreError};

/// Writes `entry` on `conn` (the caller's transaction).
pub(crate) async fn insert(conn: &mut dyn Conn, entry: &AuditEntry) -> Result<(), StoreError> {
    let query = Query::new(
        "INSERT INTO audit_log (id, actor_user_id, action, target_type, target_id, details, request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(entry.target_id.as_deref().unwrap_or(""))
    .bind(&entry.details)
    .bind(entry.request_id.as_deref())
    .bind(Utc::now());
    conn.execute(&query).await?;
    Ok(())
}

fn filtered(select: &str, filter: &AuditFilter) -> Query<'static> {
    let mut query = Query::new(format!("{select} FROM audit_log WHERE TRUE"));
    for (column, value) in [
        ("action", &filter.action),
        ("target_type", &filter.target_type),
        ("target_id", &filter.target_id),
    ] {
        if let Some(value) = value {
            query
                .push(&format!(" AND {column} = "))
                .push_bind(value.clone());
        }
    }
    query
}

/// Rows matching `filter`, newest first (UUID v7 ids break ties in time order), and the
/// total matching.
pub(crate) async fn list(
    conn: &mut dyn Conn,
    filter: &AuditFilter,
    page: Page,
) -> Result<(Vec<AuditRecord>, i64), StoreError> {
    let total = fetch_count(conn, &filtered("SELECT COUNT(*) AS n", filter)).await?;
    let mut query = filtered(&format!("SELECT {AUDIT_COLUMNS}"), filter);
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset);
    let records = fetch_all(conn, &query, rows::audit).await?;
    Ok((records, total))
}
