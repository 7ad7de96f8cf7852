//! Scale-out: three `odeadev-tts serve` processes on one PostgreSQL database
//! (`TEST_DATABASE_URL`) and one Redis (`TEST_REDIS_URL`), the simulator in process behind
//! them. A bounded concurrent load spread round-robin over the nodes must keep every user's
//! books exact and their plan's rate and concurrency limits in total; then one node is killed
//! with SIGKILL while it holds reservations and streams, and the surviving nodes must release
//! them once their lease runs out and keep serving.
//!
//! Both URLs are required when `CI=true` (the test fails without them); elsewhere it is
//! skipped with a note.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minimax_sim::{SimConfig, SimHandle};
use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::helpers::{test_database_url, PgTestDatabase, SIM_KEY};

/// Lease of a quota reservation (`ODEADEV_LEASE_SECS`).
const LEASE_SECS: u64 = 2;
/// Lease of a Redis concurrency slot (`ODEADEV_CONCURRENCY_LEASE_SECS`, at least 3).
const SLOT_LEASE_SECS: u64 = 3;
/// Reaper period (`ODEADEV_REAP_INTERVAL_SECS`).
const REAP_SECS: u64 = 1;
/// Pause between streamed chunks of the simulator: a 40-character text is 10 chunks, ~1.4 s.
const CHUNK_DELAY_MS: u32 = 150;
/// Same on every node, set before the first key.
const PEPPER: &str = "multinode-test-pepper-0123456789abcdef";

/// 40 characters: a 5 s reservation, 2.4 s of audio, a stream of about 1.4 s.
const LONG: &str = "Forty characters of text to be streamed.";
const SHORT: &str = "Hi there.";

/// A setting the test cannot run without: required on CI, else skipped with a note.
fn required(name: &str, value: Option<String>) -> Option<String> {
    if value.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} must be set when CI=true: the multi-node test cannot be skipped");
        }
        eprintln!("{name} is not set: skipping the multi-node test");
    }
    value
}

fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    child: Child,
    base: String,
    log: PathBuf,
}

/// The gateway processes; dropping it kills every one still running (also when a test
/// assertion fails), and on failure prints the end of each node's log.
struct Cluster {
    nodes: Vec<Node>,
    admin_key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if node.child.try_wait().ok().flatten().is_none() {
                let _ = node.child.kill();
            }
            let _ = node.child.wait();
        }
        if std::thread::panicking() {
            for (i, node) in self.nodes.iter().enumerate() {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(25).collect();
                eprintln!("--- node {i} ({}) log tail ---", node.base);
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

fn node_env(cmd: &mut Command, database_url: &str, redis: &str, prefix: &str, sim: &SimHandle) {
    cmd.env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis)
        .env("ODEADEV_REDIS_PREFIX", prefix)
        .env("ODEADEV_KEY_PEPPER", PEPPER)
        .env("ODEADEV_DB_MAX_CONNECTIONS", "6")
        .env("ODEADEV_LEASE_SECS", LEASE_SECS.to_string())
        .env(
            "ODEADEV_CONCURRENCY_LEASE_SECS",
            SLOT_LEASE_SECS.to_string(),
        )
        .env("ODEADEV_REAP_INTERVAL_SECS", REAP_SECS.to_string())
        .env("ODEADEV_SHUTDOWN_GRACE_SECS", "1")
        .env("MINIMAX_API_KEY", SIM_KEY)
        .env("MINIMAX_BASE_URL", sim.base_url())
        .env("MINIMAX_TIMEOUT_MS", "15000")
        .env("ODEADEV_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env_remove("ODEADEV_BIND")
        .env_remove("ODEADEV_METRICS_BIND")
        .env_remove("ODEADEV_TRUSTED_PROXIES");
}

/// Migrates once, creates the admin, then starts `count` nodes with `serve --no-migrate`
/// (the documented fleet order) and waits until each is ready.
async fn start_cluster(count: usize, database_url: &str, redis: &str, sim: &SimHandle) -> Cluster {
    let prefix = format!("odeadev-mn:{}:", uuid::Uuid::new_v4().simple());
    let bin = env!("CARGO_BIN_EXE_odeadev-tts");
    let dir = tempfile::tempdir().unwrap();
    let mut migrate = Command::new(bin);
    node_env(&mut migrate, database_url, redis, &prefix, sim);
    let out = migrate.arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut create = Command::new(bin);
    node_env(&mut create, database_url, redis, &prefix, sim);
    let out = create
        .args(["create-admin", "Ops", "ops@example.com", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "create-admin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut cluster = Cluster {
        nodes: Vec::new(),
        admin_key: admin["api_key"].as_str().unwrap().to_string(),
        _dir: dir,
    };
    for i in 0..count {
        let port = free_port();
        let log = cluster._dir.path().join(format!("node{i}.log"));
        let mut serve = Command::new(bin);
        node_env(&mut serve, database_url, redis, &prefix, sim);
        let child = serve
            .args(["serve", "--no-migrate", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        cluster.nodes.push(Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, node) in cluster.nodes.iter_mut().enumerate() {
        let ready = format!("{}/ready", node.base);
        loop {
            if let Ok(r) = reqwest::get(&ready).await {
                if r.status() == 200 {
                    break;
                }
            }
            let exited = node.child.try_wait().unwrap();
            assert!(exited.is_none(), "node {i} exited at start-up: {exited:?}");
            assert!(Instant::now() < deadline, "node {i} did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cluster
}

/// What a request's usage record must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 200, billed this many ms.
    Success(i64),
    /// 429 for the rate (requests per minute).
    RateLimited,
    /// 429 for the concurrency limit.
    Busy,
    /// 429 for the quota.
    Quota,
    /// Held by the killed node: released by a reaper.
    LeaseExpired,
}

impl Outcome {
    fn record_status(self) -> (&'static str, Option<&'static str>) {
        match self {
            Outcome::Success(_) => ("success", None),
            Outcome::RateLimited | Outcome::Busy => ("rate_limited", Some("rate_limited")),
            Outcome::Quota => ("quota_exceeded", Some("quota_exceeded")),
            Outcome::LeaseExpired => ("error", Some("lease_expired")),
        }
    }

    /// Whether the request passed the rate limiter (spent a cell of the user's rate).
    fn admitted(self) -> bool {
        matches!(
            self,
            Outcome::Success(_) | Outcome::Quota | Outcome::LeaseExpired
        )
    }
}

#[derive(Clone)]
struct User {
    id: i64,
    key: String,
    rpm: u32,
    max_streams: u32,
    quota_ms: i64,
}

/// Everything the test needs to send requests and keep its own books.
struct Cx {
    client: Client,
    bases: Vec<String>,
    admin_key: String,
    sim: String,
    next_node: AtomicUsize,
    /// Nodes `0..live` are running (the last one is killed in the test).
    live: AtomicUsize,
    next_id: AtomicUsize,
    /// Per user: (request id, outcome) of every synthesis request sent.
    ledger: Mutex<HashMap<i64, Vec<(String, Outcome)>>>,
    pool: sqlx::PgPool,
}

impl Cx {
    fn round_robin(&self) -> usize {
        self.next_node.fetch_add(1, Ordering::Relaxed) % self.live.load(Ordering::Relaxed)
    }

    fn request_id(&self, user: &User) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("mn-{}-{n}", user.id)
    }

    fn note(&self, user: &User, request_id: String, outcome: Outcome) {
        self.ledger
            .lock()
            .unwrap()
            .entry(user.id)
            .or_default()
            .push((request_id, outcome));
    }

    /// Sends a synthesis request; `/v2/tts` asks for SSE, so the bill is in the `done` event.
    async fn send(&self, user: &User, node: usize, path: &str, text: &str, rid: &str) -> Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.bases[node]))
            .bearer_auth(&user.key)
            .header("x-request-id", rid)
            .timeout(Duration::from_secs(20))
            .json(&json!({"text": text, "voice_name": "marcus"}));
        if path == "/v2/tts" {
            request = request.header("accept", "text/event-stream");
        }
        request.send().await.unwrap()
    }

    /// One request to the end of its answer (a stream to its last event); notes the outcome.
    async fn speak(&self, user: &User, node: usize, path: &str, text: &str) -> Outcome {
        let rid = self.request_id(user);
        let response = self.send(user, node, path, text, &rid).await;
        let outcome = finish(response, path).await;
        self.note(user, rid, outcome);
        outcome
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let node = self.round_robin();
        let r = self
            .client
            .request(method, format!("{}{path}", self.bases[node]))
            .bearer_auth(&self.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Creates a user on `plan` (each on the next node), with `changes` patched in.
    async fn user(&self, plan: &str, changes: Value) -> User {
        let n: u32 = rand::random();
        let created = self
            .admin(
                reqwest::Method::POST,
                "/admin/users",
                json!({"name": "Load", "email": format!("mn{n}@example.com"), "plan": plan}),
            )
            .await;
        let id = created["user"]["id"].as_i64().unwrap();
        let patched = self
            .admin(
                reqwest::Method::PATCH,
                &format!("/admin/users/{id}"),
                changes,
            )
            .await;
        let user = User {
            id,
            key: created["api_key"].as_str().unwrap().to_string(),
            rpm: patched["rpm_limit"].as_u64().unwrap() as u32,
            max_streams: patched["max_streams"].as_u64().unwrap() as u32,
            quota_ms: (patched["quota_seconds"].as_f64().unwrap() * 1000.0).round() as i64,
        };
        // The key works on every node (one pepper, one database).
        for node in 0..self.live.load(Ordering::Relaxed) {
            let me = self.get(node, "/v1/me", &user.key).await;
            assert_eq!(me["id"], id);
        }
        user
    }

    async fn get(&self, node: usize, path: &str, key: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.bases[node]))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path} on node {node}");
        r.json().await.unwrap()
    }

    async fn fault(&self, fault: Value) {
        let r = self
            .client
            .post(format!("{}/_sim/faults", self.sim))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "fault not accepted: {fault}");
    }

    async fn sim_t2a_count(&self) -> u64 {
        let stats: Value = self
            .client
            .get(format!("{}/_sim/stats", self.sim))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["t2a_requests"].as_u64().unwrap()
    }

    /// (used_ms, reserved_ms, pending records) straight from the database.
    async fn balance(&self, user: &User) -> (i64, i64, i64) {
        let (used, reserved): (i64, i64) =
            sqlx::query_as("SELECT used_ms, reserved_ms FROM users WHERE id = $1")
                .bind(user.id)
                .fetch_one(&self.pool)
                .await
                .unwrap();
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM usage_records WHERE user_id = $1 AND status = 'pending'",
        )
        .bind(user.id)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        (used, reserved, pending)
    }
}

fn ms(seconds: &Value) -> i64 {
    (seconds.as_f64().unwrap() * 1000.0).round() as i64
}

/// Reads an answer to its end and says what it was; anything unexpected fails the test.
async fn finish(response: Response, path: &str) -> Outcome {
    let status = response.status().as_u16();
    match status {
        200 if path == "/v2/tts" => {
            let body = response.text().await.expect("the stream ends cleanly");
            let done = body
                .split("\n\n")
                .find_map(|event| event.strip_prefix("event: done\ndata: "))
                .unwrap_or_else(|| panic!("a stream without its done event: {body:.300}"));
            let done: Value = serde_json::from_str(done).unwrap();
            Outcome::Success(ms(&done["billed_seconds"]))
        }
        200 => {
            let body: Value = response.json().await.unwrap();
            assert!(body["audio_base64"].as_str().is_some_and(|a| !a.is_empty()));
            Outcome::Success(ms(&body["billed_seconds"]))
        }
        429 => {
            let body: Value = response.json().await.unwrap();
            let detail = body["detail"].as_str().unwrap_or_default();
            match body["code"].as_str() {
                Some("quota_exceeded") => Outcome::Quota,
                Some("rate_limited") if detail.starts_with("concurrency limit") => Outcome::Busy,
                Some("rate_limited") if detail.starts_with("rate limit of") => Outcome::RateLimited,
                _ => panic!("unexpected 429 on {path}: {body}"),
            }
        }
        other => {
            let body = response.text().await.unwrap_or_default();
            panic!("unexpected status {other} on {path}: {body}")
        }
    }
}

/// Fires `count` slow streams for `user` at once, round-robin over `nodes`; returns the
/// outcomes and whether every admission was decided while the first stream still ran.
async fn burst(cx: &Arc<Cx>, user: &User, nodes: &[usize], count: usize) -> (Vec<Outcome>, bool) {
    let started = Instant::now();
    let decided = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let (cx, user, decided) = (cx.clone(), user.clone(), decided.clone());
            let node = nodes[i % nodes.len()];
            tokio::spawn(async move {
                let rid = cx.request_id(&user);
                let response = cx.send(&user, node, "/v2/tts", LONG, &rid).await;
                decided.lock().unwrap().push(started.elapsed());
                let outcome = finish(response, "/v2/tts").await;
                cx.note(&user, rid, outcome);
                outcome
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    // A stream holds its slot for about 1.4 s: decisions within 1 s all saw the others held.
    let all_at_once = decided
        .lock()
        .unwrap()
        .iter()
        .all(|d| *d < Duration::from_millis(1000));
    (outcomes, all_at_once)
}

/// The concurrency limit in total over the nodes: of `2n+1` simultaneous slow streams, at
/// most `n` are accepted (exactly `n` when all were decided while the first ones ran).
async fn assert_concurrency_held(cx: &Arc<Cx>, user: &User, nodes: &[usize]) {
    let count = 2 * user.max_streams as usize + 1;
    let (outcomes, all_at_once) = burst(cx, user, nodes, count).await;
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Success(_)))
        .count();
    let busy = outcomes.iter().filter(|o| **o == Outcome::Busy).count();
    assert!(
        (1..=user.max_streams as usize).contains(&accepted),
        "user {} (max_streams {}) had {accepted} of {count} simultaneous streams accepted: {outcomes:?}",
        user.id,
        user.max_streams
    );
    assert_eq!(accepted + busy, count, "{outcomes:?}");
    if all_at_once {
        assert_eq!(accepted, user.max_streams as usize, "{outcomes:?}");
    }
}

/// A usage record: request id, status, audio ms, error code.
type Row = (String, String, i64, Option<String>);

/// The user's books against what the test sent and got: balances, records, API views, and
/// the rate limit over `window` (since before the user's first synthesis request).
async fn check_books(cx: &Cx, user: &User, window: Duration, node: usize) {
    let sent = cx.ledger.lock().unwrap().get(&user.id).cloned().unwrap();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT request_id, status, audio_ms, error_code FROM usage_records WHERE user_id = $1",
    )
    .bind(user.id)
    .fetch_all(&cx.pool)
    .await
    .unwrap();
    assert_eq!(
        rows.len(),
        sent.len(),
        "user {}: {} usage records for {} requests",
        user.id,
        rows.len(),
        sent.len()
    );
    let mut by_request: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in &rows {
        by_request.entry(row.0.as_str()).or_default().push(row);
    }
    let mut billed_ms = 0;
    for (rid, outcome) in &sent {
        let records = by_request.get(rid.as_str()).map_or(&[][..], Vec::as_slice);
        assert_eq!(records.len(), 1, "request {rid} ({outcome:?}): {records:?}");
        let (_, status, audio_ms, error_code) = records[0];
        let (want_status, want_code) = outcome.record_status();
        assert_eq!(
            (status.as_str(), error_code.as_deref()),
            (want_status, want_code),
            "request {rid}"
        );
        match outcome {
            Outcome::Success(billed) => {
                assert_eq!(audio_ms, billed, "request {rid}: billed vs recorded");
                billed_ms += billed;
            }
            _ => assert_eq!(*audio_ms, 0, "request {rid} ({outcome:?}) was billed"),
        }
    }
    let (used_ms, reserved_ms, pending) = cx.balance(user).await;
    assert_eq!(
        (reserved_ms, pending),
        (0, 0),
        "user {}: still reserved",
        user.id
    );
    assert!(
        used_ms <= user.quota_ms,
        "user {}: used {used_ms} ms of a {} ms quota",
        user.id,
        user.quota_ms
    );
    assert_eq!(
        used_ms, billed_ms,
        "user {}: used vs billed in 200s",
        user.id
    );
    let recorded: i64 = rows.iter().map(|r| r.2).sum();
    assert_eq!(used_ms, recorded, "user {}: used vs records", user.id);
    // The API says the same.
    let me = cx.get(node, "/v1/me", &user.key).await;
    assert_eq!(ms(&me["used_seconds"]), used_ms);
    assert_eq!(me["reserved_seconds"], 0.0);
    assert_eq!(ms(&me["quota_seconds"]), user.quota_ms);
    let usage = cx.get(node, "/v1/usage?limit=200", &user.key).await;
    let usage = usage["data"].as_array().unwrap();
    assert_eq!(usage.len(), sent.len());
    let listed: i64 = usage.iter().map(|u| ms(&u["audio_seconds"])).sum();
    assert_eq!(listed, used_ms, "user {}: /v1/usage audio_seconds", user.id);
    let stats = cx.get(node, "/v1/usage/stats", &user.key).await;
    assert_eq!(stats["total_requests"], sent.len() as u64);
    let successes = sent
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Success(_)))
        .count();
    assert_eq!(stats["successful_requests"], successes as u64);
    // GCRA with a burst of one minute: at most rpm at once, then one more per 60/rpm s.
    let admitted = sent.iter().filter(|(_, o)| o.admitted()).count() as u64;
    let allowance =
        u64::from(user.rpm) + (window.as_secs_f64() * f64::from(user.rpm) / 60.0) as u64;
    assert!(
        admitted <= allowance,
        "user {}: {admitted} requests admitted in {window:?} at {} a minute",
        user.id,
        user.rpm
    );
    eprintln!(
        "user {} (rpm {}, streams {}): {} requests, {admitted} admitted (allowance {allowance}), {successes} ok, used {used_ms} of {} ms",
        user.id,
        user.rpm,
        user.max_streams,
        sent.len(),
        user.quota_ms
    );
}

/// Scrapes a counter from a node's `/metrics` (0 when absent).
async fn counter(cx: &Cx, node: usize, name: &str) -> f64 {
    let text = cx
        .client
        .get(format!("{}/metrics", cx.bases[node]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_the_books_and_limits_and_survive_a_killed_node() {
    let database = required("TEST_DATABASE_URL", test_database_url());
    let redis = required("TEST_REDIS_URL", redis_url());
    let (Some(admin_url), Some(redis)) = (database, redis) else {
        return;
    };
    let test_started = Instant::now();
    let db = PgTestDatabase::create(&admin_url).await;
    let sim = crate::helpers::spawn_sim(SimConfig {
        api_key: Some(SIM_KEY.to_string()),
        stream_chunk_ms: 250,
        stream_chunk_delay_ms: CHUNK_DELAY_MS,
        ..SimConfig::default()
    })
    .await;
    let mut cluster = start_cluster(3, &db.url, &redis, &sim).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await
        .unwrap();
    let cx = Arc::new(Cx {
        client: Client::new(),
        bases: cluster.nodes.iter().map(|n| n.base.clone()).collect(),
        admin_key: cluster.admin_key.clone(),
        sim: sim.base_url(),
        next_node: AtomicUsize::new(0),
        live: AtomicUsize::new(3),
        next_id: AtomicUsize::new(0),
        ledger: Mutex::default(),
        pool,
    });
    eprintln!("cluster ready in {:?}", test_started.elapsed());

    // Users on different plans, small quotas. free: 10/min, 1 stream; basic with a custom
    // rate; pro with a quota that runs out; and one whose node will die.
    let free = cx.user("free", json!({"quota_seconds": 12})).await;
    let basic = cx
        .user(
            "basic",
            json!({"quota_seconds": 30, "rpm_limit": 12, "max_streams": 3}),
        )
        .await;
    let pro = cx.user("pro", json!({"quota_seconds": 20})).await;
    let victim = cx
        .user("pro", json!({"quota_seconds": 100, "max_streams": 3}))
        .await;
    assert_eq!((free.rpm, free.max_streams), (10, 1));
    assert_eq!((basic.rpm, basic.max_streams), (12, 3));
    assert_eq!((pro.rpm, pro.max_streams), (60, 5));
    let load_started = Instant::now();

    // 1. Concurrency in total over the nodes: simultaneous slow streams on all three.
    assert_concurrency_held(&cx, &free, &[0, 1, 2]).await;
    assert_concurrency_held(&cx, &basic, &[0, 1, 2]).await;

    // 2. A bounded concurrent load, round-robin over the nodes: three workers per user,
    // every other request streamed.
    let plan = [(&free, 12usize), (&basic, 24), (&pro, 24)];
    let pro_id = pro.id;
    let mut workers = Vec::new();
    for (user, count) in plan {
        for worker in 0..3 {
            let (cx, user) = (cx.clone(), user.clone());
            workers.push(tokio::spawn(async move {
                for i in (worker..count).step_by(3) {
                    let path = if i % 2 == 0 { "/v1/tts" } else { "/v2/tts" };
                    let text = if user.id == pro_id || i % 3 == 0 {
                        LONG
                    } else {
                        SHORT
                    };
                    let node = cx.round_robin();
                    cx.speak(&user, node, path, text).await;
                }
            }));
        }
    }
    for worker in workers {
        worker.await.unwrap();
    }
    eprintln!("load done in {:?}", load_started.elapsed());
    for user in [&free, &basic, &pro] {
        check_books(&cx, user, load_started.elapsed(), 0).await;
    }
    let outcomes = |user: &User| -> Vec<Outcome> {
        let ledger = cx.ledger.lock().unwrap();
        ledger[&user.id].iter().map(|(_, o)| *o).collect()
    };
    assert!(
        outcomes(&basic).contains(&Outcome::RateLimited),
        "the load reached the basic user's rate limit"
    );
    assert!(
        outcomes(&pro).contains(&Outcome::Quota),
        "the load reached the pro user's quota"
    );

    // 3. Node 2 holds two slow streams and a request the engine never answers; then dies.
    let doomed = 2;
    cx.fault(json!({"kind": "slow_stream", "delay_ms": 500, "times": 2}))
        .await;
    let long_text = "A much longer text that streams for many seconds, one slow chunk at a time, to hold its slot.";
    let mut held = Vec::new();
    for _ in 0..2 {
        let rid = cx.request_id(&victim);
        let mut r = cx.send(&victim, doomed, "/v2/tts", long_text, &rid).await;
        assert_eq!(r.status(), 200);
        assert!(r.chunk().await.unwrap().is_some(), "no first audio");
        cx.note(&victim, rid, Outcome::LeaseExpired);
        held.push(r);
    }
    cx.fault(json!({"kind": "hang"})).await;
    let before = cx.sim_t2a_count().await;
    let hanging = {
        let (cx, victim) = (cx.clone(), victim.clone());
        let rid = cx.request_id(&victim);
        cx.note(&victim, rid.clone(), Outcome::LeaseExpired);
        tokio::spawn(async move {
            let _ = cx
                .client
                .post(format!("{}/v1/tts", cx.bases[doomed]))
                .bearer_auth(&victim.key)
                .header("x-request-id", rid)
                .json(&json!({"text": LONG, "voice_name": "marcus"}))
                .send()
                .await;
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while cx.sim_t2a_count().await == before {
        assert!(
            Instant::now() < deadline,
            "the held request never reached the engine"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everything is held, on the books and in Redis, before the kill.
    let (used_before, reserved, pending) = cx.balance(&victim).await;
    assert_eq!(pending, 3, "three reservations held by node {doomed}");
    assert!(reserved > 0);
    let me = cx.get(0, "/v1/me", &victim.key).await;
    assert_eq!(ms(&me["reserved_seconds"]), reserved);
    assert_eq!(
        cx.speak(&victim, 0, "/v1/tts", SHORT).await,
        Outcome::Busy,
        "node 0 sees the slots node {doomed} holds"
    );
    let reaped_before = counter(&cx, 0, "odeadev_reservations_reaped_total").await
        + counter(&cx, 1, "odeadev_reservations_reaped_total").await;

    let pid = cluster.nodes[doomed].child.id().to_string();
    let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success());
    let killed_at = Instant::now();
    cx.live.store(doomed, Ordering::Relaxed);
    let deadline = killed_at + Duration::from_secs(5);
    while cluster.nodes[doomed].child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "node {doomed} survived SIGKILL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    let _ = tokio::time::timeout(Duration::from_secs(5), hanging).await;

    // The survivors' reapers release the reservations once their lease runs out.
    let bound = Duration::from_secs(LEASE_SECS + 2 * REAP_SECS + 3);
    loop {
        let (used, reserved, pending) = cx.balance(&victim).await;
        if reserved == 0 && pending == 0 {
            assert_eq!(
                used, used_before,
                "nothing was billed for the dead node's requests"
            );
            break;
        }
        assert!(
            killed_at.elapsed() < bound,
            "reservations still held {:?} after the kill: {reserved} ms, {pending} pending",
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let released_after = killed_at.elapsed();
    let me = cx.get(1, "/v1/me", &victim.key).await;
    assert_eq!(me["reserved_seconds"], 0.0);
    let reaped_after = counter(&cx, 0, "odeadev_reservations_reaped_total").await
        + counter(&cx, 1, "odeadev_reservations_reaped_total").await;
    assert!(
        reaped_after - reaped_before >= 3.0,
        "the survivors reaped {} reservations",
        reaped_after - reaped_before
    );

    // The dead node's concurrency slots come back when their Redis leases expire.
    let bound = Duration::from_secs(SLOT_LEASE_SECS + 4);
    let mut node = 0;
    loop {
        match cx.speak(&victim, node, "/v1/tts", SHORT).await {
            Outcome::Success(_) => break,
            Outcome::Busy => {}
            other => panic!("unexpected {other:?} while the slots were held"),
        }
        assert!(
            killed_at.elapsed() < bound,
            "the dead node's slots were still held {:?} after the kill",
            killed_at.elapsed()
        );
        node = 1 - node;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slots_after = killed_at.elapsed();
    eprintln!(
        "after the kill: reservations released in {released_after:?}, slots in {slots_after:?}"
    );
    // All of them once every lease has run out (each was renewed last before the kill): the
    // user has their three streams again, on the surviving nodes.
    let all_expired = killed_at + Duration::from_millis(SLOT_LEASE_SECS * 1000 + 300);
    tokio::time::sleep_until(all_expired.into()).await;
    assert_concurrency_held(&cx, &victim, &[0, 1]).await;
    // And the survivors serve everyone else as before.
    let other = cx.user("basic", json!({"quota_seconds": 10})).await;
    assert!(matches!(
        cx.speak(&other, 1, "/v2/tts", SHORT).await,
        Outcome::Success(_)
    ));

    for user in [&free, &basic, &pro, &victim, &other] {
        check_books(&cx, user, load_started.elapsed(), 1).await;
    }
    let expired: Vec<(String, String)> = sqlx::query_as(
        "SELECT request_id, endpoint FROM usage_records WHERE user_id = $1 AND error_code = 'lease_expired' ORDER BY request_id",
    )
    .bind(victim.id)
    .fetch_all(&cx.pool)
    .await
    .unwrap();
    let endpoints: Vec<&str> = expired.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(endpoints.len(), 3, "{expired:?}");
    assert_eq!(endpoints.iter().filter(|e| **e == "/v2/tts").count(), 2);
    eprintln!("multi-node test took {:?}", test_started.elapsed());
    // Locals drop in reverse: the nodes are stopped before the database is dropped.
}
