//! Prometheus metrics: names, recording helpers and the text exposition.
//!
//! Labels are bounded: route templates, methods, status codes, plans, engines, outcomes and
//! limit names — never a user, key or voice id.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds: sub-millisecond gateway work up to slow upstream calls.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Name of the billed-audio histogram (seconds per request).
const BILLED: &str = "odeadev_billed_audio_seconds";
/// Buckets for audio lengths in seconds.
const AUDIO_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Installs the global recorder once per process (later calls reuse it).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(BILLED.into()), AUDIO_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The current metrics in Prometheus text format.
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// One HTTP request finished.
pub fn http_request(route: &str, method: &str, status: u16, seconds: f64) {
    let labels = [
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("odeadev_http_requests_total", &labels).increment(1);
    metrics::histogram!("odeadev_http_request_duration_seconds", "route" => route.to_string())
        .record(seconds);
}

/// One engine call finished (`outcome` is `success` or an engine error kind).
pub fn engine_call(engine: &'static str, outcome: &'static str, seconds: f64) {
    metrics::counter!("odeadev_engine_requests_total", "engine" => engine, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("odeadev_engine_request_duration_seconds", "engine" => engine)
        .record(seconds);
}

/// Audio billed for one request; the histogram's `_sum` is the total seconds billed.
pub fn audio_billed(plan: &'static str, engine: &'static str, ms: i64) {
    metrics::histogram!(BILLED, "plan" => plan, "engine" => engine).record(ms as f64 / 1000.0);
}

/// An engine's reported audio length disagreed with the audio it sent, beyond the tolerance.
pub fn engine_length_disagreement(engine: &'static str) {
    metrics::counter!("odeadev_engine_length_disagreements_total", "engine" => engine).increment(1);
}

/// A request refused because the quota could not cover it.
pub fn quota_refused(plan: &'static str) {
    metrics::counter!("odeadev_quota_refusals_total", "plan" => plan).increment(1);
}

/// A request refused by a limit (`rpm`, `concurrency`, `general`, `auth_failures`).
pub fn limit_refused(limit: &'static str) {
    metrics::counter!("odeadev_rate_limit_refusals_total", "limit" => limit).increment(1);
}

/// The limits backend failed (Redis down or slow); the request went by the fail policy.
pub fn limiter_backend_error(backend: &'static str) {
    metrics::counter!("odeadev_limiter_backend_errors_total", "backend" => backend).increment(1);
}

/// Expired reservations released by the reaper.
pub fn reservations_reaped(count: u64) {
    metrics::counter!("odeadev_reservations_reaped_total").increment(count);
}

/// Breaker state of an engine: 0 closed, 1 half-open, 2 open.
pub fn breaker_state(engine: &'static str, state: &'static str) {
    let value = match state {
        "open" => 2.0,
        "half_open" => 1.0,
        _ => 0.0,
    };
    metrics::gauge!("odeadev_circuit_breaker_state", "engine" => engine).set(value);
}

/// Database pool connections by state (`in_use`, `idle`) and pool (PostgreSQL: `main`,
/// `metering`; SQLite: `read`, `write`).
pub fn db_pool(pool: &'static str, in_use: u32, idle: u32) {
    metrics::gauge!("odeadev_db_pool_connections", "pool" => pool, "state" => "in_use")
        .set(f64::from(in_use));
    metrics::gauge!("odeadev_db_pool_connections", "pool" => pool, "state" => "idle")
        .set(f64::from(idle));
}

/// Whether a piece of background work (`sqlite_writer`, `sqlite_checkpointer`, `reaper`,
/// `cycle_sweep`) is running on time: 1, or 0 while it is stalled, dead or stopped.
pub fn background_up(task: &'static str, up: bool) {
    metrics::gauge!("odeadev_background_up", "task" => task).set(if up { 1.0 } else { 0.0 });
}

/// A piece of background work stopped running on time (`stalled`, `dead`, `stopped`).
pub fn background_failure(task: &'static str, status: &'static str) {
    metrics::counter!("odeadev_background_failures_total", "task" => task, "status" => status)
        .increment(1);
}

/// A connection refused at accept (`total` or `address` bound reached).
pub fn connection_refused(reason: &'static str) {
    metrics::counter!("odeadev_connections_refused_total", "reason" => reason).increment(1);
}

/// Client connections open now (sampled at each accept).
pub fn connections_open(open: usize) {
    metrics::gauge!("odeadev_connections_open").set(open as f64);
}

/// Settlements this node holds because the database did not take them yet.
pub fn settlements_owed(count: usize) {
    metrics::gauge!("odeadev_settlements_owed").set(count as f64);
}
