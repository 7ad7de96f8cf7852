//! 404 handling, Trace-Id header, request log, stats, and the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{request, Sim};
use serde_json::{json, Value};

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_plain_404() {
    let sim = Sim::default().await;
    for (method, path) in [
        ("GET", "/v1/get_voice"),
        ("GET", "/v1/t2a_v2"),
        ("POST", "/v1/nope"),
        ("GET", "/"),
    ] {
        let r = sim
            .client
            .request(method.parse().unwrap(), sim.url(path))
            .bearer_auth("k")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
        assert!(r.headers().contains_key("trace-id"));
        assert_eq!(r.text().await.unwrap(), "404 page not found");
    }
}

#[tokio::test]
async fn trace_id_header_matches_body() {
    let sim = Sim::default().await;
    let r = sim.post("/v1/t2a_v2", &request("trace me")).await;
    let header = r.headers()["trace-id"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["trace_id"], header);
    assert_eq!(header.len(), 32);
    assert!(header
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}

#[tokio::test]
async fn requests_are_recorded_and_counted() {
    let sim = Sim::default().await;
    sim.post("/v1/t2a_v2?GroupId=7", &request("logged")).await;
    sim.post("/v1/get_voice", &json!({"voice_type": "system"}))
        .await;
    let log: Value = sim
        .client
        .get(sim.url("/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/v1/t2a_v2");
    assert_eq!(log[0]["query"], "GroupId=7");
    assert_eq!(log[0]["headers"]["authorization"], "Bearer test-key");
    assert_eq!(log[0]["headers"]["content-type"], "application/json");
    assert_eq!(log[0]["body"]["text"], "logged");
    assert!(log[1]["query"].is_null());
    let stats: Value = sim
        .client
        .get(sim.url("/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, json!({"t2a_requests": 1}));
    sim.client
        .delete(sim.url("/_sim/requests"))
        .send()
        .await
        .unwrap();
    let log: Value = sim
        .client
        .get(sim.url("/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log, json!([]));
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let sim = Sim::default().await;
    let url = sim.url("/_sim/stats");
    assert!(sim.client.get(&url).send().await.is_ok());
    let client = reqwest::Client::new();
    sim.handle.shutdown().await;
    assert!(client.get(&url).send().await.is_err());
}

#[test]
fn binary_prints_its_address_and_exits_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minimax-sim"))
        .args(["--bind", "127.0.0.1:0", "--api-key", "k"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("minimax-sim listening on http://127.0.0.1:")
        .unwrap();
    assert!(addr.parse::<u16>().unwrap() > 0, "{line}");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(child.wait().unwrap().success());
}
