//! `odeadev-tts export-usage` and `odeadev-tts backup` against a database with some usage
//! (a temp SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set).

use std::process::{Command, Output};

use chrono::Utc;
use odeadev_tts::domain::plan::Plan;
use odeadev_tts::store::Reservation;
use serde_json::Value;

use super::{open_store, store_user, usage_context};
use crate::helpers::{test_database_url, PgTestDatabase};

/// A database with two users and some usage; keeps the temp dir and PostgreSQL database.
struct Fixture {
    url: String,
    dir: tempfile::TempDir,
    users: [i64; 2],
    _pg: Option<PgTestDatabase>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pg = match test_database_url() {
        Some(admin) => Some(PgTestDatabase::create(&admin).await),
        None => None,
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("live.db").display()),
    };
    let store = open_store(&url).await;
    let pro = store_user(store.as_ref(), "pro@example.com", Plan::Pro).await;
    let free = store_user(store.as_ref(), "free,\"quoted\"@example.com", Plan::Free).await;
    let lease = Utc::now() + chrono::Duration::minutes(5);
    for (user, n) in [(pro, 3), (free, 2)] {
        for _ in 0..n {
            // An estimate beyond any plan's quota: refused, and recorded as quota_exceeded.
            let refused = store
                .reserve(&usage_context(user, 5), i64::MAX / 4, lease)
                .await
                .unwrap();
            assert!(matches!(refused, Reservation::Insufficient { .. }));
        }
    }
    Fixture {
        url,
        dir,
        users: [pro, free],
        _pg: pg,
    }
}

fn run(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_odeadev-tts"))
        .env("DATABASE_URL", url)
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn today_and_tomorrow() -> (String, String) {
    let today = Utc::now().date_naive();
    (today.to_string(), today.succ_opt().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_usage_streams_csv_to_stdout_and_json_to_a_file() {
    let f = fixture().await;
    let (today, tomorrow) = today_and_tomorrow();
    let out = run(
        &f.url,
        &[
            "export-usage",
            "--from",
            &today,
            "--to",
            &tomorrow,
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "user_id");
    assert_eq!(header.len(), 14);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], f.users[0].to_string());
    assert_eq!(
        &rows[1][1], "free,\"quoted\"@example.com",
        "RFC 4180 quoting round-trips"
    );
    assert_eq!(&rows[0][8], "3", "quota_exceeded");
    assert_eq!(&rows[0][11], "3", "total_requests");

    let file = f.dir.path().join("usage.json");
    let from = format!("{today}T00:00:00Z");
    let out = run(
        &f.url,
        &[
            "export-usage",
            "--from",
            &from,
            "--to",
            &tomorrow,
            "--format",
            "json",
            "--period",
            "month",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the report went to the file");
    let body: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["requests"]["quota_exceeded"], 2);
    assert_eq!(data[1]["characters"], 10);
    assert!(data[0]["period_start"]
        .as_str()
        .unwrap()
        .ends_with("-01T00:00:00Z"));

    // A range with no usage is an empty, well-formed report.
    let out = run(
        &f.url,
        &[
            "export-usage",
            "--from",
            "2001-01-01",
            "--to",
            "2001-02-01",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["data"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_usage_fails_naming_the_bad_argument() {
    let f = fixture().await;
    let (today, tomorrow) = today_and_tomorrow();
    let cases: [(&[&str], &str); 6] = [
        (&["--from", "yesterday", "--to", &tomorrow], "--from"),
        (&["--from", &today, "--to", "2026-02-30"], "--to"),
        (&["--from", &tomorrow, "--to", &today], "--to"),
        (
            &["--from", &today, "--to", &tomorrow, "--period", "week"],
            "--period",
        ),
        (
            &["--from", &today, "--to", &tomorrow, "--format", "xml"],
            "--format",
        ),
        (&["--from", &today], "--to"),
    ];
    for (args, named) in cases {
        let mut full = vec!["export-usage"];
        full.extend_from_slice(args);
        let out = run(&f.url, &full);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let missing = f.dir.path().join("no/such/dir/usage.csv");
    let out = run(
        &f.url,
        &[
            "export-usage",
            "--from",
            &today,
            "--to",
            &tomorrow,
            "--output",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--output"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_writes_a_verified_copy_and_refuses_to_overwrite() {
    let f = fixture().await;
    if f.url.starts_with("postgres") {
        return; // PostgreSQL: see backup_on_postgres_points_to_pg_dump_without_the_password.
    }
    let dest = f.dir.path().join("copy of it's.db");
    let out = run(&f.url, &["backup", dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 users"), "{}", stderr(&out));
    let copy = open_store(&format!("sqlite://{}", dest.display())).await;
    for id in f.users {
        assert_eq!(
            copy.usage_stats(id).await.unwrap().total_requests,
            if id == f.users[0] { 3 } else { 2 }
        );
        copy.get_user(id).await.unwrap();
    }
    let before = std::fs::read(&dest).unwrap();
    let again = run(&f.url, &["backup", dest.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&dest).unwrap(), before, "left untouched");
}

#[test]
fn backup_on_postgres_points_to_pg_dump_without_the_password() {
    let out = run(
        "postgres://app:s3cret-pw@127.0.0.1:5432/tts?sslmode=disable",
        &["backup", "/tmp/odeadev-never-written.dump"],
    );
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("pg_dump --format=custom"), "{text}");
    assert!(
        text.contains("'postgres://app@127.0.0.1:5432/tts?sslmode=disable'"),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(!std::path::Path::new("/tmp/odeadev-never-written.dump").exists());
}
