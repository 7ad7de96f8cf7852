//! Migration 0005: the integer key of a user's usage records, converted from the text
//! already stored, and the queries that read a user's records by it.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{Connection, Executor, SqliteConnection};

use super::instants::unix_nanos;
use super::MIGRATOR;

const TIME_KEY_VERSION: i64 = 5;

/// A database with every migration before 0005 applied, by their own SQL.
async fn before_time_key() -> (tempfile::TempDir, SqliteConnection) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    for migration in MIGRATOR.iter().filter(|m| m.version < TIME_KEY_VERSION) {
        conn.execute(&*migration.sql).await.unwrap();
    }
    conn.execute(
        "INSERT INTO users (name, email, plan, quota_ms, created_at, updated_at) \
         VALUES ('Old', 'old@example.com', 'pro', 1000, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    )
    .await
    .unwrap();
    (dir, conn)
}

fn time_key_sql() -> &'static str {
    let migration = MIGRATOR.iter().find(|m| m.version == TIME_KEY_VERSION);
    &migration.unwrap().sql
}

async fn apply_time_key(conn: &mut SqliteConnection) {
    conn.execute(time_key_sql()).await.unwrap();
}

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, nanos).unwrap()
}

#[tokio::test]
async fn existing_records_get_the_exact_instant_of_their_text() {
    let (_dir, mut conn) = before_time_key().await;
    let base = 1_795_815_942; // 2026-11-27T21:45:42Z
    let forms = [
        ("2026-11-27T21:45:42.123456789+00:00", at(base, 123_456_789)),
        ("2026-11-27T21:45:42.123456+00:00", at(base, 123_456_000)),
        ("2026-11-27T21:45:42.123+00:00", at(base, 123_000_000)),
        ("2026-11-27T21:45:42+00:00", at(base, 0)),
        ("2026-11-27T21:45:42.5Z", at(base, 500_000_000)),
        ("2026-11-27 23:45:42.000001+02:00", at(base, 1_000)),
        ("2026-11-27 21:45:42", at(base, 0)),
        ("1969-12-31T23:59:59.5+00:00", at(-1, 500_000_000)),
    ];
    for (n, (text, _)) in forms.iter().enumerate() {
        sqlx::query(
            "INSERT INTO usage_records (id, user_id, request_id, endpoint, text_length, status, created_at) \
             VALUES (?, 1, 'req', '/v1/tts', 5, 'success', ?)",
        )
        .bind(format!("record-{n}"))
        .bind(text)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    apply_time_key(&mut conn).await;
    for (n, (text, instant)) in forms.iter().enumerate() {
        let (stored,): (i64,) = sqlx::query_as("SELECT created_ns FROM usage_records WHERE id = ?")
            .bind(format!("record-{n}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, unix_nanos(instant), "{text}");
    }
}

#[tokio::test]
async fn a_text_sqlite_cannot_read_fails_the_migration_instead_of_converting_wrongly() {
    let (_dir, mut conn) = before_time_key().await;
    conn.execute(
        "INSERT INTO usage_records (id, user_id, request_id, endpoint, text_length, status, created_at) \
         VALUES ('bad', 1, 'req', '/v1/tts', 5, 'success', 'yesterday')",
    )
    .await
    .unwrap();
    let mut tx = conn.begin().await.unwrap();
    let failed = tx.execute(time_key_sql()).await.unwrap_err();
    assert!(failed.to_string().contains("NOT NULL"), "{failed}");
}

/// The plan of each query that reads one user's records: through the new index, in its
/// order. Only records created in the same nanosecond are put in order of their ids (the last
/// term of the listing's ORDER BY), as they were with the text key.
#[tokio::test]
async fn a_users_records_are_read_through_the_integer_key() {
    let (_dir, mut conn) = before_time_key().await;
    apply_time_key(&mut conn).await;
    let plans = [
        (
            "SELECT id FROM usage_records WHERE user_id = 1 ORDER BY created_ns DESC, id DESC LIMIT 10 OFFSET 0",
            "USING INDEX usage_records_user_created (user_id=?)",
        ),
        (
            "SELECT COUNT(*) FROM usage_records WHERE user_id = 1 AND created_ns >= 0 AND created_ns < 10",
            "USING COVERING INDEX usage_records_user_created (user_id=? AND created_ns>? AND created_ns<?)",
        ),
    ];
    for (query, expected) in plans {
        let steps: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {query}"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let details: Vec<&str> = steps.iter().map(|s| s.3.as_str()).collect();
        assert!(
            details.iter().any(|d| d.contains(expected)),
            "{query}: {details:?}"
        );
        assert!(
            !details
                .iter()
                .any(|d| d.contains("TEMP B-TREE FOR ORDER BY")),
            "{query} sorts: {details:?}"
        );
    }
}
