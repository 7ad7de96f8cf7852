//! The settings file and `check-config`, through the binary: the file under the environment,
//! what it refuses, secrets kept out of the output, and `serve --config` using it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use super::{admin_created, bin};

/// `odeadev-tts check-config` with only `vars` in its environment.
fn check_config(args: &[&str], vars: &[(&str, &str)]) -> Output {
    bin()
        .env_clear()
        .envs(vars.iter().copied())
        .arg("check-config")
        .args(args)
        .output()
        .unwrap()
}

/// What `check-config` printed to stderr, once it is known to have refused (exit 1, no output).
fn refused(args: &[&str], vars: &[(&str, &str)]) -> String {
    let out = check_config(args, vars);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{stderr}");
    stderr
}

/// Writes `text` to `odeadev.toml` in `dir`.
fn settings_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("odeadev.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The line of `check-config`'s output for `name`, split into value and origin.
fn reported<'a>(stdout: &'a str, name: &str) -> (&'a str, &'a str) {
    let line = stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} is not reported:\n{stdout}"));
    let (_, rest) = line.split_once(" = ").unwrap();
    let (value, origin) = rest.split_once("  # ").unwrap();
    (value.trim(), origin.trim())
}

#[test]
fn check_config_prints_the_file_under_the_environment_with_every_secret_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = settings_file(
        dir.path(),
        r#"
[server]
bind = "127.0.0.1:9001"
shutdown_grace_secs = 5

[database]
url = "postgres://tts:db-password-1@db.internal/tts?sslmode=require"

[auth]
key_pepper = "pepper-from-the-file-0123456789abcdef"

[redis]
url = "redis://:redis-password-2@127.0.0.1:6379"

[minimax]
api_key = "minimax-key-3"
"#,
    );
    let out = check_config(
        &["--config", file.to_str().unwrap()],
        &[
            ("ODEADEV_SHUTDOWN_GRACE_SECS", "7"),
            ("MINIMAX_TIMEOUT_MS", "25000"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        reported(&stdout, "ODEADEV_CONFIG"),
        (file.to_str().unwrap(), "command line")
    );
    assert_eq!(
        reported(&stdout, "ODEADEV_BIND"),
        ("127.0.0.1:9001", "file server.bind")
    );
    assert_eq!(
        reported(&stdout, "ODEADEV_SHUTDOWN_GRACE_SECS"),
        ("7", "environment"),
        "the environment overrides the file"
    );
    assert_eq!(
        reported(&stdout, "MINIMAX_TIMEOUT_MS"),
        ("25000", "environment")
    );
    assert_eq!(reported(&stdout, "ODEADEV_GENERAL_RPM"), ("600", "default"));
    assert_eq!(
        reported(&stdout, "DATABASE_URL"),
        (
            "postgres://tts:redacted@db.internal/tts?sslmode=require",
            "file database.url"
        )
    );
    assert_eq!(
        reported(&stdout, "ODEADEV_KEY_PEPPER"),
        ("<redacted>", "file auth.key_pepper")
    );
    assert_eq!(
        reported(&stdout, "MINIMAX_API_KEY"),
        ("<redacted>", "file minimax.api_key")
    );
    for secret in [
        "db-password-1",
        "pepper-from-the-file",
        "redis-password-2",
        "minimax-key-3",
    ] {
        assert!(!stdout.contains(secret), "{secret} shown:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} logged:\n{stderr}");
    }
}

#[test]
fn check_config_reads_the_file_named_by_odeadev_config_unless_config_names_another() {
    let dir = tempfile::tempdir().unwrap();
    let file = settings_file(dir.path(), "[server]\nbind = \"127.0.0.1:9002\"\n");
    let from_env = check_config(&[], &[("ODEADEV_CONFIG", file.to_str().unwrap())]);
    let stdout = String::from_utf8(from_env.stdout).unwrap();
    assert_eq!(
        reported(&stdout, "ODEADEV_CONFIG"),
        (file.to_str().unwrap(), "environment")
    );
    assert_eq!(reported(&stdout, "ODEADEV_BIND").0, "127.0.0.1:9002");

    let missing = dir.path().join("missing.toml");
    let out = check_config(
        &["--config", file.to_str().unwrap()],
        &[("ODEADEV_CONFIG", missing.to_str().unwrap())],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "--config wins over ODEADEV_CONFIG"
    );

    let stderr = refused(&[], &[("ODEADEV_CONFIG", missing.to_str().unwrap())]);
    assert!(stderr.contains(missing.to_str().unwrap()), "{stderr}");
}

#[test]
fn check_config_refuses_an_unknown_key_naming_it_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = settings_file(dir.path(), "[server]\nbnd = \"127.0.0.1:9001\"\n");
    let stderr = refused(&["--config", file.to_str().unwrap()], &[]);
    let expected = format!(
        "invalid setting server.bnd in {}: unknown key",
        file.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// Environment variables of a test case.
type Vars = &'static [(&'static str, &'static str)];

#[test]
fn check_config_refuses_a_bad_value_naming_the_setting() {
    let bad_value = "[database]\nsqlite_synchronous = \"sometimes\"\n";
    let cases: [(&str, Vars, &str); 3] = [
        (
            "[limits]\ngeneral_rpm = \"600\"\n",
            &[],
            "invalid setting limits.general_rpm (ODEADEV_GENERAL_RPM) in",
        ),
        (
            bad_value,
            &[],
            "invalid setting database.sqlite_synchronous (ODEADEV_SQLITE_SYNCHRONOUS) in",
        ),
        // The environment overrides the file, and its own bad value is named as before.
        (
            bad_value,
            &[("ODEADEV_SQLITE_SYNCHRONOUS", "off")],
            "invalid setting ODEADEV_SQLITE_SYNCHRONOUS: \"off\"",
        ),
    ];
    for (text, vars, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = settings_file(dir.path(), text);
        let stderr = refused(&["--config", file.to_str().unwrap()], vars);
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}

/// `serve --config` takes its listen address and database from the file: an admin created
/// through the same file is known to the server listening where the file says.
#[tokio::test]
async fn serve_with_config_listens_and_keeps_its_books_where_the_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let pg = match crate::helpers::test_database_url() {
        Some(admin_url) => Some(crate::helpers::PgTestDatabase::create(&admin_url).await),
        None => None,
    };
    let database_url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("books.db").display()),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = settings_file(
        dir.path(),
        &format!("[server]\nbind = \"127.0.0.1:{port}\"\n[database]\nurl = {database_url:?}\n"),
    );
    let config = file.to_str().unwrap();
    let hermetic = |cmd: &mut Command| {
        cmd.env_remove("DATABASE_URL")
            .env_remove("ODEADEV_BIND")
            .env_remove("REDIS_URL")
            .env_remove("ODEADEV_CONFIG");
    };
    let mut create = bin();
    hermetic(&mut create);
    let out = create
        .args([
            "--config",
            config,
            "create-admin",
            "Ops",
            "ops@example.com",
            "--json",
        ])
        .output()
        .unwrap();
    let admin = admin_created(&out);
    let key = admin["api_key"].as_str().unwrap();

    let log = dir.path().join("serve.log");
    let mut serve = bin();
    hermetic(&mut serve);
    let mut server = Server(
        serve
            .args(["serve", "--config", config])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let me = format!("http://127.0.0.1:{port}/v1/me");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match client.get(&me).bearer_auth(key).send().await {
            Ok(response) => break response.status(),
            Err(_) => {
                let exited = server.0.try_wait().unwrap();
                let log = || std::fs::read_to_string(&log).unwrap_or_default();
                assert!(exited.is_none(), "serve exited: {exited:?}\n{}", log());
                assert!(Instant::now() < deadline, "nothing on {port}:\n{}", log());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(status, 200);
}

/// A server process, killed when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
