//! Redis-only stories: several nodes sharing one Redis, leases that outlive their node, and
//! outages (a relay the test cuts or freezes; the machine's Redis server is never touched).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use odeadev_tts::config::Settings;
use odeadev_tts::startup::Application;
use tokio::net::TcpListener;

use super::{assert_busy, header, hi, open_stream, redis_url, slow_sim, unique_prefix};
use crate::helpers::*;
use crate::relay::Relay;

/// A second gateway node on `env` (its database is the first's), sharing the simulator.
async fn spawn_node(app: &TestApp, env: &[(&'static str, String)]) -> SocketAddr {
    let mut map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    map.insert("ODEADEV_BIND".into(), "127.0.0.1:0".into());
    map.insert("MINIMAX_API_KEY".into(), SIM_KEY.into());
    map.insert("MINIMAX_BASE_URL".into(), app.sim.base_url());
    let node = Application::build(Settings::load(&map, None).unwrap())
        .await
        .unwrap();
    let address = node.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = node.run_until(std::future::pending()).await;
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_keep_the_combined_rate_within_the_plan() {
    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("REDIS_URL", url),
        ("ODEADEV_REDIS_PREFIX", unique_prefix()),
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("shared.db").display()),
        ),
    ];
    let a = spawn_app_with(Options {
        env: env.clone(),
        ..Options::default()
    })
    .await;
    let b = spawn_node(&a, &env).await;
    let (_, key) = a.create_user("free").await;
    let mut ok = 0;
    for i in 0..20 {
        let url = if i % 2 == 0 {
            a.url("/v1/tts")
        } else {
            format!("http://{b}/v1/tts")
        };
        let r = a
            .client
            .post(url)
            .bearer_auth(&key)
            .json(&hi())
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => assert_eq!(error_body(r, 429).await["code"], "rate_limited"),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        ok, 10,
        "two nodes together let {ok} of 20 through at 10 a minute"
    );
    assert_eq!(a.sim_t2a_count().await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_leases_expire_while_live_streams_renew_theirs() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix();
    let env = vec![
        ("REDIS_URL", url.clone()),
        ("ODEADEV_REDIS_PREFIX", prefix.clone()),
        ("ODEADEV_CONCURRENCY_LEASE_SECS", "3".to_string()),
    ];
    let app = spawn_app_with(Options {
        env,
        sim: slow_sim(500),
        ..Options::default()
    })
    .await;
    let (id, key) = app.create_user("free").await;
    // A node died holding the user's only slot, leased for 2 more seconds.
    let mut redis = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let time: Vec<String> = redis::cmd("TIME").query_async(&mut redis).await.unwrap();
    let now_ms = time[0].parse::<u64>().unwrap() * 1000 + time[1].parse::<u64>().unwrap() / 1000;
    let slots = format!("{prefix}{{u:{id}}}:slots");
    let _: i64 = redis::cmd("ZADD")
        .arg(&slots)
        .arg(now_ms + 2_000)
        .arg("dead-node-lease")
        .query_async(&mut redis)
        .await
        .unwrap();
    let r = app.post_tts(&key, &hi()).await;
    assert_busy(
        r,
        "concurrency limit of 1 synthesis request at a time reached",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
    // A live stream of about 5 s keeps its 3 s lease by renewing it.
    let held = open_stream(&app, &key).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let r = app.post_tts(&key, &hi()).await;
    assert_busy(
        r,
        "concurrency limit of 1 synthesis request at a time reached",
    )
    .await;
    held.bytes().await.unwrap();
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
}

/// `TEST_REDIS_URL` through a relay, keeping any credentials and database number.
async fn proxied_redis() -> Option<(Relay, String)> {
    let mut url = url::Url::parse(&redis_url()?).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
    let relay = Relay::to(target).await;
    url.set_port(Some(relay.address().port())).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    Some((relay, url.to_string()))
}

/// A gateway whose Redis is behind a relay (failing `closed` or open, with `extra` settings),
/// and a free user whose first request went through Redis; `None` without `TEST_REDIS_URL`.
async fn app_behind_relay(
    closed: bool,
    extra: &[(&'static str, String)],
) -> Option<(Relay, TestApp, String)> {
    let (relay, url) = proxied_redis().await?;
    let mut env = vec![
        ("REDIS_URL", url),
        ("ODEADEV_REDIS_PREFIX", unique_prefix()),
    ];
    if closed {
        env.push(("ODEADEV_LIMITS_ON_REDIS_ERROR", "closed".to_string()));
    }
    env.extend_from_slice(extra);
    let app = spawn_app_with(Options {
        env,
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("free").await;
    let r = app.post_tts(&key, &hi()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-remaining"), Some(9));
    Some((relay, app, key))
}

async fn redis_outage(closed: bool) {
    let Some((relay, app, key)) = app_behind_relay(closed, &[]).await else {
        return;
    };
    relay.cut().await;
    for _ in 0..3 {
        let started = Instant::now();
        let speech = app.post_tts(&key, &hi()).await;
        let other = app.get("/v1/me", &key).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a request hung on Redis"
        );
        if closed {
            assert_eq!(error_body(speech, 503).await["code"], "service_unavailable");
            assert_eq!(other.status(), 503);
        } else {
            assert_eq!(speech.status(), 200);
            assert!(header(&speech, "ratelimit-limit").is_none());
            assert_eq!(other.status(), 200);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_lets_requests_through_by_default_and_never_hangs() {
    redis_outage(false).await;
    // A node that starts while Redis is down serves as well.
    if redis_url().is_none() {
        return;
    }
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let env = vec![("REDIS_URL", format!("redis://{closed_port}"))];
    let app = spawn_app_with(Options {
        env,
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("free").await;
    assert_eq!(app.post_tts(&key, &hi()).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_refuses_with_503_when_failing_closed() {
    redis_outage(true).await;
}

/// The Redis timeout of the freeze test: long enough that two waits in a row (2 s) stand far
/// apart from one wait and the request's own work, even on a slow CI machine.
const FROZEN_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Redis freezes (answers nothing, closes nothing): each request makes two Redis calls (the
/// failed-authentication check, then the admission, the general rate or the failure count),
/// yet waits on Redis at most one `ODEADEV_REDIS_TIMEOUT_MS` in all, failing open or closed;
/// `/ready` says `degraded` (200) when failing open, `error` (503) when failing closed.
async fn redis_freeze(closed: bool) {
    let timeout = (
        "ODEADEV_REDIS_TIMEOUT_MS",
        FROZEN_TIMEOUT.as_millis().to_string(),
    );
    let Some((relay, app, key)) = app_behind_relay(closed, &[timeout]).await else {
        return;
    };
    relay.freeze();
    let bad_key = "odt_not-a-key";
    for (what, request) in [
        (
            "synthesis",
            app.client
                .post(app.url("/v1/tts"))
                .bearer_auth(&key)
                .json(&hi()),
        ),
        (
            "another route",
            app.client.get(app.url("/v1/me")).bearer_auth(&key),
        ),
        (
            "a failed authentication",
            app.client.get(app.url("/v1/me")).bearer_auth(bad_key),
        ),
    ] {
        let started = Instant::now();
        let r = request.send().await.unwrap();
        let took = started.elapsed();
        // One timeout, plus a generous allowance for the request's own work; two timeouts in a
        // row would take twice the timeout.
        assert!(
            took < FROZEN_TIMEOUT + Duration::from_millis(800),
            "{what} took {took:?} with Redis frozen: more than one Redis timeout"
        );
        let status = r.status().as_u16();
        match (closed, what) {
            (true, _) => assert_eq!(status, 503, "{what}"),
            (false, "a failed authentication") => assert_eq!(status, 401),
            (false, _) => {
                assert_eq!(status, 200, "{what}");
                assert!(header(&r, "ratelimit-limit").is_none(), "{what}: limited");
            }
        }
    }
    // What the operations guide says `/ready` answers during a Redis outage.
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    let (status, redis, overall) = if closed {
        (503, "error", "not_ready")
    } else {
        (200, "degraded", "ready")
    };
    assert_eq!(ready.status().as_u16(), status);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["redis"]["status"], redis, "{body}");
    assert_eq!(body["status"], overall, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_holds_a_request_failing_open_at_most_one_timeout_in_all() {
    redis_freeze(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_holds_a_request_failing_closed_at_most_one_timeout_in_all() {
    redis_freeze(true).await;
}
