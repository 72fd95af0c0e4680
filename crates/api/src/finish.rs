//! A request's handling runs to its end even when its client leaves first.
//!
//! hyper drops a request's future when its connection ends. Dropped halfway, an invocation
//! would leave its environment taken by nobody (never reused, never freed), its
//! concurrency counted off while the function still runs, and its log without END and
//! REPORT; a change to a function would stop between two writes. Lambda finishes an
//! invocation whose caller has gone, and so does Lamina: [`Finish`] hands a future it is
//! dropped with to the runtime, which polls it to its end and drops the answer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `F`, finished in the background if dropped before it is.
pub(crate) struct Finish<F: Future + Send + 'static>(Option<Pin<Box<F>>>)
where
    F::Output: Send + 'static;

impl<F: Future + Send + 'static> Finish<F>
where
    F::Output: Send + 'static,
{
    pub(crate) fn new(future: F) -> Finish<F> {
        Finish(Some(Box::pin(future)))
    }
}

impl<F: Future + Send + 'static> Future for Finish<F>
where
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(inner) = self.0.as_mut() else {
            panic!("Finish polled after it completed");
        };
        let out = std::task::ready!(inner.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(out)
    }
}

impl<F: Future + Send + 'static> Drop for Finish<F>
where
    F::Output: Send + 'static,
{
    fn drop(&mut self) {
        if let Some(rest) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = rest.await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_future_dropped_halfway_still_finishes() {
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let work = Finish::new(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            done.store(true, Ordering::SeqCst);
            7
        });
        // The caller gives up before the work ends.
        assert!(
            tokio::time::timeout(Duration::from_millis(5), work)
                .await
                .is_err()
        );
        assert!(!finished.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            finished.load(Ordering::SeqCst),
            "the work went on to its end"
        );
    }

    #[tokio::test]
    async fn a_future_awaited_to_its_end_answers_once() {
        assert_eq!(Finish::new(async { 7 }).await, 7);
    }
}
