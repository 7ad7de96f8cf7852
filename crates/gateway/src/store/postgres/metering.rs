//! Reservation, settlement and reaping in PostgreSQL.
//!
//! Every balance change is a relative, conditional `UPDATE` on the user's row, so concurrent
//! requests on any number of nodes serialise on that row lock and re-check the condition
//! against the committed values (READ COMMITTED re-evaluates the `WHERE` of a blocked update).

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres};

use super::db_err;
use super::metering_connections::MeteringConnections;
use crate::domain::records::UsageStatus;
use crate::store::{settlement_error, Reservation, Settled, Settlement, StoreError, UsageContext};

const INSERT_USAGE: &str = "INSERT INTO usage_records (id, user_id, key_id, voice_id, request_id, endpoint, engine, model_used, text_length, status, reserved_ms, audio_ms, error_code, error_message, lease_expires_at, created_at, settled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

/// Expired leases settled per reaper transaction, so one pass never holds many locks long.
const REAP_BATCH: i64 = 500;

struct Outcome<'a> {
    status: UsageStatus,
    reserved_ms: i64,
    /// Billed audio: zero unless the record is written already settled.
    audio_ms: i64,
    error: Option<(&'a str, &'a str)>,
    lease_until: Option<DateTime<Utc>>,
}

/// Binds a request's usage context as `$1`–`$9`, in the column order both `INSERT_USAGE` and
/// `RESERVE_FAST` use.
fn bind_usage<'q>(
    query: Query<'q, Postgres, PgArguments>,
    usage: &'q UsageContext,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(&usage.id)
        .bind(usage.user_id)
        .bind(&usage.key_id)
        .bind(usage.voice_id)
        .bind(&usage.request_id)
        .bind(usage.endpoint)
        .bind(usage.engine)
        .bind(&usage.model_used)
        .bind(usage.text_length)
}

async fn insert_usage(
    conn: &mut PgConnection,
    usage: &UsageContext,
    outcome: Outcome<'_>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let settled_at = (outcome.status != UsageStatus::Pending).then_some(now);
    bind_usage(sqlx::query(INSERT_USAGE), usage)
        .bind(outcome.status.as_str())
        .bind(outcome.reserved_ms)
        .bind(outcome.audio_ms)
        .bind(outcome.error.map(|e| e.0))
        .bind(outcome.error.map(|e| e.1))
        .bind(outcome.lease_until)
        .bind(now)
        .bind(settled_at)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The common case of a reservation in one statement (one round trip, no `BEGIN`/`COMMIT`):
/// the conditional update of the user's balance and the pending record's insert, which
/// happens only when the update did. Anything else (a cycle that ended, a short quota, an
/// inactive user) inserts nothing and takes the full path.
///
/// Its commit does not wait for the WAL flush (`synchronous_commit = off` for this
/// transaction alone): the reservation is atomic and visible to every node at once, and is
/// on disk within the WAL writer's delay, or at the latest with the request's own settlement,
/// whose synchronous commit flushes the log up to it. A database crash in between loses the
/// reservation, never a bill: the settlement then finds no record and writes it settled
/// (`Store::settle_unreserved`). What this buys is one disk flush less per request, and none
/// before a stream's first byte.
const RESERVE_FAST: &str = "WITH reserved AS (UPDATE users SET reserved_ms = reserved_ms + $10 WHERE id = $2 AND is_active AND used_ms + reserved_ms + $10 <= quota_ms AND cycle_ends_at > $12 RETURNING id) INSERT INTO usage_records (id, user_id, key_id, voice_id, request_id, endpoint, engine, model_used, text_length, status, reserved_ms, lease_expires_at, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12 FROM reserved, (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed_commit";

/// Settlement in one statement: the record's exactly-once update and the user's billing,
/// which happens only when the record was still pending. No row: settled already.
const SETTLE: &str = "WITH settled AS (UPDATE usage_records SET status = $1, audio_ms = LEAST(GREATEST($2, 0), reserved_ms), error_code = $3, error_message = $4, settled_at = $5, lease_expires_at = NULL WHERE id = $6 AND status = 'pending' RETURNING user_id, reserved_ms, audio_ms), billed AS (UPDATE users u SET reserved_ms = u.reserved_ms - s.reserved_ms, used_ms = u.used_ms + s.audio_ms FROM settled s WHERE u.id = s.user_id RETURNING GREATEST(0, u.quota_ms - u.used_ms) AS remaining_ms) SELECT remaining_ms FROM billed";

/// Reserves quota with one conditional update and writes the usage record, atomically.
pub async fn reserve(
    pool: &PgPool,
    metering: &MeteringConnections,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let mut metered = metering.take().await?;
    let result = bind_usage(sqlx::query(RESERVE_FAST), usage)
        .bind(estimate_ms)
        .bind(lease_until)
        .bind(Utc::now())
        .execute(metered.conn())
        .await;
    let reserved = metered.finish(result)?.rows_affected() == 1;
    if reserved {
        return Ok(Reservation::Reserved);
    }
    reserve_slow(pool, usage, estimate_ms, lease_until).await
}

/// The full reservation: rolls a finished cycle over first, then reserves or records the
/// refusal, in one transaction.
async fn reserve_slow(
    pool: &PgPool,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    // A cycle that ended starts again from zero first, in this transaction.
    super::cycles::roll_if_due(&mut tx, usage.user_id, Utc::now()).await?;
    let reserved = sqlx::query(
        "UPDATE users SET reserved_ms = reserved_ms + $1 WHERE id = $2 AND is_active AND used_ms + reserved_ms + $1 <= quota_ms",
    )
    .bind(estimate_ms)
    .bind(usage.user_id)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected()
        == 1;
    let result = if reserved {
        let pending = Outcome {
            status: UsageStatus::Pending,
            reserved_ms: estimate_ms,
            audio_ms: 0,
            error: None,
            lease_until: Some(lease_until),
        };
        insert_usage(&mut tx, usage, pending).await?;
        Reservation::Reserved
    } else {
        // Only for the client's message: the decision above was already taken atomically.
        let (available_ms,): (i64,) = sqlx::query_as(
            "SELECT GREATEST(0, quota_ms - used_ms - reserved_ms) FROM users WHERE id = $1",
        )
        .bind(usage.user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let refused = Outcome {
            status: UsageStatus::QuotaExceeded,
            reserved_ms: 0,
            audio_ms: 0,
            error: Some(("quota_exceeded", "quota cannot cover the request")),
            lease_until: None,
        };
        insert_usage(&mut tx, usage, refused).await?;
        Reservation::Insufficient { available_ms }
    };
    tx.commit().await.map_err(db_err)?;
    Ok(result)
}

/// Pushes a pending record's lease out.
pub async fn extend_lease(
    pool: &PgPool,
    usage_id: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE usage_records SET lease_expires_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(lease_until)
    .bind(usage_id)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Settles a pending record exactly once: bills, releases, records the outcome.
///
/// The record's own reservation bounds the bill, and `status = 'pending'` makes it
/// exactly-once: a second settler (or the reaper) blocks on the record's row lock, then finds
/// the status changed and updates nothing, the user's balance included.
pub async fn settle(
    pool: &PgPool,
    metering: &MeteringConnections,
    usage_id: &str,
    settlement: Settlement,
) -> Result<Settled, StoreError> {
    let mut metered = metering.take().await?;
    let result = sqlx::query_as(SETTLE)
        .bind(settlement.status.as_str())
        .bind(settlement.billed_ms)
        .bind(&settlement.error_code)
        .bind(&settlement.error_message)
        .bind(Utc::now())
        .bind(usage_id)
        .fetch_optional(metered.conn())
        .await;
    let billed: Option<(i64,)> = metered.finish(result)?;
    if let Some((remaining_ms,)) = billed {
        return Ok(Settled {
            applied: true,
            remaining_ms,
        });
    }
    let (remaining_ms,): (i64,) = sqlx::query_as(
        "SELECT GREATEST(0, u.quota_ms - u.used_ms) FROM usage_records r JOIN users u ON u.id = r.user_id WHERE r.id = $1",
    )
    .bind(usage_id)
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    Ok(Settled {
        applied: false,
        remaining_ms,
    })
}

/// Writes the record of a request whose reservation is gone, settled, and bills the user;
/// see `Store::settle_unreserved`.
pub async fn settle_unreserved(
    pool: &PgPool,
    usage: &UsageContext,
    settlement: Settlement,
) -> Result<Settled, StoreError> {
    let billed_ms = settlement.billed_ms.max(0);
    let mut tx = pool.begin().await.map_err(db_err)?;
    let settled = Outcome {
        status: settlement.status,
        reserved_ms: 0,
        audio_ms: billed_ms,
        error: settlement_error(&settlement),
        lease_until: None,
    };
    insert_usage(&mut tx, usage, settled).await?;
    let (remaining_ms,): (i64,) = sqlx::query_as(
        "UPDATE users SET used_ms = used_ms + $1 WHERE id = $2 RETURNING GREATEST(0, quota_ms - used_ms)",
    )
    .bind(billed_ms)
    .bind(usage.user_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Settled {
        applied: true,
        remaining_ms,
    })
}

/// Writes the record of a request refused before any reservation.
pub async fn record_refusal(
    pool: &PgPool,
    usage: &UsageContext,
    status: UsageStatus,
    error_code: &str,
    error_message: &str,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let refused = Outcome {
        status,
        reserved_ms: 0,
        audio_ms: 0,
        error: Some((error_code, error_message)),
        lease_until: None,
    };
    insert_usage(&mut conn, usage, refused).await
}

/// Settles every expired lease as failed, batch by batch; returns how many.
pub async fn reap_expired(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let reaped = reap_batch(pool, now).await?;
        total += reaped;
        if reaped < REAP_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Settles one batch of expired leases. `SKIP LOCKED` lets reapers on several nodes share
/// the work: each claims rows no one else holds, and a record a request is settling right
/// now is skipped rather than waited for (the `status = 'pending'` guard decides the race).
async fn reap_batch(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let mut expired: Vec<(i64, i64)> = sqlx::query_as(
        "UPDATE usage_records SET status = 'error', audio_ms = 0, error_code = 'lease_expired', error_message = 'the request did not finish before its reservation expired', settled_at = $1, lease_expires_at = NULL \
         WHERE id IN (SELECT id FROM usage_records WHERE status = 'pending' AND lease_expires_at < $1 ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         AND status = 'pending' RETURNING user_id, reserved_ms",
    )
    .bind(now)
    .bind(REAP_BATCH)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let count = expired.len() as u64;
    // Release per user in id order, so two reapers never wait on each other's user rows in
    // opposite orders (no deadlock); each release is a relative decrement in SQL.
    expired.sort_unstable();
    for chunk in expired.chunk_by(|a, b| a.0 == b.0) {
        let released: i64 = chunk.iter().map(|(_, ms)| ms).sum();
        sqlx::query("UPDATE users SET reserved_ms = reserved_ms - $1 WHERE id = $2")
            .bind(released)
            .bind(chunk[0].0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(count)
}
