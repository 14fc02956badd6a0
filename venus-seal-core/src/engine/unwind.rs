//! A future whose panic comes back as a value, so a job that panics is
//! parked and reported instead of silently lost.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls `fut`; a panic while polling it ends it with `Err(message)`.
pub(super) fn catch_panic<F: Future>(fut: F) -> CatchPanic<F> {
    CatchPanic(Box::pin(fut))
}

/// See [`catch_panic`].
pub(super) struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The future is not polled again after a panic (it is dropped with
        // this one), so whatever state it broke is never observed.
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(super::limits::payload_message(payload.as_ref()))),
        }
    }
}
