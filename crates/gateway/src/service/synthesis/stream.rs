//! Streamed synthesis: admission and the engine's start run in the request's task (moved to a
//! task of their own if the client leaves), the rest of the stream in the pump's task, so a
//! client that leaves at any point still has its request settled and its concurrency slot
//! given back.

use std::time::Instant;

use futures::StreamExt;
use odeadev_audio::LengthCounter;
use tokio::sync::mpsc;

use super::measure::{checked_ms, stream_counter};
use super::{Frame, Job, StreamStart, SynthesisError, SynthesisService, TtsParams};
use crate::engine::{AudioStream, EngineError, StreamEvent};
use crate::error::ApiError;
use crate::limits::RateDecision;
use crate::service::auth::Principal;

impl SynthesisService {
    /// Starts a streamed synthesis. Returns once the first audio is ready (or the request has
    /// failed, so the client gets a proper status code); errors carry the rate-limit state.
    ///
    /// Everything up to the first audio runs in the caller's task (see `started`), so the
    /// first byte crosses no task boundary; the rest of the stream is pumped by a task of its
    /// own.
    pub async fn stream(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
    ) -> Result<StreamStart, SynthesisError> {
        self.started(
            principal,
            params,
            endpoint,
            request_id,
            |this, job, rate_limit| async move { this.open(job, rate_limit).await },
        )
        .await
    }

    /// Opens the engine's stream; once its first audio is in, queues it for the client and
    /// hands the rest of the stream to the pump's task.
    async fn open(
        &self,
        mut job: Job,
        rate_limit: Option<RateDecision>,
    ) -> Result<StreamStart, SynthesisError> {
        let started = Instant::now();
        let opened = self.leased(&job, open_stream(&job)).await;
        if let Err(e) = &opened {
            self.record_engine_call(&job, &Err(e), started);
        }
        let (upstream, first) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                let error = self.settle_failure(&job, e).await;
                job.slot.release().await;
                return Err(SynthesisError { error, rate_limit });
            }
        };
        let (tx, rx) = mpsc::channel(2);
        // The first audio goes straight into the client's queue, so the response body finds
        // it there without waiting for the pump's task to run. The queue is new, with room,
        // and its receiver is in hand: the send neither waits nor fails.
        let mut delivered = stream_counter(&job);
        let first = match first {
            StreamEvent::Audio(bytes) => {
                delivered.feed(&bytes);
                let _ = tx.send(Ok(Frame::Audio(bytes))).await;
                None
            }
            other => Some(other),
        };
        let start = StreamStart {
            voice: job.voice.clone(),
            format: job.request.format,
            frames: rx,
            rate_limit,
        };
        let this = self.clone();
        tokio::spawn(async move {
            this.pump(job, first, delivered, upstream, tx, started)
                .await;
        });
        Ok(start)
    }

    /// Feeds the client until the stream ends, settles it at the length of the audio it
    /// delivered (`delivered` counts it), and gives the slot back before the last frame, so a
    /// client that saw the end can start its next request at once.
    async fn pump(
        &self,
        mut job: Job,
        first: Option<StreamEvent>,
        mut delivered: LengthCounter,
        mut upstream: AudioStream,
        tx: mpsc::Sender<Result<Frame, ApiError>>,
        started: Instant,
    ) {
        enum End {
            Finished(u64),
            Failed(EngineError),
            ClientGone,
        }
        let mut next = first.map(Ok);
        let mut renew = crate::runtime::ticks::every(self.lease / 3);
        let end = loop {
            let event = match next.take() {
                Some(e) => Some(e),
                None => tokio::select! {
                    _ = tx.closed() => break End::ClientGone,
                    _ = renew.tick() => {
                        self.renew_lease(&job).await;
                        continue;
                    }
                    e = upstream.next() => e,
                },
            };
            match event {
                Some(Ok(StreamEvent::Audio(bytes))) => {
                    // Counted once it is in the client's queue; audio the client is no longer
                    // there to take is not billed.
                    let counted = bytes.clone();
                    if tx.send(Ok(Frame::Audio(bytes))).await.is_err() {
                        break End::ClientGone;
                    }
                    delivered.feed(&counted);
                }
                Some(Ok(StreamEvent::Finished { audio_ms })) => break End::Finished(audio_ms),
                Some(Err(e)) => break End::Failed(e),
                None => break End::Failed(EngineError::BadResponse("stream ended early".into())),
            }
        };
        drop(upstream);
        let last = match end {
            End::Finished(engine_ms) => {
                self.record_engine_call(&job, &Ok(()), started);
                let audio_ms = checked_ms(&job, engine_ms, delivered.length());
                let billed = self.billable(&job, audio_ms);
                Some(
                    self.settle_success(&job, billed)
                        .await
                        .map(|remaining_ms| Frame::Done {
                            audio_ms,
                            billed_ms: billed,
                            remaining_ms,
                        }),
                )
            }
            End::Failed(e) => {
                self.record_engine_call(&job, &Err(&e), started);
                Some(Err(self.settle_failure(&job, e).await))
            }
            End::ClientGone => {
                let billed = self.billable(&job, delivered.length().ms());
                self.settle_cancelled(&job, billed).await;
                None
            }
        };
        job.slot.release().await;
        if let Some(frame) = last {
            let _ = tx.send(frame).await;
        }
    }
}

/// Opens the engine's stream and waits for its first event.
async fn open_stream(job: &Job) -> Result<(AudioStream, StreamEvent), EngineError> {
    let mut upstream = job.engine.synthesize_stream(&job.request).await?;
    match upstream.next().await {
        Some(Ok(event)) => Ok((upstream, event)),
        Some(Err(e)) => Err(e),
        None => Err(EngineError::BadResponse("stream ended at once".into())),
    }
}
