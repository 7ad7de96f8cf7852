//! HTTP/1 connections to MiniMax, each driven by the task that uses it.
//!
//! A pooled client (reqwest, over hyper-util) runs every connection in a task of its own, so
//! one call crosses tasks, and often threads, on the way out and again on the way back. Here
//! the caller polls the connection itself while it sends the request and reads the answer,
//! then puts the connection back on a stack of idle ones (newest on top, so the warm ones are
//! reused and the cold ones age out). TLS (rustls, with the webpki roots) for `https`, plain
//! TCP for a loopback `http` simulator.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::ServiceExt;
use url::Url;

use super::Chunks;
use crate::engine::EngineError;

type Io = MaybeHttpsStream<TokioIo<TcpStream>>;
type Driver = http1::Connection<Io, Full<Bytes>>;

/// Idle connections kept, at most.
const MAX_IDLE: usize = 256;

/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where requests go and the connections that take them there.
pub(super) struct Upstream {
    connector: HttpsConnector<HttpConnector>,
    /// Scheme and authority, for connecting.
    origin: Uri,
    /// Path and query of the T2A endpoint.
    path: Uri,
    host: HeaderValue,
    auth: HeaderValue,
    idle: Mutex<VecDeque<(Connection, Instant)>>,
}

/// One HTTP/1 connection: the handle that sends on it and the state machine that moves its
/// bytes, polled by whoever holds the connection.
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Driver,
    /// The driver finished: the connection is closed.
    closed: bool,
}

impl Upstream {
    /// `url` is the T2A endpoint (validated by the settings: https, or http to loopback).
    pub(super) fn new(
        url: &Url,
        auth: HeaderValue,
        connect_timeout: Duration,
    ) -> anyhow::Result<Upstream> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let uri: Uri = url.as_str().parse()?;
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow::anyhow!("MINIMAX_BASE_URL has no host"))?
            .clone();
        let origin = Uri::builder()
            .scheme(uri.scheme_str().unwrap_or("https"))
            .authority(authority.clone())
            .path_and_query("/")
            .build()?;
        let path = Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()).to_owned())
            .build()?;
        Ok(Upstream {
            connector,
            origin,
            path,
            host: HeaderValue::from_str(authority.as_str())?,
            auth,
            idle: Mutex::new(VecDeque::new()),
        })
    }

    /// POSTs a JSON body and returns the answer, whose body is read on its connection. A
    /// connection found closed as the request goes out is replaced once.
    pub(super) async fn post_json(&self, body: Bytes) -> Result<Answer, EngineError> {
        let mut idle = self.take_idle().await;
        loop {
            let (mut conn, reused) = match idle.take() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            match conn.send(self.request(body.clone())).await {
                Ok(response) => return Ok(Answer::new(conn, response)),
                // Never sent: the server closed the idle connection first. Safe to resend,
                // once, on a new connection.
                Err(SendError::Unsent) if reused => continue,
                Err(SendError::Unsent) => return Err(connection_closed()),
                Err(SendError::Failed(e)) => return Err(transport(&e)),
            }
        }
    }

    fn request(&self, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.path.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("odeadev-tts/", env!("CARGO_PKG_VERSION"))),
        );
        request
    }

    /// The newest idle connection that is still open, if any.
    async fn take_idle(&self) -> Option<Connection> {
        loop {
            let (mut conn, since) = self.idle_stack().pop_back()?;
            if since.elapsed() >= IDLE_TIMEOUT {
                // The rest are older still.
                self.idle_stack().clear();
                return None;
            }
            // One poll reads whatever the server sent while the connection sat idle: a close
            // ends the driver, and the connection is dropped here instead of failing a request.
            if conn.poll_once().await {
                return Some(conn);
            }
        }
    }

    /// Puts an answer's connection back on the idle stack if the answer was read to its end;
    /// closes it otherwise.
    pub(super) fn give_back(&self, answer: Answer) {
        let conn = answer.conn;
        if !answer.ended || conn.closed || conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle_stack();
        idle.push_back((conn, Instant::now()));
        if idle.len() > MAX_IDLE {
            idle.pop_front();
        }
    }

    fn idle_stack(&self) -> std::sync::MutexGuard<'_, VecDeque<(Connection, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Connection, EngineError> {
        let io = self
            .connector
            .clone()
            .oneshot(self.origin.clone())
            .await
            .map_err(|e| EngineError::Unavailable(format!("transport: connect: {e}")))?;
        let (sender, driver) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| transport(&e))?;
        Ok(Connection {
            sender,
            driver,
            closed: false,
        })
    }
}

impl Connection {
    /// Sends a request and waits for the response head.
    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, SendError> {
        let Connection {
            sender,
            driver,
            closed,
        } = self;
        let sent = driving(driver, closed, async {
            sender.ready().await?;
            sender.send_request(request).await
        });
        match sent.await {
            Some(Ok(response)) => Ok(response),
            Some(Err(e)) if e.is_canceled() || e.is_closed() => Err(SendError::Unsent),
            Some(Err(e)) => Err(SendError::Failed(e)),
            None => Err(SendError::Unsent),
        }
    }

    /// The next frame of a response body received on this connection; `None` at its end.
    async fn frame(&mut self, body: &mut Incoming) -> Result<Option<Frame<Bytes>>, EngineError> {
        let Connection { driver, closed, .. } = self;
        match driving(driver, closed, body.frame()).await {
            Some(Some(Ok(frame))) => Ok(Some(frame)),
            Some(Some(Err(e))) => Err(transport(&e)),
            Some(None) => Ok(None),
            None => Err(connection_closed()),
        }
    }

    /// Polls the driver once; false when the connection turned out closed.
    async fn poll_once(&mut self) -> bool {
        let driver = &mut self.driver;
        let closed = poll_fn(|cx| Poll::Ready(Pin::new(&mut *driver).poll(cx).is_ready())).await;
        !closed && !self.sender.is_closed()
    }
}

/// A response head, with its body still to be read on its connection.
pub(super) struct Answer {
    conn: Connection,
    status: StatusCode,
    headers: HeaderMap,
    body: Incoming,
    /// The body was read to its end.
    ended: bool,
}

impl Answer {
    fn new(conn: Connection, response: Response<Incoming>) -> Answer {
        let (head, body) = response.into_parts();
        Answer {
            conn,
            status: head.status,
            headers: head.headers,
            ended: body.is_end_stream(),
            body,
        }
    }

    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    pub(super) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Reads the end of a body whose content was all read, waiting at most `wait`: only an
    /// answer read to its end leaves its connection fit for reuse.
    pub(super) async fn await_end(&mut self, wait: Duration) {
        let _ = tokio::time::timeout(wait, self.chunk()).await;
    }
}

impl Chunks for Answer {
    fn declared_len(&self) -> Option<u64> {
        self.body.size_hint().exact()
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, EngineError> {
        while !self.ended {
            match self.conn.frame(&mut self.body).await? {
                None => self.ended = true,
                // Trailers carry no audio.
                Some(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Runs `work` while polling the connection's driver, so that its bytes move in this task.
/// `None` when the connection closed with `work` still waiting: nothing would finish it then
/// (a finished driver has handed every response and error it had to whoever waited for it).
async fn driving<T>(
    driver: &mut Driver,
    closed: &mut bool,
    work: impl Future<Output = T>,
) -> Option<T> {
    let mut work = pin!(work);
    poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if !*closed {
            if Pin::new(&mut *driver).poll(cx).is_pending() {
                return Poll::Pending;
            }
            *closed = true;
            // Its last act may have been to hand `work` what it waits for.
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
        }
        Poll::Ready(None)
    })
    .await
}

/// Why a request got no response head on a connection.
enum SendError {
    /// It never left: the connection was closed before it could be sent.
    Unsent,
    Failed(hyper::Error),
}

fn connection_closed() -> EngineError {
    EngineError::Unavailable("transport: connection closed".into())
}

pub(super) fn transport(e: &hyper::Error) -> EngineError {
    EngineError::Unavailable(format!("transport: {e}"))
}
