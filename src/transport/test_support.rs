//! Test helpers shared by the inbound and outbound tests: a waker that counts its wakes, so
//! tests drive futures by hand, deterministically, without a runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts how often it was woken.
pub(crate) struct WakeCounter {
    /// Shared with `waker`.
    count: Arc<WakeCount>,
    /// Wakes `count`.
    waker: Waker,
}

/// The counter behind a [`WakeCounter`]'s waker.
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl WakeCounter {
    /// A counter that has not been woken.
    pub(crate) fn new() -> Self {
        let count = Arc::new(WakeCount(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        Self { count, waker }
    }

    /// A context whose waker counts on this counter.
    pub(crate) fn cx(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }

    /// How often the waker was woken.
    pub(crate) fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    /// Polls `future` once with this counter's waker.
    pub(crate) fn poll<F: Future>(&self, future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut self.cx())
    }
}

/// Unwraps a `Poll` that must be ready.
pub(crate) fn ready<T>(poll: Poll<T>) -> T {
    match poll {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("expected Ready, got Pending"),
    }
}
