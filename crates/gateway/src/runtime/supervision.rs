//! Liveness of the process's background work: the SQLite writer and checkpointer threads, the
//! reservation reaper and the billing-cycle sweep.
//!
//! Each piece holds a [`Heartbeat`] and beats it while it waits (idle) and when it starts
//! and ends a piece of work (busy). [`Supervisor::check`] turns the beats into a status per
//! piece: `ok`; `stalled` when an idle piece has not beaten within its period plus the stall
//! threshold, or a busy one has been on the same piece of work longer than the threshold;
//! `dead` when it panicked; `stopped` when it ended while the process still runs. A change of
//! status is logged once (with why), counted in `odeadev_background_failures_total`, and
//! every check sets `odeadev_background_up`; `/ready` fails while any piece is not `ok`.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;

/// How long a piece may be busy on one piece of work, or overdue with its idle beat, before
/// it counts as stalled, unless the settings say otherwise.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(30);

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const DEAD: u8 = 2;

/// What [`Supervisor::check`] says of one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Beating on time.
    Ok,
    /// Overdue: stuck in one piece of work, or not coming back to wait.
    Stalled,
    /// Panicked.
    Dead,
    /// Ended while the process runs.
    Stopped,
}

impl Liveness {
    /// Wire name, for `/ready` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Ok => "ok",
            Liveness::Stalled => "stalled",
            Liveness::Dead => "dead",
            Liveness::Stopped => "stopped",
        }
    }
}

/// One piece's status and, when not ok, why.
#[derive(Debug, Clone)]
pub struct TaskStatus {
    /// The piece: `sqlite_writer`, `sqlite_checkpointer`, `reaper`, `cycle_sweep`.
    pub name: &'static str,
    /// Its status.
    pub liveness: Liveness,
    /// Why, when not ok.
    pub detail: Option<String>,
}

struct Task {
    name: &'static str,
    /// Longest wait between two beats of the idle piece.
    period: Duration,
    /// Milliseconds since the supervisor's start at the last beat.
    last_beat: AtomicU64,
    /// Milliseconds since the start when the current piece of work began, plus one (0: idle).
    busy_since: AtomicU64,
    end: AtomicU8,
    /// Why it died, when it did.
    death: Mutex<Option<String>>,
    /// The status the last check reported, to log changes once.
    reported: AtomicU8,
}

struct Inner {
    started: Instant,
    stall_after: Duration,
    tasks: Mutex<Vec<Arc<Task>>>,
}

/// The registry of heartbeats (cheap to clone; clones share it).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Supervisor {
    /// A supervisor that calls a piece stalled after `stall_after`.
    pub fn new(stall_after: Duration) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                started: Instant::now(),
                stall_after,
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Registers a piece that beats at least every `period` while idle.
    pub fn heartbeat(&self, name: &'static str, period: Duration) -> Heartbeat {
        let task = Arc::new(Task {
            name,
            period,
            last_beat: AtomicU64::new(self.now_ms()),
            busy_since: AtomicU64::new(0),
            end: AtomicU8::new(RUNNING),
            death: Mutex::new(None),
            reported: AtomicU8::new(status_code(Liveness::Ok)),
        });
        self.tasks().push(task.clone());
        Heartbeat {
            task,
            supervisor: self.clone(),
        }
    }

    /// Spawns `work`, a loop that should run as long as the process, as the piece `name`;
    /// `work` gets the piece's heartbeat.
    pub fn spawn<F, Fut>(
        &self,
        name: &'static str,
        period: Duration,
        work: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce(Heartbeat) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let heartbeat = self.heartbeat(name, period);
        let task = heartbeat.task.clone();
        let work = work(heartbeat);
        tokio::spawn(async move {
            match AssertUnwindSafe(work).catch_unwind().await {
                Ok(()) => task.end.store(STOPPED, Ordering::Release),
                Err(panic) => record_death(&task, &panic_message(panic.as_ref())),
            }
        })
    }

    /// Every piece's status now; logs and counts changes, and sets the gauges.
    pub fn check(&self) -> Vec<TaskStatus> {
        let now = self.now_ms();
        let tasks = self.tasks().clone();
        tasks.iter().map(|task| self.status(task, now)).collect()
    }

    fn status(&self, task: &Task, now: u64) -> TaskStatus {
        let (liveness, detail) = self.assess(task, now);
        crate::metrics::background_up(task.name, liveness == Liveness::Ok);
        let code = status_code(liveness);
        let before = task.reported.swap(code, Ordering::AcqRel);
        if before != code {
            let why = detail.as_deref().unwrap_or("");
            match liveness {
                Liveness::Ok => tracing::info!(task = task.name, "background work recovered"),
                other => {
                    crate::metrics::background_failure(task.name, other.as_str());
                    tracing::error!(
                        task = task.name,
                        status = other.as_str(),
                        why,
                        "background work is not running"
                    );
                }
            }
        }
        TaskStatus {
            name: task.name,
            liveness,
            detail,
        }
    }

    fn assess(&self, task: &Task, now: u64) -> (Liveness, Option<String>) {
        match task.end.load(Ordering::Acquire) {
            DEAD => {
                let why = task
                    .death
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_default();
                return (Liveness::Dead, Some(format!("panicked: {why}")));
            }
            STOPPED => {
                return (
                    Liveness::Stopped,
                    Some("ended while the process runs".into()),
                )
            }
            _ => {}
        }
        let stall = millis(self.inner.stall_after);
        let busy_since = task.busy_since.load(Ordering::Acquire);
        if busy_since > 0 {
            let busy_for = now.saturating_sub(busy_since - 1);
            if busy_for > stall {
                return (
                    Liveness::Stalled,
                    Some(format!(
                        "one piece of work has been running for {} s",
                        busy_for / 1000
                    )),
                );
            }
            return (Liveness::Ok, None);
        }
        let quiet_for = now.saturating_sub(task.last_beat.load(Ordering::Acquire));
        if quiet_for > millis(task.period) + stall {
            return (
                Liveness::Stalled,
                Some(format!("no heartbeat for {} s", quiet_for / 1000)),
            );
        }
        (Liveness::Ok, None)
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Task>>> {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        millis(self.inner.started.elapsed())
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new(DEFAULT_STALL_AFTER)
    }
}

/// What a background piece beats.
pub struct Heartbeat {
    task: Arc<Task>,
    supervisor: Supervisor,
}

impl Heartbeat {
    /// The longest a waiting piece may go without a beat: a piece that waits on an event
    /// rather than a clock waits at most this long between beats.
    pub fn period(&self) -> Duration {
        self.task.period
    }

    /// Notes that the piece is alive: waiting (`busy` false) or starting a piece of work
    /// (`busy` true; a piece already busy keeps its start).
    pub fn beat(&self, busy: bool) {
        let now = self.supervisor.now_ms();
        self.task.last_beat.store(now, Ordering::Release);
        if busy {
            let _ = self.task.busy_since.compare_exchange(
                0,
                now + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        } else {
            self.task.busy_since.store(0, Ordering::Release);
        }
    }

    /// Runs a thread's body with this heartbeat: `body` gets a beat function; a panic is
    /// recorded as the piece's death, a return as its end.
    pub fn run_thread(self, body: impl FnOnce(&dyn Fn(bool))) {
        let beat = |busy: bool| self.beat(busy);
        match catch_unwind(AssertUnwindSafe(|| body(&beat))) {
            Ok(()) => self.task.end.store(STOPPED, Ordering::Release),
            Err(panic) => record_death(&self.task, &panic_message(panic.as_ref())),
        }
    }
}

fn record_death(task: &Task, why: &str) {
    *task.death.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.to_string());
    task.end.store(DEAD, Ordering::Release);
    tracing::error!(task = task.name, why, "background work panicked");
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn status_code(liveness: Liveness) -> u8 {
    match liveness {
        Liveness::Ok => 0,
        Liveness::Stalled => 1,
        Liveness::Dead => 2,
        Liveness::Stopped => 3,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status_of(supervisor: &Supervisor, name: &str) -> TaskStatus {
        supervisor
            .check()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
    }

    #[test]
    fn a_piece_busy_past_the_threshold_is_stalled_until_it_finishes() {
        let supervisor = Supervisor::new(Duration::ZERO);
        let beat = supervisor.heartbeat("writer", Duration::from_secs(3600));
        assert_eq!(status_of(&supervisor, "writer").liveness, Liveness::Ok);
        beat.beat(true);
        std::thread::sleep(Duration::from_millis(5));
        let stalled = status_of(&supervisor, "writer");
        assert_eq!(stalled.liveness, Liveness::Stalled);
        assert!(stalled.detail.unwrap().contains("running for"));
        beat.beat(false);
        assert_eq!(status_of(&supervisor, "writer").liveness, Liveness::Ok);
    }

    #[test]
    fn an_idle_piece_that_stops_beating_is_stalled() {
        let supervisor = Supervisor::new(Duration::ZERO);
        let _beat = supervisor.heartbeat("sweep", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let stalled = status_of(&supervisor, "sweep");
        assert_eq!(stalled.liveness, Liveness::Stalled);
        assert!(stalled.detail.unwrap().contains("no heartbeat"));
    }

    #[test]
    fn a_thread_that_panics_is_dead_and_one_that_returns_is_stopped() {
        let supervisor = Supervisor::default();
        let dying = supervisor.heartbeat("dying", Duration::from_secs(1));
        let ending = supervisor.heartbeat("ending", Duration::from_secs(1));
        std::thread::spawn(move || dying.run_thread(|_| panic!("disk on fire")))
            .join()
            .unwrap();
        std::thread::spawn(move || ending.run_thread(|beat| beat(false)))
            .join()
            .unwrap();
        let dead = status_of(&supervisor, "dying");
        assert_eq!(dead.liveness, Liveness::Dead);
        assert!(dead.detail.unwrap().contains("disk on fire"));
        assert_eq!(status_of(&supervisor, "ending").liveness, Liveness::Stopped);
    }

    #[tokio::test]
    async fn a_task_that_panics_is_dead() {
        let supervisor = Supervisor::default();
        let handle = supervisor.spawn("reaper", Duration::from_secs(1), |_beat| async {
            panic!("reaper bug")
        });
        let _ = handle.await;
        let dead = status_of(&supervisor, "reaper");
        assert_eq!(dead.liveness, Liveness::Dead);
        assert!(dead.detail.unwrap().contains("reaper bug"));
    }
}
