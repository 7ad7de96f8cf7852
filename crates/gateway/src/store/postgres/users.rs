//! Users in PostgreSQL.

use chrono::Utc;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use super::rows::{self, USER_COLUMNS};
use super::{audit, db_err, keys};
use crate::domain::audit::AuditEntry;
use crate::domain::cycle;
use crate::domain::records::{ApiKeyRecord, User};
use crate::store::{NewKey, NewUser, Page, StoreError, UserFilter, UserPatch};

/// Creates a user and their first key (and the audit row, if any) in one transaction.
pub async fn create(
    pool: &PgPool,
    user: NewUser,
    key: NewKey,
    audit: Option<AuditEntry>,
) -> Result<(User, ApiKeyRecord), StoreError> {
    let now = Utc::now();
    let mut tx = pool.begin().await.map_err(db_err)?;
    // The first cycle starts now, anchored at creation.
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (name, email, plan, role, quota_ms, created_at, updated_at, cycle_anchor, cycle_started_at, cycle_ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(&user.name)
    .bind(&user.email)
    .bind(user.plan.as_str())
    .bind(user.role.as_str())
    .bind(user.plan.limits().quota_ms)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(cycle::add_months(now, 1))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match db_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict("email"),
        other => other,
    })?;
    let key = keys::insert(&mut tx, id, key).await?;
    let created = get(&mut tx, id, "").await?;
    if let Some(entry) = audit {
        audit::insert(&mut tx, &entry.target(id)).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok((created, key))
}

/// A user by id; `suffix` is appended to the query (`FOR UPDATE` to lock the row).
pub async fn get(conn: &mut PgConnection, id: i64, suffix: &str) -> Result<User, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1{suffix}");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::user(&row)
}

/// A user by id, on a pooled connection.
pub async fn get_pooled(pool: &PgPool, id: i64) -> Result<User, StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    get(&mut conn, id, "").await
}

/// A filtered page of users and the total matching.
pub async fn list(
    pool: &PgPool,
    filter: &UserFilter,
    page: Page,
) -> Result<(Vec<User>, i64), StoreError> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM users u WHERE TRUE");
    push_filter(&mut count, filter);
    let (total,): (i64,) = count
        .build_query_as()
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    let mut q =
        QueryBuilder::<Postgres>::new(format!("SELECT {USER_COLUMNS} FROM users u WHERE TRUE"));
    push_filter(&mut q, filter);
    q.push(" ORDER BY u.id LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset);
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    let users = found.iter().map(rows::user).collect::<Result<_, _>>()?;
    Ok((users, total))
}

fn push_filter(q: &mut QueryBuilder<'_, Postgres>, filter: &UserFilter) {
    if let Some(plan) = filter.plan {
        q.push(" AND u.plan = ").push_bind(plan.as_str());
    }
    if let Some(active) = filter.is_active {
        q.push(" AND u.is_active = ").push_bind(active);
    }
}

/// Applies a patch under a row lock (with its audit row, if any) and returns the new user.
pub async fn update(
    pool: &PgPool,
    id: i64,
    patch: UserPatch,
    audit: Option<AuditEntry>,
) -> Result<User, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    // The row lock serialises concurrent patches; the quota rule needs the current plan.
    // Balances are never written back from memory: `used_ms` changes only when the patch
    // sets it, and `reserved_ms` is not touched, so settlements in flight are not lost.
    let current = get(&mut tx, id, " FOR UPDATE").await?;
    let plan = patch.plan.unwrap_or(current.plan);
    let (quota_ms, quota_custom) = match patch.quota_ms {
        Some(Some(ms)) => (ms, true),
        Some(None) => (plan.limits().quota_ms, false),
        None if current.quota_custom => (current.quota_ms, true),
        None => (plan.limits().quota_ms, false),
    };
    sqlx::query(
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
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let updated = get(&mut tx, id, "").await?;
    if let Some(entry) = audit {
        audit::insert(&mut tx, &entry.target(id)).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(updated)
}
