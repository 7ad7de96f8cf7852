//! Authentication failures, request ids and error bodies.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_unknown_keys_are_401() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/v1/me")).send().await.unwrap();
    let e = error_body(r, 401).await;
    assert_eq!(e["code"], "unauthorized");
    assert!(e["detail"].as_str().unwrap().contains("missing"));
    let r = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    error_body(r, 401).await;
    let e = error_body(app.get("/v1/me", "not-a-key").await, 401).await;
    assert!(e["detail"].as_str().unwrap().contains("malformed"));
    // Right shape, wrong checksum.
    let mut tampered = app.admin_key.clone();
    tampered.replace_range(10..11, if &tampered[10..11] == "a" { "b" } else { "a" });
    let e = error_body(app.get("/v1/me", &tampered).await, 401).await;
    assert!(e["detail"].as_str().unwrap().contains("malformed"));
    // Well-formed key that was never issued.
    let stranger = odeadev_tts::domain::api_key::generate().plain;
    let e = error_body(app.get("/v1/me", &stranger).await, 401).await;
    assert_eq!(e["detail"], "invalid API key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_admin_role() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    for path in [
        "/admin/users",
        "/admin/users/1",
        "/admin/voices",
        "/admin/users/1/keys",
    ] {
        error_body(app.get(path, &key).await, 403).await;
    }
    let r = app
        .client
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap();
    error_body(r, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_when_well_formed_and_generated_otherwise() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "my-trace.42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "my-trace.42");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "bad id with spaces");
    assert!(id.len() >= 16);
    let r = app
        .client
        .get(app.url("/v1/me"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    let e = error_body(r, 401).await;
    assert_eq!(e["request_id"], "abc-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_get_the_error_body() {
    let app = spawn_app().await;
    error_body(app.get("/nope", &app.admin_key).await, 404).await;
    let r = app.client.delete(app.url("/health")).send().await.unwrap();
    error_body(r, 405).await;
}
