//! One address, one user: twins of an email written another way are the same address, and
//! an email with invisible characters is refused.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twins_of_an_email_are_one_address() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/admin/users",
            &app.admin_key,
            &json!({"name": "É", "email": "Émile@Example.com"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(
        created["user"]["email"], "émile@example.com",
        "kept in its one form"
    );
    for twin in [
        "émile@example.com",
        "ÉMILE@EXAMPLE.COM",
        "e\u{0301}mile@example.com",
        "E\u{0301}MILE@example.com",
    ] {
        let error = error_body(
            app.post(
                "/admin/users",
                &app.admin_key,
                &json!({"name": "T", "email": twin}),
            )
            .await,
            409,
        )
        .await;
        assert!(
            error["detail"].as_str().unwrap().contains("already exists"),
            "{twin}: {error}"
        );
    }
    let plain = app
        .post(
            "/admin/users",
            &app.admin_key,
            &json!({"name": "E", "email": "emile@example.com"}),
        )
        .await;
    assert_eq!(
        plain.status(),
        201,
        "an address without the accent is another address"
    );
    let fullwidth = error_body(
        app.post(
            "/admin/users",
            &app.admin_key,
            &json!({"name": "F", "email": "ｅｍｉｌｅ@example.com"}),
        )
        .await,
        409,
    )
    .await;
    assert!(fullwidth["detail"]
        .as_str()
        .unwrap()
        .contains("emile@example.com"));
    for hidden in [
        "em\u{200B}ile@example.com",
        "emile@exa\u{FEFF}mple.com",
        "\u{202E}emile@example.com",
    ] {
        let error = error_body(
            app.post(
                "/admin/users",
                &app.admin_key,
                &json!({"name": "H", "email": hidden}),
            )
            .await,
            422,
        )
        .await;
        assert!(error["detail"]
            .as_str()
            .unwrap()
            .starts_with("email: must not contain invisible"));
    }
}
