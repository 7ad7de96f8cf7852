//! The `odeadev-tts serve` process itself: logs that keep secrets out, and graceful shutdown.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use minimax_sim::SimConfig;
use odeadev_tts::store::Store;
use serde_json::{json, Value};

use crate::helpers::*;

struct Server {
    child: Child,
    base: String,
    admin_key: String,
    log: PathBuf,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_server(sim_url: &str, extra: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("proc.db");
    let log = dir.path().join("server.log");
    let port = free_port();
    let env = |cmd: &mut Command| {
        cmd.env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("ODEADEV_BIND", format!("127.0.0.1:{port}"))
            .env("MINIMAX_API_KEY", SIM_KEY)
            .env("MINIMAX_BASE_URL", sim_url)
            .env("ODEADEV_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .env_remove("REDIS_URL");
        for (k, v) in extra {
            cmd.env(k, v);
        }
    };
    let mut create = Command::new(env!("CARGO_BIN_EXE_odeadev-tts"));
    env(&mut create);
    let out = create
        .args(["create-admin", "Ops", "ops@example.com", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let admin: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_odeadev-tts"));
    env(&mut serve);
    let child = serve
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/health")).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        base,
        admin_key: admin["api_key"].as_str().unwrap().to_string(),
        log,
        db,
        _dir: dir,
    }
}

fn terminate(server: &Server) {
    let ok = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn wait_exit(server: &mut Server, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not exit in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_user(client: &reqwest::Client, server: &Server) -> (i64, String) {
    let body: Value = client
        .post(format!("{}/admin/users", server.base))
        .bearer_auth(&server.admin_key)
        .json(&json!({"name": "Proc", "email": "proc@example.com", "plan": "pro"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["user"]["id"].as_i64().unwrap(),
        body["api_key"].as_str().unwrap().to_string(),
    )
}

async fn store_of(server: &Server) -> Arc<dyn Store> {
    let url = format!("sqlite://{}", server.db.display());
    let settings =
        odeadev_tts::config::Settings::load(&[("DATABASE_URL", url.as_str())], None).unwrap();
    odeadev_tts::startup::open_store(&settings)
        .await
        .unwrap()
        .store()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_full_run_hold_no_keys_and_no_text() {
    let sim = spawn_sim(SimConfig {
        api_key: Some(SIM_KEY.into()),
        ..SimConfig::default()
    })
    .await;
    let mut server = start_server(&sim.base_url(), &[]).await;
    let client = reqwest::Client::new();
    let (_, key) = create_user(&client, &server).await;
    let secret_text = "Zebra quartz lantern 7319 whispers";
    let tts = |path: &'static str, body: Value| {
        let client = client.clone();
        let url = format!("{}{path}", server.base);
        let key = key.clone();
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        tts(
            "/v1/tts",
            json!({"text": secret_text, "voice_name": "marcus"})
        )
        .await
        .status(),
        200
    );
    let streamed = tts(
        "/v2/tts",
        json!({"text": secret_text, "voice_name": "marcus"}),
    )
    .await;
    assert_eq!(streamed.status(), 200);
    streamed.bytes().await.unwrap();
    let openai = tts(
        "/v1/audio/speech",
        json!({"model": "tts-1", "input": secret_text, "voice": "alloy"}),
    )
    .await;
    openai.bytes().await.unwrap();
    client
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"kind": "business_error", "code": 1004}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tts(
            "/v1/tts",
            json!({"text": secret_text, "voice_name": "marcus"})
        )
        .await
        .status(),
        503
    );
    let wrong = client
        .get(format!("{}/v1/me", server.base))
        .bearer_auth(format!("{key}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    terminate(&server);
    assert!(wait_exit(&mut server, Duration::from_secs(20))
        .await
        .success());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.lines().count() > 5, "the run logged");
    for secret in [
        key.as_str(),
        server.admin_key.as_str(),
        SIM_KEY,
        secret_text,
        "Zebra quartz",
    ] {
        assert!(!log.contains(secret), "{secret:?} appears in the logs");
    }
    let completion = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["route"] == "/v1/tts" && l["status"] == 200)
        .expect("a completion line for /v1/tts");
    for field in [
        "request_id",
        "route",
        "status",
        "duration_ms",
        "user_id",
        "key_prefix",
        "engine",
        "audio_ms",
    ] {
        assert!(
            !completion[field].is_null(),
            "completion line lacks {field}: {completion}"
        );
    }
    assert!(key.starts_with(completion["key_prefix"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_stream_in_flight_finish_then_exits_zero() {
    let sim = spawn_sim(SimConfig {
        api_key: Some(SIM_KEY.into()),
        stream_chunk_delay_ms: 150,
        ..SimConfig::default()
    })
    .await;
    let mut server = start_server(&sim.base_url(), &[("ODEADEV_SHUTDOWN_GRACE_SECS", "20")]).await;
    let client = reqwest::Client::new();
    let (user_id, key) = create_user(&client, &server).await;
    let text = "A long enough sentence to stream in several slow chunks, one after another.";
    let response = client
        .post(format!("{}/v2/tts", server.base))
        .bearer_auth(&key)
        .json(&json!({"text": text, "voice_name": "marcus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().len();
    terminate(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        client
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_err(),
        "no new connections after SIGTERM"
    );
    while let Some(chunk) = body.next().await {
        received += chunk.expect("the stream finishes cleanly").len();
    }
    assert!(received > 10_000);
    assert!(wait_exit(&mut server, Duration::from_secs(20))
        .await
        .success());
    let store = store_of(&server).await;
    let user = store.get_user(user_id).await.unwrap();
    assert_eq!(user.reserved_ms, 0);
    let records = store
        .list_usage(
            user_id,
            odeadev_tts::store::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status.as_str(), "success");
    assert_eq!(user.used_ms, records[0].audio_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_left_after_the_grace_period_are_settled_as_failed() {
    let sim = spawn_sim(SimConfig {
        api_key: Some(SIM_KEY.into()),
        ..SimConfig::default()
    })
    .await;
    let mut server = start_server(
        &sim.base_url(),
        &[
            ("ODEADEV_SHUTDOWN_GRACE_SECS", "1"),
            ("MINIMAX_TIMEOUT_MS", "60000"),
            ("MINIMAX_MAX_RETRIES", "0"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let (user_id, key) = create_user(&client, &server).await;
    client
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"kind": "hang"}))
        .send()
        .await
        .unwrap();
    let url = format!("{}/v1/tts", server.base);
    let hanging = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"text": "never answered", "voice_name": "marcus"}))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    terminate(&server);
    assert!(wait_exit(&mut server, Duration::from_secs(10))
        .await
        .success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "exits soon after the grace period"
    );
    let _ = hanging.await;
    let store = store_of(&server).await;
    let user = store.get_user(user_id).await.unwrap();
    assert_eq!(user.reserved_ms, 0, "nothing stays reserved");
    assert_eq!(user.used_ms, 0);
    let records = store
        .list_usage(
            user_id,
            odeadev_tts::store::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].status.as_str(), "error");
    assert_eq!(records[0].error_code.as_deref(), Some("shutdown"));
}
