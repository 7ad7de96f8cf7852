//! Metering that both databases run the same way: the full reservation (cycle rollover
//! first, then the conditional reservation or the refusal), records written already settled,
//! leases and the reaper. The hot path (the reservation's usual case and the settlement) is
//! each backend's own: see `sqlite::metering` and `postgres::metering`.
//!
//! Every balance change is a relative, conditional `UPDATE` on the user's row, so concurrent
//! requests on any number of nodes serialise on that row and re-check the condition against
//! the committed values.

use chrono::{DateTime, Utc};

use super::usage::{self, Outcome};
use super::{cycles, fetch_all, fetch_one, get, Conn, Dialect, Query};
use crate::domain::records::UsageStatus;
use crate::store::{
    settlement_error, RefusalCount, Reservation, Settled, Settlement, StoreError, UsageContext,
};

/// Expired leases settled per reaper transaction, so one pass never holds many locks long.
pub(crate) const REAP_BATCH: i64 = 500;

/// The user's remaining milliseconds, as a select-list expression over `users`, its columns
/// qualified by `table` (`u.`) or not (a `RETURNING` list: SQLite resolves no alias there).
fn remaining(conn: &dyn Conn, table: &str) -> String {
    let greatest = conn.dialect().greatest();
    format!("{greatest}(0, {table}quota_ms - {table}used_ms)")
}

/// The full reservation, in the caller's transaction: a cycle that ended starts again from
/// zero first, then the estimate is reserved with its pending record, or the refusal is
/// recorded with what the quota could still cover.
pub(crate) async fn reserve(
    conn: &mut dyn Conn,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    cycles::roll_if_due(conn, usage.user_id, Utc::now()).await?;
    let reserve = Query::new(
        "UPDATE users SET reserved_ms = reserved_ms + $1 WHERE id = $2 AND is_active AND used_ms + reserved_ms + $1 <= quota_ms",
    )
    .bind(estimate_ms)
    .bind(usage.user_id);
    if conn.execute(&reserve).await? == 1 {
        usage::insert(conn, usage, Outcome::pending(estimate_ms, lease_until)).await?;
        return Ok(Reservation::Reserved);
    }
    // Only for the client's message: the decision above was already taken atomically.
    let sql = format!(
        "SELECT {}(0, quota_ms - used_ms - reserved_ms) AS n FROM users WHERE id = $1",
        conn.dialect().greatest()
    );
    let available_ms = fetch_one(conn, &Query::new(sql).bind(usage.user_id), |row| {
        get(row, "n")
    })
    .await?;
    let refused = Outcome {
        status: UsageStatus::QuotaExceeded,
        reserved_ms: 0,
        audio_ms: 0,
        error: Some(("quota_exceeded", "quota cannot cover the request")),
        lease_until: None,
    };
    usage::insert(conn, usage, refused).await?;
    Ok(Reservation::Insufficient { available_ms })
}

/// The user's remaining milliseconds after a settlement that found its record settled
/// already; [`StoreError::NotFound`] when there is no such record.
pub(crate) async fn remaining_after(
    conn: &mut dyn Conn,
    usage_id: &str,
) -> Result<Settled, StoreError> {
    let sql = format!(
        "SELECT {} AS n FROM usage_records r JOIN users u ON u.id = r.user_id WHERE r.id = $1",
        remaining(conn, "u.")
    );
    let remaining_ms =
        fetch_one(conn, &Query::new(sql).bind(usage_id), |row| get(row, "n")).await?;
    Ok(Settled {
        applied: false,
        remaining_ms,
    })
}

/// Writes the record of a request whose reservation is gone, already settled, and bills the
/// user; see `Store::settle_unreserved`.
///
/// The lost reservation no longer holds its share of the quota, so the bill is capped at what
/// the quota still has free (after the reservations still held): a database crash can make the
/// gateway give away audio, never take a user past their quota.
pub(crate) async fn settle_unreserved(
    conn: &mut dyn Conn,
    usage: &UsageContext,
    settlement: Settlement,
) -> Result<Settled, StoreError> {
    let sql = format!(
        "SELECT {greatest}(0, quota_ms - used_ms - reserved_ms) AS free_ms FROM users WHERE id = $1{lock}",
        greatest = conn.dialect().greatest(),
        lock = conn.dialect().for_update()
    );
    let free_ms: i64 = fetch_one(conn, &Query::new(sql).bind(usage.user_id), |row| {
        get(row, "free_ms")
    })
    .await?;
    let billed_ms = settlement.billed_ms.clamp(0, free_ms);
    if billed_ms < settlement.billed_ms {
        tracing::warn!(
            usage_id = %usage.id,
            asked_ms = settlement.billed_ms,
            billed_ms,
            "a request whose reservation was lost billed only the quota still free"
        );
    }
    let settled = Outcome {
        status: settlement.status,
        reserved_ms: 0,
        audio_ms: billed_ms,
        error: settlement_error(&settlement),
        lease_until: None,
    };
    usage::insert(conn, usage, settled).await?;
    let sql = format!(
        "UPDATE users SET used_ms = used_ms + $1 WHERE id = $2 RETURNING {} AS n",
        remaining(conn, "")
    );
    let query = Query::new(sql).bind(billed_ms).bind(usage.user_id);
    let remaining_ms = fetch_one(conn, &query, |row| get(row, "n")).await?;
    Ok(Settled {
        applied: true,
        remaining_ms,
    })
}

/// Adds refusal counts, in the caller's transaction.
pub(crate) async fn count_refusals(
    conn: &mut dyn Conn,
    counts: &[RefusalCount],
) -> Result<(), StoreError> {
    let sqlite = conn.dialect() == Dialect::Sqlite;
    for count in counts {
        let (column, value) = if sqlite {
            (", created_ns", ", $5")
        } else {
            ("", "")
        };
        let sql = format!(
            "INSERT INTO usage_refusals (user_id, created_at, status, requests{column}) VALUES ($1, $2, $3, $4{value}) \
             ON CONFLICT (user_id, created_at, status) DO UPDATE SET requests = usage_refusals.requests + excluded.requests"
        );
        let query = Query::new(sql)
            .bind(count.user_id)
            .bind(count.hour)
            .bind(count.status.as_str())
            .bind(count.requests);
        let query = if sqlite {
            query.bind(super::unix_nanos(&count.hour))
        } else {
            query
        };
        conn.execute(&query).await?;
    }
    Ok(())
}

/// Pushes a pending record's lease out.
pub(crate) async fn extend_lease(
    conn: &mut dyn Conn,
    usage_id: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = Query::new(
        "UPDATE usage_records SET lease_expires_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(lease_until)
    .bind(usage_id);
    conn.execute(&query).await?;
    Ok(())
}

/// Settles one batch (at most [`REAP_BATCH`]) of pending records whose lease ran out by
/// `now` as failed, releasing their reservations; returns how many. On PostgreSQL `SKIP
/// LOCKED` lets reapers on several nodes share the work, and a record a request is settling
/// right now is skipped rather than waited for (the `status = 'pending'` guard decides the
/// race).
pub(crate) async fn reap_batch(conn: &mut dyn Conn, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE usage_records SET status = 'error', audio_ms = 0, error_code = 'lease_expired', error_message = 'the request did not finish before its reservation expired', settled_at = $1, lease_expires_at = NULL \
         WHERE id IN (SELECT id FROM usage_records WHERE status = 'pending' AND lease_expires_at < $1 ORDER BY lease_expires_at LIMIT $2{}) \
         AND status = 'pending' RETURNING user_id, reserved_ms",
        conn.dialect().skip_locked()
    );
    let query = Query::new(sql).bind(now).bind(REAP_BATCH);
    let mut expired = fetch_all(conn, &query, |row| {
        Ok((get::<i64>(row, "user_id")?, get::<i64>(row, "reserved_ms")?))
    })
    .await?;
    let count = expired.len() as u64;
    // Release per user in id order, so two reapers never wait on each other's user rows in
    // opposite orders (no deadlock); each release is a relative decrement in SQL.
    expired.sort_unstable();
    for chunk in expired.chunk_by(|a, b| a.0 == b.0) {
        let released: i64 = chunk.iter().map(|(_, ms)| ms).sum();
        let release = Query::new("UPDATE users SET reserved_ms = reserved_ms - $1 WHERE id = $2")
            .bind(released)
            .bind(chunk[0].0);
        conn.execute(&release).await?;
    }
    Ok(count)
}
