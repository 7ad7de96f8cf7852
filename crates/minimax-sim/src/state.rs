//! Shared, mutable simulator state behind one `Arc`.

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::audio_cache::AudioCache;
use crate::faults::FaultQueue;
use crate::files::FileStore;
use crate::hosted::HostedAudio;
use crate::recorder::RequestLog;
use crate::voices::VoiceRegistry;
use crate::SimConfig;

/// Everything the handlers share.
pub(crate) struct SimState {
    pub config: SimConfig,
    /// Prefix for URLs the simulator hands out (`output_format=url`).
    pub base_url: String,
    pub faults: Mutex<FaultQueue>,
    pub requests: Mutex<RequestLog>,
    pub t2a_requests: AtomicU64,
    pub voices: Mutex<VoiceRegistry>,
    pub files: Mutex<FileStore>,
    pub hosted: Mutex<HostedAudio>,
    pub cache: AudioCache,
    shutdown: watch::Receiver<bool>,
}

impl SimState {
    pub fn new(config: SimConfig, base_url: String, shutdown: watch::Receiver<bool>) -> Self {
        SimState {
            config,
            base_url,
            faults: Mutex::new(FaultQueue::default()),
            requests: Mutex::new(RequestLog::default()),
            t2a_requests: AtomicU64::new(0),
            voices: Mutex::new(VoiceRegistry::default()),
            files: Mutex::new(FileStore::default()),
            hosted: Mutex::new(HostedAudio::default()),
            cache: AudioCache::default(),
            shutdown,
        }
    }

    /// Sleeps for `d`, returning early (with `false`) when the simulator is
    /// shutting down so hanging responses do not outlive it.
    pub async fn sleep(&self, d: Duration) -> bool {
        let mut rx = self.shutdown.clone();
        if *rx.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = rx.wait_for(|s| *s) => false,
        }
    }
}

/// Locks a mutex, ignoring poisoning: a panicked handler must not take the
/// whole simulator down with it, and every critical section is short.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
