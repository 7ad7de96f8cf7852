//! `/v1/audio/speech` and `/v1/models`, OpenAI-compatible.

use serde_json::{json, Value};

use crate::helpers::*;

async fn speech(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.post("/v1/audio/speech", key, &body).await
}

async fn openai_error(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert!(r.headers().get("x-request-id").is_some());
    let body: Value = r.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error.get("code").is_some(), "{body}");
    error.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_returns_raw_audio_and_bills_like_tts() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let r = speech(
        &app,
        &key,
        json!({"model": "tts-1", "input": "Hello from the OpenAI route.", "voice": "alloy"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let audio = r.bytes().await.unwrap();
    assert!(audio.len() > 1000);
    let record = &app.usage(&key).await[0];
    assert_eq!(record["endpoint"], "/v1/audio/speech");
    assert_eq!(record["status"], "success");
    assert_eq!(record["model_used"], "speech-02-turbo");
    let sent = app.sim_requests().await;
    let last = sent
        .iter()
        .rev()
        .find(|r| r["path"] == "/v1/t2a_v2")
        .unwrap();
    assert_eq!(
        last["body"]["voice_setting"]["voice_id"],
        "moss_audio_fdad4786-ab84-11f0-a816-023f15327f7a",
        "alloy → marcy"
    );
    assert_eq!(last["body"]["audio_setting"]["sample_rate"], 24000);
    assert!(app.me(&key).await["used_seconds"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_and_our_voice_names_work() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    for (format, content_type) in [
        ("mp3", "audio/mpeg"),
        ("wav", "audio/wav"),
        ("flac", "audio/flac"),
        ("pcm", "audio/pcm"),
    ] {
        let r = speech(&app, &key, json!({"model": "speech-2.8-hd", "input": "Format test.", "voice": {"id": "marcus"}, "response_format": format, "speed": 4.0})).await;
        assert_eq!(r.status(), 200, "{format}");
        assert_eq!(r.headers()["content-type"], content_type);
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    let sent = app.sim_requests().await;
    let last = sent
        .iter()
        .rev()
        .find(|r| r["path"] == "/v1/t2a_v2")
        .unwrap();
    assert_eq!(
        last["body"]["voice_setting"]["speed"], 2.0,
        "speed 4.0 is clamped to 2.0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_stream_format_sends_delta_and_done_events() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let r = speech(&app, &key, json!({"model": "tts-1-hd", "input": "Streaming events.", "voice": "onyx", "stream_format": "sse"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(text.contains("\"type\":\"speech.audio.delta\""));
    assert!(text.trim_end().ends_with("}"));
    assert!(text.contains("\"type\":\"speech.audio.done\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_use_openai_shape_and_statuses() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("free").await;
    let e = openai_error(
        speech(
            &app,
            "odt_bad",
            json!({"model": "tts-1", "input": "x", "voice": "alloy"}),
        )
        .await,
        401,
    )
    .await;
    assert_eq!(e["code"], "invalid_api_key");
    let e = openai_error(
        speech(
            &app,
            &key,
            json!({"model": "whisper-1", "input": "x", "voice": "alloy"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(e["param"], "model");
    let e = openai_error(
        speech(
            &app,
            &key,
            json!({"model": "tts-1", "input": "", "voice": "alloy"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(e["param"], "input");
    let e = openai_error(
        speech(
            &app,
            &key,
            json!({"model": "tts-1", "input": "x", "voice": "nobody"}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(e["param"], "voice");
    openai_error(
        speech(
            &app,
            &key,
            json!({"model": "tts-1", "input": "x", "voice": "alloy", "speed": 5}),
        )
        .await,
        400,
    )
    .await;
    openai_error(
        speech(
            &app,
            &key,
            json!({"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "opus"}),
        )
        .await,
        400,
    )
    .await;
    openai_error(speech(&app, &key, json!({"input": "x"})).await, 400).await;
    app.set_quota(id, 0.0).await;
    let e = openai_error(
        speech(
            &app,
            &key,
            json!({"model": "tts-1", "input": "hello", "voice": "alloy"}),
        )
        .await,
        429,
    )
    .await;
    assert_eq!(e["type"], "insufficient_quota");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_voices_fall_back_to_local_stand_ins_and_can_be_mapped() {
    let app = spawn_app_with(Options {
        no_minimax: true,
        env: vec![("ODEADEV_OPENAI_VOICES", "nova=local-african-female".into())],
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("pro").await;
    let r = speech(&app, &key, json!({"model": "tts-1", "input": "Local stand in.", "voice": "alloy", "response_format": "pcm"})).await;
    assert_eq!(r.status(), 200);
    assert!(!r.bytes().await.unwrap().is_empty());
    let r = speech(&app, &key, json!({"model": "tts-1", "input": "Mapped voice.", "voice": "nova", "response_format": "wav"})).await;
    assert_eq!(r.status(), 200);
    let records = app.usage(&key).await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["engine"] == "local"));
    let voices: Vec<Value> = app.get("/v1/voices", &key).await.json().await.unwrap();
    let mapped = voices
        .iter()
        .find(|v| v["friendly_name"] == "local-african-female")
        .unwrap();
    assert_eq!(records[0]["voice_id"], mapped["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_the_accepted_models() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("free").await;
    let body: Value = app.get("/v1/models", &key).await.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in [
        "tts-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
        "speech-2.8-hd",
        "speech-02-turbo",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let r = app.client.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}
