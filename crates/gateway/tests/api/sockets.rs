//! Connections that do not behave: clients that connect and never speak, speak one byte, or
//! idle after a response are closed within the header timeout; connections beyond the bounds
//! are refused at once with our error body.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Reads until the server closes the connection, for at most `limit`; returns what it sent.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    });
    assert!(
        read.await.is_ok(),
        "the server kept the connection open past {limit:?}"
    );
    received
}

async fn app_with(env: Vec<(&'static str, String)>) -> TestApp {
    spawn_app_with(Options {
        env,
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_speak_or_stall_are_closed_within_the_header_timeout() {
    let app = app_with(vec![("ODEADEV_HEADER_READ_TIMEOUT_SECS", "1".into())]).await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(app.address).await.unwrap());
    }
    let mut one_byte = TcpStream::connect(app.address).await.unwrap();
    one_byte.write_all(b"P").await.unwrap();
    let mut half_head = TcpStream::connect(app.address).await.unwrap();
    half_head
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for stream in silent.iter_mut().chain([&mut one_byte, &mut half_head]) {
        until_closed(stream, Duration::from_secs(5)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_within_the_header_timeout() {
    let app = app_with(vec![("ODEADEV_HEADER_READ_TIMEOUT_SECS", "1".into())]).await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let idle = Instant::now();
    until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        idle.elapsed() >= Duration::from_millis(500),
        "closed at once"
    );
}

/// The refusal is our error body with a request id, and the place comes back when a
/// connection closes.
async fn refused_then_admitted(app: &TestApp, bound: usize) {
    let mut held = Vec::new();
    for _ in 0..bound {
        let mut stream = TcpStream::connect(app.address).await.unwrap();
        // Each held connection is served once, so it is known to be admitted.
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut excess = TcpStream::connect(app.address).await.unwrap();
    let answer = until_closed(&mut excess, Duration::from_secs(5)).await;
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("x-request-id: "), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], "too_many_connections");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    drop(held.pop());
    let started = Instant::now();
    loop {
        let r = app.client.get(app.url("/health")).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a closed connection did not give its place back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_per_address_are_refused_at_once() {
    let app = app_with(vec![("ODEADEV_MAX_CONNECTIONS_PER_ADDRESS", "4".into())]).await;
    refused_then_admitted(&app, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_bound_in_all_are_refused_at_once() {
    let app = app_with(vec![("ODEADEV_MAX_CONNECTIONS", "4".into())]).await;
    refused_then_admitted(&app, 4).await;
}
