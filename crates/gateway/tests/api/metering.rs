//! Metering: atomic reservation, exact settlement, one usage record per request, leases.

use std::time::Duration;

use serde_json::{json, Value};

use crate::direct_sql::{run_sql, SqlArg};
use crate::helpers::*;

fn ms(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 1000.0).round() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tts_returns_429_when_quota_cannot_cover_the_estimate() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("free").await;
    app.set_quota(id, 5.0).await;
    // 100 letters: the estimate is 100 × 100 ms + 1 s = 11 s > 5 s.
    let r = app
        .post_tts(
            &key,
            &json!({"text": "a".repeat(100), "voice_name": "marcus"}),
        )
        .await;
    let e = error_body(r, 429).await;
    assert_eq!(e["code"], "quota_exceeded");
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("5.0 seconds remaining"), "{detail}");
    assert!(detail.contains("11.0 seconds needed"), "{detail}");
    assert_eq!(app.sim_t2a_count().await, 0);
    let records = app.usage(&key).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], "quota_exceeded");
    assert_eq!(records[0]["audio_seconds"], 0.0);
    assert_eq!(app.me(&key).await["used_seconds"], 0.0);
    // A short text still fits.
    let r = app
        .post_tts(&key, &json!({"text": "Hi", "voice_name": "marcus"}))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_pass_the_quota_and_books_balance() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("enterprise").await;
    // Each request reserves 100 ms × 40 + 1 s = 5 s and is billed 60 ms × 40 = 2.4 s.
    app.set_quota(id, 30.0).await;
    // All 24 at once: past the plan's 10 concurrent requests, so lift it for this user.
    let r = app
        .patch(
            &format!("/admin/users/{id}"),
            &app.admin_key,
            &json!({"max_streams": 100, "rpm_limit": 1000}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = "abcdefghij".repeat(4);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let client = app.client.clone();
        let url = app.url("/v1/tts");
        let key = key.clone();
        let text = text.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"text": text, "voice_name": "marcus"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let mut ok = 0;
    let mut billed_ms = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => {
                ok += 1;
                billed_ms += ms(&body["billed_seconds"]);
                assert_eq!(body["billed_seconds"], body["duration_seconds"]);
            }
            429 => assert_eq!(body["code"], "quota_exceeded"),
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    let me = app.me(&key).await;
    let used = ms(&me["used_seconds"]);
    assert!(
        ok >= 6,
        "at least the requests that fit the quota succeed (got {ok})"
    );
    assert!(used <= 30_000, "used {used} ms passes the 30 s quota");
    assert_eq!(used, billed_ms, "used equals the sum billed");
    assert_eq!(me["reserved_seconds"], 0.0);
    let records = app.usage(&key).await;
    assert_eq!(records.len(), 24, "exactly one usage record per request");
    let record_ms: i64 = records.iter().map(|r| ms(&r["audio_seconds"])).sum();
    assert_eq!(record_ms, used);
    let stats = app.stats(&key).await;
    assert_eq!(stats["total_requests"], 24);
    assert_eq!(stats["successful_requests"], ok);
    assert_eq!(stats["failed_requests"], 24 - ok);
    assert_eq!(ms(&stats["total_audio_seconds"]), used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_lists_own_records_newest_first_and_stats_add_up() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let (_, other) = app.create_user("pro").await;
    for text in ["one", "two two", "three three three"] {
        let r = app
            .post_tts(&key, &json!({"text": text, "voice_name": "american-male"}))
            .await;
        assert_eq!(r.status(), 200);
    }
    app.post_tts(&other, &json!({"text": "not yours"})).await;
    let records = app.usage(&key).await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["text_length"], 17);
    assert_eq!(records[2]["text_length"], 3);
    for r in &records {
        assert_eq!(r["status"], "success");
        assert_eq!(r["endpoint"], "/v1/tts");
        assert_eq!(r["model_used"], "speech-02-turbo");
        assert!(r["request_id"].as_str().unwrap().len() >= 16);
        assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let page: Value = app
        .get("/v1/usage?limit=1&offset=1", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["text_length"], 7);
    let stats = app.stats(&key).await;
    for field in [
        "total_requests",
        "successful_requests",
        "failed_requests",
        "total_audio_seconds",
        "quota_used_percentage",
    ] {
        assert!(stats.get(field).is_some(), "stats lack {field}");
    }
    assert_eq!(stats["total_requests"], 3);
    assert_eq!(stats["successful_requests"], 3);
    assert_eq!(stats["failed_requests"], 0);
    let me = app.me(&key).await;
    assert_eq!(stats["total_audio_seconds"], me["used_seconds"]);
    assert!(stats["quota_used_percentage"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_whose_node_died_is_released_when_its_lease_expires() {
    let app = spawn_app_with(Options {
        env: vec![("ODEADEV_REAP_INTERVAL_SECS", "1".into())],
        ..Options::default()
    })
    .await;
    let (id, key) = app.create_user("pro").await;
    // A reservation left behind by a node that died: nobody is working on it or renewing it.
    let store = crate::reports::open_store(&app.database_url).await;
    let orphan = odeadev_tts::store::UsageContext {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: id,
        key_id: None,
        voice_id: None,
        request_id: "dead-node-request".into(),
        endpoint: "/v1/tts",
        engine: Some("minimax"),
        model_used: None,
        text_length: 10,
    };
    let lease = chrono::Utc::now() + chrono::Duration::milliseconds(1200);
    store.reserve(&orphan, 5_000, lease).await.unwrap();
    assert_eq!(app.me(&key).await["reserved_seconds"], 5.0);
    let mut released = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if app.me(&key).await["reserved_seconds"] == 0.0 {
            released = true;
            break;
        }
    }
    assert!(
        released,
        "the reaper released the reservation after its lease"
    );
    let records = app.usage(&key).await;
    assert_eq!(records[0]["status"], "error");
    assert_eq!(records[0]["error_code"], "lease_expired");
    assert_eq!(app.me(&key).await["used_seconds"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_its_lease_keeps_its_reservation_and_is_billed() {
    let app = spawn_app_with(Options {
        env: vec![
            ("ODEADEV_LEASE_SECS", "1".into()),
            ("ODEADEV_REAP_INTERVAL_SECS", "1".into()),
            ("MINIMAX_TIMEOUT_MS", "6000".into()),
        ],
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("pro").await;
    app.fault(json!({"kind": "delay", "delay_ms": 2500})).await;
    let r = app
        .post_tts(
            &key,
            &json!({"text": "slow but alive", "voice_name": "marcus"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let me = app.me(&key).await;
    assert_eq!(
        me["used_seconds"], body["billed_seconds"],
        "the books match the answer"
    );
    assert!(me["used_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(app.usage(&key).await[0]["status"], "success");
}

/// What a database crash does to a reservation committed without waiting for the disk: its
/// pending record and the user's hold vanish while the request goes on (written directly).
async fn lose_pending_reservations(app: &TestApp, user_id: i64) {
    let statements = [
        "DELETE FROM usage_records WHERE user_id = $1 AND status = 'pending'",
        "UPDATE users SET reserved_ms = 0 WHERE id = $1",
    ];
    for statement in statements {
        let changed = run_sql(&app.database_url, statement, &[SqlArg::Int(user_id)]).await;
        assert_eq!(changed, 1, "{statement}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_reservation_was_lost_is_still_recorded_and_billed_once() {
    let app = spawn_app_with(Options {
        env: vec![("MINIMAX_TIMEOUT_MS", "6000".into())],
        ..Options::default()
    })
    .await;
    let (id, key) = app.create_user("pro").await;
    app.fault(json!({"kind": "delay", "delay_ms": 1500})).await;
    let request = json!({"text": "the database crashed meanwhile", "voice_name": "marcus"});
    let pending = {
        let (client, url, key) = (
            app.client.clone(),
            format!("http://{}/v1/tts", app.address),
            key.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&request)
                .send()
                .await
        })
    };
    let mut reserved = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if app.me(&key).await["reserved_seconds"].as_f64().unwrap() > 0.0 {
            reserved = true;
            break;
        }
    }
    assert!(reserved, "the request reserved its estimate");
    lose_pending_reservations(&app, id).await;
    assert!(app.usage(&key).await.is_empty());

    let r = pending.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(ms(&body["billed_seconds"]) > 0);
    let me = app.me(&key).await;
    assert_eq!(me["used_seconds"], body["billed_seconds"], "billed once");
    assert_eq!(me["reserved_seconds"], 0.0);
    let records = app.usage(&key).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "success");
    assert_eq!(records[0]["audio_seconds"], body["billed_seconds"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_gave_up_still_finishes_and_is_billed_once() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    app.fault(json!({"kind": "delay", "delay_ms": 400})).await;
    let request = json!({"text": "nobody is listening any more", "voice_name": "marcus"});
    let gave_up = app
        .client
        .post(format!("http://{}/v1/tts", app.address))
        .bearer_auth(&key)
        .json(&request)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client stopped waiting");
    let mut settled = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        settled = app.usage(&key).await;
        if settled.first().is_some_and(|r| r["status"] != "pending") {
            break;
        }
    }
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(
        settled[0]["status"], "success",
        "the engine call ran to the end"
    );
    let me = app.me(&key).await;
    assert_eq!(me["reserved_seconds"], 0.0);
    assert_eq!(me["used_seconds"], settled[0]["audio_seconds"]);
    assert!(ms(&me["used_seconds"]) > 0);
}
