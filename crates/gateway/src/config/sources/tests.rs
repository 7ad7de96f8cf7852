//! Unit tests of the layers: the file under the environment, and what `check-config` reports.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::super::{DatabaseSettings, FileError, SqliteSynchronous};
use super::{ConfigError, EffectiveSetting, Origin, Settings, CONFIG_VAR};

/// A temporary settings file holding `text`.
struct TempFile {
    dir: tempfile::TempDir,
}

impl TempFile {
    fn new(text: &str) -> TempFile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("odeadev.toml"), text).unwrap();
        TempFile { dir }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("odeadev.toml")
    }
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn line<'a>(report: &'a [EffectiveSetting], name: &str) -> &'a EffectiveSetting {
    report.iter().find(|s| s.name == name).unwrap()
}

const FILE: &str = r#"
[server]
bind = "127.0.0.1:9001"
shutdown_grace_secs = 5

[database]
url = "postgres://tts:hunter2@db/tts"
sqlite_synchronous = "full"

[minimax]
api_key = "mm-secret"
"#;

#[test]
fn the_environment_overrides_the_file_and_the_file_the_defaults() {
    let file = TempFile::new(FILE);
    let vars = env(&[("ODEADEV_SHUTDOWN_GRACE_SECS", "7"), ("ODEADEV_BIND", "")]);
    let loaded = Settings::load_layered(&vars, Some(&file.path()), None).unwrap();
    let s = &loaded.settings;
    assert_eq!(
        s.bind.to_string(),
        "127.0.0.1:9001",
        "an empty variable is unset"
    );
    assert_eq!(s.server.shutdown_grace.as_secs(), 7);
    assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Full);
    assert!(matches!(s.database, DatabaseSettings::Postgres { .. }));
    assert_eq!(s.server.body_timeout.as_secs(), 30);

    let report = loaded.effective();
    assert_eq!(
        line(&report, "ODEADEV_BIND").origin,
        Origin::File("server.bind")
    );
    let grace = line(&report, "ODEADEV_SHUTDOWN_GRACE_SECS");
    assert_eq!(
        (grace.value.as_str(), grace.origin),
        ("7", Origin::Environment)
    );
    assert_eq!(
        line(&report, "ODEADEV_BODY_TIMEOUT_SECS").origin,
        Origin::Default
    );
    let named = line(&report, CONFIG_VAR);
    assert_eq!(named.value, file.path().display().to_string());
    assert_eq!(named.origin, Origin::CommandLine);
}

#[test]
fn the_report_redacts_every_secret() {
    let file = TempFile::new(FILE);
    let vars = env(&[
        ("ODEADEV_KEY_PEPPER", "pepper-pepper-pepper-pepper-pepper"),
        ("REDIS_URL", "redis://:s3cret@127.0.0.1:6379"),
    ]);
    let loaded = Settings::load_layered(&vars, Some(&file.path()), None).unwrap();
    let report = loaded.effective();
    let shown: Vec<String> = report.iter().map(|s| s.value.clone()).collect();
    let shown = shown.join("\n");
    for secret in ["hunter2", "mm-secret", "pepper-pepper", "s3cret"] {
        assert!(!shown.contains(secret), "{secret} in\n{shown}");
    }
    assert_eq!(line(&report, "MINIMAX_API_KEY").value, "<redacted>");
    assert_eq!(
        line(&report, "DATABASE_URL").value,
        "postgres://tts:redacted@db/tts"
    );
}

#[test]
fn a_bad_value_from_the_file_names_its_key_its_variable_and_the_file() {
    let file = TempFile::new("[server]\nbind = \"nope\"\n");
    let err = Settings::load_layered(&env(&[]), Some(&file.path()), None).unwrap_err();
    let message = err.to_string();
    let ConfigError::File(FileError::Invalid { problems, .. }) = err else {
        panic!("{message}");
    };
    assert_eq!(problems[0].key, "server.bind");
    assert_eq!(problems[0].var, Some("ODEADEV_BIND"));
    assert!(
        message.starts_with("invalid setting server.bind (ODEADEV_BIND) in "),
        "{message}"
    );
    assert!(
        message.contains(&file.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn a_bad_value_from_the_environment_is_named_as_before() {
    let file = TempFile::new("[server]\nbind = \"nope\"\n");
    let vars = env(&[("ODEADEV_BIND", "still-nope")]);
    let err = Settings::load_layered(&vars, Some(&file.path()), None).unwrap_err();
    let ConfigError::Setting(err) = err else {
        panic!("{err}");
    };
    assert_eq!(err.name, "ODEADEV_BIND");
    assert!(err.reason.contains("still-nope"), "{}", err.reason);
}

#[test]
fn config_flag_wins_over_the_variable_and_a_named_file_must_exist() {
    let file = TempFile::new(FILE);
    let vars = env(&[(CONFIG_VAR, "/nowhere/odeadev.toml")]);
    let loaded = Settings::load_layered(&vars, Some(&file.path()), None).unwrap();
    assert_eq!(loaded.settings.bind.to_string(), "127.0.0.1:9001");

    let err = Settings::load_layered(&vars, None, None).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::File(FileError::Unreadable { .. })
    ));
    assert!(err.to_string().contains("/nowhere/odeadev.toml"), "{err}");

    let vars = env(&[(CONFIG_VAR, file.path().to_str().unwrap())]);
    let loaded = Settings::load_layered(&vars, None, None).unwrap();
    assert_eq!(loaded.settings.bind.to_string(), "127.0.0.1:9001");
    assert_eq!(
        line(&loaded.effective(), CONFIG_VAR).origin,
        Origin::Environment
    );
}

#[test]
fn without_a_file_the_settings_are_those_of_load() {
    let loaded = Settings::load_layered(&env(&[]), None, Some("127.0.0.1:7000")).unwrap();
    assert_eq!(loaded.settings.bind.to_string(), "127.0.0.1:7000");
    let report = loaded.effective();
    assert_eq!(line(&report, "ODEADEV_BIND").origin, Origin::CommandLine);
    assert_eq!(line(&report, CONFIG_VAR).value, "unset");
    assert_eq!(line(&report, "DATABASE_URL").value, "sqlite://odeadev.db");
}

#[test]
fn the_readme_example_file_is_valid() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(readme).unwrap();
    let example = readme.split("```toml\n").nth(1).unwrap();
    let example = example.split("```").next().unwrap();
    let file = TempFile::new(example);
    let vars = env(&[("MINIMAX_API_KEY", "k")]);
    let loaded = Settings::load_layered(&vars, Some(&file.path()), None).unwrap();
    assert_eq!(loaded.settings.bind.to_string(), "0.0.0.0:8000");
    assert!(loaded.settings.limits.redis.is_some());
}
