//! The rule that keeps the admins able to sign in: a change may not leave no active admin with
//! a usable key (not revoked, not expired). Revoking an admin's key, deactivating an admin or
//! taking their role checks it in the change's own transaction.
//!
//! The check counts keys after the change, so two admins revoking each other's last keys at
//! once must not both see the other's key still there: the active admins' rows are locked
//! first, in id order (PostgreSQL; SQLite's write transaction already excludes other writers),
//! so the second change waits for the first and then counts what it left.

use chrono::Utc;

use super::{fetch_all, fetch_count, get, Conn, Query};
use crate::store::{StoreError, LAST_ADMIN_KEY};

/// Locks the rows of every active admin until the transaction ends.
pub(crate) async fn lock_active_admins(conn: &mut dyn Conn) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id{}",
        conn.dialect().for_update()
    );
    fetch_all(conn, &Query::new(sql), |row| get::<i64>(row, "id")).await?;
    Ok(())
}

/// Fails with [`LAST_ADMIN_KEY`] unless an active admin still has a usable key.
pub(crate) async fn require_a_usable_admin_key(conn: &mut dyn Conn) -> Result<(), StoreError> {
    let query = Query::new(
        "SELECT COUNT(*) AS n FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE u.role = 'admin' AND u.is_active AND k.revoked_at IS NULL \
         AND (k.expires_at IS NULL OR k.expires_at > $1)",
    )
    .bind(Utc::now());
    if fetch_count(conn, &query).await? == 0 {
        return Err(StoreError::Conflict(LAST_ADMIN_KEY));
    }
    Ok(())
}

/// Whether the user is an active admin (a change to them may break the rule).
pub(crate) async fn is_active_admin(conn: &mut dyn Conn, user_id: i64) -> Result<bool, StoreError> {
    let query = Query::new(
        "SELECT COUNT(*) AS n FROM users WHERE id = $1 AND role = 'admin' AND is_active",
    )
    .bind(user_id);
    Ok(fetch_count(conn, &query).await? > 0)
}
