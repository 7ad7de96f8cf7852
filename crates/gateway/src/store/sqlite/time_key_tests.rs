//! Migration 0005: the integer key of a user's usage records, converted from the text
//! already stored, and the queries that read a user's records by it.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::MIGRATOR;
use crate::store::sql::unix_nanos;

const TIME_KEY_VERSION: i64 = 5;

/// A database with every migration before 0005 applied, by their own SQL.
fn before_time_key() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("old.db")).unwrap();
    for migration in MIGRATOR.iter().filter(|m| m.version < TIME_KEY_VERSION) {
        conn.execute_batch(&migration.sql).unwrap();
    }
    conn.execute_batch(
        "INSERT INTO users (name, email, plan, quota_ms, created_at, updated_at) \
         VALUES ('Old', 'old@example.com', 'pro', 1000, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    )
    .unwrap();
    (dir, conn)
}

fn time_key_sql() -> &'static str {
    let migration = MIGRATOR.iter().find(|m| m.version == TIME_KEY_VERSION);
    &migration.unwrap().sql
}

fn apply_time_key(conn: &Connection) {
    conn.execute_batch(time_key_sql()).unwrap();
}

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, nanos).unwrap()
}

#[test]
fn existing_records_get_the_exact_instant_of_their_text() {
    let (_dir, conn) = before_time_key();
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
        conn.execute(
            "INSERT INTO usage_records (id, user_id, request_id, endpoint, text_length, status, created_at) \
             VALUES (?1, 1, 'req', '/v1/tts', 5, 'success', ?2)",
            rusqlite::params![format!("record-{n}"), text],
        )
        .unwrap();
    }
    apply_time_key(&conn);
    for (n, (text, instant)) in forms.iter().enumerate() {
        let stored: i64 = conn
            .query_row(
                "SELECT created_ns FROM usage_records WHERE id = ?1",
                [format!("record-{n}")],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(stored, unix_nanos(instant), "{text}");
    }
}

#[test]
fn a_text_sqlite_cannot_read_fails_the_migration_instead_of_converting_wrongly() {
    let (_dir, mut conn) = before_time_key();
    conn.execute_batch(
        "INSERT INTO usage_records (id, user_id, request_id, endpoint, text_length, status, created_at) \
         VALUES ('bad', 1, 'req', '/v1/tts', 5, 'success', 'yesterday')",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    let failed = tx.execute_batch(time_key_sql()).unwrap_err();
    assert!(failed.to_string().contains("NOT NULL"), "{failed}");
}

/// The plan of each query that reads one user's records: through the new index, in its
/// order. Only records created in the same nanosecond are put in order of their ids (the last
/// term of the listing's ORDER BY), as they were with the text key.
#[test]
fn a_users_records_are_read_through_the_integer_key() {
    let (_dir, conn) = before_time_key();
    apply_time_key(&conn);
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
        let mut plan = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
            .unwrap();
        let steps: Vec<String> = plan
            .query_map([], |row| row.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let details: Vec<&str> = steps.iter().map(String::as_str).collect();
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
