//! Rate, concurrency and failed-authentication limits over real sockets, on both backends: in
//! process, and on Redis (`TEST_REDIS_URL`, each test under its own key prefix; when `CI=true`
//! a missing `TEST_REDIS_URL` fails the Redis tests instead of skipping them).

mod redis_only;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use minimax_sim::SimConfig;
use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::helpers::*;

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Redis,
}

fn redis_url() -> Option<String> {
    required_service("TEST_REDIS_URL", "the Redis limiter tests")
}

fn unique_prefix() -> String {
    format!("odeadev-test:{}:", uuid::Uuid::new_v4().simple())
}

/// The gateway with its limits on `backend`; `None` when Redis is wanted but not configured.
async fn app_on(
    backend: Backend,
    extra: &[(&'static str, &str)],
    sim: Option<SimConfig>,
) -> Option<TestApp> {
    let mut env = match backend {
        Backend::Memory => vec![],
        Backend::Redis => vec![
            ("REDIS_URL", redis_url()?),
            ("ODEADEV_REDIS_PREFIX", unique_prefix()),
        ],
    };
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Some(
        spawn_app_with(Options {
            env,
            sim,
            ..Options::default()
        })
        .await,
    )
}

/// Runs a story once per backend: `<story>::in_process` and `<story>::on_redis`.
macro_rules! on_both_backends {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_process() {
                super::$story(super::Backend::Memory).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_redis() {
                super::$story(super::Backend::Redis).await
            }
        }
    )*};
}

on_both_backends!(
    a_free_user_gets_at_most_ten_of_sixteen_quick_requests,
    a_free_user_gets_one_request_at_a_time_and_a_pro_user_five,
    the_slot_comes_back_after_completion_error_and_disconnect,
    failed_authentication_is_throttled_per_address,
);

fn hi() -> Value {
    json!({"text": "Hi", "voice_name": "marcus"})
}

/// 40 characters: 2.4 s of audio, 10 streamed chunks.
fn long() -> Value {
    json!({"text": "Forty characters of text to be streamed.", "voice_name": "marcus"})
}

/// A simulator whose streams take about `chunks × delay_ms`.
fn slow_sim(delay_ms: u32) -> Option<SimConfig> {
    Some(SimConfig {
        api_key: Some(SIM_KEY.to_string()),
        stream_chunk_ms: 250,
        stream_chunk_delay_ms: delay_ms,
        ..SimConfig::default()
    })
}

fn header(r: &Response, name: &str) -> Option<u64> {
    r.headers().get(name)?.to_str().ok()?.parse().ok()
}

fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn lift_rpm(app: &TestApp, user_id: i64) {
    let path = format!("/admin/users/{user_id}");
    let r = app
        .patch(&path, &app.admin_key, &json!({"rpm_limit": 1000}))
        .await;
    assert_eq!(r.status(), 200);
}

/// Opens a stream and waits for its first audio, so it holds a slot.
async fn open_stream(app: &TestApp, key: &str) -> Response {
    let mut r = app.post("/v2/tts", key, &long()).await;
    assert_eq!(r.status(), 200);
    assert!(
        header(&r, "ratelimit-limit").is_some(),
        "stream without RateLimit headers"
    );
    assert!(r.chunk().await.unwrap().is_some(), "no audio");
    r
}

async fn assert_busy(r: Response, detail: &str) {
    assert_eq!(header(&r, "retry-after"), Some(1));
    assert!(header(&r, "ratelimit-remaining").is_some());
    let e = error_body(r, 429).await;
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(e["detail"], detail);
}

async fn a_free_user_gets_at_most_ten_of_sixteen_quick_requests(backend: Backend) {
    let Some(app) = app_on(backend, &[], None).await else {
        return;
    };
    let (_, key) = app.create_user("free").await;
    let (_, other) = app.create_user("free").await;
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..16 {
        let r = app.post_tts(&key, &hi()).await;
        assert_eq!(header(&r, "ratelimit-limit"), Some(10));
        assert!(header(&r, "ratelimit-reset").is_some_and(|s| s <= 60));
        match r.status().as_u16() {
            200 => {
                ok += 1;
                assert_eq!(header(&r, "ratelimit-remaining"), Some(10 - ok));
            }
            429 => {
                refused += 1;
                assert_eq!(header(&r, "ratelimit-remaining"), Some(0));
                let retry = header(&r, "retry-after").expect("Retry-After");
                assert!((1..=6).contains(&retry), "Retry-After {retry}");
                let e = error_body(r, 429).await;
                assert_eq!(e["code"], "rate_limited");
                assert_eq!(e["detail"], "rate limit of 10 requests per minute exceeded");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, refused), (10, 6));
    // Every synthesis route shares the limit.
    let r = app.post("/v2/tts", &key, &hi()).await;
    assert_eq!(header(&r, "ratelimit-limit"), Some(10));
    assert_eq!(error_body(r, 429).await["code"], "rate_limited");
    // Refusals reach no engine, cost nothing and are on the books.
    assert_eq!(app.sim_t2a_count().await, 10);
    let stats = app.stats_when(&key, "rate_limited_requests", 7).await;
    let counts = (
        &stats["total_requests"],
        &stats["successful_requests"],
        &stats["failed_requests"],
    );
    assert_eq!(counts, (&json!(17), &json!(10), &json!(7)), "{stats}");
    // Counted per hour, not listed one by one: a flood of refusals writes nothing per request.
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 10);
    assert!(usage.iter().all(|u| u["status"] == "success"));
    assert_eq!(app.me(&key).await["reserved_seconds"], 0.0);
    // Limits are per user, and other routes have their own.
    let r = app.post_tts(&other, &hi()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-remaining"), Some(9));
    assert_eq!(app.get("/v1/me", &key).await.status(), 200);
}

async fn a_free_user_gets_one_request_at_a_time_and_a_pro_user_five(backend: Backend) {
    let Some(app) = app_on(backend, &[], slow_sim(400)).await else {
        return;
    };
    let (_, free) = app.create_user("free").await;
    let held = open_stream(&app, &free).await;
    let r = app.post_tts(&free, &hi()).await;
    assert_busy(
        r,
        "concurrency limit of 1 synthesis request at a time reached",
    )
    .await;
    let r = app.post("/v2/tts", &free, &long()).await;
    assert_busy(
        r,
        "concurrency limit of 1 synthesis request at a time reached",
    )
    .await;
    app.stats_when(&free, "rate_limited_requests", 2).await;
    drop(held);

    let (_, pro) = app.create_user("pro").await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(open_stream(&app, &pro).await);
    }
    let r = app.post_tts(&pro, &hi()).await;
    assert_busy(
        r,
        "concurrency limit of 5 synthesis requests at a time reached",
    )
    .await;
}

async fn the_slot_comes_back_after_completion_error_and_disconnect(backend: Backend) {
    let env = [
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ];
    let Some(app) = app_on(backend, &env, None).await else {
        return;
    };
    let (id, key) = app.create_user("free").await;
    lift_rpm(&app, id).await;
    // Completion: the next request may start as soon as the last one's response has ended.
    for _ in 0..3 {
        assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
    }
    let r = app.post("/v2/tts", &key, &hi()).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
    // Engine errors, before and during a stream.
    app.fault(json!({"kind": "http_status", "status": 500}))
        .await;
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 502);
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
    app.fault(json!({"kind": "stream_cut", "after_chunks": 1}))
        .await;
    let r = app.post("/v2/tts", &key, &long()).await;
    let _ = r.bytes().await;
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
    // A client that leaves mid-stream.
    app.fault(json!({"kind": "slow_stream", "delay_ms": 300}))
        .await;
    let text = "a".repeat(49) + " " + &"b".repeat(50);
    let mut r = app
        .post(
            "/v2/tts",
            &key,
            &json!({"text": text, "voice_name": "marcus"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.chunk().await.unwrap().is_some());
    drop(r);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = app.post_tts(&key, &hi()).await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429);
        assert!(
            Instant::now() < deadline,
            "the slot was not released after a disconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn failed_authentication_is_throttled_per_address(backend: Backend) {
    let Some(app) = app_on(backend, &[], None).await else {
        return;
    };
    let (_, key) = app.create_user("free").await;
    let me = app.url("/v1/me");
    // Successes are never counted against an address.
    let good = client_from("127.0.0.3");
    for _ in 0..40 {
        let r = good.get(&me).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = good.get(&me).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 401);

    let mut tampered = key.clone();
    tampered.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
    let attacker = client_from("127.0.0.2");
    let (mut unauthorized, mut throttled) = (0, 0);
    for i in 0..150 {
        let request = attacker.get(&me);
        let request = match i % 3 {
            0 => request,
            1 => request.bearer_auth("not-a-key"),
            _ => request.bearer_auth(&tampered),
        };
        let r = request.send().await.unwrap();
        match r.status().as_u16() {
            401 => unauthorized += 1,
            429 => {
                throttled += 1;
                assert!(header(&r, "retry-after").is_some_and(|s| s >= 1));
                let e = error_body(r, 429).await;
                assert_eq!(e["code"], "rate_limited");
                let detail = e["detail"].as_str().unwrap();
                assert!(
                    detail.contains("too many failed authentication attempts"),
                    "{detail}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        (30..=33).contains(&unauthorized),
        "{unauthorized} failures let through"
    );
    assert_eq!(unauthorized + throttled, 150);
    // The address is refused before its key is even read, right or wrong ...
    let r = attacker.get(&me).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 429);
    // ... while the same key from another address still works.
    assert_eq!(app.get("/v1/me", &key).await.status(), 200);
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let env = [
        ("ODEADEV_AUTH_FAILURES_PER_MINUTE", "3"),
        ("ODEADEV_TRUSTED_PROXIES", "127.0.0.5, 10.0.0.0/8"),
    ];
    let app = app_on(Backend::Memory, &env, None).await.unwrap();
    let (_, key) = app.create_user("free").await;
    let me = app.url("/v1/me");
    let send = |client: &Client, xff: &str, auth: &str| {
        client
            .get(&me)
            .header("x-forwarded-for", xff)
            .bearer_auth(auth)
            .send()
    };
    // An untrusted peer's header is ignored: every failure counts against the peer.
    let direct = client_from("127.0.0.4");
    for i in 0..3 {
        let r = send(&direct, &format!("203.0.113.{i}"), "bad")
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(
        send(&direct, "203.0.113.9", "bad").await.unwrap().status(),
        429
    );
    // Behind a trusted proxy the right-most untrusted address is the client.
    let proxy = client_from("127.0.0.5");
    for _ in 0..3 {
        let r = send(&proxy, "198.51.100.7, 10.1.2.3", "bad").await.unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(
        send(&proxy, "198.51.100.7", "bad").await.unwrap().status(),
        429
    );
    // A forged left-most entry does not move the client to a new bucket.
    let r = send(&proxy, "192.0.2.1, 198.51.100.7", "bad")
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        send(&proxy, "198.51.100.8", "bad").await.unwrap().status(),
        401
    );
    assert_eq!(
        send(&proxy, "198.51.100.9", &key).await.unwrap().status(),
        200
    );
}
