//! API keys: issue inside the caller's transaction, listing, revocation, lookup by hash.

use chrono::{DateTime, Utc};

use super::rows::{self, KEY_COLUMNS, USER_COLUMNS};
use super::{admins, audit, fetch_all, fetch_optional, get, users, Conn, Query};
use crate::domain::audit::AuditEntry;
use crate::domain::records::{ApiKeyRecord, User};
use crate::store::{NewKey, StoreError};

/// Inserts a key for `user_id` in the caller's transaction.
pub(crate) async fn insert(
    conn: &mut dyn Conn,
    user_id: i64,
    key: NewKey,
) -> Result<ApiKeyRecord, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now();
    let query = Query::new(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(key.hash.as_slice())
    .bind(now)
    .bind(key.expires_at);
    conn.execute(&query).await?;
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

/// Issues another key to an existing user, with its audit row.
pub(crate) async fn create(
    conn: &mut dyn Conn,
    user_id: i64,
    key: NewKey,
    audit_entry: AuditEntry,
) -> Result<ApiKeyRecord, StoreError> {
    let lock = conn.dialect().for_update();
    users::get_user(conn, user_id, lock).await?;
    let record = insert(conn, user_id, key).await?;
    audit::insert(conn, &audit_entry.target(&record.id)).await?;
    Ok(record)
}

/// A user's keys, newest first.
pub(crate) async fn list(
    conn: &mut dyn Conn,
    user_id: i64,
) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let sql =
        format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.id DESC");
    fetch_all(conn, &Query::new(sql).bind(user_id), rows::key).await
}

/// Revokes a key, keeping the first revocation time (revoking twice changes nothing), with
/// its audit row; refused when it is the last usable key of the active admins (see
/// `admins.rs`).
pub(crate) async fn revoke(
    conn: &mut dyn Conn,
    key_id: &str,
    audit_entry: AuditEntry,
) -> Result<ApiKeyRecord, StoreError> {
    let owner = Query::new("SELECT user_id FROM api_keys WHERE id = $1").bind(key_id);
    let owner = fetch_optional(conn, &owner, |row| get::<i64>(row, "user_id"))
        .await?
        .ok_or(StoreError::NotFound)?;
    let guarded = admins::is_active_admin(conn, owner).await?;
    if guarded {
        admins::lock_active_admins(conn).await?;
    }
    // RETURNING names the table's own columns: SQLite does not resolve an alias there.
    let sql = format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {}",
        KEY_COLUMNS.replace("k.", "")
    );
    let query = Query::new(sql).bind(Utc::now()).bind(key_id);
    let key = fetch_optional(conn, &query, rows::key)
        .await?
        .ok_or(StoreError::NotFound)?;
    if guarded {
        admins::require_a_usable_admin_key(conn).await?;
    }
    audit::insert(conn, &audit_entry.target(&key.id)).await?;
    Ok(key)
}

/// The key with this hash, with its owner.
pub(crate) async fn find(
    conn: &mut dyn Conn,
    hash: &[u8],
) -> Result<Option<(ApiKeyRecord, User)>, StoreError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS}, {USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1"
    );
    fetch_optional(conn, &Query::new(sql).bind(hash), rows::key_and_user).await
}

/// Records a use of a key.
pub(crate) async fn touch(
    conn: &mut dyn Conn,
    key_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = Query::new("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(at)
        .bind(key_id);
    conn.execute(&query).await?;
    Ok(())
}
