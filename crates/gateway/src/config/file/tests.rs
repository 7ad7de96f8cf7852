//! Unit tests of the settings file: its layout, and what it refuses.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::super::catalogue::{Kind, SETTINGS};
use super::{FileError, KeyProblem, SettingsFile};

fn parse(text: &str) -> Result<SettingsFile, FileError> {
    SettingsFile::parse(Path::new("/etc/odeadev/odeadev.toml"), text)
}

fn problems(text: &str) -> Vec<KeyProblem> {
    match parse(text).unwrap_err() {
        FileError::Invalid { problems, .. } => problems,
        other => panic!("expected key problems, got {other}"),
    }
}

#[test]
fn every_setting_is_read_from_its_section_and_key() {
    let mut text = String::new();
    let mut section = "";
    for setting in SETTINGS {
        if setting.section() != section {
            section = setting.section();
            text.push_str(&format!("[{section}]\n"));
        }
        let value = match setting.kind {
            Kind::Text => format!("{:?}", setting.var),
            Kind::Integer => "42".to_string(),
            Kind::List => r#"["a", "b"]"#.to_string(),
            Kind::Map => r#"{ a = "b", c = "d" }"#.to_string(),
        };
        text.push_str(&format!("{} = {value}\n", setting.name()));
    }
    let file = parse(&text).unwrap();
    for setting in SETTINGS {
        let expected = match setting.kind {
            Kind::Text => setting.var,
            Kind::Integer => "42",
            Kind::List => "a,b",
            Kind::Map => "a=b,c=d",
        };
        assert_eq!(file.get(setting.var), Some(expected), "{}", setting.key);
    }
}

#[test]
fn each_variable_has_one_key_and_each_key_one_variable() {
    for (i, a) in SETTINGS.iter().enumerate() {
        for b in &SETTINGS[i + 1..] {
            assert_ne!(a.var, b.var);
            assert_ne!(a.key, b.key);
        }
        assert_eq!(a.key.matches('.').count(), 1, "{}", a.key);
    }
}

#[test]
fn unknown_sections_and_keys_are_all_refused_naming_the_key_and_the_file() {
    let text = "[server]\nbnd = \"127.0.0.1:1\"\n[serve]\nbind = 1\n[minimax]\napi_kye = \"k\"\n";
    let found = problems(text);
    let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["minimax.api_kye", "serve", "server.bnd"]);
    assert!(found.iter().all(|p| p.var.is_none()));
    assert!(
        found[2].reason.contains("unknown key"),
        "{}",
        found[2].reason
    );
    assert!(
        found[2].reason.contains("bind"),
        "lists the keys: {}",
        found[2].reason
    );
    assert!(
        found[1].reason.contains("unknown section"),
        "{}",
        found[1].reason
    );

    let message = parse(text).unwrap_err().to_string();
    for line in message.lines() {
        assert!(line.starts_with("invalid setting "), "{line}");
        assert!(line.contains("/etc/odeadev/odeadev.toml"), "{line}");
    }
    assert!(problems("bind = \"127.0.0.1:1\"\n")[0]
        .reason
        .contains("unknown section"));
}

#[test]
fn values_of_the_wrong_type_are_refused_naming_the_key_and_its_variable() {
    for (text, key, var) in [
        ("[server]\nbind = 8000\n", "server.bind", "ODEADEV_BIND"),
        (
            "[database]\nmax_connections = \"8\"\n",
            "database.max_connections",
            "ODEADEV_DB_MAX_CONNECTIONS",
        ),
        (
            "[minimax]\ntimeout_ms = 1.5\n",
            "minimax.timeout_ms",
            "MINIMAX_TIMEOUT_MS",
        ),
        (
            "[server]\ntrusted_proxies = \"10.0.0.1\"\n",
            "server.trusted_proxies",
            "ODEADEV_TRUSTED_PROXIES",
        ),
        (
            "[server]\ntrusted_proxies = [\"10.0.0.1\", 2]\n",
            "server.trusted_proxies",
            "ODEADEV_TRUSTED_PROXIES",
        ),
        (
            "[voices]\nopenai = \"alloy=marcy\"\n",
            "voices.openai",
            "ODEADEV_OPENAI_VOICES",
        ),
        (
            "[voices.openai]\nalloy = \"marcy,onyx\"\n",
            "voices.openai",
            "ODEADEV_OPENAI_VOICES",
        ),
    ] {
        let found = problems(text);
        assert_eq!(found.len(), 1, "{text}");
        assert_eq!(found[0].key, key, "{text}");
        assert_eq!(found[0].var, Some(var), "{text}");
    }
    let found = problems("server = 1\n");
    assert_eq!(found[0].key, "server");
    assert!(found[0].reason.contains("table"), "{}", found[0].reason);
}

#[test]
fn a_syntax_error_names_the_line_but_never_repeats_the_text() {
    let err = parse("[minimax]\napi_key = \"sk-very-secret\n").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, FileError::Syntax { .. }), "{message}");
    assert!(message.contains("/etc/odeadev/odeadev.toml"), "{message}");
    assert!(message.contains("line 2"), "{message}");
    assert!(!message.contains("sk-very-secret"), "{message}");
}

#[test]
fn messages_never_repeat_a_value_of_the_wrong_type() {
    let message = parse("[minimax]\napi_key = [\"sk-very-secret\"]\n")
        .unwrap_err()
        .to_string();
    assert!(message.contains("minimax.api_key"), "{message}");
    assert!(!message.contains("sk-very-secret"), "{message}");
}

#[test]
fn an_empty_value_counts_as_unset_like_an_empty_variable() {
    let file = parse("[voices]\ndefault = \"\"\n").unwrap();
    assert_eq!(file.get("ODEADEV_DEFAULT_VOICE"), None);
}

#[test]
fn a_missing_file_is_an_error_naming_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.toml");
    let message = SettingsFile::read(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}
