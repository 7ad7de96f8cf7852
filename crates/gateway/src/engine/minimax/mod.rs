//! MiniMax T2A v2 engine: the production upstream.
//!
//! Security and resilience rules: the base URL comes from validated operator config; query
//! parameters go through a URL builder; redirects are never followed; bodies are bounded;
//! hex is decoded strictly; the upstream key never reaches a log or a client. Retryable
//! failures are retried with jittered backoff within a budget; a circuit breaker stops
//! hammering a failing upstream.

mod clone;
mod protocol;
mod sse;
mod stream;
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rand::Rng;
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret;

use self::protocol::{decode_hex, error_for_code, T2aRequest, T2aResponse};
use self::upstream::Upstream;
use super::breaker::CircuitBreaker;
use super::{AudioStream, Engine, EngineError, Provider, Synthesis, SynthesisRequest};
use crate::config::MinimaxSettings;

/// The MiniMax engine.
pub struct MinimaxEngine {
    /// Speech (`/v1/t2a_v2`), on connections driven by the calling task.
    t2a: Arc<Upstream>,
    /// Voice cloning's uploads: rare, multipart, off the hot path.
    http: reqwest::Client,
    auth: HeaderValue,
    settings: MinimaxSettings,
    breaker: CircuitBreaker,
}

impl MinimaxEngine {
    /// Builds the engine; fails only if the HTTP client cannot be built.
    pub fn new(settings: MinimaxSettings) -> anyhow::Result<MinimaxEngine> {
        // Like the speech connections: direct, whatever HTTP(S)_PROXY says.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .user_agent(concat!("odeadev-tts/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut t2a_url = settings.base_url.clone();
        t2a_url
            .path_segments_mut()
            .map_err(|_| anyhow::anyhow!("MINIMAX_BASE_URL cannot be a base"))?
            .pop_if_empty()
            .extend(["v1", "t2a_v2"]);
        if let Some(group) = &settings.group_id {
            t2a_url.query_pairs_mut().append_pair("GroupId", group);
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", settings.api_key.expose_secret()))
                .map_err(|_| {
                    anyhow::anyhow!("MINIMAX_API_KEY contains characters not allowed in a header")
                })?;
        auth.set_sensitive(true);
        Ok(MinimaxEngine {
            t2a: Arc::new(Upstream::new(
                &t2a_url,
                auth.clone(),
                settings.connect_timeout,
            )?),
            http,
            auth,
            breaker: CircuitBreaker::new(settings.breaker_failures, settings.breaker_cooldown),
            settings,
        })
    }

    /// Runs `attempt` with retries for retryable failures, inside the breaker.
    async fn with_retries<T, F, Fut>(
        &self,
        request_id: &str,
        mut attempt: F,
    ) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, EngineError>>,
    {
        let started = Instant::now();
        let budget = self.settings.timeout * (self.settings.max_retries + 1);
        let mut tries = 0;
        loop {
            let Some(permit) = self.breaker.permit() else {
                return Err(EngineError::CircuitOpen);
            };
            tries += 1;
            let result = attempt().await;
            match &result {
                Ok(_) => permit.success(),
                Err(EngineError::InvalidInput(_) | EngineError::UnknownVoice(_)) => {
                    permit.neutral()
                }
                Err(_) => permit.failure(),
            }
            match result {
                Err(e) if e.is_retryable() && tries <= self.settings.max_retries => {
                    let backoff = backoff(tries);
                    if started.elapsed() + backoff >= budget {
                        return Err(e);
                    }
                    tracing::warn!(request_id, attempt = tries, error = %e, "minimax attempt failed; retrying");
                    tokio::time::sleep(backoff).await;
                }
                other => return other,
            }
        }
    }

    async fn synthesize_once(&self, request: &SynthesisRequest) -> Result<Synthesis, EngineError> {
        let body = T2aRequest::new(request, false).encode()?;
        let call = async {
            let mut answer = self.t2a.post_json(body).await?;
            check_status(answer.status())?;
            let bytes = read_bounded(&mut answer, self.settings.max_response_bytes).await?;
            self.t2a.give_back(answer);
            parse_synthesis(&bytes, request)
        };
        tokio::time::timeout(self.settings.timeout, call)
            .await
            .map_err(|_| EngineError::Timeout)?
    }
}

/// Full-jitter exponential backoff: random in [0, min(2 s, 100 ms · 2^attempt)].
fn backoff(attempt: u32) -> Duration {
    let cap = 100u64.saturating_mul(1 << attempt.min(5)).min(2_000);
    Duration::from_millis(rand::thread_rng().gen_range(cap / 4..=cap))
}

fn transport_error(e: reqwest::Error) -> EngineError {
    if e.is_timeout() {
        EngineError::Timeout
    } else {
        // Strip the URL: it may carry the group id, and the message goes to logs only anyway.
        EngineError::Unavailable(format!("transport: {}", e.without_url()))
    }
}

fn check_status(status: reqwest::StatusCode) -> Result<(), EngineError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("http status {}", status.as_u16());
    Err(if status.is_redirection() {
        EngineError::BadResponse(format!("{message}: redirects are not followed"))
    } else if status.is_server_error() || status.as_u16() == 429 {
        EngineError::Unavailable(message)
    } else if status.as_u16() == 401 || status.as_u16() == 403 {
        EngineError::Account(message)
    } else {
        EngineError::BadResponse(message)
    })
}

/// A response body, read chunk by chunk.
trait Chunks {
    /// The length the response declared, if it did.
    fn declared_len(&self) -> Option<u64>;
    /// The next chunk; `None` at the end.
    async fn chunk(&mut self) -> Result<Option<Bytes>, EngineError>;
}

impl Chunks for reqwest::Response {
    fn declared_len(&self) -> Option<u64> {
        self.content_length()
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, EngineError> {
        reqwest::Response::chunk(self)
            .await
            .map_err(transport_error)
    }
}

/// The whole body, refused once it exceeds `max` bytes.
async fn read_bounded(body: &mut impl Chunks, max: usize) -> Result<Bytes, EngineError> {
    let too_large = || EngineError::BadResponse(format!("response larger than {max} bytes"));
    let declared = body.declared_len();
    if declared.is_some_and(|len| len as usize > max) {
        return Err(too_large());
    }
    let Some(first) = body.chunk().await? else {
        return Ok(Bytes::new());
    };
    if first.len() > max {
        return Err(too_large());
    }
    let Some(second) = body.chunk().await? else {
        // The whole body arrived as one chunk: no copy.
        return Ok(first);
    };
    // Sized once from the declared length, so a large body is not copied again as it grows.
    let capacity = declared.map_or(0, |len| len as usize);
    let mut all = Vec::with_capacity(capacity.max(first.len() + second.len()));
    let mut next = Some(second);
    all.extend_from_slice(&first);
    while let Some(chunk) = next {
        if all.len() + chunk.len() > max {
            return Err(too_large());
        }
        all.extend_from_slice(&chunk);
        next = body.chunk().await?;
    }
    Ok(Bytes::from(all))
}

fn parse_synthesis(bytes: &[u8], request: &SynthesisRequest) -> Result<Synthesis, EngineError> {
    let parsed: T2aResponse = T2aResponse::parse(bytes)
        .map_err(|e| EngineError::BadResponse(format!("invalid JSON: {e}")))?;
    if parsed.base_resp.status_code != 0 {
        return Err(error_for_code(
            parsed.base_resp.status_code,
            parsed.base_resp.status_msg.as_deref().unwrap_or(""),
            parsed.trace_id.as_deref(),
        ));
    }
    let audio_hex = parsed
        .data
        .and_then(|d| d.audio)
        .ok_or_else(|| EngineError::BadResponse("success without data.audio".into()))?;
    let audio = decode_hex(&audio_hex)?;
    let audio_ms = parsed
        .extra_info
        .map(|e| e.audio_length)
        .filter(|ms| *ms >= 0)
        .ok_or_else(|| {
            EngineError::BadResponse("success without extra_info.audio_length".into())
        })?;
    Ok(Synthesis {
        audio: Bytes::from(audio),
        audio_ms: audio_ms as u64,
        sample_rate: request.sample_rate,
        format: request.format,
    })
}

#[async_trait]
impl Engine for MinimaxEngine {
    fn provider(&self) -> Provider {
        Provider::Minimax
    }

    fn unavailable_reason(&self) -> Option<&'static str> {
        None
    }

    async fn synthesize(&self, request: &SynthesisRequest) -> Result<Synthesis, EngineError> {
        self.with_retries(&request.request_id, || self.synthesize_once(request))
            .await
    }

    async fn synthesize_stream(
        &self,
        request: &SynthesisRequest,
    ) -> Result<AudioStream, EngineError> {
        self.with_retries(&request.request_id, || stream::open(self, request))
            .await
    }

    fn breaker_state(&self) -> &'static str {
        self.breaker.state_name()
    }
}
