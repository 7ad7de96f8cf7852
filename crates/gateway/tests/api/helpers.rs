//! `spawn_app()` and typed helpers shared by every test module.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use minimax_sim::{SimConfig, SimHandle};
use odeadev_tts::config::Settings;
use odeadev_tts::startup::Application;
use reqwest::{Client, Response};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The upstream key the simulator accepts; tests grep for it in client-visible output.
pub const SIM_KEY: &str = "sim-secret-key-7f3a9c";

pub struct TestApp {
    pub address: SocketAddr,
    pub metrics_address: Option<SocketAddr>,
    pub admin_key: String,
    pub client: Client,
    pub sim: SimHandle,
    /// The app's `DATABASE_URL`, for tests that open the store beside it.
    pub database_url: String,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
    // Last, so the database goes after everything that uses it.
    _db: Option<PgTestDatabase>,
}

/// Polls `probe` every 50 ms until it gives a value; fails the test, naming `what`, after
/// `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "waited {limit:?} for {what} in vain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `TEST_DATABASE_URL`, when set: tests then use a fresh PostgreSQL database each.
pub fn test_database_url() -> Option<String> {
    service_url("TEST_DATABASE_URL")
}

/// The service URL in `var`, unless it is unset or blank.
fn service_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The service URL in `var` (`TEST_DATABASE_URL`, `TEST_REDIS_URL`) for `what`, a test that
/// cannot run without it: required when `CI=true`, else the test is skipped (`None`) with a
/// line saying so.
pub fn required_service(var: &str, what: &str) -> Option<String> {
    let url = service_url(var);
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {var} is not set: {what} must run in CI"
        );
        eprintln!("skipped: set {var} to run {what}");
    }
    url
}

/// A fresh PostgreSQL database on the `TEST_DATABASE_URL` server, dropped (best effort, even
/// with connections still open, in the background so tests stay fast) when this guard is
/// dropped. Databases a run left behind are swept by the next run after an hour.
pub struct PgTestDatabase {
    /// URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgTestDatabase {
    /// The database's name on its server.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn create(admin_url: &str) -> PgTestDatabase {
        use sqlx::{Connection, Executor};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let name = format!("odeadev_test_{now}_{:08x}", rand::random::<u32>());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("TEST_DATABASE_URL: cannot connect");
        static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SWEPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
            sweep_stale_databases(&mut conn, now.saturating_sub(3_600)).await;
        }
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        PgTestDatabase {
            url: url.to_string(),
            admin_url: admin_url.to_string(),
            name,
        }
    }
}

/// Drops test databases created before `before` (seconds since the epoch, from the name).
async fn sweep_stale_databases(conn: &mut sqlx::PgConnection, before: u64) {
    use sqlx::Executor;
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'odeadev\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created = name.split('_').nth(2).and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| t < before) {
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        use sqlx::{Connection, Executor};
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own, and
        // do not wait for it (a drop costs about a second of checkpointing).
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                conn.execute(sql.as_str()).await.ok()?;
                conn.close().await.ok()
            })
        });
    }
}

/// Extra settings for one test.
#[derive(Default, Clone)]
pub struct Options {
    pub env: Vec<(&'static str, String)>,
    pub sim: Option<SimConfig>,
    pub no_minimax: bool,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_sim(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    minimax_sim::spawn(config, listener).await.unwrap()
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let sim = spawn_sim(options.sim.clone().unwrap_or(SimConfig {
        api_key: Some(SIM_KEY.to_string()),
        ..SimConfig::default()
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pg = match test_database_url() {
        Some(admin_url) => Some(PgTestDatabase::create(&admin_url).await),
        None => None,
    };
    let database_url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), database_url.clone());
    env.insert("ODEADEV_BIND".into(), "127.0.0.1:0".into());
    if !options.no_minimax {
        env.insert("MINIMAX_API_KEY".into(), SIM_KEY.into());
        env.insert("MINIMAX_BASE_URL".into(), sim.base_url());
        env.insert("MINIMAX_TIMEOUT_MS".into(), "5000".into());
    }
    for (k, v) in &options.env {
        env.insert((*k).to_string(), v.clone());
    }
    let settings = Settings::load(&env, None).unwrap();
    let (_, admin) = odeadev_tts::startup::create_admin(&settings, "Admin", "admin@example.com")
        .await
        .unwrap();
    let app = Application::build(settings).await.unwrap();
    let address = app.local_addr().unwrap();
    let metrics_address = app.metrics_addr();
    let server = tokio::spawn(async move {
        app.run_until(std::future::pending()).await.unwrap();
    });
    TestApp {
        address,
        metrics_address,
        admin_key: admin.plain,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        sim,
        database_url,
        _dir: dir,
        _server: server,
        _db: pg,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, key: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user on `plan`; returns (id, key).
    pub async fn create_user(&self, plan: &str) -> (i64, String) {
        let n: u64 = rand::random();
        let response = self
            .post(
                "/admin/users",
                &self.admin_key,
                &json!({"name": "Customer", "email": format!("c{n}@example.com"), "plan": plan}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (
            body["user"]["id"].as_i64().unwrap(),
            body["api_key"].as_str().unwrap().to_string(),
        )
    }

    /// Sets a user's quota (seconds).
    pub async fn set_quota(&self, user_id: i64, seconds: f64) {
        let r = self
            .put(
                &format!("/admin/users/{user_id}/quota"),
                &self.admin_key,
                &json!({"quota_seconds": seconds}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }

    pub async fn post_tts(&self, key: &str, body: &Value) -> Response {
        self.post("/v1/tts", key, body).await
    }

    pub async fn me(&self, key: &str) -> Value {
        self.get("/v1/me", key).await.json().await.unwrap()
    }

    pub async fn usage(&self, key: &str) -> Vec<Value> {
        let body: Value = self
            .get("/v1/usage?limit=200", key)
            .await
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().clone()
    }

    pub async fn stats(&self, key: &str) -> Value {
        self.get("/v1/usage/stats", key).await.json().await.unwrap()
    }

    /// The stats once `field` reads `expected`: refusals by a limit reach the database in a
    /// flush every second, not with the answer.
    pub async fn stats_when(&self, key: &str, field: &str, expected: i64) -> Value {
        wait_for(Duration::from_secs(10), field, || async {
            let stats = self.stats(key).await;
            (stats[field] == expected).then_some(stats)
        })
        .await
    }

    /// Queues a simulator fault.
    pub async fn fault(&self, fault: Value) {
        let r = self
            .client
            .post(format!("{}/_sim/faults", self.sim.base_url()))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "fault not accepted: {fault}");
    }

    /// The Prometheus text of `/metrics` (the process's metrics: every app of a test run).
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// Requests the simulator received.
    pub async fn sim_requests(&self) -> Vec<Value> {
        self.client
            .get(format!("{}/_sim/requests", self.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sim_t2a_count(&self) -> u64 {
        let stats: Value = self
            .client
            .get(format!("{}/_sim/stats", self.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["t2a_requests"].as_u64().unwrap()
    }
}

/// Asserts the error body shape and returns it.
pub async fn error_body(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let header_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string(), "detail missing: {body}");
    assert!(body["code"].is_string(), "code missing: {body}");
    assert_eq!(
        body["request_id"].as_str(),
        Some(header_id.as_str()),
        "{body}"
    );
    body
}

pub fn decode_audio(body: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(body["audio_base64"].as_str().unwrap())
        .unwrap()
}
