//! Supervision of background work, seen from outside: a stalled SQLite writer takes the node
//! out of readiness, naming the writer, and brings it back once it moves again.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

/// Polls `/ready` until `done` holds for its status and body, for at most `limit`.
async fn ready_until(app: &TestApp, limit: Duration, done: impl Fn(u16, &Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = app.client.get(app.url("/ready")).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if done(status, &body) {
            return body;
        }
        assert!(
            started.elapsed() < limit,
            "/ready never came to the expected state; last {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(app: &TestApp, line_start: &str) -> Option<String> {
    let text = app.metrics().await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_string)
}

/// Another process holds SQLite's write lock: the writer thread waits on it with a write in
/// hand, past the stall threshold. `/ready` answers 503 naming the writer and why, the metric
/// says so; once the lock is gone the write lands and the node is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sqlite_writer_fails_readiness_naming_it_until_it_moves_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("supervised.db");
    let app = spawn_app_with(Options {
        env: vec![
            ("DATABASE_URL", format!("sqlite://{}", db.display())),
            ("ODEADEV_BACKGROUND_STALL_SECS", "1".into()),
        ],
        ..Options::default()
    })
    .await;
    let body = ready_until(&app, Duration::from_secs(5), |s, _| s == 200).await;
    for task in [
        "sqlite_writer",
        "sqlite_checkpointer",
        "reaper",
        "cycle_sweep",
    ] {
        assert_eq!(body["background"][task]["status"], "ok", "{body}");
    }

    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let write = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/admin/users");
        let key = app.admin_key.clone();
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"name": "Late", "email": "late@example.com"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let body = ready_until(&app, Duration::from_secs(4), |s, b| {
        s == 503 && b["background"]["sqlite_writer"]["status"] == "stalled"
    })
    .await;
    assert_eq!(body["status"], "not_ready");
    let detail = body["background"]["sqlite_writer"]["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("running for"), "{detail}");
    assert_eq!(
        metric(&app, "odeadev_background_up{task=\"sqlite_writer\"}").await,
        Some("odeadev_background_up{task=\"sqlite_writer\"} 0".into())
    );
    assert!(!write.is_finished(), "the write waited for the lock");

    blocker.execute_batch("COMMIT").unwrap();
    assert_eq!(
        write.await.unwrap(),
        201,
        "the write landed once the lock was gone"
    );
    let body = ready_until(&app, Duration::from_secs(5), |s, _| s == 200).await;
    assert_eq!(body["background"]["sqlite_writer"]["status"], "ok");
    assert_eq!(
        metric(&app, "odeadev_background_up{task=\"sqlite_writer\"}").await,
        Some("odeadev_background_up{task=\"sqlite_writer\"} 1".into())
    );
}

/// Found by the fuzz step: the settlement retry loop waited for something owed without
/// beating, so an idle node went out of readiness ("settlement_retry: no heartbeat") once
/// the stall bound passed. With a 1 s bound, readiness must hold through 4 s of idleness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_stays_ready_past_the_stall_bound() {
    let app = spawn_app_with(Options {
        env: vec![("ODEADEV_BACKGROUND_STALL_SECS", "1".into())],
        ..Options::default()
    })
    .await;
    ready_until(&app, Duration::from_secs(5), |s, _| s == 200).await;
    let idle = Instant::now();
    while idle.elapsed() < Duration::from_secs(4) {
        let r = app.client.get(app.url("/ready")).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "after {:?} idle: {body}", idle.elapsed());
        assert_eq!(body["background"]["settlement_retry"]["status"], "ok");
        // Not a synchronisation: the test watches readiness over a span of time.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
