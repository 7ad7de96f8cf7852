//! Usage records: the one statement that writes a record, the listing and the totals.
//!
//! A new column on usage records is added here (the insert and [`rows::usage`]) and in the
//! two migrations; SQLite's time key `created_ns` is the one column only SQLite has.

use chrono::{DateTime, Utc};

use super::rows::{self, USAGE_COLUMNS};
use super::{fetch_all, fetch_one, get, unix_nanos, Conn, Dialect, Query};
use crate::domain::records::{UsageRecord, UsageStats, UsageStatus};
use crate::store::{Page, StoreError, UsageContext};

/// How a usage record starts out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome<'a> {
    /// `pending`, or the settled status of a record written already settled.
    pub status: UsageStatus,
    /// Milliseconds reserved (pending records only).
    pub reserved_ms: i64,
    /// Billed audio: zero unless the record is written already settled.
    pub audio_ms: i64,
    /// Error code and generic message.
    pub error: Option<(&'a str, &'a str)>,
    /// Lease of a pending record.
    pub lease_until: Option<DateTime<Utc>>,
}

impl Outcome<'_> {
    /// A pending record holding `reserved_ms` until `lease_until`.
    pub(crate) fn pending(reserved_ms: i64, lease_until: DateTime<Utc>) -> Outcome<'static> {
        Outcome {
            status: UsageStatus::Pending,
            reserved_ms,
            audio_ms: 0,
            error: None,
            lease_until: Some(lease_until),
        }
    }
}

/// The columns every usage record is written with, in the order of [`usage_values`].
macro_rules! usage_columns {
    () => {
        "id, user_id, key_id, voice_id, request_id, endpoint, engine, model_used, text_length, status, reserved_ms, audio_ms, error_code, error_message, lease_expires_at, created_at, settled_at"
    };
}

/// Their placeholders, bound by [`bind_usage`]: `$11` is the reservation, `$16` the
/// record's creation time (the moment of the request).
macro_rules! usage_values {
    () => {
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17"
    };
}
pub(crate) use {usage_columns, usage_values};

/// Writes a usage record (PostgreSQL).
pub(crate) const INSERT_POSTGRES: &str = concat!(
    "INSERT INTO usage_records (",
    usage_columns!(),
    ") VALUES (",
    usage_values!(),
    ")"
);

/// Writes a usage record with its integer time key (SQLite, `$18`).
pub(crate) const INSERT_SQLITE: &str = concat!(
    "INSERT INTO usage_records (",
    usage_columns!(),
    ", created_ns) VALUES (",
    usage_values!(),
    ", $18)"
);

/// `sql` with a usage record's values bound: [`usage_values`], then for SQLite the time key.
pub(crate) fn bind_usage<'a>(
    sql: &'static str,
    dialect: Dialect,
    usage: &'a UsageContext,
    outcome: &Outcome<'a>,
    now: DateTime<Utc>,
) -> Query<'a> {
    let settled_at = (outcome.status != UsageStatus::Pending).then_some(now);
    let query = Query::new(sql)
        .bind(usage.id.as_str())
        .bind(usage.user_id)
        .bind(usage.key_id.as_deref())
        .bind(usage.voice_id)
        .bind(usage.request_id.as_str())
        .bind(usage.endpoint)
        .bind(usage.engine)
        .bind(usage.model_used.as_deref())
        .bind(usage.text_length)
        .bind(outcome.status.as_str())
        .bind(outcome.reserved_ms)
        .bind(outcome.audio_ms)
        .bind(outcome.error.map(|e| e.0))
        .bind(outcome.error.map(|e| e.1))
        .bind(outcome.lease_until)
        .bind(now)
        .bind(settled_at);
    match dialect {
        Dialect::Sqlite => query.bind(unix_nanos(&now)),
        Dialect::Postgres => query,
    }
}

/// The statement that writes a usage record for `dialect`, created at `now`.
pub(crate) fn insert_query<'a>(
    dialect: Dialect,
    usage: &'a UsageContext,
    outcome: &Outcome<'a>,
    now: DateTime<Utc>,
) -> Query<'a> {
    let sql = match dialect {
        Dialect::Sqlite => INSERT_SQLITE,
        Dialect::Postgres => INSERT_POSTGRES,
    };
    bind_usage(sql, dialect, usage, outcome, now)
}

/// Writes a usage record in the caller's transaction.
pub(crate) async fn insert(
    conn: &mut dyn Conn,
    usage: &UsageContext,
    outcome: Outcome<'_>,
) -> Result<(), StoreError> {
    let query = insert_query(conn.dialect(), usage, &outcome, Utc::now());
    conn.execute(&query).await?;
    Ok(())
}

/// A user's usage records, newest first.
pub(crate) async fn list(
    conn: &mut dyn Conn,
    user_id: i64,
    page: Page,
) -> Result<Vec<UsageRecord>, StoreError> {
    let time = conn.dialect().usage_time_column();
    let sql = format!(
        "SELECT {USAGE_COLUMNS} FROM usage_records WHERE user_id = $1 ORDER BY {time} DESC, id DESC LIMIT $2 OFFSET $3"
    );
    let query = Query::new(sql)
        .bind(user_id)
        .bind(page.limit)
        .bind(page.offset);
    fetch_all(conn, &query, rows::usage).await
}

/// Totals over a user's usage records.
pub(crate) async fn stats(conn: &mut dyn Conn, user_id: i64) -> Result<UsageStats, StoreError> {
    // SUM over BIGINT is NUMERIC in PostgreSQL: cast back so it reads as an integer.
    let query = Query::new(
        "SELECT COUNT(*) AS total, \
         COUNT(*) FILTER (WHERE status = 'success') AS success, \
         COUNT(*) FILTER (WHERE status NOT IN ('success', 'pending')) AS failed, \
         COUNT(*) FILTER (WHERE status = 'quota_exceeded') AS quota, \
         COUNT(*) FILTER (WHERE status = 'rate_limited') AS rate, \
         CAST(COALESCE(SUM(audio_ms), 0) AS BIGINT) AS audio, \
         (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_refusals WHERE user_id = $1) AS refused \
         FROM usage_records WHERE user_id = $1",
    )
    .bind(user_id);
    // Refusals by a limit are counted, not recorded: they add to the totals as failures.
    fetch_one(conn, &query, |row| {
        let refused: i64 = get(row, "refused")?;
        Ok(UsageStats {
            total_requests: get::<i64>(row, "total")? + refused,
            successful_requests: get(row, "success")?,
            failed_requests: get::<i64>(row, "failed")? + refused,
            quota_exceeded_requests: get(row, "quota")?,
            rate_limited_requests: get::<i64>(row, "rate")? + refused,
            total_audio_ms: get(row, "audio")?,
        })
    })
    .await
}
