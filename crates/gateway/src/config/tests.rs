//! Unit tests of the settings read from the environment.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn defaults_give_the_embedded_setup() {
    let s = Settings::load(&[("X", "")], None).unwrap();
    assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(
        s.database,
        DatabaseSettings::Sqlite {
            path: "odeadev.db".into()
        }
    );
    assert!(s.minimax.is_none());
    assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Normal);
}

#[test]
fn sqlite_synchronous_is_normal_or_full() {
    let s = Settings::load(&[("ODEADEV_SQLITE_SYNCHRONOUS", "full")], None).unwrap();
    assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Full);
    let s = Settings::load(&[("ODEADEV_SQLITE_SYNCHRONOUS", "normal")], None).unwrap();
    assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Normal);
    let e = Settings::load(&[("ODEADEV_SQLITE_SYNCHRONOUS", "off")], None).unwrap_err();
    assert_eq!(e.name, "ODEADEV_SQLITE_SYNCHRONOUS");
}

#[test]
fn bad_settings_are_named() {
    let e = Settings::load(&[("ODEADEV_BIND", "nope")], None).unwrap_err();
    assert_eq!(e.name, "ODEADEV_BIND");
    let e = Settings::load(&[("DATABASE_URL", "mysql://x")], None).unwrap_err();
    assert_eq!(e.name, "DATABASE_URL");
    let e = Settings::load(
        &[("MINIMAX_API_KEY", "k"), ("MINIMAX_GROUP_ID", "12a")],
        None,
    )
    .unwrap_err();
    assert_eq!(e.name, "MINIMAX_GROUP_ID");
}

#[test]
fn limit_settings_are_validated_and_named() {
    let s = Settings::load(&[("X", "")], None).unwrap();
    assert!(s.limits.redis.is_none());
    assert_eq!(s.limits.general_rpm, 600);
    assert_eq!(s.limits.auth_failures_per_minute, 30);
    assert!(s.limits.trusted_proxies.is_empty());
    for (name, value) in [
        ("REDIS_URL", "http://x"),
        ("ODEADEV_LIMITS_ON_REDIS_ERROR", "maybe"),
        ("ODEADEV_GENERAL_RPM", "0"),
        ("ODEADEV_AUTH_FAILURES_PER_MINUTE", "many"),
        ("ODEADEV_TRUSTED_PROXIES", "10.0.0.0/8,proxy"),
        ("ODEADEV_REDIS_TIMEOUT_MS", "0"),
        ("ODEADEV_REDIS_PREFIX", "a b"),
    ] {
        let e = Settings::load(&[(name, value)], None).unwrap_err();
        assert_eq!(e.name, name);
    }
    let s = Settings::load(
        &[
            ("REDIS_URL", "redis://:pw@127.0.0.1:6379"),
            ("ODEADEV_LIMITS_ON_REDIS_ERROR", "closed"),
        ],
        None,
    )
    .unwrap();
    let redis = s.limits.redis.unwrap();
    assert_eq!(redis.on_error, OnLimiterError::Closed);
    assert!(!format!("{redis:?}").contains("pw"));
}

#[test]
fn base_url_must_be_https_or_loopback_http() {
    assert!(validate_base_url("https://api.minimax.io").is_ok());
    assert!(validate_base_url("http://127.0.0.1:9").is_ok());
    assert!(validate_base_url("http://localhost:9").is_ok());
    assert!(validate_base_url("http://[::1]:9").is_ok());
    assert!(validate_base_url("http://evil.example").is_err());
    assert!(validate_base_url("ftp://127.0.0.1").is_err());
    assert!(validate_base_url("https://u:p@api.minimax.io").is_err());
    assert!(validate_base_url("https://api.minimax.io/?x=1").is_err());
}

#[test]
fn database_url_forms() {
    let s = Settings::load(&[("DATABASE_URL", "sqlite:///tmp/a.db")], None).unwrap();
    assert_eq!(
        s.database,
        DatabaseSettings::Sqlite {
            path: "/tmp/a.db".into()
        }
    );
    let s = Settings::load(&[("DATABASE_URL", "sqlite:rel.db?mode=rwc")], None).unwrap();
    assert_eq!(
        s.database,
        DatabaseSettings::Sqlite {
            path: "rel.db".into()
        }
    );
    for url in [
        "postgres://u:p@db.internal:5432/tts?sslmode=verify-full",
        "postgresql://db/tts",
    ] {
        let s = Settings::load(&[("DATABASE_URL", url)], None).unwrap();
        assert_eq!(s.database, DatabaseSettings::Postgres { url: url.into() });
    }
}

#[test]
fn postgres_settings_are_validated_and_the_password_is_hidden() {
    let e =
        Settings::load(&[("DATABASE_URL", "postgres://db/tts?sslmode=maybe")], None).unwrap_err();
    assert_eq!(e.name, "DATABASE_URL");
    assert!(e.reason.contains("sslmode"), "{}", e.reason);
    for name in [
        "ODEADEV_DB_ACQUIRE_TIMEOUT_MS",
        "ODEADEV_DB_STATEMENT_TIMEOUT_MS",
    ] {
        let e = Settings::load(&[(name, "soon")], None).unwrap_err();
        assert_eq!(e.name, name);
    }
    let s = Settings::load(&[("DATABASE_URL", "postgres://u:hunter2@db/tts")], None).unwrap();
    assert_eq!(s.db_acquire_timeout, Duration::from_millis(5_000));
    assert_eq!(s.db_statement_timeout, Duration::from_millis(10_000));
    let shown = format!("{s:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
