//! The gateway's connections to MiniMax: kept open and reused between calls, and replaced
//! without failing a request when MiniMax closed one while it sat idle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::*;

/// A TCP relay between the gateway and the simulator that counts the connections the gateway
/// opens, and can close them all, as a server does with connections idle too long.
struct Relay {
    url: String,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn to(sim_url: &str) -> Relay {
        let target = sim_url.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (count, tasks) = (accepted.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(relay.abort_handle());
            }
        });
        Relay {
            url,
            accepted,
            open,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection relayed so far, on both sides.
    async fn close_all(&self) {
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
        // Let the close reach the gateway's side of the socket.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A gateway whose MiniMax calls go through a relay to a simulator of their own.
async fn app_behind_relay() -> (TestApp, Relay, minimax_sim::SimHandle) {
    let sim = spawn_sim(SimConfig {
        api_key: Some(SIM_KEY.to_string()),
        ..SimConfig::default()
    })
    .await;
    let relay = Relay::to(&sim.base_url()).await;
    let app = app_with(&[("MINIMAX_BASE_URL", relay.url.as_str())]).await;
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
    relay.close_all().await;

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
