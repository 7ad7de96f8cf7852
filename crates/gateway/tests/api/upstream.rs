//! Tests: upstream. The MiniMax engine path, black-box: what the gateway sends to MiniMax
//! (the simulator), how it bills the audio MiniMax sends, and how every kind of upstream failure
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

mod billing;
mod connections;
mod faults;
mod measured;
mod resilience;
mod streaming;
