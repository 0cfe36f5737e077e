//! The cross-task wake round trip measured by `ringstream bench --runtime` and by
//! `benches/runtime.rs`, so both measure the same code:
//! task A wakes B and waits; B wakes A back. Only the runtime's wake -> schedule -> poll path
//! differs between runtimes.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A one-waiter flag shared by two tasks on one thread: the wake primitive every runtime's
/// wake round trip is measured with.
#[derive(Default)]
pub struct Signal {
    /// Set by [`Signal::notify`], cleared by the wait that sees it.
    set: Cell<bool>,
    /// The waiting task's waker; kept registered, so no waker is cloned per round trip.
    waiter: RefCell<Option<Waker>>,
}

impl Signal {
    /// Sets the flag and wakes the waiter, if one is registered.
    pub fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waiter.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    /// Waits until the flag is set, and clears it.
    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait(self)
    }
}

/// Future returned by [`Signal::wait`].
pub struct SignalWait<'a>(&'a Signal);

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let signal = self.0;
        if signal.set.replace(false) {
            return Poll::Ready(());
        }
        let mut waiter = signal.waiter.borrow_mut();
        match waiter.as_ref() {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The two flags of a ping-pong pair.
#[derive(Default)]
pub struct Pair {
    /// Task A waits on it.
    pub ping: Signal,
    /// Task B waits on it.
    pub pong: Signal,
}

/// Task A: wakes B, then waits to be woken, `rounds` times.
pub async fn ping(pair: Rc<Pair>, rounds: u64) {
    for _ in 0..rounds {
        pair.pong.notify();
        pair.ping.wait().await;
    }
}

/// Task B: waits to be woken, then wakes A, `rounds` times.
pub async fn pong(pair: Rc<Pair>, rounds: u64) {
    for _ in 0..rounds {
        pair.pong.wait().await;
        pair.ping.notify();
    }
}
