//! The door for a front-end that runs its code straight from the connection's completions
//! rather than from a task (the protocol front-end: `data_received` runs from the receive
//! completion, with no task woken in between).
//!
//! The connection does not call the front-end with news: after a completion that can
//! change what the front-end sees (a receive, a send that took the buffer back down to the
//! low watermark, the endpoint closing), with no borrow of its state held, it says that
//! something may have changed ([`ConnEvents::changed`]), and the front-end pulls what it
//! wants to know (buffered data, EOF, the watermark, the close). Sends that change nothing
//! it sees, and flushes, tell it nothing: that keeps a protocol's per-message cost to one
//! look after its receive.

use std::io;
use std::rc::Rc;

use bytes::BytesMut;

use super::Conn;

/// See [`Conn::write_side`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteSide {
    /// Over the high watermark and not yet back down to the low one (G3); never once the
    /// queue is torn down (aborted, failed, closed).
    pub(crate) paused: bool,
    /// From `close()`, `abort()` or a failure on.
    pub(crate) closing: bool,
    /// The endpoint is closed ([`Conn::closed_result`] says how).
    pub(crate) closed: bool,
}

/// A front-end told after its connection's completions that may change what it sees.
pub(crate) trait ConnEvents {
    /// The connection's state may have changed: data, EOF or an error arrived, a send
    /// completed, the endpoint closed.
    fn changed(&self);

    /// Receives go into buffers the front-end hands over ([`Conn::recv_into`]), not into
    /// the runtime's buffer ring: the connection asks for none itself, and the front-end
    /// arms the next receive once it has taken what came.
    fn own_buffers(&self) -> bool;

    /// A receive into the front-end's buffer ended: `buffer` comes back with `nbytes`
    /// received bytes appended (0 when it ended without data: EOF, an error, a cancel).
    fn filled(&self, buffer: BytesMut, nbytes: usize);
}

impl Conn {
    /// Tells `events` about every later change, until [`clear_events`](Self::clear_events).
    pub(crate) fn set_events(&self, events: Rc<dyn ConnEvents>) {
        *self.events.borrow_mut() = Some(events);
    }

    /// Stops telling the front-end (it is done with the connection); drops the connection's
    /// reference to it.
    pub(crate) fn clear_events(&self) {
        let events = self.events.borrow_mut().take();
        drop(events);
    }

    /// Whether the front-end hands over the receive buffers.
    /// Never on TLS: the kernel's bytes are ciphertext, which goes through the session
    /// into the inbound buffer, and the front-end gets the plaintext from there.
    pub(super) fn own_buffers(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.is_tls() {
            return false;
        }
        self.events
            .borrow()
            .as_ref()
            .is_some_and(|e| e.own_buffers())
    }

    /// Tells the front-end, if one listens.
    pub(super) fn notify(&self) {
        let events = self.events.borrow().clone();
        if let Some(events) = events {
            events.changed();
        }
    }

    /// Tells the front-end again just before the ring's next submission (say, to deliver
    /// what was buffered while it had paused reading, outside the call that resumed it).
    fn notify_soon(&self) {
        self.notify_at_flush.set(true);
        self.schedule_flush();
    }

    /// How the connection ended, once its endpoint is closed: `Ok` after `close()` or
    /// `abort()`, its error if it failed; `None` while it is open.
    pub(crate) fn closed_result(&self) -> Option<io::Result<()>> {
        self.outbound.borrow().closed_result()
    }

    /// The write side's facts a front-end told by the completions checks after each one,
    /// in one look.
    pub(crate) fn write_side(&self) -> WriteSide {
        let outbound = self.outbound.borrow();
        WriteSide {
            paused: outbound.is_paused() && !outbound.is_torn_down(),
            closing: outbound.is_closing(),
            closed: outbound.closed_result().is_some(),
        }
    }

    /// Pauses or resumes receiving for the front-end (G4): while paused no receive is
    /// armed, so a flooding peer fills the kernel's socket buffer, not ours (a receive
    /// already in flight still lands in the inbound buffer).
    /// On a resume the front-end is told again at the next flush, so what arrived while
    /// paused is delivered then, outside the call that resumed.
    pub(crate) fn hold_reading(&self, held: bool) {
        let changed = self.inbound.borrow_mut().hold(held);
        if changed && !held {
            self.arm_recv();
            self.notify_soon();
        }
    }

    /// Whether the front-end paused receiving.
    pub(crate) fn reading_held(&self) -> bool {
        self.inbound.borrow().is_held()
    }
}
