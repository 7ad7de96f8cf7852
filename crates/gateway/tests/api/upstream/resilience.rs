//! Retries of transient failures and the circuit breaker.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// 4. Retries  5. Circuit breaker
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_transient_minimax_failure_is_retried_and_billed_once() {
    let app = app_with(&[("MINIMAX_MAX_RETRIES", "2")]).await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "http_status", "status": 503, "times": 1}))
        .await;

    let response = app
        .post_tts(&key, &speak("One failure, then success."))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(app.sim_t2a_count().await, 2);

    let me = app.me(&key).await;
    assert!(
        close(num(&me, "used_seconds"), num(&body, "duration_seconds")),
        "{me} {body}"
    );
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1, "one request, one record: {usage:?}");
    assert_eq!(usage[0]["status"], "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_opens_after_consecutive_failures_and_stops_calling_minimax() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "3"),
        ("MINIMAX_BREAKER_COOLDOWN_MS", "60000"),
    ])
    .await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "http_status", "status": 500, "times": 3}))
        .await;
    for _ in 0..3 {
        let r = app.post_tts(&key, &speak("Failing upstream.")).await;
        error_body(r, 502).await;
    }
    assert_eq!(app.sim_t2a_count().await, 3);

    let started = Instant::now();
    let r = app.post_tts(&key, &speak("Failing upstream.")).await;
    let body = error_body(r, 503).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "an open breaker must answer at once"
    );
    assert_eq!(body["code"], "engine_unavailable");
    assert_no_upstream_leak(&body["detail"].to_string(), &["breaker", "circuit"]);
    assert_eq!(
        app.sim_t2a_count().await,
        3,
        "the open breaker still called MiniMax"
    );

    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), 0.0), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 4);
    assert!(usage.iter().all(|u| u["status"] == "error"), "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_cooldown_one_trial_request_reaches_minimax_and_its_success_closes_the_breaker() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1"),
        ("MINIMAX_BREAKER_COOLDOWN_MS", "200"),
    ])
    .await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "http_status", "status": 500}))
        .await;
    error_body(app.post_tts(&key, &speak("Failing once.")).await, 502).await;
    error_body(app.post_tts(&key, &speak("Refused at once.")).await, 503).await;
    assert_eq!(app.sim_t2a_count().await, 1);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = app.post_tts(&key, &speak("The trial call.")).await;
    assert_eq!(r.status(), 200, "the half-open trial was refused");
    let r = app.post_tts(&key, &speak("Closed again.")).await;
    assert_eq!(r.status(), 200, "a successful trial must close the breaker");
    assert_eq!(app.sim_t2a_count().await, 3);
}
