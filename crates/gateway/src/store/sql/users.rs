//! Users: creation with the first key, lookups, the filtered listing, and patches.

use chrono::Utc;

use super::rows::{self, USER_COLUMNS};
use super::{admins, audit, fetch_all, fetch_count, fetch_one, get, keys, Conn, Query};
use crate::domain::audit::AuditEntry;
use crate::domain::cycle;
use crate::domain::plan::Role;
use crate::domain::records::{ApiKeyRecord, User};
use crate::store::{NewKey, NewUser, Page, StoreError, UserFilter, UserPatch};

/// Creates a user, their first key and the audit row, in the caller's transaction. The
/// first cycle starts now, anchored at creation.
pub(crate) async fn create(
    conn: &mut dyn Conn,
    user: NewUser,
    key: NewKey,
    audit_entry: AuditEntry,
) -> Result<(User, ApiKeyRecord), StoreError> {
    let now = Utc::now();
    let insert = Query::new(
        "INSERT INTO users (name, email, plan, role, quota_ms, created_at, updated_at, cycle_anchor, cycle_started_at, cycle_ends_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $6, $7) RETURNING id",
    )
    .bind(&user.name)
    .bind(&user.email)
    .bind(user.plan.as_str())
    .bind(user.role.as_str())
    .bind(user.plan.limits().quota_ms)
    .bind(now)
    .bind(cycle::add_months(now, 1));
    let id: i64 = fetch_one(conn, &insert, |row| get(row, "id"))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("email"),
            other => other,
        })?;
    let key = keys::insert(conn, id, key).await?;
    let created = get_user(conn, id, "").await?;
    audit::insert(conn, &audit_entry.target(id)).await?;
    Ok((created, key))
}

/// A user by id; `suffix` is appended to the query (the dialect's `FOR UPDATE` to lock it).
pub(crate) async fn get_user(
    conn: &mut dyn Conn,
    id: i64,
    suffix: &str,
) -> Result<User, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1{suffix}");
    fetch_one(conn, &Query::new(sql).bind(id), rows::user).await
}

fn filtered(select: &str, filter: &UserFilter) -> Query<'static> {
    let mut query = Query::new(format!("{select} FROM users u WHERE TRUE"));
    if let Some(plan) = filter.plan {
        query.push(" AND u.plan = ").push_bind(plan.as_str());
    }
    if let Some(active) = filter.is_active {
        query.push(" AND u.is_active = ").push_bind(active);
    }
    query
}

/// A filtered page of users, by id, and the total matching.
pub(crate) async fn list(
    conn: &mut dyn Conn,
    filter: &UserFilter,
    page: Page,
) -> Result<(Vec<User>, i64), StoreError> {
    let total = fetch_count(conn, &filtered("SELECT COUNT(*) AS n", filter)).await?;
    let mut query = filtered(&format!("SELECT {USER_COLUMNS}"), filter);
    query
        .push(" ORDER BY u.id LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset);
    let users = fetch_all(conn, &query, rows::user).await?;
    Ok((users, total))
}

/// Applies a patch (and writes its audit row) in the caller's transaction; returns the new
/// user.
///
/// The user's row is read locked (PostgreSQL) or under the write lock (SQLite), since the
/// quota rule needs the current plan. Balances are never written back from memory: `used_ms`
/// changes only when the patch sets it, and `reserved_ms` is not touched, so settlements in
/// flight are not lost.
pub(crate) async fn update(
    conn: &mut dyn Conn,
    id: i64,
    patch: UserPatch,
    audit_entry: AuditEntry,
) -> Result<User, StoreError> {
    let lock = conn.dialect().for_update();
    // Deactivating an admin, or taking the role, may leave no admin able to sign in.
    let demotes = patch.is_active == Some(false) || patch.role.is_some_and(|r| r != Role::Admin);
    let guarded = demotes && admins::is_active_admin(conn, id).await?;
    if guarded {
        admins::lock_active_admins(conn).await?;
    }
    let current = get_user(conn, id, lock).await?;
    let plan = patch.plan.unwrap_or(current.plan);
    let (quota_ms, quota_custom) = match patch.quota_ms {
        Some(Some(ms)) => (ms, true),
        Some(None) => (plan.limits().quota_ms, false),
        None if current.quota_custom => (current.quota_ms, true),
        None => (plan.limits().quota_ms, false),
    };
    let query = Query::new(
        "UPDATE users SET name = $1, plan = $2, role = $3, is_active = $4, quota_ms = $5, quota_custom = $6, used_ms = COALESCE($7, used_ms), rpm_limit = $8, max_streams = $9, updated_at = $10 WHERE id = $11",
    )
    .bind(patch.name.unwrap_or(current.name))
    .bind(plan.as_str())
    .bind(patch.role.unwrap_or(current.role).as_str())
    .bind(patch.is_active.unwrap_or(current.is_active))
    .bind(quota_ms)
    .bind(quota_custom)
    .bind(patch.used_ms)
    .bind(patch.rpm_limit.unwrap_or(current.rpm_limit))
    .bind(patch.max_streams.unwrap_or(current.max_streams))
    .bind(Utc::now())
    .bind(id);
    conn.execute(&query).await?;
    if guarded {
        admins::require_a_usable_admin_key(conn).await?;
    }
    let updated = get_user(conn, id, "").await?;
    audit::insert(conn, &audit_entry.target(id)).await?;
    Ok(updated)
}
