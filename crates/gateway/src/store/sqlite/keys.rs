//! API keys in SQLite.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::db_err;
use super::rows::{self, KEY_COLUMNS};
use crate::domain::audit::AuditEntry;
use crate::domain::records::ApiKeyRecord;
use crate::store::{NewKey, StoreError};

pub async fn insert(
    tx: &mut Transaction<'_, Sqlite>,
    user_id: i64,
    key: NewKey,
) -> Result<ApiKeyRecord, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.hash)
    .bind(now)
    .bind(key.expires_at)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(ApiKeyRecord {
        id,
        user_id,
        name: key.name,
        prefix: key.prefix,
        hash: key.hash,
        created_at: now,
        expires_at: key.expires_at,
        last_used_at: None,
        revoked_at: None,
    })
}

pub async fn list(pool: &SqlitePool, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let sql =
        format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = ? ORDER BY k.id DESC");
    let found = sqlx::query(&sql)
        .bind(user_id)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    found.iter().map(rows::key).collect()
}

pub async fn revoke(
    pool: &SqlitePool,
    key_id: &str,
    audit: Option<AuditEntry>,
) -> Result<ApiKeyRecord, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let sql = format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING {}",
        KEY_COLUMNS.replace("k.", "")
    );
    let row = sqlx::query(&sql)
        .bind(Utc::now())
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    let key = rows::key(&row)?;
    if let Some(entry) = audit {
        super::audit::insert(&mut tx, &entry.target(&key.id)).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(key)
}

pub async fn touch(pool: &SqlitePool, key_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
        .bind(at)
        .bind(key_id)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}
