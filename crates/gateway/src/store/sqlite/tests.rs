//! What this store writes and reads back, byte for byte, and how it binds values.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::connection::{for_each_row, timestamp};
use crate::store::sql::{get, Query};

/// Instants are written as sqlx-sqlite 0.8 wrote them (the store used it before): rows
/// written by earlier versions and by this one compare and sort alike as text.
#[test]
fn instants_are_written_in_the_form_earlier_versions_wrote() {
    let at = |secs, nanos| Utc.timestamp_opt(secs, nanos).unwrap();
    let cases = [
        (
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            "2026-01-02T03:04:05+00:00",
        ),
        (
            at(1_700_000_000, 120_000_000),
            "2023-11-14T22:13:20.120+00:00",
        ),
        (
            at(1_700_000_000, 123_456_000),
            "2023-11-14T22:13:20.123456+00:00",
        ),
        (
            at(1_700_000_000, 123_456_789),
            "2023-11-14T22:13:20.123456789+00:00",
        ),
    ];
    for (instant, text) in cases {
        assert_eq!(timestamp(&instant), text);
    }
}

/// Every form of instant an SQLite row may hold (ours, and hand-edited ones) reads as the
/// instant it names.
#[test]
fn stored_instants_of_every_form_read_as_their_instant() {
    let conn = Connection::open_in_memory().unwrap();
    let plain = Utc.with_ymd_and_hms(2026, 11, 27, 21, 45, 42).unwrap();
    let forms = [
        ("2026-11-27T21:45:42.123456789+00:00", 123_456_789),
        ("2026-11-27T21:45:42Z", 0),
        ("2026-11-27 21:45:42", 0),
        ("2026-11-27 23:45:42+02:00", 0),
    ];
    for (text, nanos) in forms {
        let query = Query::new("SELECT $1 AS at").bind(text);
        let mut read: Option<DateTime<Utc>> = None;
        for_each_row(&conn, &query, &mut |row| {
            read = Some(get(row, "at")?);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            read,
            Some(plain + chrono::Duration::nanoseconds(nanos)),
            "{text}"
        );
    }
}

/// `$n` binds the n-th value even where `$2` comes first in the text (SQLite would number
/// a named `$2` by its first appearance).
#[test]
fn placeholders_bind_by_their_number() {
    let conn = Connection::open_in_memory().unwrap();
    let query = Query::new("SELECT $2 AS second, $1 AS first, $2 AS again")
        .bind(1_i64)
        .bind(2_i64);
    let mut read = Vec::new();
    for_each_row(&conn, &query, &mut |row| {
        read.push((
            get::<i64>(row, "first")?,
            get::<i64>(row, "second")?,
            get::<i64>(row, "again")?,
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(read, [(1, 2, 2)]);
}
