//! Reservation (the full path), refusals, leases and reaping in SQLite through sqlx, each a
//! single write transaction. The hot path (reservation fast path, settlement) runs on the
//! writer thread instead (see `writer.rs`).

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::db_err;
use super::instants::unix_nanos;
use crate::domain::records::UsageStatus;
use crate::store::{settlement_error, Reservation, Settled, Settlement, StoreError, UsageContext};

pub(super) const INSERT_USAGE: &str = "INSERT INTO usage_records (id, user_id, key_id, voice_id, request_id, endpoint, engine, model_used, text_length, status, reserved_ms, audio_ms, error_code, error_message, lease_expires_at, created_at, settled_at, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

struct Outcome<'a> {
    status: UsageStatus,
    reserved_ms: i64,
    /// Billed audio: zero unless the record is written already settled.
    audio_ms: i64,
    error: Option<(&'a str, &'a str)>,
    lease_until: Option<DateTime<Utc>>,
}

async fn insert_usage(
    conn: &mut sqlx::SqliteConnection,
    usage: &UsageContext,
    outcome: Outcome<'_>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let settled_at = (outcome.status != UsageStatus::Pending).then_some(now);
    sqlx::query(INSERT_USAGE)
        .bind(&usage.id)
        .bind(usage.user_id)
        .bind(&usage.key_id)
        .bind(usage.voice_id)
        .bind(&usage.request_id)
        .bind(usage.endpoint)
        .bind(usage.engine)
        .bind(&usage.model_used)
        .bind(usage.text_length)
        .bind(outcome.status.as_str())
        .bind(outcome.reserved_ms)
        .bind(outcome.audio_ms)
        .bind(outcome.error.map(|e| e.0))
        .bind(outcome.error.map(|e| e.1))
        .bind(outcome.lease_until)
        .bind(now)
        .bind(settled_at)
        .bind(unix_nanos(&now))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn reserve(
    pool: &SqlitePool,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let now = Utc::now();
    // The usual case in one statement: the cycle is running and the quota covers it.
    let mut reserved = sqlx::query(
        "UPDATE users SET reserved_ms = reserved_ms + ?1 WHERE id = ?2 AND is_active = 1 AND used_ms + reserved_ms + ?1 <= quota_ms AND cycle_ends_at > ?3",
    )
    .bind(estimate_ms)
    .bind(usage.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?
    .rows_affected()
        == 1;
    // Otherwise a cycle that ended starts again from zero first, in this transaction, and
    // the reservation is tried once more against the current cycle.
    if !reserved {
        super::cycles::roll_if_due(&mut tx, usage.user_id, now).await?;
        reserved = sqlx::query(
            "UPDATE users SET reserved_ms = reserved_ms + ?1 WHERE id = ?2 AND is_active = 1 AND used_ms + reserved_ms + ?1 <= quota_ms",
        )
        .bind(estimate_ms)
        .bind(usage.user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            == 1;
    }
    let result = if reserved {
        insert_usage(
            &mut tx,
            usage,
            Outcome {
                status: UsageStatus::Pending,
                reserved_ms: estimate_ms,
                audio_ms: 0,
                error: None,
                lease_until: Some(lease_until),
            },
        )
        .await?;
        Reservation::Reserved
    } else {
        let (available_ms,): (i64,) = sqlx::query_as(
            "SELECT MAX(0, quota_ms - used_ms - reserved_ms) FROM users WHERE id = ?",
        )
        .bind(usage.user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let message = "quota cannot cover the request";
        insert_usage(
            &mut tx,
            usage,
            Outcome {
                status: UsageStatus::QuotaExceeded,
                reserved_ms: 0,
                audio_ms: 0,
                error: Some(("quota_exceeded", message)),
                lease_until: None,
            },
        )
        .await?;
        Reservation::Insufficient { available_ms }
    };
    tx.commit().await.map_err(db_err)?;
    Ok(result)
}

pub async fn extend_lease(
    pool: &SqlitePool,
    usage_id: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE usage_records SET lease_expires_at = ? WHERE id = ? AND status = 'pending'",
    )
    .bind(lease_until)
    .bind(usage_id)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub async fn record_refusal(
    pool: &SqlitePool,
    usage: &UsageContext,
    status: UsageStatus,
    error_code: &str,
    error_message: &str,
) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    insert_usage(
        &mut conn,
        usage,
        Outcome {
            status,
            reserved_ms: 0,
            audio_ms: 0,
            error: Some((error_code, error_message)),
            lease_until: None,
        },
    )
    .await
}

/// Writes the record of a request whose reservation is gone, settled, and bills the user;
/// see `Store::settle_unreserved`.
pub async fn settle_unreserved(
    pool: &SqlitePool,
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
        "UPDATE users SET used_ms = used_ms + ? WHERE id = ? RETURNING MAX(0, quota_ms - used_ms)",
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

pub async fn reap_expired(pool: &SqlitePool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let expired: Vec<(String, i64, i64)> = sqlx::query_as(
        "UPDATE usage_records SET status = 'error', audio_ms = 0, error_code = 'lease_expired', error_message = 'the request did not finish before its reservation expired', settled_at = ?1, lease_expires_at = NULL WHERE status = 'pending' AND lease_expires_at < ?1 RETURNING id, user_id, reserved_ms",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    for (_, user_id, reserved_ms) in &expired {
        sqlx::query("UPDATE users SET reserved_ms = reserved_ms - ? WHERE id = ?")
            .bind(reserved_ms)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(expired.len() as u64)
}
