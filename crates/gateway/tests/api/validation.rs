//! Every bad input gets a clear 4xx naming the problem, reaches no engine and costs nothing.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_field_is_a_422_naming_it_and_costs_nothing() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "text"),
        (json!({"text": ""}), "text"),
        (json!({"text": "a".repeat(5001)}), "text"),
        (json!({"text": "bell\u{7}"}), "text"),
        (json!({"text": "   "}), "text"),
        (json!({"text": 42}), "text"),
        (json!({"text": "hi<#120#>there"}), "text"),
        (json!({"text": "hi", "speed": 0.4}), "speed"),
        (json!({"text": "hi", "speed": 2.5}), "speed"),
        (json!({"text": "hi", "speed": "fast"}), "speed"),
        (json!({"text": "hi", "pitch": 13}), "pitch"),
        (json!({"text": "hi", "pitch": -13}), "pitch"),
        (json!({"text": "hi", "pitch": 1.5}), "pitch"),
        (json!({"text": "hi", "emotion": "bored"}), "emotion"),
        (
            json!({"text": "hi", "emotion": "whisper", "model": "speech-2.8-hd"}),
            "emotion",
        ),
        (json!({"text": "hi", "model": "speech-99"}), "model"),
        (json!({"text": "hi", "format": "ogg"}), "format"),
        (json!({"text": "hi", "sample_rate": 12345}), "sample_rate"),
        (json!({"text": "hi", "bitrate": 1}), "bitrate"),
        (json!({"text": "hi", "volume": 0}), "volume"),
        (json!({"text": "hi", "volume": 11}), "volume"),
        (
            json!({"text": "hi", "language_boost": "Klingon"}),
            "language_boost",
        ),
        (
            json!({"text": "hi", "voice_name": "marcus", "voice_id": "marcy"}),
            "voice_id",
        ),
    ];
    for (body, field) in cases {
        let r = app.post_tts(&key, &body).await;
        let e = error_body(r, 422).await;
        assert_eq!(e["code"], "validation_error", "{body}");
        assert!(
            e["detail"].as_str().unwrap().contains(field),
            "{body} → {e}"
        );
    }
    assert_eq!(
        app.sim_t2a_count().await,
        0,
        "no refused request reaches the engine"
    );
    let me = app.me(&key).await;
    assert_eq!(me["used_seconds"], 0.0);
    assert_eq!(me["reserved_seconds"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_and_oversized_bodies_are_413() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let r = app
        .client
        .post(app.url("/v1/tts"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"text\": \"hi\"")
        .send()
        .await
        .unwrap();
    assert_eq!(error_body(r, 400).await["code"], "bad_request");
    let big = json!({"text": "a".repeat(200_000)});
    let r = app.post_tts(&key, &big).await;
    assert_eq!(error_body(r, 413).await["code"], "payload_too_large");
    assert_eq!(app.sim_t2a_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_voice_is_404() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let e = error_body(
        app.post_tts(&key, &json!({"text": "hi", "voice_name": "nobody"}))
            .await,
        404,
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("nobody"));
    assert_eq!(app.sim_t2a_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_inputs_are_validated() {
    let app = spawn_app().await;
    let cases = [
        (json!({"name": "A", "email": "not-an-email"}), "email"),
        (json!({"name": "", "email": "a@example.com"}), "name"),
        (
            json!({"name": "A", "email": "a@example.com", "plan": "gold"}),
            "plan",
        ),
    ];
    for (body, field) in cases {
        let e = error_body(app.post("/admin/users", &app.admin_key, &body).await, 422).await;
        assert!(e["detail"].as_str().unwrap().contains(field), "{e}");
    }
    let voice = |name: &str, lang: &str, gender: &str| json!({"friendly_name": name, "minimax_voice_id": "male-qn-qingse", "language": lang, "gender": gender});
    for (body, field) in [
        (voice("ok-name", "english", "male"), "language"),
        (voice("ok-name", "en-US", "robot"), "gender"),
        (voice("bad name!", "en-US", "male"), "friendly_name"),
    ] {
        let e = error_body(app.post("/admin/voices", &app.admin_key, &body).await, 422).await;
        assert!(e["detail"].as_str().unwrap().contains(field), "{e}");
    }
}
