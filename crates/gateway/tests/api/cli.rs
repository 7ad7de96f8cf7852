//! The binary: create-admin, migrate, bad settings, the settings file and check-config.

use std::process::Command;

use serde_json::Value;

mod settings_file;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_odeadev-tts"))
}

/// The one line `create-admin --json` printed, once it is known to have succeeded.
fn admin_created(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = std::str::from_utf8(&out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn create_admin_json_prints_one_line_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args(["create-admin", "Root", "root@example.com", "--json"])
        .output()
        .unwrap();
    let line = admin_created(&out);
    assert!(line["user_id"].as_i64().is_some());
    assert!(line["api_key"].as_str().unwrap().starts_with("odt_"));
    assert!(
        dir.path().join("odeadev.db").exists(),
        "the default database is odeadev.db in the working directory"
    );
    let again = bin()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args(["create-admin", "Root", "root@example.com", "--json"])
        .output()
        .unwrap();
    assert!(!again.status.success(), "duplicate email refused");
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub.db");
    for _ in 0..2 {
        let out = bin()
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .arg("migrate")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(db.exists());
}

#[test]
fn bad_settings_refuse_to_start_naming_the_setting() {
    for (name, value) in [
        ("ODEADEV_BIND", "not-an-address"),
        ("DATABASE_URL", "mysql://x"),
        ("MINIMAX_BASE_URL", "http://example.com"),
        ("MINIMAX_TIMEOUT_MS", "soon"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = bin()
            .current_dir(dir.path())
            .env(name, value)
            .env("MINIMAX_API_KEY", "k")
            .arg("serve")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}

#[test]
fn help_lists_the_subcommands() {
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "serve",
        "migrate",
        "create-admin",
        "check-config",
        "--config",
    ] {
        assert!(text.contains(sub), "{sub}: {text}");
    }
}

/// Every one-shot command closes its PostgreSQL connections before it exits, failing or not:
/// the server counts none of their sessions as abandoned (a client gone without saying so).
#[tokio::test]
async fn commands_end_their_postgres_sessions_cleanly() {
    use crate::helpers::{required_service, PgTestDatabase};
    let Some(admin_url) =
        required_service("TEST_DATABASE_URL", "the CLI's PostgreSQL session test")
    else {
        return;
    };
    let db = PgTestDatabase::create(&admin_url).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().to_string();
    let commands: [(&[&str], bool); 4] = [
        (&["migrate"], true),
        (
            &["create-admin", "Root", "root@example.com", "--json"],
            true,
        ),
        (
            &["export-usage", "--from", "2026-01-01", "--to", "2026-01-02"],
            true,
        ),
        // Fails after opening the database: the port is taken.
        (&["serve", "--bind", &taken], false),
    ];
    for (args, succeeds) in commands {
        let out = bin()
            .env("DATABASE_URL", &db.url)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), succeeds, "{args:?}: {stderr}");
        if !succeeds {
            assert!(stderr.contains("cannot listen on"), "{args:?}: {stderr}");
        }
    }
    drop(listener);

    let (sessions, abandoned) = ended_sessions(&admin_url, db.name()).await;
    assert!(sessions >= 4, "the server counted {sessions} sessions");
    assert_eq!(
        abandoned, 0,
        "{abandoned} of {sessions} sessions were abandoned"
    );
}

/// Sessions the server counted on `database`, and how many of them the client abandoned,
/// once none is open any more (a backend reports its session as it exits).
async fn ended_sessions(admin_url: &str, database: &str) -> (i64, i64) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    for _ in 0..100 {
        let (open,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(database)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let counts = sqlx::query_as(
        "SELECT sessions, sessions_abandoned FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    counts
}
