//! Admin API: users, plans, overrides, keys.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_returns_the_user_and_a_key_shown_once() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/admin/users",
            &app.admin_key,
            &json!({"name": "Ada", "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: Value = response.json().await.unwrap();
    let user = &body["user"];
    for field in [
        "id",
        "name",
        "email",
        "plan",
        "quota_seconds",
        "used_seconds",
        "remaining_seconds",
        "quota_percentage_used",
        "is_active",
        "created_at",
    ] {
        assert!(!user[field].is_null(), "UserResponse lacks {field}: {user}");
    }
    assert_eq!(user["plan"], "free");
    assert_eq!(user["quota_seconds"], 600.0);
    assert_eq!(user["remaining_seconds"], 600.0);
    assert_eq!(user["is_active"], true);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    let key = body["api_key"].as_str().unwrap();
    assert!(key.starts_with("odt_"));
    // The key works, and no listing ever shows it again.
    let me = app.me(key).await;
    assert_eq!(me["email"], "ada@example.com");
    let id = user["id"].as_i64().unwrap();
    let keys = app
        .get(&format!("/admin/users/{id}/keys"), &app.admin_key)
        .await
        .text()
        .await
        .unwrap();
    assert!(!keys.contains(key));
    let fetched = app
        .get(&format!("/admin/users/{id}"), &app.admin_key)
        .await
        .text()
        .await
        .unwrap();
    assert!(!fetched.contains(key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_email_is_a_conflict() {
    let app = spawn_app().await;
    let body = json!({"name": "A", "email": "dup@example.com", "plan": "pro"});
    assert_eq!(
        app.post("/admin/users", &app.admin_key, &body)
            .await
            .status(),
        201
    );
    let again = json!({"name": "B", "email": "DUP@example.com"});
    let r = app.post("/admin/users", &app.admin_key, &again).await;
    let e = error_body(r, 409).await;
    assert_eq!(e["code"], "conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_set_quota_and_limits() {
    let app = spawn_app().await;
    for (plan, quota, rpm, streams) in [
        ("free", 600.0, 10, 1),
        ("basic", 3600.0, 30, 2),
        ("pro", 14400.0, 60, 5),
        ("enterprise", 36000.0, 120, 10),
    ] {
        let (_, key) = app.create_user(plan).await;
        let me = app.me(&key).await;
        assert_eq!(me["plan"], plan);
        assert_eq!(me["quota_seconds"], quota);
        assert_eq!(me["rpm_limit"], rpm);
        assert_eq!(me["max_streams"], streams);
        assert_eq!(me["role"], "user");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_unknown_user_is_404_and_bad_id_is_422() {
    let app = spawn_app().await;
    error_body(app.get("/admin/users/999999", &app.admin_key).await, 404).await;
    error_body(app.get("/admin/users/abc", &app.admin_key).await, 422).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_quota_sets_quota_and_used_seconds() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("free").await;
    let r = app
        .put(
            &format!("/admin/users/{id}/quota"),
            &app.admin_key,
            &json!({"quota_seconds": 100, "used_seconds": 25.5}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me = app.me(&key).await;
    assert_eq!(me["quota_seconds"], 100.0);
    assert_eq!(me["used_seconds"], 25.5);
    assert_eq!(me["remaining_seconds"], 74.5);
    assert_eq!(me["quota_percentage_used"], 25.5);
    let bad = app
        .put(
            &format!("/admin/users/{id}/quota"),
            &app.admin_key,
            &json!({"quota_seconds": -1}),
        )
        .await;
    let e = error_body(bad, 422).await;
    assert!(e["detail"].as_str().unwrap().contains("quota_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_plan_overrides_and_status() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("free").await;
    let path = format!("/admin/users/{id}");
    let r = app
        .patch(&path, &app.admin_key, &json!({"plan": "enterprise", "quota_seconds": 99999, "rpm_limit": 500, "max_streams": 20}))
        .await;
    assert_eq!(r.status(), 200);
    let me = app.me(&key).await;
    assert_eq!(me["plan"], "enterprise");
    assert_eq!(me["quota_seconds"], 99999.0);
    assert_eq!(me["rpm_limit"], 500);
    assert_eq!(me["max_streams"], 20);
    // A custom quota survives a plan change; null returns to the plan's values.
    app.patch(&path, &app.admin_key, &json!({"plan": "pro"}))
        .await;
    assert_eq!(app.me(&key).await["quota_seconds"], 99999.0);
    app.patch(
        &path,
        &app.admin_key,
        &json!({"quota_seconds": null, "rpm_limit": null, "max_streams": null}),
    )
    .await;
    let me = app.me(&key).await;
    assert_eq!(me["quota_seconds"], 14400.0);
    assert_eq!(me["rpm_limit"], 60);
    assert_eq!(me["max_streams"], 5);
    // Deactivation is immediate.
    app.patch(&path, &app.admin_key, &json!({"is_active": false}))
        .await;
    let e = error_body(app.get("/v1/me", &key).await, 403).await;
    assert_eq!(e["code"], "forbidden");
    let bad = app
        .patch(&path, &app.admin_key, &json!({"plan": "platinum"}))
        .await;
    assert!(error_body(bad, 422).await["detail"]
        .as_str()
        .unwrap()
        .contains("plan"));
    for rpm in [0, 1_000_001] {
        let bad = app
            .patch(&path, &app.admin_key, &json!({"rpm_limit": rpm}))
            .await;
        assert!(error_body(bad, 422).await["detail"]
            .as_str()
            .unwrap()
            .contains("rpm_limit"));
    }
    let highest = app
        .patch(&path, &app.admin_key, &json!({"rpm_limit": 1_000_000}))
        .await;
    assert_eq!(highest.status(), 200);
    let user: Value = highest.json().await.unwrap();
    assert_eq!(user["rpm_limit"], 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_makes_an_admin_not_the_plan() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("enterprise").await;
    let e = error_body(app.get("/admin/users", &key).await, 403).await;
    assert_eq!(e["code"], "forbidden");
    app.patch(
        &format!("/admin/users/{id}"),
        &app.admin_key,
        &json!({"role": "admin"}),
    )
    .await;
    assert_eq!(app.get("/admin/users", &key).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_users_pages_and_filters() {
    let app = spawn_app().await;
    for plan in ["free", "free", "pro"] {
        app.create_user(plan).await;
    }
    let body: Value = app
        .get("/admin/users?plan=free&limit=1", &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 2);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let body: Value = app
        .get("/admin/users?plan=free&limit=1&offset=1", &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let body: Value = app
        .get("/admin/users?is_active=true", &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 4, "three customers and the admin");
    error_body(app.get("/admin/users?plan=gold", &app.admin_key).await, 422).await;
    error_body(app.get("/admin/users?limit=0", &app.admin_key).await, 422).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_can_be_issued_listed_and_revoked() {
    let app = spawn_app().await;
    let (id, first_key) = app.create_user("basic").await;
    let r = app
        .post(
            &format!("/admin/users/{id}/keys"),
            &app.admin_key,
            &json!({"name": "ci", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let second = body["api_key"].as_str().unwrap().to_string();
    let key_id = body["key"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["key"]["name"], "ci");
    assert!(second.starts_with(body["key"]["prefix"].as_str().unwrap()));
    assert_eq!(app.get("/v1/me", &second).await.status(), 200);
    let keys: Vec<Value> = app
        .get(&format!("/admin/users/{id}/keys"), &app.admin_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    for k in &keys {
        for field in [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked",
        ] {
            assert!(k.get(field).is_some(), "key metadata lacks {field}");
        }
    }
    // Revocation is refused at once, also by the synthesis routes, which reuse a key looked
    // up in the last second (this node forgets them when it revokes one); the other key
    // keeps working.
    let speech = json!({"text": "still mine?", "voice_name": "marcus"});
    assert_eq!(app.post_tts(&second, &speech).await.status(), 200);
    let r = app
        .delete(&format!("/admin/keys/{key_id}"), &app.admin_key)
        .await;
    assert_eq!(r.status(), 200);
    let e = error_body(app.post_tts(&second, &speech).await, 401).await;
    assert!(e["detail"].as_str().unwrap().contains("revoked"));
    let e = error_body(app.get("/v1/me", &second).await, 401).await;
    assert!(e["detail"].as_str().unwrap().contains("revoked"));
    assert_eq!(app.get("/v1/me", &first_key).await.status(), 200);
    error_body(
        app.delete(
            "/admin/keys/0190e0b4-0000-7000-8000-000000000000",
            &app.admin_key,
        )
        .await,
        404,
    )
    .await;
    error_body(
        app.post(
            "/admin/users/424242/keys",
            &app.admin_key,
            &json!({"name": "x"}),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_refused() {
    let app = spawn_app().await;
    let (id, _) = app.create_user("basic").await;
    let past = json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"});
    let e = error_body(
        app.post(&format!("/admin/users/{id}/keys"), &app.admin_key, &past)
            .await,
        422,
    )
    .await;
    assert!(e["detail"].as_str().unwrap().contains("expires_at"));
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let r = app
        .post(
            &format!("/admin/users/{id}/keys"),
            &app.admin_key,
            &json!({"name": "short", "expires_at": soon}),
        )
        .await;
    let key = r.json::<Value>().await.unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/v1/me", &key).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let e = error_body(app.get("/v1/me", &key).await, 401).await;
    assert!(e["detail"].as_str().unwrap().contains("expired"));
}
