//! The order in which connections arm their recvs, so that no connection starves when the
//! provided-buffer ring runs dry.
//!
//! A recv that finds the ring empty completes with `ENOBUFS` while its data waits in the
//! socket. Re-arming it at once makes every starved connection spin through recvs that
//! fail again, and the recv the kernel runs first after a buffer comes back wins it. Which
//! recv runs first is the submission order: a recv whose data is already in the socket
//! runs inline at submit time, before the deferred task work that serves recvs armed
//! earlier. Connections re-arm as their completions are handled, so with recvs going
//! straight into the submission queue the connections whose completions come first in a
//! batch would take every buffer, turn after turn, and a light connection among greedy
//! ones would wait seconds (see `docs/decisions.md`, "Receive arming order").
//!
//! So no recv goes straight into the submission queue. A connection that wants to receive
//! asks for it ([`RecvWaiters::push_fresh`]); one that got `ENOBUFS` joins a FIFO of
//! starved connections ([`RecvWaiters::push_starved`]). Once per loop turn, just before
//! the submission, the driver arms first as many starved connections, oldest first, as the
//! ring has buffers in the kernel's hands, then every fresh one. The starved recvs sit
//! ahead of everything else in the submission and take the free buffers; a fresh recv that
//! then finds none becomes starved itself. Every starved connection is served within
//! (starved / free buffers) turns, and a starved connection costs nothing while it waits.

use std::collections::VecDeque;
use std::rc::Weak;

/// A receiver that arms its recv when its turn comes (a connection, in practice).
pub(crate) trait RecvWaiter {
    /// The receiver's turn: arm the recv now, without asking again.
    fn buffers_ready(&self);
}

/// The receivers waiting to arm a recv, in the order they will.
#[derive(Default)]
pub(crate) struct RecvWaiters {
    /// Got `ENOBUFS`, oldest first. Weak: a connection that closes while it waits is
    /// simply skipped.
    starved: VecDeque<Weak<dyn RecvWaiter>>,
    /// Asked to receive this turn.
    fresh: Vec<Weak<dyn RecvWaiter>>,
}

impl RecvWaiters {
    /// Whether nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.starved.is_empty() && self.fresh.is_empty()
    }

    /// `waiter` got `ENOBUFS`: it goes to the tail of the starved.
    pub(crate) fn push_starved(&mut self, waiter: Weak<dyn RecvWaiter>) {
        self.starved.push_back(waiter);
    }

    /// `waiter` wants to receive: it is armed this turn, after the starved that fit.
    pub(crate) fn push_fresh(&mut self, waiter: Weak<dyn RecvWaiter>) {
        self.fresh.push(waiter);
    }

    /// This turn's receivers, in arming order, into `out`: up to `free` live starved ones,
    /// oldest first (dead ones are dropped and do not count), then every fresh one. The
    /// caller calls them back with no borrow of this queue held, since a receiver may ask
    /// again.
    pub(crate) fn take_turn(&mut self, free: usize, out: &mut Vec<Weak<dyn RecvWaiter>>) {
        let mut served = 0;
        while served < free {
            let Some(waiter) = self.starved.pop_front() else {
                break;
            };
            if waiter.strong_count() > 0 {
                out.push(waiter);
                served += 1;
            }
        }
        out.append(&mut self.fresh);
    }

    /// Forgets every waiter (runtime teardown).
    pub(crate) fn clear(&mut self) {
        self.starved.clear();
        self.fresh.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::{Rc, Weak};

    use super::{RecvWaiter, RecvWaiters};

    struct Named {
        name: &'static str,
        log: Rc<RefCell<Vec<&'static str>>>,
    }

    impl RecvWaiter for Named {
        fn buffers_ready(&self) {
            self.log.borrow_mut().push(self.name);
        }
    }

    fn named(name: &'static str, log: &Rc<RefCell<Vec<&'static str>>>) -> Rc<Named> {
        Rc::new(Named {
            name,
            log: log.clone(),
        })
    }

    fn weak(c: &Rc<Named>) -> Weak<dyn RecvWaiter> {
        let w: Weak<Named> = Rc::downgrade(c);
        w
    }

    fn run(waiters: &mut RecvWaiters, free: usize) {
        let mut turn = Vec::new();
        waiters.take_turn(free, &mut turn);
        for w in turn {
            if let Some(w) = w.upgrade() {
                w.buffers_ready();
            }
        }
    }

    #[test]
    fn starved_go_first_oldest_first_up_to_the_free_buffers_then_every_fresh_one() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let (a, b, c, f1, f2) = (
            named("a", &log),
            named("b", &log),
            named("c", &log),
            named("f1", &log),
            named("f2", &log),
        );
        let mut waiters = RecvWaiters::default();
        // Fresh ones asked first: they still go after the starved.
        waiters.push_fresh(weak(&f1));
        waiters.push_starved(weak(&a));
        {
            let gone = named("gone", &log);
            waiters.push_starved(weak(&gone));
        }
        waiters.push_starved(weak(&b));
        waiters.push_starved(weak(&c));
        waiters.push_fresh(weak(&f2));
        run(&mut waiters, 2);
        assert_eq!(
            *log.borrow(),
            ["a", "b", "f1", "f2"],
            "the dropped one not counted"
        );
        assert!(!waiters.is_empty(), "c still waits");
        log.borrow_mut().clear();
        run(&mut waiters, 5);
        assert_eq!(*log.borrow(), ["c"]);
        assert!(waiters.is_empty());
    }
}
