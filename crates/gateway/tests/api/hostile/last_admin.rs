//! The admins cannot lock themselves out: the last usable key of the last active admin cannot
//! be revoked, and the last admin with a usable key cannot be deactivated or demoted.

use serde_json::{json, Value};

use crate::helpers::*;

async fn key_ids(app: &TestApp, by: &str, user_id: i64) -> Vec<String> {
    let keys: Value = app
        .get(&format!("/admin/users/{user_id}/keys"), by)
        .await
        .json()
        .await
        .unwrap();
    keys.as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_null())
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

async fn me(app: &TestApp, key: &str) -> Value {
    app.get("/v1/me", key).await.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_usable_admin_key_cannot_be_revoked_nor_its_admin_deactivated() {
    let app = spawn_app().await;
    let root = me(&app, &app.admin_key).await["id"].as_i64().unwrap();
    let [key] = key_ids(&app, &app.admin_key, root)
        .await
        .try_into()
        .unwrap();
    let error = error_body(
        app.delete(&format!("/admin/keys/{key}"), &app.admin_key)
            .await,
        409,
    )
    .await;
    assert!(
        error["detail"].as_str().unwrap().contains("create-admin"),
        "{error}"
    );
    for patch in [json!({"is_active": false}), json!({"role": "user"})] {
        let r = app
            .patch(&format!("/admin/users/{root}"), &app.admin_key, &patch)
            .await;
        error_body(r, 409).await;
    }
    assert_eq!(
        app.get("/v1/me", &app.admin_key).await.status(),
        200,
        "still signed in"
    );

    // With a second admin who can sign in, the first one's key may go.
    let second: Value = app
        .post(
            "/admin/users",
            &app.admin_key,
            &json!({"name": "Second", "email": "second@example.com", "role": "admin"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_key = second["api_key"].as_str().unwrap().to_string();
    let second_id = second["user"]["id"].as_i64().unwrap();
    let r = app.delete(&format!("/admin/keys/{key}"), &second_key).await;
    assert_eq!(r.status(), 200);
    let [last] = key_ids(&app, &second_key, second_id)
        .await
        .try_into()
        .unwrap();
    let r = app
        .delete(&format!("/admin/keys/{last}"), &second_key)
        .await;
    error_body(r, 409).await;
    // Customers' keys are not held by the rule.
    let customer: Value = app
        .post(
            "/admin/users",
            &second_key,
            &json!({"name": "C", "email": "c@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let customer = customer["user"]["id"].as_i64().unwrap();
    let [theirs] = key_ids(&app, &second_key, customer)
        .await
        .try_into()
        .unwrap();
    assert_eq!(
        app.delete(&format!("/admin/keys/{theirs}"), &second_key)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_revoking_each_others_last_keys_at_once_leave_one() {
    let app = spawn_app().await;
    let mut admins = Vec::new();
    for name in ["a", "b"] {
        let created: Value = app
            .post(
                "/admin/users",
                &app.admin_key,
                &json!({"name": name, "email": format!("{name}@example.com"), "role": "admin"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = created["user"]["id"].as_i64().unwrap();
        let [key_id] = key_ids(&app, &app.admin_key, id).await.try_into().unwrap();
        admins.push((created["api_key"].as_str().unwrap().to_string(), key_id));
    }
    // The first admin steps aside: deactivated by `a`, leaving `a` and `b`.
    let root = me(&app, &app.admin_key).await["id"].as_i64().unwrap();
    let r = app
        .patch(
            &format!("/admin/users/{root}"),
            &admins[0].0,
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (a, b) = (admins[0].clone(), admins[1].clone());
    let revoke = |by: String, key: String| {
        let client = app.client.clone();
        let url = app.url(&format!("/admin/keys/{key}"));
        async move {
            client
                .delete(url)
                .bearer_auth(by)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (first, second) = tokio::join!(
        revoke(a.0.clone(), b.1.clone()),
        revoke(b.0.clone(), a.1.clone())
    );
    let mut outcomes = [first, second];
    outcomes.sort_unstable();
    assert!(
        matches!(outcomes, [200, 409] | [200, 401] | [401, 409]),
        "{outcomes:?}"
    );
    let usable = [me(&app, &a.0).await, me(&app, &b.0).await]
        .iter()
        .filter(|m| m["id"].is_i64())
        .count();
    assert_eq!(usable, 1, "exactly one admin can still sign in");
}
