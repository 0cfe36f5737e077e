//! The accept side of a listening socket: one multishot `IORING_OP_ACCEPT` whose
//! completions push the new descriptors into a queue.
//!
//! A connection accepted while nobody is awaiting an accept is kept, not lost, and one
//! accepted after the owner stopped is closed when the op ends (the queue belongs to the
//! op's handler). The queue is bounded: past `max_queued` waiting connections the accept is
//! cancelled (new connections wait in the kernel's backlog) and armed again once the
//! queue drains.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::driver::ops::{AcceptMulti, HandlerOp};
use crate::driver::{Completion, CompletionHandler, Driver};

/// Accepts connections on one listening socket.
#[derive(Debug)]
pub(crate) struct Acceptor {
    state: Rc<RefCell<State>>,
    max_queued: usize,
}

#[derive(Default)]
struct State {
    ready: VecDeque<OwnedFd>,
    error: Option<io::Error>,
    /// Key of the multishot accept in flight.
    armed: Option<usize>,
    /// Weak: the driver's op table holds the handler, which holds this state.
    driver: Option<Weak<Driver>>,
    waker: Option<Waker>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("ready", &self.ready.len())
            .field("armed", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    /// An acceptor that holds at most `max_queued` accepted connections.
    pub(crate) fn new(max_queued: usize) -> Acceptor {
        Acceptor {
            state: Rc::default(),
            max_queued,
        }
    }

    /// The next accepted connection, arming the accept on listening socket `fd` if it is
    /// not armed. `socket` is what keeps `fd` open: the op holds it until its last
    /// completion, so the number is not reused under a queued SQE.
    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
        fd: RawFd,
        socket: Rc<dyn Any>,
    ) -> Poll<io::Result<OwnedFd>> {
        let mut state = self.state.borrow_mut();
        if let Some(fd) = state.ready.pop_front() {
            return Poll::Ready(Ok(fd));
        }
        if let Some(e) = state.error.take() {
            return Poll::Ready(Err(e));
        }
        if state.armed.is_none() {
            drop(state);
            if let Err(e) = self.arm(fd, socket) {
                return Poll::Ready(Err(e));
            }
            state = self.state.borrow_mut();
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn arm(&self, fd: RawFd, socket: Rc<dyn Any>) -> io::Result<()> {
        let Some(core) = crate::runtime::current_core() else {
            return Err(crate::error::outside_runtime("Listener::accept"));
        };
        let handler = Rc::new(AcceptHandler {
            state: self.state.clone(),
            max_queued: self.max_queued,
            _socket: socket,
        });
        let key = core.driver.submit_handler(AcceptMulti::new(fd), handler);
        let mut state = self.state.borrow_mut();
        state.armed = Some(key);
        state.driver = Some(Rc::downgrade(&core.driver));
        Ok(())
    }

    /// Stops the accept (it is armed again by the next `poll_accept`); connections already
    /// queued stay.
    pub(crate) fn pause(&self) {
        let (key, driver) = {
            let state = self.state.borrow();
            (state.armed, state.driver.as_ref().and_then(Weak::upgrade))
        };
        if let (Some(key), Some(driver)) = (key, driver) {
            driver.cancel(key);
        }
    }

    /// Whether an accept is armed.
    pub(crate) fn is_armed(&self) -> bool {
        self.state.borrow().armed.is_some()
    }

    /// Stops for good: cancels the accept and closes the queued connections (and any the
    /// op still delivers).
    pub(crate) fn stop(&self) {
        let mut state = self.state.borrow_mut();
        let driver = state.driver.take().and_then(|d| d.upgrade());
        if let (Some(key), Some(driver)) = (state.armed.take(), driver) {
            driver.cancel(key);
        }
        state.ready.clear();
    }
}

/// The multishot accept's completions.
struct AcceptHandler {
    state: Rc<RefCell<State>>,
    max_queued: usize,
    /// The listening socket the op names by number.
    _socket: Rc<dyn Any>,
}

impl CompletionHandler for AcceptHandler {
    fn on_completion(&self, driver: &Driver, c: Completion, _op: Option<HandlerOp>) {
        let mut state = self.state.borrow_mut();
        match AcceptMulti::accepted(c) {
            Ok(fd) => state.ready.push_back(fd),
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            Err(e) => state.error = Some(e),
        }
        if !c.more() {
            state.armed = None;
        } else if state.ready.len() >= self.max_queued {
            // Nobody is taking connections: leave the rest in the kernel's backlog.
            if let Some(key) = state.armed {
                driver.cancel(key);
            }
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}
