//! Bodies and query strings: NUL in any text, non-JSON bodies, arrays for objects, and type
//! errors said in the API's words.

use serde_json::{json, Value};

use crate::helpers::*;

/// `body` with `field` set to a text holding NUL.
fn with_nul(mut body: Value, field: &str) -> Value {
    body[field] = json!("a\u{0000}b");
    body
}

async fn assert_nul_refused(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    body: Value,
    field: &str,
) {
    let body = with_nul(body, field);
    let request = match method {
        "POST" => app.client.post(app.url(path)),
        "PATCH" => app.client.patch(app.url(path)),
        _ => unreachable!(),
    };
    let r = request.bearer_auth(key).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let error: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{method} {path} {field}: {error}");
    let detail = error["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(&format!("{field}: ")) && detail.contains("NUL"),
        "{method} {path} {field}: {detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_any_text_is_refused_naming_the_field_before_any_work() {
    let app = spawn_app().await;
    let (user_id, key) = app.create_user("pro").await;
    let admin = app.admin_key.clone();
    let tts = json!({"text": "hi", "voice_name": "marcus"});
    for path in ["/v1/tts", "/v2/tts"] {
        for field in ["text", "voice_name", "voice_id", "language_boost"] {
            assert_nul_refused(&app, "POST", path, &key, tts.clone(), field).await;
        }
    }
    let openai = json!({"model": "tts-1", "input": "hi", "voice": "alloy"});
    for field in ["input", "voice", "model", "instructions"] {
        let body = with_nul(openai.clone(), field);
        let r = app.post("/v1/audio/speech", &key, &body).await;
        assert_eq!(r.status(), 400, "openai {field}");
        let error: Value = r.json().await.unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{error}"
        );
    }
    let user = json!({"name": "N", "email": "n@example.com"});
    for field in ["name", "email"] {
        assert_nul_refused(&app, "POST", "/admin/users", &admin, user.clone(), field).await;
    }
    let patch = format!("/admin/users/{user_id}");
    assert_nul_refused(&app, "PATCH", &patch, &admin, json!({}), "name").await;
    let keys = format!("/admin/users/{user_id}/keys");
    assert_nul_refused(&app, "POST", &keys, &admin, json!({}), "name").await;
    let voice = json!({"friendly_name": "v", "minimax_voice_id": "x", "language": "en-US", "gender": "male"});
    for field in [
        "friendly_name",
        "minimax_voice_id",
        "language",
        "description",
    ] {
        assert_nul_refused(&app, "POST", "/admin/voices", &admin, voice.clone(), field).await;
    }
    for (path, param) in [
        ("/v1/voices?language=en%00US", "language"),
        ("/admin/audit?action=user%00create", "action"),
        ("/admin/usage?plan=pro%00", "plan"),
    ] {
        let error = error_body(app.get(path, &admin).await, 422).await;
        assert!(
            error["detail"].as_str().unwrap().starts_with(param),
            "{error}"
        );
    }
    // Nothing was stored, billed or recorded on the way.
    assert_eq!(app.usage(&key).await.len(), 0);
    let voices: Value = app.get("/admin/voices", &admin).await.json().await.unwrap();
    assert!(voices
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["friendly_name"] != "v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_declared_json_is_refused_with_415_and_not_billed() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let body = r#"{"text": "Billed?", "voice_name": "marcus"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .client
            .post(app.url("/v1/tts"))
            .bearer_auth(&key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let error = error_body(request.send().await.unwrap(), 415).await;
        assert_eq!(error["code"], "unsupported_media_type");
        assert!(error["detail"]
            .as_str()
            .unwrap()
            .contains("application/json"));
    }
    let json = app
        .client
        .post(app.url("/v1/tts"))
        .bearer_auth(&key)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(
        app.usage(&key).await.len(),
        1,
        "only the JSON request was billed"
    );
    // The clone form, sent as something else.
    let error = error_body(
        app.client
            .post(app.url("/admin/voices/clone"))
            .bearer_auth(&app.admin_key)
            .header("content-type", "text/plain")
            .body("file=x")
            .send()
            .await
            .unwrap(),
        415,
    )
    .await;
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("multipart/form-data"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrays_and_scalars_are_not_taken_for_objects() {
    let app = spawn_app().await;
    let (user_id, _) = app.create_user("free").await;
    let quota = format!("/admin/users/{user_id}/quota");
    let error = error_body(app.put(&quota, &app.admin_key, &json!([5, 3])).await, 422).await;
    assert_eq!(
        error["detail"],
        "the body must be a JSON object, not an array"
    );
    let user: Value = app
        .get(&format!("/admin/users/{user_id}"), &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["quota_seconds"], 600.0, "nothing was set");
    assert_eq!(user["used_seconds"], 0.0);
    let error = error_body(
        app.post("/admin/users", &app.admin_key, &json!("x")).await,
        422,
    )
    .await;
    assert_eq!(
        error["detail"],
        "the body must be a JSON object, not a string"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_errors_are_said_in_the_apis_words() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    for (body, expected) in [
        (
            json!({"text": "x", "pitch": "high"}),
            "pitch: must be an integer",
        ),
        (
            json!({"text": "x", "speed": "fast"}),
            "speed: must be a number",
        ),
        (json!({"text": ["x"]}), "text: must be a string"),
        (json!({"voice_name": "marcus"}), "text: is required"),
    ] {
        let error = error_body(app.post_tts(&key, &body).await, 422).await;
        let detail = error["detail"].as_str().unwrap();
        assert!(detail.starts_with(expected), "{detail}");
        for rust in ["i64", "f64", "struct", "TtsRequest", "elements"] {
            assert!(!detail.contains(rust), "a Rust name in {detail:?}");
        }
    }
}
