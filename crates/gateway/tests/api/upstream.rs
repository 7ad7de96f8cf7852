//! Tests: upstream. The MiniMax engine path, black-box: what the gateway sends to MiniMax
//! (the simulator), how it bills what MiniMax reports, and how every kind of upstream failure
//! reaches the client (status, clean body, nothing charged).

use std::time::{Duration, Instant};

use base64::Engine as _;
use minimax_sim::SimConfig;
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::*;

const EPS: f64 = 1e-9;

// ---------------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------------

/// An app whose gateway gets these extra settings.
async fn app_with(env: &[(&'static str, &str)]) -> TestApp {
    spawn_app_with(Options {
        env: env.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
        ..Options::default()
    })
    .await
}

/// A /v1/tts or /v2/tts body for the `american-male` MiniMax voice.
fn speak(text: &str) -> Value {
    json!({"text": text, "voice_name": "american-male"})
}

/// Reservation the gateway makes for a text of plain letters, spaces and punctuation at speed
/// 1.0 without pauses: 100 ms per character plus a fixed 1 s allowance.
fn plain_estimate_secs(text: &str) -> f64 {
    (text.chars().count() as f64 * 100.0 + 1000.0) / 1000.0
}

/// A request id of our own, made of characters that cannot form a 32-hex run, so that any such
/// run in a response can only be a leaked upstream trace id.
/// Letters only (none of them hex digits), so numeric codes cannot appear in it either.
fn our_request_id() -> String {
    let tail: String = (0..12)
        .map(|_| char::from(b'g' + rand::random::<u8>() % 20))
        .collect();
    format!("upstream-test-{tail}")
}

async fn post_with_id(app: &TestApp, path: &str, key: &str, body: &Value, rid: &str) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(key)
        .header("x-request-id", rid)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn num(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < EPS
}

/// The body the gateway sent with its last `/v1/t2a_v2` call.
async fn last_upstream_body(app: &TestApp) -> Value {
    let requests = app.sim_requests().await;
    requests
        .iter()
        .rev()
        .find(|r| r["path"] == "/v1/t2a_v2")
        .expect("the simulator saw no t2a request")["body"]
        .clone()
}

/// Asks the simulator directly (not through the gateway) for the non-streaming answer to
/// `body`: (audio bytes, reported audio_length in ms).
async fn sim_full_audio(app: &TestApp, body: &Value) -> (Vec<u8>, u64) {
    let mut body = body.clone();
    body["stream"] = json!(false);
    body["output_format"] = json!("hex");
    if let Some(o) = body.as_object_mut() {
        o.remove("stream_options");
    }
    let response = app
        .client
        .post(format!("{}/v1/t2a_v2", app.sim.base_url()))
        .bearer_auth(SIM_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["base_resp"]["status_code"], 0, "{v}");
    (
        hex::decode(v["data"]["audio"].as_str().unwrap()).unwrap(),
        v["extra_info"]["audio_length"].as_u64().unwrap(),
    )
}

/// Asks the simulator directly for the streamed answer to `body`: (concatenated audio of the
/// status-1 events, reported audio_length in ms, number of audio events).
async fn sim_streamed_audio(app: &TestApp, body: &Value) -> (Vec<u8>, u64, usize) {
    let mut body = body.clone();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"exclude_aggregated_audio": true});
    if let Some(o) = body.as_object_mut() {
        o.remove("output_format");
    }
    let text = app
        .client
        .post(format!("{}/v1/t2a_v2", app.sim.base_url()))
        .bearer_auth(SIM_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut audio = Vec::new();
    let mut length = None;
    let mut events = 0;
    for line in text.lines() {
        let Some(payload) = line.strip_prefix("data: ") else {
            continue;
        };
        let event: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(event["base_resp"]["status_code"], 0, "{event}");
        match event["data"]["status"].as_i64() {
            Some(1) => {
                events += 1;
                audio.extend(hex::decode(event["data"]["audio"].as_str().unwrap()).unwrap());
            }
            Some(2) => length = event["extra_info"]["audio_length"].as_u64(),
            other => panic!("unexpected event status {other:?}"),
        }
    }
    (audio, length.expect("no final event"), events)
}

/// Reads a response body chunk by chunk until it ends or breaks: (bytes, whether it broke).
async fn read_all(mut response: Response) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
            Ok(Ok(Some(chunk))) => out.extend_from_slice(&chunk),
            Ok(Ok(None)) => return (out, false),
            Ok(Err(_)) => return (out, true),
            Err(_) => panic!("response body stalled for 10 s"),
        }
    }
}

/// Polls the user's usage until the only record is no longer `pending` (up to 5 s).
async fn settled_record(app: &TestApp, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let usage = app.usage(key).await;
        assert_eq!(
            usage.len(),
            1,
            "expected exactly one usage record: {usage:?}"
        );
        if usage[0]["status"] != "pending" {
            return usage[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "usage record still pending after 5 s: {}",
            usage[0]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fails when `text` shows anything from upstream that a client must never see: our upstream
/// key, a MiniMax trace id (a 32-hex run), upstream wording, or `extra` upstream strings.
fn assert_no_upstream_leak(text: &str, extra: &[&str]) {
    assert!(!text.contains(SIM_KEY), "upstream key leaked: {text}");
    let lower = text.to_lowercase();
    for word in [
        "trace",
        "minimax status",
        "status_msg",
        "base_resp",
        "sim-secret",
    ] {
        assert!(!lower.contains(word), "'{word}' leaked: {text}");
    }
    for s in extra {
        assert!(
            !lower.contains(&s.to_lowercase()),
            "upstream text '{s}' leaked: {text}"
        );
    }
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        assert!(run < 32, "a trace-id-like hex run leaked: {text}");
    }
}

/// The client-visible error fields of a usage record.
fn record_text(record: &Value) -> String {
    format!("{} {}", record["error_code"], record["error_message"])
}

/// What a failing request must look like.
struct Failure<'a> {
    /// Gateway route, `/v1/tts` or `/v2/tts`.
    path: &'static str,
    /// Acceptable (status, code) pairs.
    status: &'a [(u16, &'static str)],
    /// Upstream calls the request must have made.
    attempts: u64,
    /// Upstream strings that must not reach the client.
    forbidden: &'a [&'a str],
}

/// Queues `fault`, sends one request as a fresh user, and checks the failure is clean: expected
/// status and code, well-formed error body with our request id, no upstream detail, the
/// expected number of upstream attempts, nothing charged, nothing left reserved, and exactly
/// one usage record with status `error` and a clean message. Returns the error body.
async fn assert_clean_failure(app: &TestApp, fault: Value, expect: Failure<'_>) -> Value {
    let (_, key) = app.create_user("enterprise").await;
    let before = app.sim_t2a_count().await;
    app.fault(fault.clone()).await;
    let rid = our_request_id();
    let response = post_with_id(
        app,
        expect.path,
        &key,
        &speak("Upstream failures must stay clean."),
        &rid,
    )
    .await;
    let status = response.status().as_u16();
    let code = expect
        .status
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| {
            panic!(
                "fault {fault}: status {status}, expected one of {:?}",
                expect.status
            )
        });
    assert!(
        response.headers().get("trace-id").is_none(),
        "fault {fault}: the upstream trace-id header was forwarded"
    );
    let body = error_body(response, status).await;
    assert_eq!(body["request_id"], rid.as_str(), "fault {fault}: {body}");
    assert_eq!(body["code"], code, "fault {fault}: {body}");
    assert_no_upstream_leak(&body.to_string(), expect.forbidden);

    let attempts = app.sim_t2a_count().await - before;
    assert_eq!(
        attempts, expect.attempts,
        "fault {fault}: upstream attempts"
    );

    let me = app.me(&key).await;
    assert!(
        close(num(&me, "used_seconds"), 0.0),
        "fault {fault}: charged {me}"
    );
    assert!(
        close(num(&me, "reserved_seconds"), 0.0),
        "fault {fault}: reservation left {me}"
    );
    let record = settled_record(app, &key).await;
    assert_eq!(record["status"], "error", "fault {fault}: {record}");
    assert_eq!(
        record["request_id"],
        rid.as_str(),
        "fault {fault}: {record}"
    );
    assert!(
        close(num(&record, "audio_seconds"), 0.0),
        "fault {fault}: {record}"
    );
    assert_no_upstream_leak(&record_text(&record), expect.forbidden);
    body
}

/// Acceptable (status, code) pairs of a failure.
type Statuses = &'static [(u16, &'static str)];

const UPSTREAM_FAILED: &[(u16, &str)] = &[(502, "upstream_error")];
const ENGINE_UNAVAILABLE: &[(u16, &str)] = &[(503, "engine_unavailable")];

// ---------------------------------------------------------------------------------------------
// 1. Billing follows the length MiniMax reports
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimax_synthesis_bills_exactly_the_reported_audio_length_and_returns_the_sims_audio() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "Billing follows the length that MiniMax reports.";

    let response = app.post_tts(&key, &speak(text)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let audio = decode_audio(&body);

    let upstream = last_upstream_body(&app).await;
    let (sim_audio, sim_ms) = sim_full_audio(&app, &upstream).await;
    let sim_secs = sim_ms as f64 / 1000.0;
    assert!(sim_ms > 0);

    assert_eq!(
        audio.len(),
        sim_audio.len(),
        "audio length differs from the sim's"
    );
    assert!(audio == sim_audio, "audio bytes differ from the sim's");
    assert!(close(num(&body, "duration_seconds"), sim_secs), "{body}");
    assert!(close(num(&body, "billed_seconds"), sim_secs), "{body}");
    assert_eq!(body["voice_used"], "american-male");
    assert_eq!(body["text_length"], text.chars().count());

    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), sim_secs), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    assert!(
        close(
            num(&body, "remaining_quota"),
            num(&me, "quota_seconds") - sim_secs
        ),
        "{body} {me}"
    );

    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0]["status"], "success");
    assert_eq!(usage[0]["engine"], "minimax");
    assert!(
        close(num(&usage[0], "audio_seconds"), sim_secs),
        "{}",
        usage[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_reported_audio_length_is_what_gets_billed() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "audio_length", "audio_length_ms": 1234}))
        .await;

    let response = app
        .post_tts(&key, &speak("The simulator reports a shorter length here."))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(close(num(&body, "duration_seconds"), 1.234), "{body}");
    assert!(close(num(&body, "billed_seconds"), 1.234), "{body}");

    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), 1.234), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["status"], "success");
    assert!(
        close(num(&usage[0], "audio_seconds"), 1.234),
        "{}",
        usage[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_length_above_the_reservation_is_billed_at_the_reservation() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "The simulator claims ten minutes of audio.";
    let estimate = plain_estimate_secs(text);
    app.fault(json!({"kind": "audio_length", "audio_length_ms": 600_000}))
        .await;

    let response = app.post_tts(&key, &speak(text)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(close(num(&body, "billed_seconds"), estimate), "{body}");

    let me = app.me(&key).await;
    let used = num(&me, "used_seconds");
    assert!(used <= estimate + EPS, "used {used} > estimate {estimate}");
    assert!(close(used, estimate), "{me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{me}");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["status"], "success");
    assert!(
        close(num(&usage[0], "audio_seconds"), estimate),
        "{}",
        usage[0]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The request forwarded to MiniMax
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarded_request_carries_our_key_the_engine_voice_id_and_the_text_unchanged() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "Hello there<#0.5#>and welcome back.";
    let response = app
        .post_tts(
            &key,
            &json!({
                "text": text,
                "voice_name": "american-male",
                "model": "speech-02-hd",
                "speed": 1.5,
                "pitch": -3,
            }),
        )
        .await;
    assert_eq!(response.status(), 200);

    let requests = app.sim_requests().await;
    let t2a: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == "/v1/t2a_v2")
        .collect();
    assert_eq!(t2a.len(), 1, "{requests:?}");
    let r = t2a[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(
        r["headers"]["authorization"].as_str(),
        Some(format!("Bearer {SIM_KEY}").as_str())
    );
    assert!(
        r["query"].is_null(),
        "no GroupId without MINIMAX_GROUP_ID: {}",
        r["query"]
    );
    let headers = r["headers"].to_string();
    assert!(
        !headers.contains(&key),
        "the client's API key was forwarded upstream: {headers}"
    );
    let body = &r["body"];
    assert_eq!(body["voice_setting"]["voice_id"], "male-qn-qingse");
    assert_eq!(body["text"], text);
    assert_eq!(body["model"], "speech-02-hd");
    assert!(
        close(body["voice_setting"]["speed"].as_f64().unwrap(), 1.5),
        "{body}"
    );
    assert_eq!(body["voice_setting"]["pitch"], -3);
    assert_eq!(body["stream"], false);
    assert_eq!(body["output_format"], "hex");
    assert_eq!(body["audio_setting"]["format"], "mp3");
    assert_eq!(body["audio_setting"]["sample_rate"], 32000);
    assert_eq!(body["audio_setting"]["bitrate"], 128000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_id_query_is_sent_only_when_configured() {
    let app = app_with(&[("MINIMAX_GROUP_ID", "12345")]).await;
    let (_, key) = app.create_user("enterprise").await;
    let response = app.post_tts(&key, &speak("Group id please.")).await;
    assert_eq!(response.status(), 200);
    let requests = app.sim_requests().await;
    let r = requests.iter().find(|r| r["path"] == "/v1/t2a_v2").unwrap();
    assert_eq!(r["query"], "GroupId=12345", "{r}");
}

// ---------------------------------------------------------------------------------------------
// 3. Every upstream fault: right status, clean body, nothing charged
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_http_5xx_answers_502_and_charges_nothing() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    for status in [500, 503] {
        assert_clean_failure(
            &app,
            json!({"kind": "http_status", "status": status}),
            Failure {
                path: "/v1/tts",
                status: UPSTREAM_FAILED,
                attempts: 1,
                forbidden: &["simulated upstream failure"],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_minimax_business_errors_are_retried_then_fail_cleanly() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let cases = [
        (1000, "unknown error"),
        (1001, "request timeout"),
        (1002, "rate limit"),
        (1024, "internal error"),
        (1033, "system error"),
        (1039, "token limit"),
    ];
    for (code, msg) in cases {
        // Every attempt fails: the first call and both retries.
        assert_clean_failure(
            &app,
            json!({"kind": "business_error", "code": code, "times": 3}),
            Failure {
                path: "/v1/tts",
                status: &[(502, "upstream_error"), (503, "engine_unavailable")],
                attempts: 3,
                forbidden: &[msg, &code.to_string()],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_account_errors_answer_503_with_a_generic_detail_and_are_not_retried() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let cases = [
        (1004, "not authorized"),
        (2049, "invalid api key"),
        (1008, "insufficient balance"),
    ];
    for (code, msg) in cases {
        let body = assert_clean_failure(
            &app,
            json!({"kind": "business_error", "code": code}),
            Failure {
                path: "/v1/tts",
                status: ENGINE_UNAVAILABLE,
                attempts: 1,
                forbidden: &[msg, &code.to_string(), "balance", "api key", "authoriz"],
            },
        )
        .await;
        let detail = body["detail"].as_str().unwrap();
        assert!(!detail.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_input_rejections_answer_422_and_charge_nothing() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let cases = [
        (2013, "invalid params"),
        (1042, "invisible character ratio limit"),
    ];
    for (code, msg) in cases {
        assert_clean_failure(
            &app,
            json!({"kind": "business_error", "code": code}),
            Failure {
                path: "/v1/tts",
                status: &[(422, "validation_error")],
                attempts: 1,
                forbidden: &[msg, &code.to_string()],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_unknown_voice_answers_502_and_charges_nothing() {
    let app = app_with(&[("MINIMAX_BREAKER_FAILURES", "1000")]).await;
    assert_clean_failure(
        &app,
        json!({"kind": "business_error", "code": 2054}),
        Failure {
            path: "/v1/tts",
            status: UPSTREAM_FAILED,
            attempts: 1,
            forbidden: &["voice id not exist", "2054", "male-qn-qingse"],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_minimax_answers_malformed_json_bad_hex_or_oversized_answer_502() {
    let app = app_with(&[
        ("MINIMAX_MAX_RESPONSE_BYTES", "100000"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    for fault in [
        json!({"kind": "malformed_json"}),
        json!({"kind": "bad_hex"}),
        json!({"kind": "oversized", "bytes": 400_000}),
    ] {
        assert_clean_failure(
            &app,
            fault,
            Failure {
                path: "/v1/tts",
                status: UPSTREAM_FAILED,
                attempts: 1,
                forbidden: &["invalid json", "hex", "larger than", "100000"],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_redirects_are_never_followed() {
    let app = app_with(&[("MINIMAX_BREAKER_FAILURES", "1000")]).await;
    let elsewhere = spawn_sim(SimConfig::default()).await;
    let target = format!("{}/v1/t2a_v2", elsewhere.base_url());
    for status in [302, 307, 308] {
        assert_clean_failure(
            &app,
            json!({"kind": "redirect", "location": target, "status": status}),
            Failure {
                path: "/v1/tts",
                status: UPSTREAM_FAILED,
                attempts: 1,
                forbidden: &[&target, &elsewhere.addr().to_string(), "redirect"],
            },
        )
        .await;
    }
    let seen: Value = app
        .client
        .get(format!("{}/_sim/requests", elsewhere.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen,
        json!([]),
        "the redirect target received requests (and our key)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_minimax_answers_504_within_the_configured_timeout() {
    let app = app_with(&[
        ("MINIMAX_TIMEOUT_MS", "500"),
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let started = Instant::now();
    assert_clean_failure(
        &app,
        json!({"kind": "hang"}),
        Failure {
            path: "/v1/tts",
            status: &[(504, "upstream_timeout")],
            attempts: 1,
            forbidden: &[],
        },
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "took {elapsed:?} with a 500 ms timeout"
    );
}

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
async fn a_streamed_length_above_the_reservation_is_billed_at_the_reservation() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "The final event claims ten minutes of audio.";
    let estimate = plain_estimate_secs(text);
    app.fault(json!({"kind": "audio_length", "audio_length_ms": 600_000}))
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
