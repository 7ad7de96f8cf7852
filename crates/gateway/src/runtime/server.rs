//! The HTTP server loop: accepts connections within the connection bounds (see
//! `connections.rs`), with socket timeouts (first bytes, header read, idle keep-alive, body),
//! and shuts down gracefully — stop accepting, let requests and streams in flight finish
//! within the grace period, then settle whatever is left so no quota stays reserved.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::connections::{refuse, ConnectionLimits, FirstBytes};
use super::fold_wakes::FoldWakes;
use super::own_errors::OwnErrors;
use crate::config::ServerSettings;

/// Serves `app` on `listener` until `shutdown` resolves, then drains within the grace period.
/// Returns whether every connection finished within it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ServerSettings,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> bool {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(settings.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match limits.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refusal) => {
                crate::metrics::connection_refused(refusal.as_str());
                refuse(&stream, refusal);
                continue;
            }
        };
        crate::metrics::connections_open(limits.open());
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let io = FirstBytes::new(OwnErrors::new(stream), settings.header_read_timeout);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection.into_owned());
        // Requests run in their connection's task; see `fold_wakes` for why they stay on
        // their worker.
        tokio::spawn(FoldWakes::new(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        }));
    }
    drop(listener);
    tracing::info!(
        grace_secs = settings.shutdown_grace.as_secs(),
        "no longer accepting; draining"
    );
    tokio::time::timeout(settings.shutdown_grace, graceful.shutdown())
        .await
        .is_ok()
}
