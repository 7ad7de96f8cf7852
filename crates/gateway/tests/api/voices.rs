//! Voice catalogue: seeded voices, filters, both listing shapes, admin registration.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_seven_voices_and_the_local_voices_are_seeded() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("free").await;
    let voices: Vec<Value> = app.get("/v1/voices", &key).await.json().await.unwrap();
    let find = |name: &str| voices.iter().find(|v| v["friendly_name"] == name).cloned();
    for (name, lang, gender) in [
        ("nigerian-male", "en-NG", "male"),
        ("american-male", "en-US", "male"),
        ("british-female", "en-GB", "female"),
        ("marcus", "en-US", "male"),
        ("marcy", "en-US", "female"),
        ("austyn", "en-NG", "male"),
        ("joslyn", "en-NG", "female"),
    ] {
        let v = find(name).unwrap_or_else(|| panic!("{name} not seeded"));
        assert_eq!(v["language"], lang);
        assert_eq!(v["gender"], gender);
        assert_eq!(v["provider"], "minimax");
        assert_eq!(v["available"], true);
        for field in ["id", "description", "is_cloned", "is_active", "created_at"] {
            assert!(v.get(field).is_some(), "{name} lacks {field}");
        }
    }
    for name in [
        "local-american-male",
        "local-british-female",
        "local-african-male",
    ] {
        assert_eq!(find(name).unwrap()["provider"], "local");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voices_filter_by_language_and_gender() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("free").await;
    let voices: Vec<Value> = app
        .get("/v1/voices?language=en-NG&gender=female", &key)
        .await
        .json()
        .await
        .unwrap();
    assert!(!voices.is_empty());
    assert!(voices
        .iter()
        .all(|v| v["language"] == "en-NG" && v["gender"] == "female"));
    let e = error_body(app.get("/v1/voices?gender=robot", &key).await, 422).await;
    assert!(e["detail"].as_str().unwrap().contains("gender"));
    error_body(app.get("/v1/voices?language=english", &key).await, 422).await;
    error_body(
        app.client.get(app.url("/v1/voices")).send().await.unwrap(),
        401,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_catalogue_shape_lists_verified_voices() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("free").await;
    let voices: Vec<Value> = app.get("/v1/voices/list", &key).await.json().await.unwrap();
    let marcus = voices.iter().find(|v| v["id"] == "marcus").unwrap();
    assert_eq!(marcus["name"], "Marcus");
    assert_eq!(marcus["is_verified"], true);
    for field in [
        "description",
        "language",
        "gender",
        "accent",
        "tone",
        "use_cases",
    ] {
        assert!(marcus.get(field).is_some(), "marcus lacks {field}");
    }
    assert!(marcus["use_cases"].is_array());
    // voice_id means the same as voice_name.
    let r = app
        .post_tts(&key, &json!({"text": "Hello there.", "voice_id": "marcus"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["voice_used"], "marcus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_register_voices_and_names_are_unique() {
    let app = spawn_app().await;
    let body = json!({"friendly_name": "narrator", "minimax_voice_id": "English_expressive_narrator", "language": "en-US", "gender": "male", "description": "Narrator"});
    let r = app.post("/admin/voices", &app.admin_key, &body).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["friendly_name"], "narrator");
    assert_eq!(v["provider"], "minimax");
    assert_eq!(v["is_cloned"], false);
    let e = error_body(app.post("/admin/voices", &app.admin_key, &body).await, 409).await;
    assert_eq!(e["code"], "conflict");
    let (_, key) = app.create_user("free").await;
    let r = app
        .post_tts(&key, &json!({"text": "Hi there", "voice_name": "narrator"}))
        .await;
    assert_eq!(r.status(), 200);
    let sent = app.sim_requests().await;
    let last = sent
        .iter()
        .rev()
        .find(|r| r["path"] == "/v1/t2a_v2")
        .unwrap();
    assert_eq!(
        last["body"]["voice_setting"]["voice_id"],
        "English_expressive_narrator"
    );
    let all: Vec<Value> = app
        .get("/admin/voices", &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert!(all.iter().any(|v| v["friendly_name"] == "narrator"));
}
