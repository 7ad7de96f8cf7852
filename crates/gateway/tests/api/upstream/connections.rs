//! The gateway's connections to MiniMax: kept open and reused between calls, and replaced
//! without failing a request when MiniMax closed one while it sat idle.

use super::*;
use crate::relay::Relay;

/// A gateway whose MiniMax calls go through a relay to a simulator of their own.
async fn app_behind_relay() -> (TestApp, Relay, minimax_sim::SimHandle) {
    let sim = spawn_sim(SimConfig {
        api_key: Some(SIM_KEY.to_string()),
        ..SimConfig::default()
    })
    .await;
    let relay = Relay::to(sim.base_url().trim_start_matches("http://").to_owned()).await;
    let url = format!("http://{}", relay.address());
    let app = app_with(&[("MINIMAX_BASE_URL", url.as_str())]).await;
    (app, relay, sim)
}

#[tokio::test]
async fn sequential_syntheses_and_streams_reuse_one_upstream_connection() {
    let (app, relay, _sim) = app_behind_relay().await;
    let (_, key) = app.create_user("enterprise").await;
    for i in 0..5 {
        let r = app
            .post("/v1/tts", &key, &speak(&format!("Call number {i}.")))
            .await;
        assert_eq!(r.status(), 200, "call {i}");
    }
    assert_eq!(
        relay.accepted(),
        1,
        "five calls in a row share one connection"
    );
    for i in 0..3 {
        let r = app
            .post("/v2/tts", &key, &speak(&format!("Stream number {i}.")))
            .await;
        assert_eq!(r.status(), 200, "stream {i}");
        let (audio, aborted) = read_all(r).await;
        assert!(!aborted && !audio.is_empty(), "stream {i} ends cleanly");
        // The connection goes back once the gateway has read the end of MiniMax's response,
        // which may come a moment after our client has its last byte.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        relay.accepted(),
        1,
        "streams read to their end reuse it too"
    );
}

#[tokio::test]
async fn a_connection_minimax_closed_while_idle_is_replaced_without_failing_a_request() {
    let (app, relay, _sim) = app_behind_relay().await;
    let (_, key) = app.create_user("enterprise").await;
    let r = app.post("/v1/tts", &key, &speak("Before the close.")).await;
    assert_eq!(r.status(), 200);
    // Closed as a server closes a connection idle too long: some time before the next call.
    relay.close_connections().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let r = app.post("/v1/tts", &key, &speak("After the close.")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app
        .post("/v2/tts", &key, &speak("A stream after it."))
        .await;
    assert_eq!(r.status(), 200);
    let (audio, aborted) = read_all(r).await;
    assert!(!aborted && !audio.is_empty(), "the stream ends cleanly");
    assert!(
        relay.accepted() >= 2,
        "a new connection replaced the closed one"
    );

    let me: Value = app.get("/v1/me", &key).await.json().await.unwrap();
    assert_eq!(num(&me, "reserved_seconds"), 0.0);
    assert!(num(&me, "used_seconds") > 0.0);
}
