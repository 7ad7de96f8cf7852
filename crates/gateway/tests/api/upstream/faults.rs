//! Every upstream fault: the right status, a clean body, nothing charged.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// 3. Every upstream fault: right status, clean body, nothing charged
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_http_5xx_answers_502_and_charges_nothing() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    for status in [500, 503] {
        assert_clean_failure(
            &app,
            json!({"kind": "http_status", "status": status}),
            Failure {
                path: "/v1/tts",
                status: UPSTREAM_FAILED,
                attempts: 1,
                forbidden: &["simulated upstream failure"],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_minimax_business_errors_are_retried_then_fail_cleanly() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let cases = [
        (1000, "unknown error"),
        (1001, "request timeout"),
        (1002, "rate limit"),
        (1024, "internal error"),
        (1033, "system error"),
        (1039, "token limit"),
    ];
    for (code, msg) in cases {
        // Every attempt fails: the first call and both retries.
        assert_clean_failure(
            &app,
            json!({"kind": "business_error", "code": code, "times": 3}),
            Failure {
                path: "/v1/tts",
                status: &[(502, "upstream_error"), (503, "engine_unavailable")],
                attempts: 3,
                forbidden: &[msg, &code.to_string()],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_account_errors_answer_503_with_a_generic_detail_and_are_not_retried() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let cases = [
        (1004, "not authorized"),
        (2049, "invalid api key"),
        (1008, "insufficient balance"),
    ];
    for (code, msg) in cases {
        let body = assert_clean_failure(
            &app,
            json!({"kind": "business_error", "code": code}),
            Failure {
                path: "/v1/tts",
                status: ENGINE_UNAVAILABLE,
                attempts: 1,
                forbidden: &[msg, &code.to_string(), "balance", "api key", "authoriz"],
            },
        )
        .await;
        let detail = body["detail"].as_str().unwrap();
        assert!(!detail.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_input_rejections_answer_422_and_charge_nothing() {
    let app = app_with(&[
        ("MINIMAX_MAX_RETRIES", "2"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let cases = [
        (2013, "invalid params"),
        (1042, "invisible character ratio limit"),
    ];
    for (code, msg) in cases {
        assert_clean_failure(
            &app,
            json!({"kind": "business_error", "code": code}),
            Failure {
                path: "/v1/tts",
                status: &[(422, "validation_error")],
                attempts: 1,
                forbidden: &[msg, &code.to_string()],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_unknown_voice_answers_502_and_charges_nothing() {
    let app = app_with(&[("MINIMAX_BREAKER_FAILURES", "1000")]).await;
    assert_clean_failure(
        &app,
        json!({"kind": "business_error", "code": 2054}),
        Failure {
            path: "/v1/tts",
            status: UPSTREAM_FAILED,
            attempts: 1,
            forbidden: &["voice id not exist", "2054", "male-qn-qingse"],
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_minimax_answers_malformed_json_bad_hex_or_oversized_answer_502() {
    let app = app_with(&[
        ("MINIMAX_MAX_RESPONSE_BYTES", "100000"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    for fault in [
        json!({"kind": "malformed_json"}),
        json!({"kind": "bad_hex"}),
        json!({"kind": "oversized", "bytes": 400_000}),
    ] {
        assert_clean_failure(
            &app,
            fault,
            Failure {
                path: "/v1/tts",
                status: UPSTREAM_FAILED,
                attempts: 1,
                forbidden: &["invalid json", "hex", "larger than", "100000"],
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_redirects_are_never_followed() {
    let app = app_with(&[("MINIMAX_BREAKER_FAILURES", "1000")]).await;
    let elsewhere = spawn_sim(SimConfig::default()).await;
    let target = format!("{}/v1/t2a_v2", elsewhere.base_url());
    for status in [302, 307, 308] {
        assert_clean_failure(
            &app,
            json!({"kind": "redirect", "location": target, "status": status}),
            Failure {
                path: "/v1/tts",
                status: UPSTREAM_FAILED,
                attempts: 1,
                forbidden: &[&target, &elsewhere.addr().to_string(), "redirect"],
            },
        )
        .await;
    }
    let seen: Value = app
        .client
        .get(format!("{}/_sim/requests", elsewhere.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen,
        json!([]),
        "the redirect target received requests (and our key)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_minimax_answers_504_within_the_configured_timeout() {
    let app = app_with(&[
        ("MINIMAX_TIMEOUT_MS", "500"),
        ("MINIMAX_MAX_RETRIES", "0"),
        ("MINIMAX_BREAKER_FAILURES", "1000"),
    ])
    .await;
    let started = Instant::now();
    assert_clean_failure(
        &app,
        json!({"kind": "hang"}),
        Failure {
            path: "/v1/tts",
            status: &[(504, "upstream_timeout")],
            attempts: 1,
            forbidden: &[],
        },
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "took {elapsed:?} with a 500 ms timeout"
    );
}
