//! The audit log in SQLite: rows written inside the change's transaction, and the listing.

use chrono::Utc;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::db_err;
use crate::domain::audit::{AuditEntry, AuditRecord};
use crate::store::{AuditFilter, Page, StoreError};

/// Writes `entry` on `conn` (the caller's transaction).
pub async fn insert(conn: &mut SqliteConnection, entry: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_user_id, action, target_type, target_id, details, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(entry.target_id.as_deref().unwrap_or(""))
    .bind(entry.details.to_string())
    .bind(&entry.request_id)
    .bind(Utc::now())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, filter: &AuditFilter) {
    if let Some(action) = &filter.action {
        q.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(target_type) = &filter.target_type {
        q.push(" AND target_type = ").push_bind(target_type.clone());
    }
    if let Some(target_id) = &filter.target_id {
        q.push(" AND target_id = ").push_bind(target_id.clone());
    }
}

fn record(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    let corrupt = |e: sqlx::Error| StoreError::Corrupt(format!("audit_log: {e}"));
    let details: String = row.try_get("details").map_err(corrupt)?;
    Ok(AuditRecord {
        id: row.try_get("id").map_err(corrupt)?,
        actor_user_id: row.try_get("actor_user_id").map_err(corrupt)?,
        action: row.try_get("action").map_err(corrupt)?,
        target_type: row.try_get("target_type").map_err(corrupt)?,
        target_id: row.try_get("target_id").map_err(corrupt)?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::Corrupt(format!("audit_log.details: {e}")))?,
        request_id: row.try_get("request_id").map_err(corrupt)?,
        created_at: row.try_get("created_at").map_err(corrupt)?,
    })
}

/// Rows matching `filter`, newest first (UUID v7 ids break ties in time order).
pub async fn list(
    pool: &SqlitePool,
    filter: &AuditFilter,
    page: Page,
) -> Result<(Vec<AuditRecord>, i64), StoreError> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit_log WHERE 1 = 1");
    push_filter(&mut count, filter);
    let (total,): (i64,) = count
        .build_query_as()
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT id, actor_user_id, action, target_type, target_id, details, request_id, created_at FROM audit_log WHERE 1 = 1",
    );
    push_filter(&mut q, filter);
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset);
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    let records = found.iter().map(record).collect::<Result<_, _>>()?;
    Ok((records, total))
}
