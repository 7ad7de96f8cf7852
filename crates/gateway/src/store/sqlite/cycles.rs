//! Billing cycles in SQLite: lazy rollover inside the reservation transaction, the reaper's
//! sweep, admin resets, and the closed periods.
//!
//! Every rollover is one conditional update on `cycle_started_at`: whoever still sees the
//! old start moves it and writes the closed period; anyone else updates nothing. (SQLite has
//! one writer at a time anyway; the same rule is what makes PostgreSQL nodes safe.)

use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use super::instants::unix_nanos;
use super::{audit, db_err, users};
use crate::domain::audit::AuditEntry;
use crate::domain::cycle::{self, BillingPeriod, CycleCheck};
use crate::domain::records::User;
use crate::store::{Page, StoreError};

/// Users examined per sweep query.
const SWEEP_BATCH: i64 = 500;

/// A cycle to close and the one that follows it.
struct Closing {
    old_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    next_start: DateTime<Utc>,
    next_end: DateTime<Utc>,
    reason: &'static str,
    now: DateTime<Utc>,
}

/// Closes the cycle that started at `c.old_start`, once: returns false when it was not the
/// current cycle any more (closed by someone else).
async fn close(conn: &mut SqliteConnection, user_id: i64, c: Closing) -> Result<bool, StoreError> {
    let moved: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE users SET cycle_started_at = ?, cycle_ends_at = ?, updated_at = ? WHERE id = ? AND cycle_started_at = ? RETURNING used_ms, quota_ms",
    )
    .bind(c.next_start)
    .bind(c.next_end)
    .bind(c.now)
    .bind(user_id)
    .bind(c.old_start)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some((used_ms, quota_ms)) = moved else {
        return Ok(false);
    };
    // Requests recorded while this cycle was current: up to now, not just its natural end,
    // as anything settled before the rollover is in its `used_ms` too.
    let (requests,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM usage_records WHERE user_id = ? AND created_ns >= ? AND created_ns < ?",
    )
    .bind(user_id)
    .bind(unix_nanos(&c.old_start))
    .bind(unix_nanos(&c.now.max(c.period_end)))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO billing_periods (user_id, period_start, period_end, quota_ms, used_ms, requests, reason, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, period_start) DO NOTHING",
    )
    .bind(user_id)
    .bind(c.old_start)
    .bind(c.period_end)
    .bind(quota_ms)
    .bind(used_ms)
    .bind(requests)
    .bind(c.reason)
    .bind(c.now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    // Relative, so the closed period plus the new cycle always add up to what was billed;
    // `reserved_ms` is untouched: requests in flight settle into the new cycle.
    sqlx::query("UPDATE users SET used_ms = used_ms - ? WHERE id = ?")
        .bind(used_ms)
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(true)
}

/// Rolls the user's cycle over when it ended by `now`, on the caller's transaction; returns
/// whether a cycle was closed. One indexed lookup that finds nothing on the usual path.
pub async fn roll_if_due(
    conn: &mut SqliteConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let due: Option<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT cycle_anchor, cycle_started_at FROM users WHERE id = ? AND cycle_ends_at <= ?",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some((anchor, started)) = due else {
        return Ok(false);
    };
    match cycle::check(anchor, started, now) {
        // A stored end that was only a placeholder (migrated users): record the real one.
        CycleCheck::Running { ends_at } => {
            sqlx::query("UPDATE users SET cycle_ends_at = ? WHERE id = ? AND cycle_started_at = ?")
                .bind(ends_at)
                .bind(user_id)
                .bind(started)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            Ok(false)
        }
        CycleCheck::RollOver {
            closed_end,
            next_start,
            next_end,
        } => {
            let closing = Closing {
                old_start: started,
                period_end: closed_end,
                next_start,
                next_end,
                reason: "rollover",
                now,
            };
            close(conn, user_id, closing).await
        }
    }
}

/// Rolls over every cycle that ended by `now`, one short transaction per user.
pub async fn roll_over_due(pool: &SqlitePool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut after = 0_i64;
    let mut closed = 0;
    loop {
        let due: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM users WHERE cycle_ends_at <= ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(now)
        .bind(after)
        .bind(SWEEP_BATCH)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        for (user_id,) in &due {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
            if roll_if_due(&mut tx, *user_id, now).await? {
                closed += 1;
            }
            tx.commit().await.map_err(db_err)?;
        }
        match due.last() {
            Some((last,)) if due.len() as i64 == SWEEP_BATCH => after = *last,
            _ => return Ok(closed),
        }
    }
}

/// Closes the current cycle at `now` and starts a new one there, keeping the anchor.
pub async fn reset(
    pool: &SqlitePool,
    user_id: i64,
    now: DateTime<Utc>,
    entry: AuditEntry,
) -> Result<User, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let current = users::get(&mut *tx, user_id).await?;
    // Never end a cycle before it began (clocks of different nodes differ a little).
    let at = now.max(current.cycle_started_at);
    let closing = Closing {
        old_start: current.cycle_started_at,
        period_end: at,
        next_start: at,
        next_end: cycle::boundary_after(current.cycle_anchor, at),
        reason: "reset",
        now,
    };
    close(&mut tx, user_id, closing).await?;
    let details = serde_json::json!({
        "closed_period_start": current.cycle_started_at,
        "closed_period_end": at,
        "closed_used_ms": current.used_ms,
    });
    audit::insert(&mut tx, &entry.target(user_id).details(details)).await?;
    let updated = users::get(&mut *tx, user_id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(updated)
}

/// A user's closed periods, newest first.
pub async fn list_periods(
    pool: &SqlitePool,
    user_id: i64,
    page: Page,
) -> Result<Vec<BillingPeriod>, StoreError> {
    let rows: Vec<PeriodRow> = sqlx::query_as(
        "SELECT user_id, period_start, period_end, quota_ms, used_ms, requests, reason, closed_at FROM billing_periods WHERE user_id = ? ORDER BY period_start DESC LIMIT ? OFFSET ?",
    )
    .bind(user_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(period).collect())
}

/// A `billing_periods` row as selected by [`list_periods`].
type PeriodRow = (
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    i64,
    i64,
    i64,
    String,
    DateTime<Utc>,
);

fn period(row: PeriodRow) -> BillingPeriod {
    let (user_id, period_start, period_end, quota_ms, used_ms, requests, reason, closed_at) = row;
    BillingPeriod {
        user_id,
        period_start,
        period_end,
        quota_ms,
        used_ms,
        requests,
        reason,
        closed_at,
    }
}
