//! Operations: readiness, metrics, the API document and its page, security headers.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_the_database_and_engines() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"]["status"], "ok");
    assert_eq!(body["engines"]["minimax"]["status"], "closed");
    assert!(body["engines"]["local"].is_object());
    assert!(body["redis"]["status"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_when_the_only_engine_is_open() {
    let app = spawn_app_with(Options {
        env: vec![
            ("MINIMAX_MAX_RETRIES", "0".into()),
            ("MINIMAX_BREAKER_FAILURES", "1".into()),
            ("MINIMAX_BREAKER_COOLDOWN_MS", "60000".into()),
            ("ODEADEV_LOCAL_PROGRAM", "/nonexistent/espeak-ng".into()),
        ],
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("pro").await;
    app.fault(json!({"kind": "http_status", "status": 500}))
        .await;
    assert_eq!(
        app.post_tts(&key, &json!({"text": "x y", "voice_name": "marcus"}))
            .await
            .status(),
        502
    );
    let r = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["engines"]["minimax"]["status"], "open");
    assert_eq!(body["engines"]["local"]["status"], "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_without_secrets_or_user_labels() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("pro").await;
    assert_eq!(
        app.post_tts(
            &key,
            &json!({"text": "Metrics please.", "voice_name": "marcus"})
        )
        .await
        .status(),
        200
    );
    app.set_quota(id, 0.0).await;
    assert_eq!(
        app.post_tts(
            &key,
            &json!({"text": "Over quota.", "voice_name": "marcus"})
        )
        .await
        .status(),
        429
    );
    let text = app.metrics().await;
    for name in [
        "odeadev_http_requests_total",
        "odeadev_http_request_duration_seconds",
        "odeadev_engine_requests_total",
        "odeadev_engine_request_duration_seconds",
        "odeadev_billed_audio_seconds",
        "odeadev_quota_refusals_total",
        "odeadev_circuit_breaker_state",
        "odeadev_db_pool_connections",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(text.contains("route=\"/v1/tts\""));
    assert!(!text.contains(&key), "an API key leaked into /metrics");
    assert!(!text.contains(&app.admin_key));
    assert!(!text.contains(SIM_KEY));
    assert!(!text.contains("user_id"), "no per-user labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_document_covers_every_route_and_resolves() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let title = doc["info"]["title"].as_str().unwrap();
    assert!(!title.to_lowercase().contains("minimax"), "{title}");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} lacks responses"
            );
        }
    }
    let expected: BTreeSet<String> = [
        "GET /health",
        "GET /ready",
        "GET /metrics",
        "POST /admin/users",
        "GET /admin/users",
        "GET /admin/users/{id}",
        "PATCH /admin/users/{id}",
        "PUT /admin/users/{id}/quota",
        "POST /admin/users/{id}/keys",
        "GET /admin/users/{id}/keys",
        "DELETE /admin/keys/{key_id}",
        "POST /admin/voices",
        "GET /admin/voices",
        "GET /admin/usage",
        "POST /admin/voices/clone",
        "GET /v1/voices",
        "GET /v1/voices/list",
        "GET /v1/me",
        "GET /v1/usage",
        "GET /v1/usage/stats",
        "POST /v1/tts",
        "POST /v2/tts",
        "POST /v1/audio/speech",
        "GET /v1/models",
        "POST /admin/users/{id}/cycle/reset",
        "GET /admin/users/{id}/billing-periods",
        "GET /admin/audit",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(documented, expected);
    // Every documented operation is served (never 404/405 for its own method and path).
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "1")
            .replace("{key_id}", "0190e0b4-0000-7000-8000-000000000000");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let status = app
            .client
            .request(method, app.url(&path))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status != 404 && status != 405, "{op} answered {status}");
    }
    // Every $ref resolves, and the error body and enums are described.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for field in ["detail", "code", "request_id"] {
        assert!(schemas["ErrorBody"]["properties"][field].is_object());
    }
    assert!(schemas["Plan"]["enum"].as_array().unwrap().len() == 4);
    assert!(schemas["Model"]["enum"].as_array().unwrap().len() == 8);
    assert!(schemas["Emotion"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "neutral"));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/openapi.json"));
    assert!(!page.contains("https://"), "no CDN");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap().len() > 10_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_their_own_listener() {
    let app = spawn_app_with(Options {
        env: vec![("ODEADEV_METRICS_BIND", "127.0.0.1:0".into())],
        ..Options::default()
    })
    .await;
    let addr = app.metrics_address.expect("a metrics listener");
    app.client.get(app.url("/health")).send().await.unwrap();
    let text = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("odeadev_http_requests_total"));
    let r = app
        .client
        .get(format!("http://{addr}/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "only metrics on the metrics listener");
}
