//! The binary: create-admin, migrate, bad settings.

use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_odeadev-tts"))
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let line: Value = serde_json::from_str(stdout.trim()).unwrap();
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
    for sub in ["serve", "migrate", "create-admin"] {
        assert!(text.contains(sub));
    }
}
