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

use crate::helpers::{required_service, PgTestDatabase, SIM_KEY};

mod books;
mod cluster;

use cluster::*;

mod load;

use books::*;
use load::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_the_books_and_limits_and_survive_a_killed_node() {
    let database = required_service("TEST_DATABASE_URL", "the multi-node test");
    let redis = required_service("TEST_REDIS_URL", "the multi-node test");
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
