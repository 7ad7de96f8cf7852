//! A PostgreSQL server crashed (`pg_ctl stop -m immediate`) under concurrent metered load,
//! then started again: the quota holds (used never exceeds it), every request the gateway
//! answered with audio has exactly one record, the books balance, and nothing stays reserved
//! to refuse the next request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;

use super::Books;
use crate::helpers::*;
use crate::private_postgres::PrivatePostgres;

const TEXT: &str = "The server crashed in the middle of this sentence.";

/// (status, request id) of every answer.
type Answers = Arc<Mutex<Vec<(u16, String)>>>;

async fn load(app: &TestApp, key: &str, until: Instant, answers: Answers) {
    while Instant::now() < until {
        let r = app
            .client
            .post(app.url("/v1/tts"))
            .bearer_auth(key)
            .json(&json!({"text": TEXT, "voice_name": "marcus"}))
            .send()
            .await;
        let Ok(r) = r else { continue };
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        answers.lock().unwrap().push((status, id));
    }
}

/// Settlements the node still owes, from its metrics.
async fn owed(app: &TestApp) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix("odeadev_settlements_owed "))
        .map_or(0, |n| n.trim().parse::<f64>().unwrap() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_crash_under_load_keeps_the_quota_and_one_record_per_answer() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let app = spawn_app_with(Options {
        env: vec![
            ("DATABASE_URL", pg.url()),
            ("ODEADEV_DB_ACQUIRE_TIMEOUT_MS", "1000".into()),
        ],
        ..Options::default()
    })
    .await;
    let (user_id, key) = app.create_user("enterprise").await;
    // Enough quota to be running out around the crash, with every client's reservation in
    // flight: each call takes 400 ms upstream.
    let limits = json!({"quota_seconds": 500.0, "rpm_limit": 1_000_000, "max_streams": 1_000});
    let r = app
        .patch(&format!("/admin/users/{user_id}"), &app.admin_key, &limits)
        .await;
    assert_eq!(r.status(), 200);
    app.fault(json!({"kind": "delay", "delay_ms": 400, "times": 100_000}))
        .await;

    let answers: Answers = Arc::default();
    let until = Instant::now() + Duration::from_secs(6);
    let clients: Vec<_> = (0..48)
        .map(|_| load(&app, &key, until, answers.clone()))
        .collect();
    let crash = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let server = &pg;
        tokio::task::block_in_place(|| server.crash());
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| server.start_again());
    };
    tokio::join!(futures::future::join_all(clients), crash);

    // Owed settlements are written once the server is back; wait for the last of them (a
    // lost reservation leaves nothing pending in the database: only the node knows).
    let started = Instant::now();
    let books = loop {
        let owed = owed(&app).await;
        let books = Books::read(&pg.url(), user_id).await;
        if owed == 0 && books.pending == 0 && books.reserved_ms == 0 {
            break books;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still owed after 30 s: {books:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (used, quota) = (books.used_ms, books.quota_ms);
    assert!(used <= quota, "used {used} ms past the quota of {quota} ms");
    assert!(
        books.settled_and_balanced(),
        "used = the records' audio: {books:?}"
    );

    let answers = answers.lock().unwrap().clone();
    let served: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, id)| id)
        .collect();
    let statuses = answers
        .iter()
        .fold(HashMap::new(), |mut counts, (status, _)| {
            *counts.entry(*status).or_insert(0) += 1;
            counts
        });
    eprintln!("answers by status: {statuses:?}");
    assert!(!served.is_empty(), "no request was served at all");
    assert!(
        answers
            .iter()
            .all(|(s, _)| matches!(s, 200 | 429 | 502 | 503)),
        "{statuses:?}"
    );
    let mut conn = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    let records: Vec<(String, String)> =
        sqlx::query_as("SELECT request_id, status FROM usage_records WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut by_request: HashMap<&str, Vec<&str>> = HashMap::new();
    for (request_id, status) in &records {
        by_request.entry(request_id).or_default().push(status);
    }
    assert!(
        by_request.values().all(|statuses| statuses.len() == 1),
        "a request with two records"
    );
    for id in served {
        assert_eq!(
            by_request.get(id.as_str()).map(Vec::as_slice),
            Some(&["success"][..]),
            "the answer {id} has no success record"
        );
    }

    // Nothing holds quota any more: room for one more request is room for it. The node
    // says when it is ready again (on a loaded machine its pool may still be reconnecting).
    wait_for(
        Duration::from_secs(30),
        "the node ready after the crash",
        || async {
            let r = app.client.get(app.url("/ready")).send().await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    let room = json!({"quota_seconds": (used as f64 / 1000.0) + 8.0});
    let r = app
        .put(
            &format!("/admin/users/{user_id}/quota"),
            &app.admin_key,
            &room,
        )
        .await;
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
    let r = app
        .post_tts(&key, &json!({"text": TEXT, "voice_name": "marcus"}))
        .await;
    assert_eq!(r.status(), 200, "a false refusal after the crash");
    let _ = conn.close().await;
}
