//! Usage listings and totals in SQLite.

use sqlx::SqlitePool;

use super::{db_err, rows};
use crate::domain::records::{UsageRecord, UsageStats};
use crate::store::{Page, StoreError};

pub async fn list(
    pool: &SqlitePool,
    user_id: i64,
    page: Page,
) -> Result<Vec<UsageRecord>, StoreError> {
    let found = sqlx::query(
        "SELECT id, user_id, key_id, voice_id, request_id, endpoint, engine, model_used, text_length, status, reserved_ms, audio_ms, error_code, error_message, created_at, settled_at FROM usage_records WHERE user_id = ? ORDER BY created_ns DESC, id DESC LIMIT ? OFFSET ?",
    )
    .bind(user_id)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    found.iter().map(rows::usage).collect()
}

pub async fn stats(pool: &SqlitePool, user_id: i64) -> Result<UsageStats, StoreError> {
    let (total, success, failed, quota, rate, audio): (i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT COUNT(*), \
         COALESCE(SUM(status = 'success'), 0), \
         COALESCE(SUM(status NOT IN ('success', 'pending')), 0), \
         COALESCE(SUM(status = 'quota_exceeded'), 0), \
         COALESCE(SUM(status = 'rate_limited'), 0), \
         COALESCE(SUM(audio_ms), 0) \
         FROM usage_records WHERE user_id = ?",
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
