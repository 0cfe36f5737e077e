//! The receive path: arming, completions, and the lend-or-copy choice.
//!
//! One recv at a time, with a buffer picked by the kernel from the runtime's
//! provided-buffer ring, so a connection waiting for data holds no buffer. A completion of
//! at least `LEND_MIN` bytes that finds the reader empty is lent to it as it is (zero copy;
//! the buffer returns to the ring when the last `Bytes` over it drops); other completions
//! are copied into the reader's buffer and the ring buffer is given straight back. Lending
//! stops while half the ring is out, so readers that hold on to data cannot starve receives.
//! The driver arms the recv, in the loop turn's submission: connections that met an empty
//! ring (ENOBUFS) first, oldest first, so none starves (`driver::buf_ring::waiters`).
//! Single recvs, not multishot: see `docs/decisions.md`, "Receive: one recv per arm".
//!
//! A recv is not capped at the reader's limit: it takes whatever fits the ring buffer the
//! kernel picks (64 KiB by default), as asyncio reads up to 256 KiB per call whatever the
//! limit. Capped at a small limit, a line longer than the limit would reach a waiting
//! `read_line` in limit-sized pieces: the piece that first goes over the limit without its
//! newline would be discarded alone (B4), and the rest of the line read as a line of its
//! own, where asyncio discards the whole line (B3). The buffer stays bounded by the pause
//! threshold plus one recv: E4 pauses above `max(2 x limit, what the waiting read needs)`,
//! and the recv in flight then brings at most one ring buffer more.
//!
//! Whether the receive side is over (EOF, an error, `close()`) and whether it is paused
//! (E4) are the inbound state's facts; this file asks it before arming.

use std::io;
use std::rc::Weak;

use bytes::BytesMut;

use crate::driver::ops::{Read, Received, Recv, RecvInto};
use crate::driver::{Driver, RecvDelivery, RecvWaiter};

use super::{nowait, Conn, RECEIVED};

/// Received bytes from which a receive buffer is lent to the reader (`read(n)` hands it on
/// without a copy) rather than copied into the reader's buffer, when the reader holds
/// nothing else and fewer than half the ring's buffers are out (so receives never starve).
/// Lending costs a flat ~35-60 ns (an allocation and a reference count), a copy ~60-100 ns
/// at 4 KiB, ~300 at 16 KiB, ~1,500 at 64 KiB (measured per buffer, release build); below
/// 4 KiB copying wins, and it does not pin a whole 64 KiB buffer for a small message.
const LEND_MIN: usize = 4096;

/// Where the connection's receive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecvState {
    /// No recv, none asked for.
    Idle,
    /// Waiting for the driver to arm the recv (this turn, or when a receive buffer is free
    /// after ENOBUFS).
    Queued,
    /// A recv (or a pipe read) is in flight: its slot key.
    Armed(usize),
    /// A pipe read met `EAGAIN`: a poll for `POLLIN` is in flight (its key).
    AwaitingReadable(usize),
}

impl RecvState {
    /// The key of the op in flight, if any.
    pub(super) fn key(self) -> Option<usize> {
        match self {
            RecvState::Armed(key) | RecvState::AwaitingReadable(key) => Some(key),
            RecvState::Idle | RecvState::Queued => None,
        }
    }
}

impl Conn {
    /// Asks for a recv in this turn's submission, behind the connections that found no
    /// receive buffer before (see `driver::buf_ring::waiters`).
    pub(super) fn arm_recv(&self) {
        if self.wants_recv() && !self.own_buffers() {
            self.recv.set(RecvState::Queued);
            self.driver.recv_when_ready(self.as_receiver());
        }
    }

    fn wants_recv(&self) -> bool {
        self.recv.get() == RecvState::Idle && self.inbound.borrow().wants_data() && self.is_open()
    }

    /// This connection as the driver calls it back to arm its recv.
    fn as_receiver(&self) -> Weak<dyn RecvWaiter> {
        self.weak_self.clone()
    }

    fn submit_recv(&self) {
        let Some(conn) = self.strong() else { return };
        let Some(group) = self.driver.with_recv_buffers(|ring| ring.group()) else {
            self.fail(io::Error::other(
                "the runtime has no receive buffer ring (Builder::recv_buffers(0, _)); \
                 streams need one",
            ));
            return;
        };
        let Some((fd, pipe)) = self.op_target() else {
            return;
        };
        let key = if pipe {
            let read = Read::new(fd, group, nowait::rw_flags());
            self.driver.submit_handler(read, conn)
        } else {
            self.driver.submit_handler(Recv::new(fd, group), conn)
        };
        self.recv.set(RecvState::Armed(key));
    }

    pub(super) fn on_recv(&self, driver: &Driver, received: Received) {
        self.recv.set(RecvState::Idle);
        match received {
            Received::Data { buffer, len } => {
                self.note_activity(RECEIVED);
                #[cfg(feature = "tls")]
                if self.is_tls() {
                    self.receive_tls(driver, buffer, len);
                } else {
                    self.receive_plain(driver, buffer, len);
                }
                #[cfg(not(feature = "tls"))]
                self.receive_plain(driver, buffer, len);
            }
            Received::Eof => {
                #[cfg(feature = "tls")]
                self.tls_eof();
                self.inbound.borrow_mut().feed_eof();
            }
            // The buffer ring ran dry: the data is still in the socket. Wait for a buffer
            // in turn instead of re-arming (which would spin and let the recv that comes
            // first in the submission win every time).
            Received::NoBuffer => {
                if self.wants_recv() {
                    self.recv.set(RecvState::Queued);
                    self.driver.wait_for_recv_buffer(self.as_receiver());
                }
            }
            // Cancelled by close or a failure.
            Received::Cancelled => {}
            // A pipe in O_NONBLOCK mode with nothing to read: wait for data, then read.
            Received::WouldBlock if self.is_pipe() => {
                self.wait_readable();
                return;
            }
            Received::WouldBlock => self.fail(io::Error::from_raw_os_error(libc::EAGAIN)),
            Received::Failed(e) => self.fail(e),
            // Only receives into the front-end's own buffer report this.
            Received::Filled { .. } => self.fail(io::Error::other(
                "a receive into a ring buffer reported no ring buffer",
            )),
        }
        self.arm_recv();
        self.close_if_idle();
    }

    /// Hands received bytes to the reader: lent when large and the reader is empty (and
    /// the ring can spare the buffer), else copied and the buffer given straight back.
    fn receive_plain(&self, driver: &Driver, buffer: u16, len: usize) {
        driver.with_recv_buffers(|ring| {
            let mut inbound = self.inbound.borrow_mut();
            // After close() or a failure nobody may read this any more.
            if inbound.is_over() {
                ring.recycle(buffer);
                return;
            }
            if len >= LEND_MIN && inbound.is_empty() && ring.lent() < ring.count() / 2 {
                driver.count_recv(RecvDelivery::Lent);
                let _ = inbound.feed_lent(ring.lend(buffer, len));
            } else {
                driver.count_recv(RecvDelivery::Copied);
                let _ = inbound.feed_data(ring.slice(buffer, len));
                ring.recycle(buffer);
            }
        });
    }

    /// Hands received ciphertext to the TLS session (a copy: the buffer goes straight
    /// back), then acts on what it decrypted.
    #[cfg(feature = "tls")]
    fn receive_tls(&self, driver: &Driver, buffer: u16, len: usize) {
        let outcome = driver.with_recv_buffers(|ring| {
            driver.count_recv(RecvDelivery::Copied);
            let outcome = self.tls_decrypt(ring.slice(buffer, len));
            ring.recycle(buffer);
            outcome
        });
        if let Some(outcome) = outcome.flatten() {
            self.tls_received(outcome);
        }
    }

    /// The front-end that hands over receive buffers (`ConnEvents::own_buffers`) should arm
    /// a receive now: none is in flight, and the connection wants data.
    pub(crate) fn wants_buffer(&self) -> bool {
        self.wants_recv() && self.own_buffers()
    }

    /// Receives into the spare capacity of the front-end's `buffer`; the completion hands it
    /// back through `ConnEvents::filled`. `Err` gives the buffer back when it has no spare
    /// capacity or the connection takes no receive now.
    pub(crate) fn recv_into(&self, buffer: BytesMut) -> Result<(), BytesMut> {
        let (Some(conn), Some((fd, pipe)), true) =
            (self.strong(), self.op_target(), self.wants_recv())
        else {
            return Err(buffer);
        };
        let op = RecvInto::new(fd, buffer, pipe, nowait::rw_flags())?;
        let key = self.driver.submit_handler(op, conn);
        self.recv.set(RecvState::Armed(key));
        Ok(())
    }

    pub(super) fn on_recv_into(&self, received: Received, op: RecvInto) {
        self.recv.set(RecvState::Idle);
        let len = match received {
            Received::Filled { len } => len,
            _ => 0,
        };
        let buffer = op.into_buffer(len);
        let events = self.events.borrow().clone();
        let give_back = |buffer: BytesMut, len: usize| {
            if let Some(events) = &events {
                events.filled(buffer, len);
            }
        };
        match received {
            Received::Filled { len } => {
                self.note_activity(RECEIVED);
                // After close() or a failure nobody may read this any more.
                let over = self.inbound.borrow().is_over();
                give_back(buffer, if over { 0 } else { len });
            }
            Received::Eof => {
                self.inbound.borrow_mut().feed_eof();
                give_back(buffer, 0);
            }
            Received::Cancelled => give_back(buffer, 0),
            Received::WouldBlock if self.is_pipe() => {
                give_back(buffer, 0);
                self.wait_readable();
                return;
            }
            Received::WouldBlock => {
                give_back(buffer, 0);
                self.fail(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            Received::Failed(e) => {
                give_back(buffer, 0);
                self.fail(e);
            }
            // Only receives into ring buffers report these.
            Received::Data { .. } | Received::NoBuffer => {
                give_back(buffer, 0);
                self.fail(io::Error::other(
                    "a receive into a protocol's buffer reported a ring buffer",
                ));
            }
        }
        self.close_if_idle();
    }

    /// Waits with a one-shot poll until the pipe has data, then reads again. The poll
    /// takes the read's place, so close and failure cancel it.
    fn wait_readable(&self) {
        if let Some(key) = self.submit_poll(libc::POLLIN) {
            self.recv.set(RecvState::AwaitingReadable(key));
        }
    }

    pub(super) fn on_readable(&self, error: Option<io::Error>) {
        self.recv.set(RecvState::Idle);
        if let Some(e) = error {
            self.fail(e);
        }
        self.arm_recv();
        self.close_if_idle();
    }

    /// `close()`, `abort()` or a failure: no more receives; reads after this see EOF
    /// (after what is buffered) rather than waiting forever.
    pub(super) fn stop_reading(&self) {
        if let Some(key) = self.recv.get().key() {
            self.driver.cancel(key);
        }
        let mut inbound = self.inbound.borrow_mut();
        if !inbound.is_over() {
            inbound.feed_eof();
        }
        drop(inbound);
        #[cfg(feature = "tls")]
        self.wake_handshake();
    }
}

/// The driver arms a connection's recv when its turn comes.
impl RecvWaiter for Conn {
    fn buffers_ready(&self) {
        if self.recv.get() == RecvState::Queued {
            self.recv.set(RecvState::Idle);
        }
        if !self.wants_recv() {
            return;
        }
        if self.own_buffers() {
            // Queued before the front-end took the buffers over: it arms the receive.
            self.notify();
        } else {
            self.submit_recv();
        }
    }
}
