//! [`ReadSide`]: where a reader's bytes come from, and the one door its reads go through.
//!
//! It holds the inbound state itself (shared with the connection), not only the
//! connection: a read step then starts from one pointer, with no match on where the bytes
//! come from, and a reader fed by hand pays nothing for flow control. Measured on the parse
//! bench's `read_line` 64 B with callgrind (`docs/decisions.md`, "Reader fast paths").

use std::cell::RefCell;
use std::rc::Rc;

use super::conn::Conn;
use super::inbound::Inbound;

/// A connection's inbound state (its receive is re-armed when a read resumes a paused
/// buffer, E4), or a buffer fed by hand (`ReaderFeeder`, no connection).
#[derive(Debug)]
pub(crate) struct ReadSide {
    inbound: Rc<RefCell<Inbound>>,
    conn: Option<Rc<Conn>>,
}

impl ReadSide {
    /// Reads from `conn`.
    pub(crate) fn conn(conn: Rc<Conn>) -> ReadSide {
        ReadSide {
            inbound: conn.inbound_cell().clone(),
            conn: Some(conn),
        }
    }

    /// Reads what is fed into `inbound` by hand.
    pub(crate) fn fed(inbound: Rc<RefCell<Inbound>>) -> ReadSide {
        ReadSide {
            inbound,
            conn: None,
        }
    }

    /// The connection, if this reads from one.
    pub(crate) fn connection(&self) -> Option<&Rc<Conn>> {
        self.conn.as_ref()
    }

    /// Runs one read step (a `poll_*` of [`Inbound`]). A step may resume a paused buffer
    /// (E4): the caller then calls [`after_step`](Self::after_step) once it is done with
    /// the result.
    #[inline(always)]
    pub(crate) fn step<T>(&self, step: impl FnOnce(&mut Inbound) -> T) -> T {
        step(&mut self.inbound.borrow_mut())
    }

    /// After a read step: a step that brought a paused buffer back down re-arms the
    /// connection's receive. Separate from the step because code between a step and its
    /// return makes the compiler copy the step's result (a 56-byte `Poll`) on every read,
    /// ~7 instructions of ~350 per 64-byte line (callgrind, the parse bench).
    #[inline(always)]
    pub(crate) fn after_step(&self) {
        if let Some(conn) = &self.conn {
            after_step(&self.inbound, conn);
        }
    }

    /// Looks at the inbound state without reading.
    pub(crate) fn look<T>(&self, look: impl FnOnce(&Inbound) -> T) -> T {
        look(&self.inbound.borrow())
    }

    /// The read's future was dropped while it waited.
    pub(crate) fn cancel_read(&self) {
        if let Ok(mut inbound) = self.inbound.try_borrow_mut() {
            inbound.cancel_read();
        }
    }
}

/// After a read step on a connection: a step that brought a paused buffer back down (E4)
/// re-arms the receive.
#[inline(always)]
fn after_step(inbound: &RefCell<Inbound>, conn: &Conn) {
    if inbound.borrow().resumed() {
        resume(inbound, conn);
    }
}

#[cold]
#[inline(never)]
fn resume(inbound: &RefCell<Inbound>, conn: &Conn) {
    if inbound.borrow_mut().take_resumed() {
        conn.resume_reading();
    }
}
