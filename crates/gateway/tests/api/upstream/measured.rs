//! Billing follows the audio MiniMax sends, not the length it reports: an engine that claims
//! 999,999,999 ms or 0 ms is billed, on every synthesis route, for the audio it produced, and
//! the disagreement is counted.

#[allow(unused_imports)]
use super::*;

/// Lengths a lying engine reports: absurdly long, and nothing at all.
const LIES: [u64; 2] = [999_999_999, 0];

/// The next synthesis comes with real audio but `reported` as its `audio_length`.
async fn engine_reports(app: &TestApp, reported: u64) {
    app.fault(json!({"kind": "audio_length", "audio_length_ms": reported}))
        .await;
}

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
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("odeadev_engine_length_disagreements_total{engine=\"minimax\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse::<f64>().unwrap() as u64)
}

/// The user's single record is settled as a success and billed `secs`, all of it used.
async fn assert_billed(app: &TestApp, key: &str, secs: f64, case: &str) {
    let record = settled_record(app, key).await;
    assert_eq!(record["status"], "success", "{case}: {record}");
    assert!(
        close(num(&record, "audio_seconds"), secs),
        "{case}: {record}"
    );
    let me = app.me(key).await;
    assert!(close(num(&me, "used_seconds"), secs), "{case}: {me}");
    assert!(close(num(&me, "reserved_seconds"), 0.0), "{case}: {me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_tts_bills_and_reports_the_audio_produced_in_every_format_whatever_the_engine_says() {
    let app = spawn_app().await;
    let before = disagreements(&app).await;
    let mut lies = 0;
    for format in ["mp3", "wav", "pcm", "flac"] {
        for reported in LIES {
            let case = format!("{format}, reported {reported} ms");
            let (_, key) = app.create_user("enterprise").await;
            engine_reports(&app, reported).await;
            let body = json!({
                "text": "The engine misreports the length of this audio.",
                "voice_name": "american-male",
                "format": format,
            });
            let response = app.post_tts(&key, &body).await;
            assert_eq!(response.status(), 200, "{case}");
            let body: Value = response.json().await.unwrap();
            let produced = produced_secs(&app).await;
            assert!(
                close(num(&body, "duration_seconds"), produced),
                "{case}: {body}"
            );
            assert!(
                close(num(&body, "billed_seconds"), produced),
                "{case}: {body}"
            );
            assert_billed(&app, &key, produced, &case).await;
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
            let case = format!("{format}, reported {reported} ms");
            let (_, key) = app.create_user("enterprise").await;
            engine_reports(&app, reported).await;
            let body = json!({
                "text": "A streamed answer whose final event lies about its length.",
                "voice_name": "american-male",
                "format": format,
            });
            let response = app.post("/v2/tts", &key, &body).await;
            assert_eq!(response.status(), 200, "{case}");
            let (_, broken) = read_all(response).await;
            assert!(!broken, "{case}");
            let produced = produced_secs(&app).await;
            assert_billed(&app, &key, produced, &case).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sse_done_event_reports_and_bills_the_measured_length() {
    let app = spawn_app().await;
    for reported in LIES {
        let (_, key) = app.create_user("enterprise").await;
        engine_reports(&app, reported).await;
        let text = app
            .client
            .post(app.url("/v2/tts"))
            .bearer_auth(&key)
            .header("accept", "text/event-stream")
            .json(&speak("Server sent events with a lying final event."))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let done = text
            .split("\n\n")
            .find_map(|event| event.strip_prefix("event: done\ndata: "))
            .unwrap_or_else(|| panic!("no done event in {text}"));
        let done: Value = serde_json::from_str(done).unwrap();
        let produced = produced_secs(&app).await;
        assert!(close(num(&done, "duration_seconds"), produced), "{done}");
        assert!(close(num(&done, "billed_seconds"), produced), "{done}");
        assert_billed(&app, &key, produced, &format!("reported {reported} ms")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_speech_bills_the_audio_produced_whatever_the_engine_says() {
    let app = spawn_app().await;
    // mp3 is streamed; wav is spoken whole.
    for format in ["mp3", "wav"] {
        for reported in LIES {
            let case = format!("{format}, reported {reported} ms");
            let (_, key) = app.create_user("enterprise").await;
            engine_reports(&app, reported).await;
            let body = json!({
                "model": "tts-1",
                "input": "The OpenAI route with a lying engine behind it.",
                "voice": "alloy",
                "response_format": format,
            });
            let response = app.post("/v1/audio/speech", &key, &body).await;
            assert_eq!(response.status(), 200, "{case}");
            let (audio, broken) = read_all(response).await;
            assert!(!broken && !audio.is_empty(), "{case}");
            let produced = produced_secs(&app).await;
            assert_billed(&app, &key, produced, &case).await;
        }
    }
}
