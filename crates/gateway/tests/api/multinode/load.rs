//! Load over the cluster: users, requests, bursts and their outcomes (`books.rs` checks
//! what they left on the books).

#[allow(unused_imports)]
use super::*;

/// What a request's outcome must leave on the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
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
    /// The usage record's status and error code; none for a refusal by a limit, which is
    /// counted per hour instead.
    pub(super) fn record_status(self) -> Option<(&'static str, Option<&'static str>)> {
        match self {
            Outcome::Success(_) => Some(("success", None)),
            Outcome::RateLimited | Outcome::Busy => None,
            Outcome::Quota => Some(("quota_exceeded", Some("quota_exceeded"))),
            Outcome::LeaseExpired => Some(("error", Some("lease_expired"))),
        }
    }

    /// Whether the request passed the rate limiter (spent a cell of the user's rate).
    pub(super) fn admitted(self) -> bool {
        matches!(
            self,
            Outcome::Success(_) | Outcome::Quota | Outcome::LeaseExpired
        )
    }
}

#[derive(Clone)]
pub(super) struct User {
    pub(super) id: i64,
    pub(super) key: String,
    pub(super) rpm: u32,
    pub(super) max_streams: u32,
    pub(super) quota_ms: i64,
}

/// Everything the test needs to send requests and keep its own books.
pub(super) struct Cx {
    pub(super) client: Client,
    pub(super) bases: Vec<String>,
    pub(super) admin_key: String,
    pub(super) sim: String,
    pub(super) next_node: AtomicUsize,
    /// Nodes `0..live` are running (the last one is killed in the test).
    pub(super) live: AtomicUsize,
    pub(super) next_id: AtomicUsize,
    /// Per user: (request id, outcome) of every synthesis request sent.
    pub(super) ledger: Mutex<HashMap<i64, Vec<(String, Outcome)>>>,
    pub(super) pool: sqlx::PgPool,
}

impl Cx {
    pub(super) fn round_robin(&self) -> usize {
        self.next_node.fetch_add(1, Ordering::Relaxed) % self.live.load(Ordering::Relaxed)
    }

    pub(super) fn request_id(&self, user: &User) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("mn-{}-{n}", user.id)
    }

    pub(super) fn note(&self, user: &User, request_id: String, outcome: Outcome) {
        self.ledger
            .lock()
            .unwrap()
            .entry(user.id)
            .or_default()
            .push((request_id, outcome));
    }

    /// Sends a synthesis request; `/v2/tts` asks for SSE, so the bill is in the `done` event.
    pub(super) async fn send(
        &self,
        user: &User,
        node: usize,
        path: &str,
        text: &str,
        rid: &str,
    ) -> Response {
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
    pub(super) async fn speak(&self, user: &User, node: usize, path: &str, text: &str) -> Outcome {
        let rid = self.request_id(user);
        let response = self.send(user, node, path, text, &rid).await;
        let outcome = finish(response, path).await;
        self.note(user, rid, outcome);
        outcome
    }

    pub(super) async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
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
    pub(super) async fn user(&self, plan: &str, changes: Value) -> User {
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

    pub(super) async fn get(&self, node: usize, path: &str, key: &str) -> Value {
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

    pub(super) async fn fault(&self, fault: Value) {
        let r = self
            .client
            .post(format!("{}/_sim/faults", self.sim))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "fault not accepted: {fault}");
    }

    pub(super) async fn sim_t2a_count(&self) -> u64 {
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
    pub(super) async fn balance(&self, user: &User) -> (i64, i64, i64) {
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

pub(super) fn ms(seconds: &Value) -> i64 {
    (seconds.as_f64().unwrap() * 1000.0).round() as i64
}

/// Reads an answer to its end and says what it was; anything unexpected fails the test.
pub(super) async fn finish(response: Response, path: &str) -> Outcome {
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
pub(super) async fn burst(
    cx: &Arc<Cx>,
    user: &User,
    nodes: &[usize],
    count: usize,
) -> (Vec<Outcome>, bool) {
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
pub(super) async fn assert_concurrency_held(cx: &Arc<Cx>, user: &User, nodes: &[usize]) {
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

/// Scrapes a counter from a node's `/metrics` (0 when absent).
pub(super) async fn counter(cx: &Cx, node: usize, name: &str) -> f64 {
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
