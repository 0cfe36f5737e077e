//! Test helpers: a waker that counts its wakes and a `ReadControl` that records its calls, so
//! tests drive reads by hand, deterministically, without a runtime.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::ReadControl;

/// A waker that counts how often it was woken.
pub(crate) struct Probe {
    count: Arc<WakeCount>,
    waker: Waker,
}

struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Probe {
    pub(crate) fn new() -> Self {
        let count = Arc::new(WakeCount(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        Self { count, waker }
    }

    pub(crate) fn cx(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }

    pub(crate) fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

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

/// A `ReadControl` that records "pause" / "resume" in call order.
#[derive(Default)]
pub(crate) struct Recorder {
    calls: RefCell<Vec<&'static str>>,
}

impl Recorder {
    pub(crate) fn calls(&self) -> Vec<&'static str> {
        self.calls.borrow().clone()
    }
}

impl ReadControl for Recorder {
    fn pause_reading(&self) {
        self.calls.borrow_mut().push("pause");
    }

    fn resume_reading(&self) {
        self.calls.borrow_mut().push("resume");
    }
}
