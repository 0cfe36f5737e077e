//! Per-connection outbound state: the send queue and the bytes in flight, write flow control
//! (watermarks and `drain()`), half-close, close and abort (SEMANTICS F1–F10).

//!
//! No syscalls here. The transport asks [`Outbound::next_send`] for a batch, hands it to one
//! vectored send (at most one in flight), and reports the result with
//! [`Outbound::complete_send`] or [`Outbound::fail`]. After every change it asks
//! [`Outbound::should_shutdown_write`] and [`Outbound::should_close`], and reports what it did
//! with [`Outbound::shutdown_done`] and [`Outbound::closed`]. Queued data lives here, not in a
//! write or drain future, so dropping one loses nothing.
//!
//! Lifecycle: open -> closing (`close()`: flush, then close) -> closed; `abort()` or a
//! connection error ([`fail`](Outbound::fail)) drops the queue and goes straight to "close
//! now". `write_eof()` is orthogonal: it asks for a FIN once the queue is empty.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;

mod queue;
#[cfg(test)]
mod testing;
mod waiters;

pub(crate) use queue::SendBatch;
#[cfg(feature = "tls")]
pub(crate) use queue::COALESCE_BELOW;
pub(crate) use waiters::Waiter;

use super::stored_error::StoredError;
use queue::SendQueue;
pub(crate) use waiters::Waiters;

/// The default high watermark (F2).
const DEFAULT_HIGH: usize = 64 * 1024;

/// Where the connection's send side is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Writes are accepted.
    Open,
    /// `close()` was called: the queue still flushes, then the socket closes.
    Closing,
    /// `abort()` was called or the connection failed: the queue is gone, close now.
    Aborted,
    /// The transport closed the socket.
    Closed,
}

/// Where the half-close (F6) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eof {
    /// `write_eof()` was not called.
    NotWanted,
    /// `write_eof()` was called; the FIN goes out once the queue is empty.
    Wanted,
    /// The transport shut down the write side.
    Sent,
}

/// The outbound half of one connection.
///
/// What only a parked `drain()`, a `wait_closed()` or an error needs lives in [`Rare`],
/// allocated on first use, so that the many connections that never wait keep this small
/// inside their connection's allocation (see `docs/decisions.md`, "Idle connection
/// memory").
pub(crate) struct Outbound {
    /// Bytes not yet handed to the kernel.
    queue: SendQueue,
    /// Bytes of the batch in flight; 0 when no send is in flight.
    in_flight: usize,
    /// Pause when the buffer goes strictly over this (F4).
    high: usize,
    /// Resume when the buffer falls to this or below (F4).
    low: usize,
    /// The rarely used parts; `None` until one is needed.
    rare: Option<Box<Rare>>,
    /// Over the high watermark and not yet back to the low one.
    paused: bool,
    /// Open, closing, aborted or closed.
    phase: Phase,
    /// Half-close state.
    eof: Eof,
}

/// The parts of [`Outbound`] most connections never use, allocated together on first use
/// and kept.
#[derive(Default)]
struct Rare {
    /// Pending `drain()` calls (F4).
    drains: Waiters,
    /// Pending `wait_closed()` calls (F7).
    closers: Waiters,
    /// Pending flushes (the poll-level writer's `poll_flush`): released once everything
    /// written, and a requested FIN, is handed to the kernel.
    flushes: Waiters,
    /// The error that ended the connection (F5).
    error: Option<Rc<StoredError>>,
    /// Why closing the socket failed, or that it closed with data unsent (F7).
    close_error: Option<StoredError>,
    /// The connection ended by `abort()`, a failure or a close that lost data: a drain
    /// released by that ending is an error, not a resume (F5).
    lost: bool,
}

impl Default for Outbound {
    /// An open writer with nothing queued and the default limits: high 64 KiB, low 16 KiB.
    fn default() -> Self {
        Self {
            queue: SendQueue::default(),
            in_flight: 0,
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
            rare: None,
            paused: false,
            phase: Phase::Open,
            eof: Eof::NotWanted,
        }
    }
}

impl Outbound {
    /// Queues `data` without blocking (F1); an empty `data` is a no-op. A small `data` is
    /// copied into the coalescing tail, a large one is queued as it is.
    ///
    /// Errors (F9): after `close()`, `abort()` or `write_eof()`, a `BrokenPipe` error and
    /// nothing is queued, even for empty `data`; after a connection error, that error.
    pub(crate) fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.check_writable()?;
        self.queue.push(data);
        self.maybe_pause();
        Ok(())
    }

    /// Like [`write`](Self::write), copying `data` into the coalescing tail, so that many
    /// small writes go out as one piece of one send.
    pub(crate) fn write_slice(&mut self, data: &[u8]) -> io::Result<()> {
        self.check_writable()?;
        self.queue.push_slice(data);
        self.maybe_pause();
        Ok(())
    }

    /// The next send: up to `max_iovecs` pieces and `max_bytes` bytes off the front of the
    /// queue, now in flight. `None` while a send is in flight, when nothing is queued, or when
    /// either limit is 0.
    #[cfg(test)]
    pub(crate) fn next_send(&mut self, max_iovecs: usize, max_bytes: usize) -> Option<SendBatch> {
        self.next_send_reusing(max_iovecs, max_bytes, &mut Vec::new())
    }

    /// [`next_send`](Self::next_send) whose batch takes `spare` as its piece list (see
    /// [`complete_send`](Self::complete_send)), so that a send allocates nothing.
    pub(crate) fn next_send_reusing(
        &mut self,
        max_iovecs: usize,
        max_bytes: usize,
        spare: &mut Vec<Bytes>,
    ) -> Option<SendBatch> {
        if self.in_flight > 0 {
            return None;
        }
        let batch = self.queue.take(max_iovecs, max_bytes, spare)?;
        self.in_flight = batch.len();
        Some(batch)
    }

    /// The kernel sent the first `sent` bytes of `batch` (capped at its length). The rest
    /// goes back to the front of the queue, in order. May resume writing (F4).
    ///
    /// A batch that completes after `abort()`, a connection error or `closed()` is dropped:
    /// its bytes no longer count. Returns the batch's emptied piece list, for the next
    /// [`next_send_reusing`](Self::next_send_reusing).
    pub(crate) fn complete_send(&mut self, batch: SendBatch, sent: usize) -> Vec<Bytes> {
        if self.in_flight == 0 {
            return Vec::new();
        }
        self.in_flight = 0;
        let spare = self.queue.requeue_unsent(batch, sent);
        self.maybe_resume();
        self.release_flushes();
        spare
    }

    /// The connection failed (a send error, a reset): keeps `error` for every later write,
    /// drain and `wait_closed()`, drops the queue, releases every pending drain with the
    /// error and asks the transport to close. Only the first error counts; an error after
    /// `abort()` or `closed()` (say, the cancelled send's) is ignored.
    #[cfg(test)]
    pub(crate) fn fail(&mut self, error: io::Error) {
        self.fail_with(Rc::new(StoredError::new(&error)));
    }

    /// [`fail`](Self::fail) with the connection's stored error, which its inbound state
    /// shares.
    pub(crate) fn fail_with(&mut self, error: Rc<StoredError>) {
        if self.is_torn_down() {
            return;
        }
        self.rare().error = Some(error);
        self.tear_down(Phase::Aborted);
    }

    #[cfg(feature = "tls")]
    /// The connection failed with `error`, but what is queued must still go out first (a
    /// TLS alert telling the peer why): like [`close`](Self::close), keeping `error` for
    /// every later write, drain and `wait_closed()`.
    pub(crate) fn close_with_error(&mut self, error: Rc<StoredError>) {
        if self.is_torn_down() || self.error().is_some() {
            return;
        }
        self.rare().error = Some(error);
        self.close();
    }

    /// The send in flight will not come back (the ring failed with it in the kernel):
    /// nothing of it counts as in flight any more.
    pub(crate) fn abandon_send(&mut self) {
        self.in_flight = 0;
        self.maybe_resume();
        self.release_flushes();
    }

    /// Queued plus in-flight bytes (F2): asyncio's `get_write_buffer_size()`.
    pub(crate) fn write_buffer_size(&self) -> usize {
        self.queue.len() + self.in_flight
    }

    /// The watermarks as `(low, high)`, as asyncio's `get_write_buffer_limits()`.
    pub(crate) fn write_buffer_limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// Sets the watermarks (F3): high only -> low = high / 4; low only -> high = 4 x low
    /// (saturating); neither -> the defaults. `high < low` is an `InvalidInput` error and the
    /// old limits stay. May pause at once; never resumes.
    pub(crate) fn set_write_buffer_limits(
        &mut self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        let (high, low) = watermarks(high, low)?;
        self.high = high;
        self.low = low;
        self.maybe_pause();
        Ok(())
    }

    /// `drain()` (F4, F5): ready at once when not paused; else parks `waiter` until writing
    /// resumes. Every concurrent drain has its own [`Waiter`] and all are released together;
    /// a released drain returns `Ok` even if a later write paused the writer again.
    ///
    /// Errors, checked first on every poll: the connection's error if it failed; a
    /// `ConnectionReset` error once the writer is closing or closed and nothing is left to
    /// flush (after `abort()` at once), as asyncio's `drain()` raises `ConnectionResetError`
    /// once the connection is lost. While `close()` still flushes, a drain waits as usual,
    /// and when that flush releases it (writing resumed) it returns `Ok`, even if by the
    /// time it runs everything is sent and the socket closed; a drain released by
    /// `abort()` or a close that lost data is the `ConnectionReset` error.
    pub(crate) fn poll_drain(
        &mut self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        let resumed = self
            .rare
            .as_ref()
            .is_some_and(|r| r.drains.was_released(waiter) && !r.lost);
        let outcome = if let Some(error) = self.error() {
            Err(error.to_io_error())
        } else if resumed {
            Ok(())
        } else if self.is_closing() && self.is_idle() {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "drain() on a closed writer: the connection is closed",
            ))
        } else if !self.paused {
            Ok(())
        } else {
            self.rare().drains.park(waiter, cx.waker());
            return Poll::Pending;
        };
        self.cancel_drain(waiter);
        Poll::Ready(outcome)
    }

    /// A drain future was dropped: forgets its waker.
    pub(crate) fn cancel_drain(&mut self, waiter: &mut Waiter) {
        if let Some(rare) = &mut self.rare {
            rare.drains.remove(waiter);
        }
    }

    /// Half-close (F6): the transport shuts down the write side once the queue has drained;
    /// later writes are errors. Does nothing after `close()`, `abort()` or a second call.
    pub(crate) fn write_eof(&mut self) {
        if self.phase == Phase::Open && self.eof == Eof::NotWanted {
            self.eof = Eof::Wanted;
        }
    }

    /// Whether the transport should shut down the write side now: `write_eof()` was called,
    /// everything is sent, and [`shutdown_done`](Self::shutdown_done) was not called yet.
    /// Never after `abort()` or a connection error.
    pub(crate) fn should_shutdown_write(&self) -> bool {
        self.eof == Eof::Wanted && !self.is_torn_down() && self.is_idle()
    }

    /// The transport has shut down the write side (it reports a failure with
    /// [`fail`](Self::fail)).
    pub(crate) fn shutdown_done(&mut self) {
        if self.eof == Eof::Wanted {
            self.eof = Eof::Sent;
            self.release_flushes();
        }
    }

    /// A flush: ready once everything written is handed to the kernel (nothing queued,
    /// nothing in flight) and a requested FIN is sent; else parks `waiter` until then.
    /// Unlike `drain()` it ignores the watermarks, so that bytes a caller flushed are not
    /// lost if the program stops or aborts right after.
    ///
    /// Errors, checked first on every poll: the connection's error if it failed; a
    /// `ConnectionReset` error once `abort()` (or a close that lost data) dropped the
    /// queue. A writer that is closing flushes as usual.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        let outcome = if let Some(error) = self.error() {
            Err(error.to_io_error())
        } else if self.rare.as_ref().is_some_and(|rare| rare.lost) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "flush on an aborted writer: the queued data was dropped",
            ))
        } else if self.is_flushed() {
            Ok(())
        } else {
            self.rare().flushes.park(waiter, cx.waker());
            return Poll::Pending;
        };
        self.cancel_flush(waiter);
        Poll::Ready(outcome)
    }

    /// A flush was dropped or finished: forgets its waker.
    pub(crate) fn cancel_flush(&mut self, waiter: &mut Waiter) {
        if let Some(rare) = &mut self.rare {
            rare.flushes.remove(waiter);
        }
    }

    /// Everything written is handed to the kernel and no FIN waits to be sent.
    fn is_flushed(&self) -> bool {
        self.is_idle() && self.eof != Eof::Wanted
    }

    /// Releases the pending flushes once there is nothing left to flush.
    fn release_flushes(&mut self) {
        if !self.is_flushed() {
            return;
        }
        if let Some(rare) = &mut self.rare {
            rare.flushes.wake_all();
        }
    }

    /// `close()` (F7): later writes are errors, what is queued still flushes, then
    /// [`should_close`](Self::should_close) turns true. Idempotent.
    pub(crate) fn close(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
        }
    }

    /// `abort()` (F8): drops the queue (a send in flight no longer counts), releases every
    /// pending drain with an error, and makes [`should_close`](Self::should_close) true at
    /// once. Idempotent; after `close()` it drops what `close()` was still flushing.
    pub(crate) fn abort(&mut self) {
        if !self.is_torn_down() {
            self.tear_down(Phase::Aborted);
        }
    }

    /// `is_closing()`: true from `close()`, `abort()` or a connection error on (F7).
    pub(crate) fn is_closing(&self) -> bool {
        self.phase != Phase::Open
    }

    /// Whether the transport should close the socket now: closing, everything flushed (or
    /// dropped by `abort()`), the requested shutdown done, and not closed yet. The transport
    /// closes once and then calls [`closed`](Self::closed).
    pub(crate) fn should_close(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Aborted)
            && self.is_idle()
            && !self.should_shutdown_write()
    }

    /// The transport closed the socket, with `result`. Releases every `wait_closed()` (and
    /// any drain). If data was still queued (the transport closed without flushing), it is
    /// dropped and `wait_closed()` reports how much, rather than losing it silently.
    pub(crate) fn closed(&mut self, result: io::Result<()>) {
        if self.phase == Phase::Closed {
            return;
        }
        let unsent = self.write_buffer_size();
        let close_error = match result {
            Err(error) => Some(StoredError::new(&error)),
            Ok(()) if unsent > 0 => Some(StoredError::Other {
                kind: io::ErrorKind::ConnectionAborted,
                message: format!("the connection was closed with {unsent} bytes not yet sent"),
            }),
            Ok(()) => None,
        };
        if close_error.is_some() {
            self.rare().close_error = close_error;
        }
        self.tear_down(Phase::Closed);
        if let Some(rare) = &mut self.rare {
            rare.closers.wake_all();
        }
    }

    /// `wait_closed()` (F7): ready once [`closed`](Self::closed) was called; the connection's
    /// error if it failed (a flush that did not finish), else the close's own error, else
    /// `Ok`. After `abort()` the dropped data is not an error, as in asyncio. Any number of
    /// concurrent calls, each with its own [`Waiter`].
    pub(crate) fn poll_closed(
        &mut self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        let Some(result) = self.closed_result() else {
            self.rare().closers.park(waiter, cx.waker());
            return Poll::Pending;
        };
        if let Some(rare) = &mut self.rare {
            rare.closers.remove(waiter);
        }
        Poll::Ready(result)
    }

    /// How the connection ended, once it is closed (see [`poll_closed`](Self::poll_closed));
    /// `None` while it is open.
    pub(crate) fn closed_result(&self) -> Option<io::Result<()>> {
        if self.phase != Phase::Closed {
            return None;
        }
        let error = self
            .rare
            .as_deref()
            .and_then(|rare| rare.error.as_deref().or(rare.close_error.as_ref()));
        Some(error.map_or(Ok(()), |error| Err(error.to_io_error())))
    }

    /// A `wait_closed()` future was dropped: forgets its waker.
    pub(crate) fn cancel_closed(&mut self, waiter: &mut Waiter) {
        if let Some(rare) = &mut self.rare {
            rare.closers.remove(waiter);
        }
    }

    /// Whether the queue's tail takes `n` more bytes without allocating (see
    /// `SendQueue::tail_has_room_for`).
    #[cfg(test)]
    pub(crate) fn tail_has_room_for(&mut self, n: usize) -> bool {
        self.queue.tail_has_room_for(n)
    }

    /// Nothing queued and nothing in flight (F10).
    pub(crate) fn is_idle(&self) -> bool {
        self.write_buffer_size() == 0
    }

    /// Over the high watermark and not yet back down to the low one (F4, G3).
    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Aborted, failed or closed: the queue is gone for good.
    pub(crate) fn is_torn_down(&self) -> bool {
        matches!(self.phase, Phase::Aborted | Phase::Closed)
    }

    /// Drops the queue and the in-flight count, enters `phase` and releases every drain (it
    /// sees the error or the closed writer). No `resume_writing`: as in asyncio, the protocol
    /// hears `connection_lost` instead.
    fn tear_down(&mut self, phase: Phase) {
        self.queue.clear();
        self.in_flight = 0;
        self.phase = phase;
        if let Some(rare) = &mut self.rare {
            if phase == Phase::Aborted || rare.close_error.is_some() {
                rare.lost = true;
            }
            rare.drains.wake_all();
            rare.flushes.wake_all();
        }
    }

    /// The rarely used parts, allocated on first use.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The error that ended the connection, if any (F5).
    fn error(&self) -> Option<&StoredError> {
        self.rare.as_ref()?.error.as_deref()
    }

    /// The F9 check shared by both writes (and by a TLS write before it encrypts).
    pub(crate) fn check_writable(&self) -> io::Result<()> {
        if let Some(error) = self.error() {
            return Err(error.to_io_error());
        }
        let after = match (self.phase, self.eof) {
            (Phase::Open, Eof::NotWanted) => return Ok(()),
            (Phase::Open, _) => "write_eof()",
            (Phase::Closing | Phase::Closed, _) => "close()",
            (Phase::Aborted, _) => "abort()",
        };
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("write after {after}: the writer was closed, no data was sent"),
        ))
    }

    /// Pauses when the buffer is strictly over the high watermark (F4).
    fn maybe_pause(&mut self) {
        if self.paused || self.write_buffer_size() <= self.high {
            return;
        }
        self.paused = true;
    }

    /// Resumes when the buffer is at or under the low watermark, releasing every drain (F4).
    fn maybe_resume(&mut self) {
        if !self.paused || self.write_buffer_size() > self.low {
            return;
        }
        self.paused = false;
        if let Some(rare) = &mut self.rare {
            rare.drains.wake_all();
        }
    }
}

/// The watermarks `set_write_buffer_limits(high, low)` asks for, as `(high, low)` (F3):
/// high only -> low = high / 4; low only -> high = 4 x low (saturating); neither -> the
/// defaults. `high < low` is an `InvalidInput` error.
pub(crate) fn watermarks(high: Option<usize>, low: Option<usize>) -> io::Result<(usize, usize)> {
    let (high, low) = match (high, low) {
        (None, None) => (DEFAULT_HIGH, DEFAULT_HIGH / 4),
        (Some(high), None) => (high, high / 4),
        (None, Some(low)) => (low.saturating_mul(4), low),
        (Some(high), Some(low)) => (high, low),
    };
    if high < low {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the high watermark ({high}) must be at least the low watermark ({low}); \
                 the limits were not changed"
            ),
        ));
    }
    Ok((high, low))
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight)
            .field("low", &self.low)
            .field("high", &self.high)
            .field("paused", &self.paused)
            .field("phase", &self.phase)
            .field("eof", &self.eof)
            .field("error", &self.error().map(StoredError::to_io_error))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
