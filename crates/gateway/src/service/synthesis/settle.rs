//! After the engine: billing at the real length (never above the reservation), failure and
//! cancellation settlements (owed when the database cannot take them: see `owed.rs`), and the
//! node's register of requests still in flight.

use crate::domain::records::UsageStatus;
use crate::engine::EngineError;
use crate::error::ApiError;
use crate::store::{Settlement, StoreError};

use super::owed::settle_once;
use super::{Job, SynthesisService};

/// How a settlement went.
pub(super) enum Settling {
    /// Written: the user's remaining quota afterwards.
    Settled {
        /// Milliseconds left.
        remaining_ms: i64,
    },
    /// The database did not take it now; it is owed and will be written when it does.
    Owed,
    /// It will not be written as asked (the reaper settled it first, or it is refused).
    Failed(StoreError),
}

impl SynthesisService {
    /// Notes a reservation this node must settle.
    pub(super) fn track(&self, usage_id: &str) {
        self.in_flight_set().insert(usage_id.to_string());
    }

    fn in_flight_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        // A poisoned lock only means a panic elsewhere mid-insert of plain strings.
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests this node reserved and has not settled yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight_set().len()
    }

    /// Forgets a settled request.
    pub(super) fn forget(&self, usage_id: &str) {
        self.in_flight_set().remove(usage_id);
    }

    /// Settles a job: forgets it once settled, or keeps the settlement owed (see `owed.rs`)
    /// when the database did not take it.
    pub(super) async fn settle(&self, job: &Job, settlement: Settlement) -> Settling {
        match settle_once(self.store.as_ref(), &job.usage, &settlement).await {
            Ok(settled) if settled.applied => {
                self.forget(&job.usage.id);
                Settling::Settled {
                    remaining_ms: settled.remaining_ms,
                }
            }
            // The lease ran out and the reaper settled the record as failed: the books say
            // nothing was billed, so the client must not get the audio as if it had been.
            Ok(_) => {
                self.forget(&job.usage.id);
                Settling::Failed(StoreError::Unavailable(format!(
                    "usage record {} was already settled by the reaper",
                    job.usage.id
                )))
            }
            Err(e) if e.is_outage() => {
                tracing::warn!(usage_id = %job.usage.id, error = %e, "could not settle now");
                self.owe(&job.usage, settlement);
                Settling::Owed
            }
            Err(e) => {
                self.forget(&job.usage.id);
                Settling::Failed(e)
            }
        }
    }

    /// Runs `work` while renewing the job's lease every third of its length, so a slow engine
    /// call is never reaped while this node is alive and working on it.
    pub(super) async fn leased<T>(
        &self,
        job: &Job,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        let mut renew = crate::runtime::ticks::every(self.lease / 3);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = renew.tick() => self.renew_lease(job).await,
            }
        }
    }

    /// Pushes the job's lease one full lease length from now.
    pub(super) async fn renew_lease(&self, job: &Job) {
        let until = chrono::Utc::now() + self.lease;
        if let Err(e) = self.store.extend_lease(&job.usage.id, until).await {
            tracing::warn!(usage_id = %job.usage.id, error = %e, "could not extend lease");
        }
    }

    /// Bills a success and records the billed audio.
    pub(super) async fn settle_success(&self, job: &Job, billed_ms: i64) -> Result<i64, ApiError> {
        let settlement = Settlement {
            status: UsageStatus::Success,
            billed_ms,
            error_code: None,
            error_message: None,
        };
        let remaining = match self.settle(job, settlement).await {
            Settling::Settled { remaining_ms } => remaining_ms,
            // The audio is made and the bill will be written once the database is back: the
            // client gets the audio, with the quota it had left as far as this node knows.
            Settling::Owed => (job.remaining_before_ms - billed_ms).max(0),
            Settling::Failed(e) => {
                tracing::error!(usage_id = %job.usage.id, error = %e, "could not settle");
                return Err(ApiError::from(e));
            }
        };
        crate::metrics::audio_billed(job.plan, job.voice.provider.as_str(), billed_ms);
        if job.voice.is_cloned {
            self.touch_cloned_voice(job.voice.id);
        }
        Ok(remaining)
    }

    /// A use of a cloned voice keeps it alive upstream for another 7 days: record the new
    /// expiry off the request path (a failure only delays the listing's expiry).
    fn touch_cloned_voice(&self, voice_id: i64) {
        let store = self.store.clone();
        let expires_at =
            chrono::Utc::now() + chrono::Duration::days(crate::domain::voice::CLONE_TTL_DAYS);
        tokio::spawn(async move {
            if let Err(e) = store.touch_cloned_voice(voice_id, expires_at).await {
                tracing::warn!(voice_id, error = %e, "could not record the use of a cloned voice");
            }
        });
    }

    /// What to bill for `audio_ms` of audio: the real length, capped at the reservation.
    pub(super) fn billable(&self, job: &Job, audio_ms: u64) -> i64 {
        let audio_ms = i64::try_from(audio_ms).unwrap_or(i64::MAX);
        if audio_ms > job.estimate_ms {
            tracing::warn!(
                usage_id = %job.usage.id,
                audio_ms,
                estimate_ms = job.estimate_ms,
                "engine produced more audio than the reservation; billing the reservation"
            );
        }
        audio_ms.min(job.estimate_ms)
    }

    /// Settles an engine failure (nothing billed) and returns the client's error.
    pub(super) async fn settle_failure(&self, job: &Job, error: EngineError) -> ApiError {
        tracing::warn!(usage_id = %job.usage.id, error = %error, "engine call failed");
        let settlement = Settlement {
            status: UsageStatus::Error,
            billed_ms: 0,
            error_code: Some(format!("engine_{}", error.kind())),
            error_message: Some(ApiError::from(without_detail(&error)).to_string()),
        };
        if let Settling::Failed(e) = self.settle(job, settlement).await {
            tracing::error!(usage_id = %job.usage.id, error = %e, "could not settle a failed request");
        }
        error.into()
    }

    /// Settles a stream the client left, billing what was delivered.
    pub(super) async fn settle_cancelled(&self, job: &Job, billed_ms: i64) {
        let settlement = Settlement {
            status: UsageStatus::Cancelled,
            billed_ms,
            error_code: Some("client_disconnected".into()),
            error_message: Some("the client closed the connection before the audio ended".into()),
        };
        if let Settling::Failed(e) = self.settle(job, settlement).await {
            tracing::error!(usage_id = %job.usage.id, error = %e, "could not settle a cancelled stream");
        }
    }

    /// At shutdown, after the grace period: writes what is owed one last time, then settles
    /// everything still in flight on this node as failed (nothing billed), so no quota waits
    /// for the lease reaper.
    pub async fn abandon_in_flight(&self) -> usize {
        if self.owed.len() > 0 && !self.retry_owed().await {
            tracing::error!(
                owed = self.owed.len(),
                "settlements still owed at shutdown; the reaper will settle them as failed"
            );
        }
        let ids: Vec<String> = self.in_flight_set().drain().collect();
        for id in &ids {
            let settlement = Settlement {
                status: UsageStatus::Error,
                billed_ms: 0,
                error_code: Some("shutdown".into()),
                error_message: Some("the server shut down before the request finished".into()),
            };
            if let Err(e) = self.store.settle(id, settlement).await {
                tracing::error!(usage_id = %id, error = %e, "could not settle at shutdown; the reaper will");
            }
        }
        ids.len()
    }
}

/// The same error kind without its log-only text, for the client-safe message on the record.
fn without_detail(error: &EngineError) -> EngineError {
    match error {
        EngineError::NotConfigured(r) => EngineError::NotConfigured(r),
        EngineError::CircuitOpen => EngineError::CircuitOpen,
        EngineError::Timeout => EngineError::Timeout,
        EngineError::Busy => EngineError::Busy,
        EngineError::Unavailable(_) => EngineError::Unavailable(String::new()),
        EngineError::Account(_) => EngineError::Account(String::new()),
        EngineError::UnknownVoice(_) => EngineError::UnknownVoice(String::new()),
        EngineError::InvalidInput(_) => EngineError::InvalidInput(String::new()),
        EngineError::BadResponse(_) => EngineError::BadResponse(String::new()),
    }
}
