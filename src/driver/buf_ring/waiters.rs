//! Fair hand-out of receive buffers when the provided-buffer ring runs dry.
//!
//! A recv that finds the ring empty completes with `ENOBUFS` while its data waits in the
//! socket. Re-arming it at once makes every starved connection spin through recvs that
//! fail again, and whichever recv the kernel runs first after a buffer comes back wins it:
//! the connections whose recvs sit early in the submission queue win every turn and the
//! rest starve (seen as 10 s echo gaps with 256 streaming connections on 64 buffers).
//!
//! Instead a starved receiver joins this FIFO and re-arms only when the driver calls it
//! back, and while anyone waits, every other receiver that wants to arm joins the tail
//! too. Once per loop turn (`Driver::enter`, after lent buffers are reclaimed) the driver
//! calls back as many waiters, oldest first, as the ring has buffers in the kernel's hands.
//! Their recvs are issued in the submission that follows, and a recv whose data is
//! already in the socket runs inline at submit time, before the deferred task work that
//! serves recvs armed earlier: so the oldest waiters get the free buffers first. A waiter
//! that still loses (ENOBUFS again) goes to the tail, so every starved connection is
//! served within (waiters / free buffers) turns, and a starved connection costs nothing
//! while it waits.

use std::collections::VecDeque;
use std::rc::Weak;

/// A receiver waiting for a receive buffer (a connection, in practice).
pub(crate) trait RecvWaiter {
    /// The receiver's turn: arm the recv now, without queueing again.
    fn buffers_ready(&self);
}

/// The FIFO of receivers waiting for a receive buffer.
#[derive(Default)]
pub(crate) struct RecvWaiters {
    /// Weak: a connection that closes while it waits is simply skipped.
    queue: VecDeque<Weak<dyn RecvWaiter>>,
}

impl RecvWaiters {
    /// Whether anyone waits: then a receiver that wants to arm must queue behind them.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `waiter` at the tail.
    pub(crate) fn push(&mut self, waiter: Weak<dyn RecvWaiter>) {
        self.queue.push_back(waiter);
    }

    /// Takes up to `n` live waiters, oldest first, into `out` (dead ones are dropped and do
    /// not count). The caller calls them back with no borrow of this queue held, since a
    /// waiter may queue again.
    pub(crate) fn take(&mut self, n: usize, out: &mut Vec<Weak<dyn RecvWaiter>>) {
        while out.len() < n {
            let Some(waiter) = self.queue.pop_front() else {
                break;
            };
            if waiter.strong_count() > 0 {
                out.push(waiter);
            }
        }
    }

    /// Forgets every waiter (runtime teardown).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::{Rc, Weak};

    use super::{RecvWaiter, RecvWaiters};

    struct Counter(Cell<usize>);

    impl RecvWaiter for Counter {
        fn buffers_ready(&self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn weak(c: &Rc<Counter>) -> Weak<dyn RecvWaiter> {
        let w: Weak<Counter> = Rc::downgrade(c);
        w
    }

    #[test]
    fn takes_oldest_first_and_skips_dropped_waiters() {
        let a = Rc::new(Counter(Cell::new(0)));
        let b = Rc::new(Counter(Cell::new(0)));
        let c = Rc::new(Counter(Cell::new(0)));
        let mut waiters = RecvWaiters::default();
        waiters.push(weak(&a));
        {
            let gone = Rc::new(Counter(Cell::new(0)));
            waiters.push(weak(&gone));
        }
        waiters.push(weak(&b));
        waiters.push(weak(&c));
        let mut out = Vec::new();
        waiters.take(2, &mut out);
        assert_eq!(
            out.len(),
            2,
            "two live waiters taken; the dropped one not counted"
        );
        for w in out.drain(..) {
            w.upgrade().expect("live").buffers_ready();
        }
        assert_eq!((a.0.get(), b.0.get(), c.0.get()), (1, 1, 0), "oldest first");
        assert!(!waiters.is_empty(), "c still waits");
        waiters.take(5, &mut out);
        assert_eq!(out.len(), 1);
        assert!(waiters.is_empty());
    }
}
