//! A one-shot stop signal that any thread can trigger and any number of tasks can await.
//!
//! Built on std (an atomic flag and the wakers to call) because the crate's tokio features do
//! not include `sync`, and this is all the server needs from it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stops: every `stopped()` future completes. Idempotent.
    pub fn trigger(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Completes once `trigger` has been called (at once if it already was).
    pub fn stopped(&self) -> Stopped {
        Stopped(self.clone())
    }
}

/// The future returned by [`Stop::stopped`].
#[derive(Debug)]
pub struct Stopped(Stop);

impl Future for Stopped {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.0.0;
        if inner.stopped.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let mut wakers = inner.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked again under the lock: `trigger` sets the flag before it takes the wakers, so
        // either it sees the waker pushed here or this sees the flag.
        if inner.stopped.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
