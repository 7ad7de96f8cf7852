//! Runs a future so that the wake-ups it gives itself while being polled are not yields.
//!
//! Tokio treats a task that wakes itself during its own poll as yielding: it goes behind the
//! others and another worker is woken to steal it. hyper does just that several times per
//! request: reading a request body signals the connection's own dispatcher, and a client
//! connection driven in the caller's task hands the response over a channel to that same
//! task. Each time, the request moved to the other worker, and paid a thread wake-up for it.
//!
//! [`FoldWakes`] polls its future with a waker of its own. A wake that arrives while the future
//! is being polled only asks for another pass, at most [`MAX_PASSES`] of them (then it is a
//! real yield, so fairness holds). A wake from anywhere else wakes the task as usual.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// Passes per poll, at most, before a self-wake is passed on as a yield.
pub(crate) const MAX_PASSES: usize = 4;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN_WHILE_POLLING: u8 = 2;

/// A future whose own wake-ups during its poll become further passes of that poll.
pub(crate) struct FoldWakes<F> {
    inner: Pin<Box<F>>,
    relay: Arc<Relay>,
    waker: Waker,
}

struct Relay {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            match state {
                POLLING => match self.state.compare_exchange(
                    POLLING,
                    WOKEN_WHILE_POLLING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return,
                    Err(now) => state = now,
                },
                WOKEN_WHILE_POLLING => return,
                _ => {
                    self.task.wake();
                    return;
                }
            }
        }
    }
}

impl<F: Future> FoldWakes<F> {
    pub(crate) fn new(inner: F) -> FoldWakes<F> {
        let relay = Arc::new(Relay {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        FoldWakes {
            inner: Box::pin(inner),
            waker: Waker::from(relay.clone()),
            relay,
        }
    }
}

impl<F: Future> Future for FoldWakes<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.relay.task.register(cx.waker());
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..MAX_PASSES {
            this.relay.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(out) = this.inner.as_mut().poll(&mut inner_cx) {
                this.relay.state.store(IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            let quiet = this.relay.state.compare_exchange(
                POLLING,
                IDLE,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if quiet.is_ok() {
                return Poll::Pending;
            }
        }
        this.relay.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself during `self_wakes` polls, then completes.
    struct SelfWaking {
        self_wakes: usize,
        polls: usize,
    }

    impl Future for SelfWaking {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > self.self_wakes {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once<F: Future>(
        future: &mut FoldWakes<F>,
        task: &Arc<CountingWaker>,
    ) -> Poll<F::Output> {
        let waker = Waker::from(task.clone());
        Pin::new(future).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_wake_during_the_poll_becomes_another_pass_not_a_yield() {
        let task = Arc::new(CountingWaker::default());
        let mut future = FoldWakes::new(SelfWaking {
            self_wakes: 2,
            polls: 0,
        });
        assert_eq!(poll_once(&mut future, &task), Poll::Ready(3));
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "the task was never woken");
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_after_the_last_pass() {
        let task = Arc::new(CountingWaker::default());
        let mut future = FoldWakes::new(SelfWaking {
            self_wakes: MAX_PASSES + 1,
            polls: 0,
        });
        assert_eq!(poll_once(&mut future, &task), Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "woken once, as a yield");
        assert_eq!(poll_once(&mut future, &task), Poll::Ready(MAX_PASSES + 2));
    }

    #[test]
    fn a_wake_after_the_poll_wakes_the_task() {
        let task = Arc::new(CountingWaker::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut future = FoldWakes::new(rx);
        assert_eq!(poll_once(&mut future, &task), Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        assert!(tx.send(7).is_ok());
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the send woke the task");
        assert!(matches!(poll_once(&mut future, &task), Poll::Ready(Ok(7))));
    }
}
