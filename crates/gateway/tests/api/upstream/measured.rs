//! Billing follows the audio MiniMax sends, not the length it reports: an engine that claims
//! 999,999,999 ms or 0 ms is billed, on every synthesis route, for the audio it produced, and
//! the disagreement is counted.

#[allow(unused_imports)]
use super::*;

/// Lengths a lying engine reports: absurdly long, and nothing at all.
const LIES: [u64; 2] = [999_999_999, 0];

/// Seconds of audio the simulator really produced for the gateway's last request (asked again
/// directly, with no fault queued, it reports the truth).
async fn produced_secs(app: &TestApp) -> f64 {
    let upstream = last_upstream_body(app).await;
    let (_, ms) = sim_full_audio(app, &upstream).await;
    assert!(
        ms > 1_000,
        "the test needs audio of some length, got {ms} ms"
    );
    ms as f64 / 1000.0
}

/// `odeadev_engine_length_disagreements_total{engine="minimax"}`, 0 before the first.
async fn disagreements(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .find(|l| l.starts_with("odeadev_engine_length_disagreements_total{engine=\"minimax\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse::<f64>().unwrap() as u64)
}

/// As a fresh user, while the engine reports `reported` ms: sends `body` to `path` (asking
/// for `accept`), reads the whole answer, and checks that the user was billed, and that all of
/// their usage says, the seconds of audio produced. Returns the answer and those seconds.
async fn lied_to(
    app: &TestApp,
    path: &str,
    accept: &str,
    body: Value,
    reported: u64,
) -> (Vec<u8>, f64) {
    let case = format!("{path} {body}, reported {reported} ms");
    let (_, key) = app.create_user("enterprise").await;
    app.fault(json!({"kind": "audio_length", "audio_length_ms": reported}))
        .await;
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&key)
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{case}");
    let (answer, broken) = read_all(response).await;
    assert!(!broken && !answer.is_empty(), "{case}");
    let produced = produced_secs(app).await;
    let record = settled_record(app, &key).await;
    assert_eq!(record["status"], "success", "{case}: {record}");
    assert!(
        close(num(&record, "audio_seconds"), produced),
        "{case}: {record}"
    );
    let me = app.me(&key).await;
    assert!(close(num(&me, "used_seconds"), produced), "{case}: {me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{case}: {me}");
    (answer, produced)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_tts_bills_and_reports_the_audio_produced_in_every_format_whatever_the_engine_says() {
    let app = spawn_app().await;
    let before = disagreements(&app).await;
    let mut lies = 0;
    for format in ["mp3", "wav", "pcm", "flac"] {
        for reported in LIES {
            let body = json!({
                "text": "The engine misreports the length of this audio.",
                "voice_name": "american-male",
                "format": format,
            });
            let (answer, produced) = lied_to(&app, "/v1/tts", "*/*", body, reported).await;
            let answer: Value = serde_json::from_slice(&answer).unwrap();
            for field in ["duration_seconds", "billed_seconds"] {
                assert!(
                    close(num(&answer, field), produced),
                    "{format}, reported {reported} ms: {field} of {answer}"
                );
            }
            lies += 1;
        }
    }
    assert!(
        disagreements(&app).await >= before + lies,
        "each of the {lies} lies is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_stream_bills_the_audio_it_delivered_whatever_the_engine_says() {
    let app = spawn_app().await;
    for format in ["mp3", "pcm", "flac"] {
        for reported in LIES {
            let body = json!({
                "text": "A streamed answer whose final event lies about its length.",
                "voice_name": "american-male",
                "format": format,
            });
            lied_to(&app, "/v2/tts", "*/*", body, reported).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sse_done_event_reports_and_bills_the_measured_length() {
    let app = spawn_app().await;
    for reported in LIES {
        let body = speak("Server sent events with a lying final event.");
        let (answer, produced) =
            lied_to(&app, "/v2/tts", "text/event-stream", body, reported).await;
        let text = String::from_utf8(answer).unwrap();
        let done = text
            .split("\n\n")
            .find_map(|event| event.strip_prefix("event: done\ndata: "))
            .unwrap_or_else(|| panic!("no done event in {text}"));
        let done: Value = serde_json::from_str(done).unwrap();
        assert!(close(num(&done, "duration_seconds"), produced), "{done}");
        assert!(close(num(&done, "billed_seconds"), produced), "{done}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_speech_bills_the_audio_produced_whatever_the_engine_says() {
    let app = spawn_app().await;
    // mp3 is streamed; wav is spoken whole.
    for format in ["mp3", "wav"] {
        for reported in LIES {
            let body = json!({
                "model": "tts-1",
                "input": "The OpenAI route with a lying engine behind it.",
                "voice": "alloy",
                "response_format": format,
            });
            lied_to(&app, "/v1/audio/speech", "*/*", body, reported).await;
        }
    }
}
