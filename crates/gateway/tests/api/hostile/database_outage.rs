//! PostgreSQL behind a relay the test controls, cut (unreachable) and then frozen (a hung
//! server): once the database is known down every answer is a 503 in well under a second
//! instead of a wait for the pool; no request outlives its deadline (the statement timeout
//! plus a margin) while the server hangs; and the node recovers by itself, books balanced.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Books;
use crate::helpers::*;
use crate::relay::Relay;

/// `ODEADEV_DB_STATEMENT_TIMEOUT_MS` here; the gateway's own deadline is a second more.
const STATEMENT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// The longest a request may take while the server hangs: its deadline, and some slack for
/// a loaded test machine.
const HUNG_BOUND: Duration = Duration::from_millis(1_000 + 1_000 + 1_000);
/// The longest a 503 may take once the database is known down.
const KNOWN_DOWN_BOUND: Duration = Duration::from_millis(900);

fn hello() -> Value {
    json!({"text": "The database is somewhere else today.", "voice_name": "marcus"})
}

/// Status and time of one synthesis request.
async fn timed_tts(app: &TestApp, key: &str) -> (u16, Duration) {
    let started = Instant::now();
    let r = app.post_tts(key, &hello()).await;
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    (status, started.elapsed())
}

/// Waits until synthesis works again.
async fn recovered(app: &TestApp, key: &str) {
    wait_for(Duration::from_secs(15), "recovery", || async {
        (timed_tts(app, key).await.0 == 200).then_some(())
    })
    .await;
}

/// Waits until nothing is reserved or pending and used = the records' audio.
async fn books_balance(url: &str, user_id: i64) {
    wait_for(Duration::from_secs(15), "the books to balance", || async {
        Books::read(url, user_id)
            .await
            .settled_and_balanced()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_or_hung_database_is_answered_fast_and_recovered_from() {
    let Some(admin_url) = required_service("TEST_DATABASE_URL", "the database outage drills")
    else {
        return;
    };
    let db = PgTestDatabase::create(&admin_url).await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::to(target.clone()).await;
    let address = relay.address();
    url.set_host(Some(&address.ip().to_string())).unwrap();
    url.set_port(Some(address.port())).unwrap();
    let app = spawn_app_with(Options {
        env: vec![
            ("DATABASE_URL", url.to_string()),
            (
                "ODEADEV_DB_STATEMENT_TIMEOUT_MS",
                STATEMENT_TIMEOUT.as_millis().to_string(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let (user_id, key) = app.create_user("enterprise").await;
    assert_eq!(timed_tts(&app, &key).await.0, 200);

    // 1. Unreachable: nothing listens where the database was.
    relay.cut().await;
    let (status, first) = timed_tts(&app, &key).await;
    assert_eq!(status, 503, "the first request after the cut");
    assert!(
        first < Duration::from_secs(3),
        "a refused connection took {first:?}"
    );
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let (status, took) = timed_tts(&app, &key).await;
        assert_eq!(status, 503);
        assert!(
            took < KNOWN_DOWN_BOUND,
            "known down, yet answered in {took:?}"
        );
        slowest = slowest.max(took);
    }
    eprintln!("unreachable: first 503 in {first:?}, then at most {slowest:?}");
    let started = Instant::now();
    let r = app.get("/v1/me", &key).await;
    assert!(matches!(r.status().as_u16(), 200 | 503), "{}", r.status());
    assert!(started.elapsed() < KNOWN_DOWN_BOUND);
    let relay = Relay::listen(address, target).await;
    recovered(&app, &key).await;

    // 2. Hung: the server takes every byte and answers none.
    relay.freeze();
    let hung: Vec<(u16, Duration)> =
        futures::future::join_all((0..6).map(|_| timed_tts(&app, &key))).await;
    for (status, took) in &hung {
        assert_eq!(*status, 503, "{hung:?}");
        assert!(
            took < &HUNG_BOUND,
            "a request outlived its deadline: {hung:?}"
        );
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let (status, took) = timed_tts(&app, &key).await;
        assert_eq!(status, 503);
        assert!(
            took < KNOWN_DOWN_BOUND,
            "known hung, yet answered in {took:?}"
        );
        slowest = slowest.max(took);
    }
    eprintln!("hung: {hung:?}, then at most {slowest:?}");
    relay.thaw();
    recovered(&app, &key).await;
    books_balance(&db.url, user_id).await;
}
