//! Streaming `/v1/t2a_v2`: SSE framing, chunk concatenation, the final event
//! and incremental delivery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{code, request, sse_events, Sim};
use minimax_sim::SimConfig;
use serde_json::json;

#[tokio::test]
async fn chunks_concatenate_to_the_non_streaming_bytes() {
    let sim = Sim::default().await;
    for format in ["mp3", "pcm", "flac"] {
        let mut body = request("Streaming should equal the plain response, byte for byte.");
        body["audio_setting"] = json!({"format": format, "sample_rate": 24000});
        let plain = sim.t2a(&body).await;
        body["stream"] = json!(true);
        let resp = sim.post("/v1/t2a_v2", &body).await;
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let trace = resp.headers()["trace-id"].to_str().unwrap().to_owned();
        let text = resp.text().await.unwrap();
        assert!(!text.contains("[DONE]"));
        let events = sse_events(&text);
        let (last, chunks) = events.split_last().unwrap();
        // 57 chars * 60 ms = 3420 ms in 250 ms chunks -> about 14 events.
        assert!(
            (13..=14).contains(&chunks.len()),
            "{format}: {}",
            chunks.len()
        );
        let mut joined = Vec::new();
        for c in chunks {
            assert_eq!(c["data"]["status"], 1);
            assert_eq!(c["base_resp"], json!({"status_code": 0, "status_msg": ""}));
            assert!(c.get("extra_info").is_none());
            assert_eq!(c["trace_id"], trace);
            joined.extend(hex::decode(c["data"]["audio"].as_str().unwrap()).unwrap());
        }
        let plain_bytes = hex::decode(plain["data"]["audio"].as_str().unwrap()).unwrap();
        assert_eq!(joined, plain_bytes, "{format}");
        assert_eq!(last["data"]["status"], 2);
        assert_eq!(last["data"]["audio"], plain["data"]["audio"]);
        assert_eq!(last["extra_info"], plain["extra_info"]);
        assert_eq!(code(last), 0);
        assert_eq!(last["base_resp"]["status_msg"], "success");
    }
}

#[tokio::test]
async fn exclude_aggregated_audio_drops_the_final_audio_key() {
    let sim = Sim::default().await;
    let mut body = request("no aggregate please");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"exclude_aggregated_audio": true});
    let text = sim.post("/v1/t2a_v2", &body).await.text().await.unwrap();
    let events = sse_events(&text);
    let last = events.last().unwrap();
    assert_eq!(last["data"], json!({"status": 2}));
    assert!(last["extra_info"]["audio_length"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn chunks_arrive_incrementally() {
    let sim = Sim::start(SimConfig {
        stream_chunk_delay_ms: 100,
        stream_chunk_ms: 500,
        ..SimConfig::default()
    })
    .await;
    let mut body = request("abcdefghijklmnopqrstuvwxyz"); // 1560 ms -> 4 chunks
    body["stream"] = json!(true);
    let start = Instant::now();
    let mut resp = sim.post("/v1/t2a_v2", &body).await;
    let first = resp.chunk().await.unwrap().unwrap();
    let first_at = start.elapsed();
    assert!(first.starts_with(b"data: "));
    while resp.chunk().await.unwrap().is_some() {}
    let total = start.elapsed();
    assert!(total >= Duration::from_millis(300), "{total:?}");
    assert!(
        first_at < total - Duration::from_millis(200),
        "{first_at:?} vs {total:?}"
    );
}
