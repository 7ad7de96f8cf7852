//! A held concurrency slot: its lease renewed in the background while held (Redis leases
//! expire), given back within the request's [`LimitBudget`] when the request ends, or in the
//! background when the budget cannot wait (or the slot is dropped).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{LimitBackend, LimitBudget};

/// A held concurrency slot. [`Slot::release`] gives it back; dropping it does the same in
/// the background, so a panicking or cancelled task cannot keep a slot.
#[must_use = "a slot is released when dropped"]
pub struct Slot(Option<Held>);

impl Slot {
    /// No slot (the limiter was unavailable and failing open).
    pub fn unlimited() -> Slot {
        Slot(None)
    }

    /// A slot held under `lease_id` in `key`, renewed every third of `lease` while held when
    /// the backend's leases expire.
    pub(super) fn held(
        backend: Arc<dyn LimitBackend>,
        key: String,
        lease_id: String,
        lease: Duration,
        budget: &LimitBudget,
    ) -> Slot {
        let renewer = backend.leases_expire().then(|| {
            tokio::spawn(renew(
                backend.clone(),
                key.clone(),
                lease_id.clone(),
                lease,
                budget.allowance(),
            ))
        });
        Slot(Some(Held {
            backend,
            key,
            lease_id,
            budget: budget.clone(),
            renewer,
        }))
    }

    /// A slot that may have been taken (the admission's answer was lost), to give back.
    pub(super) fn maybe_taken(
        backend: Arc<dyn LimitBackend>,
        key: String,
        lease_id: String,
        budget: &LimitBudget,
    ) -> Slot {
        Slot(Some(Held {
            backend,
            key,
            lease_id,
            budget: budget.clone(),
            renewer: None,
        }))
    }

    /// Gives the slot back now; later calls do nothing.
    pub async fn release(&mut self) {
        if let Some(held) = self.0.take() {
            held.release().await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(held) = self.0.take() {
            held.release_in_background();
        }
    }
}

struct Held {
    backend: Arc<dyn LimitBackend>,
    key: String,
    lease_id: String,
    budget: LimitBudget,
    renewer: Option<JoinHandle<()>>,
}

type GiveBack = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Held {
    /// Gives the slot back within the request's budget; what the budget cannot wait for
    /// finishes in the background, so a slow Redis delays the slot, not the request.
    async fn release(self) {
        let budget = self.budget.clone();
        let mut give_back = self.give_back();
        if budget.within(&mut give_back).await.is_none() {
            tokio::spawn(give_back);
        }
    }

    fn release_in_background(self) {
        // Outside a runtime (it is shutting down) the lease expires on its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.give_back());
        }
    }

    /// Stops renewing and makes the release call, bounded on its own by the whole allowance.
    fn give_back(self) -> GiveBack {
        if let Some(renewer) = &self.renewer {
            renewer.abort();
        }
        let bound = self.budget.allowance();
        Box::pin(async move {
            let call = self.backend.release(&self.key, &self.lease_id);
            match tokio::time::timeout(bound, call).await {
                Ok(Ok(())) => {}
                // The lease expires on its own.
                Ok(Err(e)) => tracing::debug!(error = %e, "could not release a concurrency slot"),
                Err(_) => tracing::debug!("releasing a concurrency slot timed out"),
            }
        })
    }
}

/// Keeps a lease alive while its slot is held: renews at a third of its lifetime.
async fn renew(
    backend: Arc<dyn LimitBackend>,
    key: String,
    lease_id: String,
    lease: Duration,
    timeout: Duration,
) {
    let mut tick = crate::runtime::ticks::every(lease / 3);
    loop {
        tick.tick().await;
        match tokio::time::timeout(timeout, backend.renew(&key, &lease_id, lease)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!(key, "a concurrency lease expired while its request ran");
                return;
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "could not renew a concurrency lease"),
            Err(_) => tracing::debug!("renewing a concurrency lease timed out"),
        }
    }
}
