//! Streaming: byte-exact audio, SSE, first bytes early, disconnects and cuts.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// 6.–9. Streaming
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_audio_is_byte_exact_with_minimax_and_billed_at_the_reported_length() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let response = app
        .post(
            "/v2/tts",
            &key,
            &speak("Streaming must pass every byte through exactly once."),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "audio/mpeg"
    );
    let (audio, broken) = read_all(response).await;
    assert!(!broken, "a healthy stream ended with an error");

    let upstream = last_upstream_body(&app).await;
    assert_eq!(upstream["stream"], true);
    let (streamed, stream_ms, events) = sim_streamed_audio(&app, &upstream).await;
    let (full, full_ms) = sim_full_audio(&app, &upstream).await;
    assert!(events > 1, "the test needs several chunks, got {events}");
    assert!(
        streamed == full,
        "the sim's streamed and whole audio differ"
    );
    assert_eq!(stream_ms, full_ms);
    assert_eq!(
        audio.len(),
        full.len(),
        "streamed body length differs (double = aggregated audio repeated)"
    );
    assert!(audio == full, "streamed body differs from MiniMax's audio");

    let secs = full_ms as f64 / 1000.0;
    let record = settled_record(&app, &key).await;
    assert_eq!(record["status"], "success", "{record}");
    assert!(close(num(&record, "audio_seconds"), secs), "{record}");
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), secs), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streaming_sends_base64_audio_events_then_a_done_event_with_the_duration() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let response = app
        .client
        .post(app.url("/v2/tts"))
        .bearer_auth(&key)
        .header("accept", "text/event-stream")
        .json(&speak("Server sent events carry base64 audio chunks."))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = response.text().await.unwrap();

    let mut audio = Vec::new();
    let mut audio_events = 0;
    let mut done: Option<Value> = None;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut event = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event: ") {
                event = Some(e);
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str::<Value>(d).unwrap());
            }
        }
        let data = data.unwrap_or_else(|| panic!("event without data: {block:?}"));
        assert!(done.is_none(), "an event after done: {block:?}");
        match event {
            Some("audio") => {
                audio_events += 1;
                audio.extend(
                    base64::engine::general_purpose::STANDARD
                        .decode(data["audio"].as_str().unwrap())
                        .unwrap(),
                );
            }
            Some("done") => done = Some(data),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let done = done.expect("no done event");
    assert!(audio_events > 1, "expected several audio events");

    let upstream = last_upstream_body(&app).await;
    let (full, full_ms) = sim_full_audio(&app, &upstream).await;
    assert!(audio == full, "SSE audio differs from MiniMax's audio");
    let secs = full_ms as f64 / 1000.0;
    assert!(close(num(&done, "duration_seconds"), secs), "{done}");
    assert!(close(num(&done, "billed_seconds"), secs), "{done}");
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), secs), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_streamed_chunk_reaches_the_client_before_minimax_finishes() {
    let app = spawn_app_with(Options {
        sim: Some(SimConfig {
            api_key: Some(SIM_KEY.to_string()),
            stream_chunk_ms: 400,
            stream_chunk_delay_ms: 300,
            ..SimConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("enterprise").await;
    // 40 characters at 60 ms = 2.4 s of audio: 6 chunks, 5 pauses of 300 ms.
    let text = "Forty characters of text to be streamed.";
    assert_eq!(text.chars().count(), 40);
    let started = Instant::now();
    let mut response = app.post("/v2/tts", &key, &speak(text)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("no audio at all");
    assert!(!first.is_empty());
    let first_at = started.elapsed();
    let (_, broken) = read_all(response).await;
    assert!(!broken);
    let total = started.elapsed();
    assert!(
        total >= Duration::from_millis(1200),
        "the stream should take ≥ 1.5 s upstream, took {total:?}"
    );
    assert!(
        first_at * 2 < total,
        "first chunk at {first_at:?} of {total:?}: audio was buffered, not streamed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_is_recorded_as_cancelled_and_its_reservation_released() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    // 100 characters: 6 s of audio in 24 chunks, 300 ms apart (about 7 s upstream).
    let text = "a".repeat(49) + " " + &"b".repeat(50);
    let estimate = plain_estimate_secs(&text);
    app.fault(json!({"kind": "slow_stream", "delay_ms": 300}))
        .await;
    let mut response = app.post("/v2/tts", &key, &speak(&text)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("no audio at all");
    assert!(!first.is_empty());
    drop(response);

    // Polls for 5 s, less than the upstream stream would take to finish.
    let record = settled_record(&app, &key).await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert_eq!(record["error_code"], "client_disconnected", "{record}");
    let me = app.me(&key).await;
    let used = num(&me, "used_seconds");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    assert!(used <= estimate + EPS, "used {used} > estimate {estimate}");
    assert!(
        used < 6.0,
        "billed {used} s: more than the whole audio, for a client that left after one chunk"
    );
    assert!(close(num(&record, "audio_seconds"), used), "{record} {me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_by_minimax_aborts_the_response_and_charges_nothing() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "The upstream connection breaks after two chunks of audio.";
    app.fault(json!({"kind": "stream_cut", "after_chunks": 2}))
        .await;
    let response = app.post("/v2/tts", &key, &speak(text)).await;
    assert_eq!(
        response.status(),
        200,
        "audio had started: headers were sent"
    );
    let (received, broken) = read_all(response).await;

    let upstream = last_upstream_body(&app).await;
    let (full, _) = sim_full_audio(&app, &upstream).await;
    assert!(
        full.starts_with(&received),
        "the bytes received are not the start of the audio"
    );
    assert!(
        broken || received.len() < full.len(),
        "a cut stream looked complete to the client"
    );
    assert!(
        broken,
        "a cut stream must end with a transport error, not a clean (truncated) end"
    );

    let record = settled_record(&app, &key).await;
    assert_eq!(record["status"], "error", "{record}");
    assert!(close(num(&record, "audio_seconds"), 0.0), "{record}");
    assert_no_upstream_leak(&record_text(&record), &["simulated stream cut"]);
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), 0.0), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_error_before_any_audio_answers_a_proper_error_status() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    assert_clean_failure(
        &app,
        json!({"kind": "stream_error", "code": 1004}),
        Failure {
            path: "/v2/tts",
            status: ENGINE_UNAVAILABLE,
            attempts: 1,
            forbidden: &["not authorized", "1004"],
        },
    )
    .await;
    assert_clean_failure(
        &app,
        json!({"kind": "stream_error", "code": 1000, "times": 3}),
        Failure {
            path: "/v2/tts",
            status: UPSTREAM_FAILED,
            attempts: 3,
            forbidden: &["unknown error", "1000"],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_failures_before_any_audio_answer_the_same_statuses_as_v1() {
    let app = app_with(&[
        ("MINIMAX_TIMEOUT_MS", "500"),
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
        ("MINIMAX_MAX_RESPONSE_BYTES", "100000"),
    ])
    .await;
    let cases: [(Value, Statuses, &[&str]); 6] = [
        (
            json!({"kind": "http_status", "status": 500}),
            UPSTREAM_FAILED,
            &["simulated upstream failure"],
        ),
        (
            json!({"kind": "business_error", "code": 1008}),
            ENGINE_UNAVAILABLE,
            &["insufficient balance", "1008"],
        ),
        (
            json!({"kind": "business_error", "code": 2013}),
            &[(422, "validation_error")],
            &["invalid params", "2013"],
        ),
        (json!({"kind": "malformed_json"}), UPSTREAM_FAILED, &[]),
        (
            json!({"kind": "oversized", "bytes": 400_000}),
            UPSTREAM_FAILED,
            &["larger than"],
        ),
        (json!({"kind": "hang"}), &[(504, "upstream_timeout")], &[]),
    ];
    for (fault, status, forbidden) in cases {
        let started = Instant::now();
        assert_clean_failure(
            &app,
            fault,
            Failure {
                path: "/v2/tts",
                status,
                attempts: 1,
                forbidden,
            },
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_audio_longer_than_the_reservation_is_billed_at_the_reservation() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "The final event claims ten minutes of audio.";
    let estimate = plain_estimate_secs(text);
    // 20 s of real audio, far above the reservation, reported as ten minutes.
    app.fault(json!({"kind": "audio_length", "audio_length_ms": 600_000, "produced_ms": 20_000}))
        .await;
    let response = app.post("/v2/tts", &key, &speak(text)).await;
    assert_eq!(response.status(), 200);
    let (_, broken) = read_all(response).await;
    assert!(!broken);
    let record = settled_record(&app, &key).await;
    assert_eq!(record["status"], "success", "{record}");
    assert!(close(num(&record, "audio_seconds"), estimate), "{record}");
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), estimate), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_before_the_first_streamed_audio_still_has_its_request_settled() {
    // The upstream call gives up after 1 s; the reservation must be settled then, not when
    // the 300 s lease runs out.
    let app = app_with(&[
        ("MINIMAX_TIMEOUT_MS", "1000"),
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "hang"})).await;
    let gave_up = app
        .client
        .post(app.url("/v2/tts"))
        .bearer_auth(&key)
        .json(&speak("Nobody waits for this one."))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err(), "the hung stream answered: {gave_up:?}");

    let record = settled_record(&app, &key).await;
    assert!(
        record["status"] == "error" || record["status"] == "cancelled",
        "{record}"
    );
    assert!(close(num(&record, "audio_seconds"), 0.0), "{record}");
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), 0.0), "{me}");
    assert!(
        close(num(&me, "reserved_seconds"), 0.0),
        "reservation still held: {me}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_trial_abandoned_by_its_client_does_not_wedge_the_breaker() {
    let app = app_with(&[
        ("MINIMAX_TIMEOUT_MS", "500"),
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1"),
        ("MINIMAX_BREAKER_COOLDOWN_MS", "100"),
    ])
    .await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "http_status", "status": 500}))
        .await;
    error_body(app.post_tts(&key, &speak("Opens the breaker.")).await, 502).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The half-open trial is a stream whose client leaves before any audio.
    app.fault(json!({"kind": "hang"})).await;
    let gave_up = app
        .client
        .post(app.url("/v2/tts"))
        .bearer_auth(&key)
        .json(&speak("The abandoned trial."))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(gave_up.is_err(), "the hung stream answered: {gave_up:?}");
    assert_eq!(
        app.sim_t2a_count().await,
        2,
        "the trial did not reach MiniMax"
    );

    // Well past the upstream timeout and the cooldown, MiniMax must be tried again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let r = app.post_tts(&key, &speak("Is anyone there?")).await;
    assert_eq!(
        r.status(),
        200,
        "the breaker stayed half-open with a trial nobody will ever finish"
    );
    assert_eq!(app.sim_t2a_count().await, 3);
}

// ---------------------------------------------------------------------------------------------
// 10. MiniMax not configured
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_minimax_key_minimax_voices_answer_503_and_are_listed_unavailable() {
    let app = spawn_app_with(Options {
        no_minimax: true,
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("enterprise").await;
    let r = app
        .post_tts(
            &key,
            &json!({"text": "Hello there.", "voice_name": "marcus"}),
        )
        .await;
    let body = error_body(r, 503).await;
    assert_eq!(body["code"], "engine_unavailable");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("MiniMax") && detail.contains("not configured"),
        "{detail}"
    );
    assert_eq!(app.sim_t2a_count().await, 0);
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), 0.0), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");

    let voices: Value = app.get("/v1/voices", &key).await.json().await.unwrap();
    let marcus = voices
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["friendly_name"] == "marcus")
        .unwrap_or_else(|| panic!("marcus not listed: {voices}"));
    assert_eq!(marcus["available"], false, "{marcus}");
    assert_eq!(marcus["provider"], "minimax");
    assert!(
        marcus["unavailable_reason"]
            .as_str()
            .is_some_and(|r| r.contains("not configured")),
        "{marcus}"
    );
}
