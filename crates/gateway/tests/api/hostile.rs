//! What a hostile or careless client sends, refused in the API's words with our error body:
//! characters the databases cannot hold, bodies that are not JSON objects, requests hyper
//! cannot parse, bodies too large or too slow, twins of an email, floods past the rate limit.

mod database_crash;
mod database_outage;
mod flood;
mod framing;
mod identity;
mod inputs;
mod last_admin;

/// A user's balances and their records' totals on PostgreSQL, read in one statement (one
/// snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Books {
    pub quota_ms: i64,
    pub used_ms: i64,
    pub reserved_ms: i64,
    /// The audio of the user's records.
    pub billed_ms: i64,
    /// Records still pending.
    pub pending: i64,
}

impl Books {
    pub async fn read(url: &str, user_id: i64) -> Books {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let (quota_ms, used_ms, reserved_ms, billed_ms, pending) = sqlx::query_as(
            "SELECT u.quota_ms, u.used_ms, u.reserved_ms, \
             (SELECT COALESCE(SUM(r.audio_ms), 0)::BIGINT FROM usage_records r WHERE r.user_id = u.id), \
             (SELECT COUNT(*) FROM usage_records r WHERE r.user_id = u.id AND r.status = 'pending') \
             FROM users u WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
        Books {
            quota_ms,
            used_ms,
            reserved_ms,
            billed_ms,
            pending,
        }
    }

    /// Nothing reserved or pending, and used = the records' audio.
    pub fn settled_and_balanced(&self) -> bool {
        self.reserved_ms == 0 && self.pending == 0 && self.used_ms == self.billed_ms
    }
}
