//! Every fault kind of `POST /_sim/faults`, plus the queue semantics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{code, request, sse_events, Sim};
use odeadev_audio::{measure, AudioFormat};
use serde_json::{json, Value};

fn streaming(text: &str) -> Value {
    let mut b = request(text);
    b["stream"] = json!(true);
    b
}

#[tokio::test]
async fn http_status_business_error_and_queue_listing() {
    let sim = Sim::default().await;
    sim.fault(json!({"kind": "http_status", "status": 503, "times": 2}))
        .await;
    sim.fault(json!({"kind": "business_error", "code": 1002}))
        .await;
    let listed: Value = sim
        .client
        .get(sim.url("/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["kind"], "http_status");
    for _ in 0..2 {
        let r = sim.post("/v1/t2a_v2", &request("x")).await;
        assert_eq!(r.status(), 503);
    }
    let v = sim.t2a(&request("x")).await;
    assert_eq!(code(&v), 1002);
    assert_eq!(v["base_resp"]["status_msg"], "rate limit");
    assert!(v["data"].is_null());
    assert_eq!(code(&sim.t2a(&request("x")).await), 0);
    sim.fault(json!({"kind": "business_error", "code": 777}))
        .await;
    assert_eq!(
        sim.t2a(&request("x")).await["base_resp"]["status_msg"],
        "error"
    );
    sim.fault(json!({"kind": "hang"})).await;
    let cleared = sim
        .client
        .delete(sim.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(code(&sim.t2a(&request("x")).await), 0);
    let bad = sim
        .client
        .post(sim.url("/_sim/faults"))
        .json(&json!({"kind": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn malformed_json_bad_hex_and_audio_length() {
    let sim = Sim::default().await;
    sim.fault(json!({"kind": "malformed_json"})).await;
    let r = sim.post("/v1/t2a_v2", &request("x")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());

    sim.fault(json!({"kind": "bad_hex"})).await;
    let v = sim.t2a(&request("x")).await;
    assert_eq!(code(&v), 0);
    assert!(hex::decode(v["data"]["audio"].as_str().unwrap()).is_err());

    sim.fault(json!({"kind": "audio_length", "audio_length_ms": 99999}))
        .await;
    let v = sim.t2a(&request("hello")).await;
    assert_eq!(v["extra_info"]["audio_length"], 99999);
    assert!(hex::decode(v["data"]["audio"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn audio_length_can_disagree_with_audio_of_a_chosen_length() {
    let sim = Sim::default().await;
    let fault = json!({"kind": "audio_length", "audio_length_ms": 0, "produced_ms": 2_345});
    sim.fault(fault.clone()).await;
    let v = sim.t2a(&request("hello")).await;
    assert_eq!(v["extra_info"]["audio_length"], 0);
    let audio = hex::decode(v["data"]["audio"].as_str().unwrap()).unwrap();
    assert_eq!(measure(AudioFormat::Mp3, &audio, 0).ms(), 2_345);

    sim.fault(fault).await;
    let text = sim
        .post("/v1/t2a_v2", &streaming("hello"))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(last["extra_info"]["audio_length"], 0);
    let streamed: Vec<u8> = chunks
        .iter()
        .flat_map(|e| hex::decode(e["data"]["audio"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(measure(AudioFormat::Mp3, &streamed, 0).ms(), 2_345);
}

#[tokio::test]
async fn delay_hang_redirect_oversized() {
    let sim = Sim::default().await;
    sim.fault(json!({"kind": "delay", "delay_ms": 300})).await;
    let t = Instant::now();
    assert_eq!(code(&sim.t2a(&request("x")).await), 0);
    assert!(t.elapsed() >= Duration::from_millis(300));

    sim.fault(json!({"kind": "hang"})).await;
    let hung = sim
        .client
        .post(sim.url("/v1/t2a_v2"))
        .bearer_auth("k")
        .json(&request("x"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());

    sim.fault(json!({"kind": "redirect", "location": "http://127.0.0.1:1/elsewhere"}))
        .await;
    let r = sim.post("/v1/t2a_v2", &request("x")).await;
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "http://127.0.0.1:1/elsewhere");
    sim.fault(json!({"kind": "redirect", "location": "/x", "status": 302}))
        .await;
    assert_eq!(sim.post("/v1/t2a_v2", &request("x")).await.status(), 302);

    sim.fault(json!({"kind": "oversized", "bytes": 3_000_000}))
        .await;
    let r = sim.post("/v1/t2a_v2", &request("x")).await;
    let body = r.bytes().await.unwrap();
    assert!(
        (2_900_000..3_100_000).contains(&body.len()),
        "{}",
        body.len()
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code(&v), 0);
}

#[tokio::test]
async fn stream_faults() {
    let sim = Sim::default().await;
    // Stream-only faults are not consumed by non-streaming requests.
    sim.fault(json!({"kind": "stream_error", "code": 1027}))
        .await;
    assert_eq!(code(&sim.t2a(&request("x")).await), 0);
    let r = sim.post("/v1/t2a_v2", &streaming("x")).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = sse_events(&r.text().await.unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(code(&events[0]), 1027);
    assert_eq!(events[0]["base_resp"]["status_msg"], "output new_sensitive");
    assert!(events[0]["data"].is_null());

    // 40 chars -> 2400 ms -> 10 chunks; cut after 3.
    sim.fault(json!({"kind": "stream_cut", "after_chunks": 3}))
        .await;
    let mut r = sim.post("/v1/t2a_v2", &streaming(&"c".repeat(40))).await;
    let mut got = Vec::new();
    let err = loop {
        match r.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => panic!("stream ended cleanly"),
            Err(e) => break e,
        }
    };
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err:?}"
    );
    let events = sse_events(&String::from_utf8(got).unwrap());
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["data"]["status"] == 1));

    sim.fault(json!({"kind": "slow_stream", "delay_ms": 60}))
        .await;
    let t = Instant::now();
    let text = sim
        .post("/v1/t2a_v2", &streaming(&"s".repeat(40)))
        .await
        .text()
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(9 * 60));
    assert_eq!(sse_events(&text).len(), 11);

    sim.fault(json!({"kind": "bad_hex"})).await;
    let text = sim
        .post("/v1/t2a_v2", &streaming("bad"))
        .await
        .text()
        .await
        .unwrap();
    let first = &sse_events(&text)[0];
    assert!(hex::decode(first["data"]["audio"].as_str().unwrap()).is_err());
}
