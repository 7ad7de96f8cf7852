//! Billing cycles: lazy rollover inside the reservation's transaction, the background sweep,
//! admin resets, and the closed periods.
//!
//! Every rollover is one conditional update on `cycle_started_at`: whoever still sees the
//! old start moves it and writes the closed period; anyone else updates nothing. On
//! PostgreSQL a racing node blocks on the row lock, then re-checks the `WHERE` against the
//! committed row (READ COMMITTED) and finds the start already moved; SQLite has one writer
//! at a time anyway.

use chrono::{DateTime, Utc};

use super::rows::{self, PERIOD_COLUMNS};
use super::{audit, fetch_all, fetch_count, fetch_optional, get, users, Conn, Query};
use crate::domain::audit::AuditEntry;
use crate::domain::cycle::{self, BillingPeriod, CycleCheck};
use crate::domain::records::User;
use crate::store::{Page, StoreError};

/// Users examined per sweep query.
pub(crate) const SWEEP_BATCH: i64 = 500;

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
async fn close(conn: &mut dyn Conn, user_id: i64, c: Closing) -> Result<bool, StoreError> {
    let moved = Query::new(
        "UPDATE users SET cycle_started_at = $1, cycle_ends_at = $2, updated_at = $3 WHERE id = $4 AND cycle_started_at = $5 RETURNING used_ms, quota_ms",
    )
    .bind(c.next_start)
    .bind(c.next_end)
    .bind(c.now)
    .bind(user_id)
    .bind(c.old_start);
    let Some((used_ms, quota_ms)) = fetch_optional(conn, &moved, |row| {
        Ok((get::<i64>(row, "used_ms")?, get::<i64>(row, "quota_ms")?))
    })
    .await?
    else {
        return Ok(false);
    };
    // Requests recorded while this cycle was current: up to now, not just its natural end,
    // as anything settled before the rollover is in its `used_ms` too; refusals by a limit
    // count by the hour they fell in.
    let dialect = conn.dialect();
    let time = dialect.usage_time_column();
    let counted = Query::new(format!(
        "SELECT (SELECT COUNT(*) FROM usage_records WHERE user_id = $1 AND {time} >= $2 AND {time} < $3) \
         + (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_refusals WHERE user_id = $1 AND {time} >= $2 AND {time} < $3) AS n"
    ))
    .bind(user_id)
    .bind(dialect.usage_time(c.old_start))
    .bind(dialect.usage_time(c.now.max(c.period_end)));
    let requests = fetch_count(conn, &counted).await?;
    let period = Query::new(
        "INSERT INTO billing_periods (user_id, period_start, period_end, quota_ms, used_ms, requests, reason, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, period_start) DO NOTHING",
    )
    .bind(user_id)
    .bind(c.old_start)
    .bind(c.period_end)
    .bind(quota_ms)
    .bind(used_ms)
    .bind(requests)
    .bind(c.reason)
    .bind(c.now);
    conn.execute(&period).await?;
    // Relative, so the closed period plus the new cycle always add up to what was billed;
    // `reserved_ms` is untouched: requests in flight settle into the new cycle.
    let billed = Query::new("UPDATE users SET used_ms = used_ms - $1 WHERE id = $2")
        .bind(used_ms)
        .bind(user_id);
    conn.execute(&billed).await?;
    Ok(true)
}

/// Rolls the user's cycle over when it ended by `now`, in the caller's transaction; returns
/// whether a cycle was closed. One indexed lookup that finds nothing on the usual path.
pub(crate) async fn roll_if_due(
    conn: &mut dyn Conn,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let due = Query::new(
        "SELECT cycle_anchor, cycle_started_at FROM users WHERE id = $1 AND cycle_ends_at <= $2",
    )
    .bind(user_id)
    .bind(now);
    let Some((anchor, started)) = fetch_optional(conn, &due, |row| {
        Ok((
            get::<DateTime<Utc>>(row, "cycle_anchor")?,
            get::<DateTime<Utc>>(row, "cycle_started_at")?,
        ))
    })
    .await?
    else {
        return Ok(false);
    };
    match cycle::check(anchor, started, now) {
        // A stored end that was only a placeholder (migrated users): record the real one.
        CycleCheck::Running { ends_at } => {
            let fixed = Query::new(
                "UPDATE users SET cycle_ends_at = $1 WHERE id = $2 AND cycle_started_at = $3",
            )
            .bind(ends_at)
            .bind(user_id)
            .bind(started);
            conn.execute(&fixed).await?;
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

/// Users whose cycle ended by `now`, by id after `after`, at most [`SWEEP_BATCH`].
pub(crate) async fn due_users(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    after: i64,
) -> Result<Vec<i64>, StoreError> {
    let query = Query::new(
        "SELECT id FROM users WHERE cycle_ends_at <= $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(now)
    .bind(after)
    .bind(SWEEP_BATCH);
    fetch_all(conn, &query, |row| get(row, "id")).await
}

/// Closes the user's current cycle at `now` and starts a new one there, keeping the anchor;
/// with its audit row.
pub(crate) async fn reset(
    conn: &mut dyn Conn,
    user_id: i64,
    now: DateTime<Utc>,
    entry: AuditEntry,
) -> Result<User, StoreError> {
    // The row lock orders this reset against reservations, settlements and rollovers.
    let lock = conn.dialect().for_update();
    let current = users::get_user(conn, user_id, lock).await?;
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
    close(conn, user_id, closing).await?;
    let details = serde_json::json!({
        "closed_period_start": current.cycle_started_at,
        "closed_period_end": at,
        "closed_used_ms": current.used_ms,
    });
    audit::insert(conn, &entry.target(user_id).details(details)).await?;
    users::get_user(conn, user_id, "").await
}

/// A user's closed periods, newest first.
pub(crate) async fn list_periods(
    conn: &mut dyn Conn,
    user_id: i64,
    page: Page,
) -> Result<Vec<BillingPeriod>, StoreError> {
    let sql = format!(
        "SELECT {PERIOD_COLUMNS} FROM billing_periods WHERE user_id = $1 ORDER BY period_start DESC LIMIT $2 OFFSET $3"
    );
    let query = Query::new(sql)
        .bind(user_id)
        .bind(page.limit)
        .bind(page.offset);
    fetch_all(conn, &query, rows::period).await
}
