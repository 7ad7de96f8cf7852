//! Requests refused below the router (hyper's own refusals, declared lengths, slow bodies)
//! still get our JSON error body with a request id, and an answer sent before the body was
//! read says `Connection: close`.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Sends `request` on a new connection and reads the whole answer, until the server closes.
async fn exchange(app: &TestApp, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and error body of a raw answer, checking the request id and `Connection: close`.
fn error_of(answer: &str) -> (u16, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").expect(answer);
    let status: u16 = head[9..12].parse().unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: Value = serde_json::from_str(body).expect(body);
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].is_string() && body["code"].is_string(),
        "{body}"
    );
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_hyper_cannot_parse_get_our_error_body() {
    let app = spawn_app().await;
    let huge = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..2_000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    for (request, expected) in [
        ("GARBAGE\r\n\r\n".to_string(), 400),
        ("GET / HTTP/9.9\r\n\r\n".to_string(), 400),
        (huge, 431),
        (many, 431),
    ] {
        let (status, _) = error_of(&exchange(&app, request.as_bytes()).await);
        assert_eq!(status, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_the_limit_is_refused_before_the_body() {
    let app = spawn_app().await;
    let started = Instant::now();
    let request = b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
    let (status, body) = error_of(&exchange(&app, request).await);
    assert_eq!(status, 413);
    assert_eq!(body["code"], "payload_too_large");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_body_is_read_closes_the_connection_saying_so() {
    let app = spawn_app().await;
    let body = r#"{"name": "X", "email": "x@example.com"}"#;
    let request = format!(
        "POST /admin/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, error) = error_of(&exchange(&app, request.as_bytes()).await);
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // A client that follows `Connection: close` sends its next request on a new connection.
    let r = app
        .post("/admin/users", "odt_bad", &serde_json::json!({}))
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_past_the_total_deadline_is_cut_with_408() {
    let app = spawn_app_with(Options {
        env: vec![("ODEADEV_BODY_TOTAL_TIMEOUT_SECS", "2".into())],
        ..Options::default()
    })
    .await;
    let (_, key) = app.create_user("pro").await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST /v1/tts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte every 200 ms: every pause far below the 30 s pause limit.
    let trickle = async {
        for _ in 0..50 {
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), trickle)
        .await
        .ok();
    let (status, error) = error_of(&read_to_close(&mut stream).await);
    assert_eq!(
        (status, error["code"].as_str()),
        (408, Some("request_timeout"))
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_500) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(app.usage(&key).await.len(), 0, "nothing was billed");
}
