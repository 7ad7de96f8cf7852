//! Voice cloning for admins through MiniMax (the simulator).

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::*;

fn wav(seconds: u64) -> Vec<u8> {
    let pcm = odeadev_audio::speechlike(seconds * 1000, 16_000, 7);
    odeadev_audio::encode(&pcm, odeadev_audio::AudioFormat::Wav, 128_000).unwrap()
}

fn form(name: &str, file: Vec<u8>, filename: &str) -> Form {
    Form::new()
        .text("friendly_name", name.to_string())
        .text("language", "en-NG")
        .text("gender", "female")
        .text("description", "Cloned narrator")
        .part("file", Part::bytes(file).file_name(filename.to_string()))
}

async fn clone(app: &TestApp, key: &str, form: Form) -> reqwest::Response {
    app.client
        .post(app.url("/admin/voices/clone"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_clone_a_voice_that_then_speaks() {
    let app = spawn_app().await;
    let r = clone(
        &app,
        &app.admin_key,
        form("my-clone", wav(12), "sample.wav"),
    )
    .await;
    assert_eq!(r.status(), 201);
    let voice: Value = r.json().await.unwrap();
    assert_eq!(voice["is_cloned"], true);
    assert_eq!(voice["provider"], "minimax");
    let expires =
        chrono::DateTime::parse_from_rfc3339(voice["expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!(
        (167..=168).contains(&days),
        "expires in 7 days, got {days} h"
    );
    let sent = app.sim_requests().await;
    assert!(sent.iter().any(|r| r["path"] == "/v1/files/upload"));
    let clone_call = sent
        .iter()
        .find(|r| r["path"] == "/v1/voice_clone")
        .unwrap();
    let voice_id = clone_call["body"]["voice_id"].as_str().unwrap().to_string();
    let all: Vec<Value> = app
        .get("/admin/voices", &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    let listed = all
        .iter()
        .find(|v| v["friendly_name"] == "my-clone")
        .unwrap();
    assert!(listed["expires_at"].is_string());
    let (_, key) = app.create_user("pro").await;
    let before = listed["expires_at"].as_str().unwrap().to_string();
    let r = app
        .post_tts(
            &key,
            &json!({"text": "Cloned voice speaking.", "voice_name": "my-clone"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Using a cloned voice keeps it alive for another 7 days.
    let mut pushed = false;
    for _ in 0..40 {
        let all: Vec<Value> = app
            .get("/admin/voices", &app.admin_key)
            .await
            .json()
            .await
            .unwrap();
        let now = all
            .iter()
            .find(|v| v["friendly_name"] == "my-clone")
            .unwrap()["expires_at"]
            .clone();
        let after = chrono::DateTime::parse_from_rfc3339(now.as_str().unwrap()).unwrap();
        if after > chrono::DateTime::parse_from_rfc3339(&before).unwrap() {
            pushed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(pushed, "the expiry moved forward after a use");
    let sent = app.sim_requests().await;
    let last = sent
        .iter()
        .rev()
        .find(|r| r["path"] == "/v1/t2a_v2")
        .unwrap();
    assert_eq!(last["body"]["voice_setting"]["voice_id"], voice_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_rules_give_clear_errors() {
    let app = spawn_app().await;
    let e = error_body(
        clone(&app, &app.admin_key, form("short-one", wav(3), "s.wav")).await,
        422,
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("10 seconds"), "{e}");
    let e = error_body(
        clone(
            &app,
            &app.admin_key,
            form("text-one", b"hello".to_vec(), "s.txt"),
        )
        .await,
        422,
    )
    .await;
    assert!(
        e["detail"].as_str().unwrap().contains("mp3, m4a or wav"),
        "{e}"
    );
    let bad_id = form("bad-id", wav(12), "s.wav").text("voice_id", "1bad");
    let e = error_body(clone(&app, &app.admin_key, bad_id).await, 422).await;
    assert!(e["detail"].as_str().unwrap().contains("voice_id"), "{e}");
    let e = error_body(
        clone(&app, &app.admin_key, form("marcus", wav(12), "s.wav")).await,
        409,
    )
    .await;
    assert_eq!(e["code"], "conflict");
    let (_, key) = app.create_user("enterprise").await;
    error_body(
        clone(&app, &key, form("nope-nope", wav(12), "s.wav")).await,
        403,
    )
    .await;
    assert_eq!(
        app.sim_requests()
            .await
            .iter()
            .filter(|r| r["path"] == "/v1/voice_clone")
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloning_needs_minimax() {
    let app = spawn_app_with(Options {
        no_minimax: true,
        ..Options::default()
    })
    .await;
    let e = error_body(
        clone(&app, &app.admin_key, form("x-clone", wav(12), "s.wav")).await,
        503,
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("MiniMax"));
}
