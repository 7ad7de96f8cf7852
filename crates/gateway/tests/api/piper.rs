//! The Piper engine through the API: the voice `joe` from the models `make models` fetched,
//! registered at start-up, the default voice without MiniMax, speaking every format, metered
//! on the audio produced, and unavailable with a reason when its model is gone.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

/// The repository's models folder, or `None` (after saying so) when `make models` has not
/// been run — which `CI=true` does not allow.
fn models_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"));
    if dir.join("piper/en_US-joe-medium.onnx").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the Piper voice is missing under {}: run `make models`",
        dir.display()
    );
    eprintln!(
        "skipped: no Piper voice under {} (run `make models`)",
        dir.display()
    );
    None
}

async fn piper_app(models: PathBuf) -> TestApp {
    spawn_app_with(Options {
        no_minimax: true,
        env: vec![
            ("ODEADEV_MODELS_DIR", models.display().to_string()),
            ("ODEADEV_LOCAL_MAX_CONCURRENT", "2".into()),
        ],
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joe_is_registered_is_the_default_and_speaks_every_format() {
    let Some(models) = models_dir() else { return };
    let app = piper_app(models).await;
    let (_, key) = app.create_user("pro").await;

    let voices: Vec<Value> = app.get("/v1/voices", &key).await.json().await.unwrap();
    let joe = voices.iter().find(|v| v["friendly_name"] == "joe").unwrap();
    assert_eq!(joe["provider"], "piper");
    assert_eq!(joe["language"], "en-US");
    assert_eq!(joe["gender"], "male");
    assert_eq!(joe["available"], true);

    // No voice named and no MiniMax: the natural voice speaks.
    let r = app
        .post_tts(
            &key,
            &json!({"text": "Hello there, world. This is a natural voice."}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["voice_used"], "joe");
    let seconds = body["duration_seconds"].as_f64().unwrap();
    assert!(
        (1.5..8.0).contains(&seconds),
        "{seconds} s for two short sentences"
    );
    let record = &app.usage(&key).await[0];
    assert_eq!(record["engine"], "piper");
    assert_eq!(record["audio_seconds"], body["duration_seconds"]);

    for (format, rate) in [
        ("wav", 22_050),
        ("pcm", 16_000),
        ("flac", 24_000),
        ("mp3", 44_100),
    ] {
        let r = app
            .post_tts(
                &key,
                &json!({"text": "Every format, please.", "voice_name": "joe", "format": format, "sample_rate": rate}),
            )
            .await;
        assert_eq!(r.status(), 200, "{format}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["format"], format);
        assert!(!decode_audio(&body).is_empty(), "{format}");
        assert!(body["duration_seconds"].as_f64().unwrap() > 0.5, "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speed_pauses_and_volume_shape_the_audio() {
    let Some(models) = models_dir() else { return };
    let app = piper_app(models).await;
    let (_, key) = app.create_user("pro").await;
    let speak = |extra: Value| {
        let mut body = json!({"text": "The quick brown fox jumps over the lazy dog.", "voice_name": "joe", "format": "wav"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let app = &app;
        let key = key.clone();
        async move {
            let r = app.post_tts(&key, &body).await;
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            (
                body["duration_seconds"].as_f64().unwrap(),
                decode_audio(&body),
            )
        }
    };
    let (normal, normal_audio) = speak(json!({})).await;
    let (fast, _) = speak(json!({"speed": 2.0})).await;
    let (slow, _) = speak(json!({"speed": 0.5})).await;
    assert!(
        fast < normal * 0.75 && slow > normal * 1.5,
        "{fast} < {normal} < {slow}"
    );

    let (paused, _) = speak(json!({"text": "Before the pause. <#1.5#> After it."})).await;
    let (unpaused, _) = speak(json!({"text": "Before the pause. After it."})).await;
    assert!(
        paused - unpaused > 1.3,
        "a 1.5 s pause added {} s",
        paused - unpaused
    );

    let (_, quiet_audio) = speak(json!({"volume": 0.25})).await;
    let peak = |wav: &[u8]| {
        hound::WavReader::new(std::io::Cursor::new(wav))
            .unwrap()
            .into_samples::<i16>()
            .map(|s| s.unwrap().unsigned_abs())
            .max()
            .unwrap()
    };
    let (loud, quiet) = (peak(&normal_audio), peak(&quiet_audio));
    assert!(loud > 3_000, "peak {loud}: speech should be audible");
    assert!(
        quiet < loud / 2,
        "volume 0.25 peaked at {quiet} against {loud}"
    );
}

/// Another gateway on `app`'s database with the models under `models`, no MiniMax.
async fn second_node(app: &TestApp, models: &std::path::Path) -> String {
    let env: std::collections::HashMap<String, String> = [
        ("DATABASE_URL", app.database_url.clone()),
        ("ODEADEV_BIND", "127.0.0.1:0".to_owned()),
        ("ODEADEV_MODELS_DIR", models.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let settings = odeadev_tts::config::Settings::load(&env, None).unwrap();
    let node = odeadev_tts::startup::Application::build(settings)
        .await
        .unwrap();
    let address = node.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = node.run_until(std::future::pending()).await;
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_piper_voice_without_its_model_is_unavailable_with_a_reason() {
    let Some(models) = models_dir() else { return };
    // Joe is registered by a node that has its model; a node on the same database without
    // it lists joe as unavailable and falls back to eSpeak.
    let app = piper_app(models).await;
    let (_, key) = app.create_user("pro").await;
    let empty = tempfile::tempdir().unwrap();
    let other = second_node(&app, empty.path()).await;
    let voices: Vec<Value> = app
        .client
        .get(format!("{other}/v1/voices"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let joe = voices.iter().find(|v| v["friendly_name"] == "joe").unwrap();
    assert_eq!(joe["available"], false);
    assert!(joe["unavailable_reason"]
        .as_str()
        .unwrap()
        .contains("Piper"));
    let speak = |body: Value| {
        app.client
            .post(format!("{other}/v1/tts"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let e = error_body(
        speak(json!({"text": "Hi", "voice_name": "joe"}))
            .await
            .unwrap(),
        503,
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("Piper"), "{e}");
    let body: Value = speak(json!({"text": "Hello."}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["voice_used"].as_str().unwrap().starts_with("local-"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_male_voices_speak_with_joe_without_minimax() {
    let Some(models) = models_dir() else { return };
    let app = piper_app(models).await;
    let (_, key) = app.create_user("pro").await;
    let r = app
        .client
        .post(app.url("/v1/audio/speech"))
        .bearer_auth(&key)
        .json(&json!({"model": "tts-1", "input": "A natural stand in.", "voice": "onyx", "response_format": "wav"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.bytes().await.unwrap().is_empty());
    let records = app.usage(&key).await;
    assert_eq!(records[0]["engine"], "piper");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saturated_engine_answers_503_with_retry_after_and_bills_nothing() {
    let Some(models) = models_dir() else { return };
    // One slot and no wait for it: while a long text is spoken, the next request is refused.
    let app = spawn_app_with(Options {
        no_minimax: true,
        env: vec![
            ("ODEADEV_MODELS_DIR", models.display().to_string()),
            ("ODEADEV_LOCAL_MAX_CONCURRENT", "1".into()),
            ("ODEADEV_LOCAL_QUEUE_TIMEOUT_MS", "0".into()),
        ],
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("enterprise").await;
    let long = "This sentence keeps the only slot of the engine busy for a while. ".repeat(12);
    let long_body = json!({"text": long, "voice_name": "joe"});
    let busy = app.post_tts(&key, &long_body);
    let refused = async {
        // Once the long request holds its reservation it takes the slot a moment later,
        // long before a second request gets that far.
        wait_for(
            Duration::from_secs(20),
            "the long request in flight",
            || async {
                let reserved = app.me(&key).await["reserved_seconds"].as_f64()?;
                (reserved > 0.0).then_some(())
            },
        )
        .await;
        app.post_tts(&key, &json!({"text": "Me too.", "voice_name": "joe"}))
            .await
    };
    let (busy, refused) = tokio::join!(busy, refused);
    assert_eq!(busy.status(), 200);
    assert_eq!(refused.headers()["retry-after"], "1");
    let e = error_body(refused, 503).await;
    assert_eq!(e["code"], "engine_busy", "{e}");
    // The refused request holds nothing and was billed nothing.
    let me = app.me(&key).await;
    assert_eq!(me["reserved_seconds"], 0.0);
    let records = app.usage(&key).await;
    let billed: f64 = records
        .iter()
        .filter(|r| r["status"] != "success")
        .map(|r| r["audio_seconds"].as_f64().unwrap())
        .sum();
    assert_eq!(billed, 0.0, "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_streams_piper_speech_sentence_by_sentence_and_bills_what_was_sent() {
    let Some(models) = models_dir() else { return };
    let app = piper_app(models).await;
    let (_, key) = app.create_user("enterprise").await;
    let text = "This is the first sentence of a long paragraph. ".repeat(10);
    let mut r = app
        .post(
            "/v2/tts",
            &key,
            &json!({"text": text, "voice_name": "joe", "format": "pcm", "sample_rate": 16000}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut audio = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        audio.extend_from_slice(&chunk);
    }
    let seconds = (audio.len() / 2) as f64 / 16_000.0;
    assert!(seconds > 15.0, "{seconds} s for ten sentences");
    let record = wait_for(Duration::from_secs(10), "the stream's record", || async {
        let records = app.usage(&key).await;
        (records[0]["status"] == "success").then(|| records[0].clone())
    })
    .await;
    assert_eq!(record["engine"], "piper");
    let billed = record["audio_seconds"].as_f64().unwrap();
    assert!(
        (billed - seconds).abs() < 0.01,
        "billed {billed} s for {seconds} s"
    );

    // MP3 streams too, on one encoder: one stream that decoders read whole.
    let r = app
        .post(
            "/v2/tts",
            &key,
            &json!({"text": "One sentence. And another one.", "voice_name": "joe", "format": "mp3"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().len() > 1_000);
}
