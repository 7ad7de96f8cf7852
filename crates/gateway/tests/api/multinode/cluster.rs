//! The cluster under test: three `odeadev-tts serve` processes on one PostgreSQL database and
//! one Redis, killed when dropped.

#[allow(unused_imports)]
use super::*;

/// Lease of a quota reservation (`ODEADEV_LEASE_SECS`).
pub(super) const LEASE_SECS: u64 = 2;
/// Lease of a Redis concurrency slot (`ODEADEV_CONCURRENCY_LEASE_SECS`, at least 3).
pub(super) const SLOT_LEASE_SECS: u64 = 3;
/// Reaper period (`ODEADEV_REAP_INTERVAL_SECS`).
pub(super) const REAP_SECS: u64 = 1;
/// Pause between streamed chunks of the simulator: a 40-character text is 10 chunks, ~1.4 s.
pub(super) const CHUNK_DELAY_MS: u32 = 150;
/// Same on every node, set before the first key.
pub(super) const PEPPER: &str = "multinode-test-pepper-0123456789abcdef";

/// 40 characters: a 5 s reservation, 2.4 s of audio, a stream of about 1.4 s.
pub(super) const LONG: &str = "Forty characters of text to be streamed.";
pub(super) const SHORT: &str = "Hi there.";

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(super) struct Node {
    pub(super) child: Child,
    pub(super) base: String,
    pub(super) log: PathBuf,
}

/// The gateway processes; dropping it kills every one still running (also when a test
/// assertion fails), and on failure prints the end of each node's log.
pub(super) struct Cluster {
    pub(super) nodes: Vec<Node>,
    pub(super) admin_key: String,
    pub(super) _dir: tempfile::TempDir,
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

pub(super) fn node_env(
    cmd: &mut Command,
    database_url: &str,
    redis: &str,
    prefix: &str,
    sim: &SimHandle,
) {
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
pub(super) async fn start_cluster(
    count: usize,
    database_url: &str,
    redis: &str,
    sim: &SimHandle,
) -> Cluster {
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
