//! The send path: at most one send in flight; it takes up to `MAX_IOVECS` queued chunks
//! (small writes are already coalesced by the outbound queue) in one vectored `sendmsg`, or
//! a plain `send` when there is one chunk, from ordinary memory (see `docs/decisions.md`,
//! "Sends").

use std::io;
use std::os::fd::RawFd;

use crate::driver::ops::{Send, SendBuffers, Sent, Writev};
use crate::transport::outbound::SendBatch;

use super::{nowait, Conn, SENT};

/// Chunks in one vectored send.
const MAX_IOVECS: usize = 64;
/// Piece-list and iovec capacity a connection keeps between sends: an idle connection
/// should not keep a 64-piece list from a burst.
const KEPT_PIECES: usize = 8;
/// Bytes in one send; more stays queued for the next one.
const MAX_SEND_BYTES: usize = 1 << 20;

/// Where the connection's send is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendState {
    /// No send in flight.
    Idle,
    /// A send (or a pipe write) is in flight: its slot key.
    InFlight(usize),
    /// A pipe write met `EAGAIN`: a poll for `POLLOUT` is in flight (its key); the batch
    /// went back to the queue.
    AwaitingWritable(usize),
}

impl SendState {
    /// The key of the op in flight, if any.
    pub(super) fn key(self) -> Option<usize> {
        match self {
            SendState::InFlight(key) | SendState::AwaitingWritable(key) => Some(key),
            SendState::Idle => None,
        }
    }
}

impl Conn {
    /// Starts a send if none is in flight and data is queued; then runs any half-close or
    /// close that the outbound state is waiting for.
    pub(super) fn flush(&self) {
        let target = match self.send.get() {
            SendState::Idle => self.op_target(),
            SendState::InFlight(_) | SendState::AwaitingWritable(_) => None,
        };
        if let Some(target) = target {
            let mut buffers = self.send_buffers.take().unwrap_or_default();
            // The piece list of the last batch, reused (no allocation per send).
            let mut spare = buffers.unload();
            let batch = self.outbound.borrow_mut().next_send_reusing(
                MAX_IOVECS,
                MAX_SEND_BYTES,
                &mut spare,
            );
            if let Some(batch) = batch {
                buffers.load(batch.into_pieces());
                self.submit_send(target, buffers);
                return;
            }
            buffers.recycle(spare, KEPT_PIECES);
            self.send_buffers.set(Some(buffers));
        }
        self.finish_pending_close();
    }

    /// Submits what `buffers` holds as one send; the op's slot keeps the buffers (what the
    /// kernel reads) and the connection until the completion gives them back.
    fn submit_send(&self, (fd, pipe): (RawFd, bool), buffers: Box<SendBuffers>) {
        let Some(conn) = self.strong() else { return };
        let key = if pipe {
            let op = Writev::new(fd, buffers, nowait::rw_flags());
            self.driver.submit_handler(op, conn)
        } else {
            self.driver.submit_handler(Send::new(fd, buffers), conn)
        };
        self.send.set(SendState::InFlight(key));
    }

    /// A send ended. `buffers` is `None` only when the ring failed with the send in the
    /// kernel (its memory is leaked, and the connection fails with the ring's error).
    pub(super) fn on_send(&self, sent: Sent, buffers: Option<Box<SendBuffers>>) {
        self.send.set(SendState::Idle);
        let was_paused = self.outbound.borrow().is_paused();
        let Some(mut buffers) = buffers else {
            self.outbound.borrow_mut().abandon_send();
            self.fail(match sent {
                Sent::Failed(e) => e,
                Sent::Bytes(_) | Sent::WouldBlock => io::Error::other("a send was lost"),
            });
            return;
        };
        let batch = SendBatch::from_pieces(buffers.unload());
        let (sent, error) = match sent {
            // A full O_NONBLOCK pipe: nothing was written; wait until it drains.
            Sent::WouldBlock if self.is_pipe() => {
                let spare = self.outbound.borrow_mut().complete_send(batch, 0);
                buffers.recycle(spare, KEPT_PIECES);
                self.send_buffers.set(Some(buffers));
                self.wait_writable();
                return;
            }
            Sent::WouldBlock => (0, Some(io::Error::from_raw_os_error(libc::EAGAIN))),
            Sent::Bytes(n) => (n, None),
            Sent::Failed(e) => (0, Some(e)),
        };
        if sent > 0 {
            self.note_activity(SENT);
        }
        let spare = self.outbound.borrow_mut().complete_send(batch, sent);
        buffers.recycle(spare, KEPT_PIECES);
        self.send_buffers.set(Some(buffers));
        #[cfg(feature = "tls")]
        self.release_idle_tls_memory();
        if let Some(e) = error {
            self.fail(e);
        }
        self.schedule_flush();
        // A front-end told by the completions hears of a send only when it took the
        // buffer back down to the low watermark (`resume_writing`); a close it leads to
        // tells it when the endpoint closes.
        if was_paused && !self.outbound.borrow().is_paused() {
            self.notify();
        }
    }

    /// Waits with a one-shot poll until the pipe has room, then sends again.
    fn wait_writable(&self) {
        if let Some(key) = self.submit_poll(libc::POLLOUT) {
            self.send.set(SendState::AwaitingWritable(key));
        }
    }

    pub(super) fn on_writable(&self, error: Option<io::Error>) {
        self.send.set(SendState::Idle);
        if let Some(e) = error {
            self.fail(e);
        }
        self.schedule_flush();
    }

    /// Abort and failure drop the queue, so a send waiting for the pipe to drain goes too.
    pub(super) fn stop_waiting_to_send(&self) {
        if let SendState::AwaitingWritable(key) = self.send.get() {
            self.driver.cancel(key);
        }
    }
}
