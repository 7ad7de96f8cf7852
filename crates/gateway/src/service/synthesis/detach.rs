//! A future that finishes even when its caller stops waiting for it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `F` in the caller's task; if the caller drops it before it completes (the client went
/// away), moves it to a task of its own, where it runs to the end.
///
/// Spawning the work up front and awaiting its handle does the same, but costs every request
/// a task and a cross-task wake-up, which on a multi-threaded runtime also wakes an idle
/// worker: measurable at a single client. The move is sound because the future is boxed
/// (pinned where it is) and the new task polls it at once, registering its own waker.
pub(super) struct FinishOnDrop<F: Future + Send + 'static>
where
    F::Output: Send,
{
    work: Option<Pin<Box<F>>>,
}

impl<F: Future + Send + 'static> FinishOnDrop<F>
where
    F::Output: Send,
{
    pub(super) fn new(work: F) -> Self {
        FinishOnDrop {
            work: Some(Box::pin(work)),
        }
    }
}

impl<F: Future + Send + 'static> Future for FinishOnDrop<F>
where
    F::Output: Send,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Polled again after completing: stays pending, like a fused future.
        let Some(work) = self.work.as_mut() else {
            return Poll::Pending;
        };
        let output = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(output)
    }
}

impl<F: Future + Send + 'static> Drop for FinishOnDrop<F>
where
    F::Output: Send,
{
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Outside a runtime (it is shutting down) the work is dropped: the lease reaper, or
        // the shutdown's own settlement of what is in flight, settles its reservation.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(work);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::FinishOnDrop;

    #[tokio::test]
    async fn finishes_in_place_and_after_its_caller_gave_up() {
        assert_eq!(FinishOnDrop::new(async { 7 }).await, 7);

        let finished = Arc::new(AtomicBool::new(false));
        let work = {
            let finished = finished.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                finished.store(true, Ordering::SeqCst);
            }
        };
        let abandoned = tokio::time::timeout(Duration::from_millis(5), FinishOnDrop::new(work));
        assert!(abandoned.await.is_err(), "the caller stopped waiting");
        assert!(!finished.load(Ordering::SeqCst));
        for _ in 0..100 {
            if finished.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the abandoned work did not finish");
    }
}
