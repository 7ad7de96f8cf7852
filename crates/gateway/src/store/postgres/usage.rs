//! Usage listings and totals in PostgreSQL.

use sqlx::PgPool;

use super::db_err;
use super::rows::{self, USAGE_COLUMNS};
use crate::domain::records::{UsageRecord, UsageStats};
use crate::store::{Page, StoreError};

/// A user's usage records, newest first.
pub async fn list(pool: &PgPool, user_id: i64, page: Page) -> Result<Vec<UsageRecord>, StoreError> {
    let sql = format!(
        "SELECT {USAGE_COLUMNS} FROM usage_records WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    );
    let found = sqlx::query(&sql)
        .bind(user_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    found.iter().map(rows::usage).collect()
}

/// Totals over a user's usage records.
pub async fn stats(pool: &PgPool, user_id: i64) -> Result<UsageStats, StoreError> {
    // SUM over BIGINT is NUMERIC in PostgreSQL: cast back so it decodes as i64.
    let (total, success, failed, quota, rate, audio): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT COUNT(*), \
         COUNT(*) FILTER (WHERE status = 'success'), \
         COUNT(*) FILTER (WHERE status NOT IN ('success', 'pending')), \
         COUNT(*) FILTER (WHERE status = 'quota_exceeded'), \
         COUNT(*) FILTER (WHERE status = 'rate_limited'), \
         COALESCE(SUM(audio_ms), 0)::BIGINT \
         FROM usage_records WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok(UsageStats {
        total_requests: total,
        successful_requests: success,
        failed_requests: failed,
        quota_exceeded_requests: quota,
        rate_limited_requests: rate,
        total_audio_ms: audio,
    })
}
