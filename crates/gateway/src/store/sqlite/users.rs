//! Users in SQLite.

use chrono::Utc;
use sqlx::{Executor, QueryBuilder, Sqlite, SqlitePool};

use super::rows::{self, USER_COLUMNS};
use super::{audit, db_err, keys};
use crate::domain::audit::AuditEntry;
use crate::domain::cycle;
use crate::domain::records::{ApiKeyRecord, User};
use crate::store::{NewKey, NewUser, Page, StoreError, UserFilter, UserPatch};

pub async fn create(
    pool: &SqlitePool,
    user: NewUser,
    key: NewKey,
    audit: Option<AuditEntry>,
) -> Result<(User, ApiKeyRecord), StoreError> {
    let now = Utc::now();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    // The first cycle starts now, anchored at creation.
    let inserted = sqlx::query(
        "INSERT INTO users (name, email, plan, role, quota_ms, created_at, updated_at, cycle_anchor, cycle_started_at, cycle_ends_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
    let id: i64 = sqlx::Row::try_get(&inserted, 0).map_err(db_err)?;
    let key = keys::insert(&mut tx, id, key).await?;
    let created = get(&mut *tx, id).await?;
    if let Some(entry) = audit {
        audit::insert(&mut tx, &entry.target(id)).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok((created, key))
}

pub async fn get<'e, E: Executor<'e, Database = Sqlite>>(
    executor: E,
    id: i64,
) -> Result<User, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(executor)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::user(&row)
}

pub async fn list(
    pool: &SqlitePool,
    filter: &UserFilter,
    page: Page,
) -> Result<(Vec<User>, i64), StoreError> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM users u WHERE 1 = 1");
    push_filter(&mut count, filter);
    let (total,): (i64,) = count
        .build_query_as()
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    let mut q =
        QueryBuilder::<Sqlite>::new(format!("SELECT {USER_COLUMNS} FROM users u WHERE 1 = 1"));
    push_filter(&mut q, filter);
    q.push(" ORDER BY u.id LIMIT ")
        .push_bind(page.limit)
        .push(" OFFSET ")
        .push_bind(page.offset);
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    let users = found.iter().map(rows::user).collect::<Result<_, _>>()?;
    Ok((users, total))
}

fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, filter: &UserFilter) {
    if let Some(plan) = filter.plan {
        q.push(" AND u.plan = ").push_bind(plan.as_str());
    }
    if let Some(active) = filter.is_active {
        q.push(" AND u.is_active = ").push_bind(active);
    }
}

pub async fn update(
    pool: &SqlitePool,
    id: i64,
    patch: UserPatch,
    audit: Option<AuditEntry>,
) -> Result<User, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let current = get(&mut *tx, id).await?;
    let plan = patch.plan.unwrap_or(current.plan);
    let (quota_ms, quota_custom) = match patch.quota_ms {
        Some(Some(ms)) => (ms, true),
        Some(None) => (plan.limits().quota_ms, false),
        None if current.quota_custom => (current.quota_ms, true),
        None => (plan.limits().quota_ms, false),
    };
    sqlx::query(
        "UPDATE users SET name = ?, plan = ?, role = ?, is_active = ?, quota_ms = ?, quota_custom = ?, used_ms = ?, rpm_limit = ?, max_streams = ?, updated_at = ? WHERE id = ?",
    )
    .bind(patch.name.unwrap_or(current.name))
    .bind(plan.as_str())
    .bind(patch.role.unwrap_or(current.role).as_str())
    .bind(patch.is_active.unwrap_or(current.is_active))
    .bind(quota_ms)
    .bind(quota_custom)
    .bind(patch.used_ms.unwrap_or(current.used_ms))
    .bind(patch.rpm_limit.unwrap_or(current.rpm_limit))
    .bind(patch.max_streams.unwrap_or(current.max_streams))
    .bind(Utc::now())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let updated = get(&mut *tx, id).await?;
    if let Some(entry) = audit {
        audit::insert(&mut tx, &entry.target(id)).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(updated)
}
