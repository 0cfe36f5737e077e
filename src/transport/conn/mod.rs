//! One connection's transport core, and the only door to it: the front-ends (`stream/`,
//! the server in `net/server/`, `protocol/`) write, drain, close and abort through
//! [`Conn`]'s methods, and read through the `ReadSide` made from it (`read_side.rs`); none
//! of them touches its state or the ring. A front-end that runs from the completions (the
//! protocols) is told after those that concern it (`events.rs`).
//!
//! The core owns the endpoint (socket or pipe end), the inbound and outbound state, and
//! the completion handling of its ops, which writes into that state directly:
//!
//! - receive ([`recv`]): one recv at a time, into a buffer the kernel picks from the
//!   runtime's provided-buffer ring; large receives are lent to the reader, small ones
//!   copied;
//! - send ([`send`]): at most one send in flight, built just before the ring's next
//!   submission from everything written in the loop turn;
//! - close: graceful (flush, half-close, close), abort (RST now), or failure (both halves
//!   see the error, the descriptor is released).
//!
//! The connection is the completion handler of every op it submits: the op comes back with
//! its last completion and says which one it was, and the strong reference the op's slot
//! holds is a refcount on the `Rc<Conn>`, so a recv or a send allocates nothing.
//!
//! Ops name the socket by its plain descriptor, not a registered file (see
//! `docs/decisions.md`, "Plain descriptors").
//!
//! Pipes take `read` / `writev` instead of `recv` / `sendmsg`. Kernels that honour a pipe's
//! `O_NONBLOCK` in io_uring complete those with `EAGAIN`; the connection then waits for
//! readiness with a one-shot poll and retries.

mod events;
mod recv;
mod send;
#[cfg(feature = "tls")]
mod tls;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::driver::ops::{self, HandlerOp, Received, SendBuffers, Sent};
use crate::driver::{BeforeSubmit, Completion, CompletionHandler, Driver};

use super::addr::Addr;
use super::endpoint::Endpoint;
use super::inbound::Inbound;
use super::outbound::{Outbound, Waiter};
use super::stored_error::StoredError;
pub(crate) use events::{ConnEvents, WriteSide};
use recv::RecvState;
use send::SendState;
#[cfg(feature = "tls")]
pub(crate) use tls::TlsSetup;

/// The transport core shared by a connection's reader and writer halves.
pub(crate) struct Conn {
    driver: Rc<Driver>,
    endpoint: RefCell<EndpointState>,
    /// Shared with the reader's `ReadSide`, which reads through it without going through
    /// this struct (see `read_side.rs`).
    inbound: Rc<RefCell<Inbound>>,
    outbound: RefCell<Outbound>,
    recv: Cell<RecvState>,
    send: Cell<SendState>,
    /// What a send points the kernel at, between sends (made at the first send, so
    /// connections that only read never pay for it; in the op's slot while one is in
    /// flight).
    send_buffers: Cell<Option<Box<SendBuffers>>>,
    /// A flush waits for the next submission (see `schedule_flush`).
    flush_scheduled: Cell<bool>,
    /// That flush tells the front-end too (`notify_soon`).
    notify_at_flush: Cell<bool>,
    /// `RECEIVED` / `SENT` bits since the last `take_activity`.
    activity: Cell<u8>,
    /// A front-end told after the completions that may change what it sees (`events.rs`).
    events: RefCell<Option<Rc<dyn ConnEvents>>>,
    /// The TLS session, once the connection speaks TLS (`tls.rs`).
    #[cfg(feature = "tls")]
    tls: RefCell<Option<Box<tls::TlsState>>>,
    weak_self: Weak<Conn>,
}

/// The endpoint's life: open; closing (closed as soon as no op holds it, so a queued SQE
/// never names a number that was reused); closed.
#[derive(Debug)]
enum EndpointState {
    Open(Endpoint),
    Closing(Endpoint),
    Closed,
}

impl EndpointState {
    fn get(&self) -> Option<&Endpoint> {
        match self {
            EndpointState::Open(e) | EndpointState::Closing(e) => Some(e),
            EndpointState::Closed => None,
        }
    }
}

/// [`Conn::take_activity`]: bytes arrived.
pub(crate) const RECEIVED: u8 = 1;
/// [`Conn::take_activity`]: bytes left.
pub(crate) const SENT: u8 = 2;

/// Which ways a connection carries data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Both,
    /// A read pipe: never sends.
    Read,
    /// A write pipe: never receives.
    Write,
}

/// What a new connection is given: its reader's limit and its writer's watermarks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The reader's limit (`StreamReader::limit`).
    pub(crate) read: usize,
    /// The writer's high and low watermarks; `None` for the defaults.
    pub(crate) write_high: Option<usize>,
    pub(crate) write_low: Option<usize>,
}

impl Limits {
    /// An `InvalidInput` error for a limit of 0 (A1) or a high watermark below the low one.
    pub(crate) fn check(&self) -> io::Result<()> {
        Inbound::new(self.read)?;
        Outbound::default().set_write_buffer_limits(self.write_high, self.write_low)
    }
}

impl Conn {
    /// Wraps a connected endpoint on the current runtime's ring and starts receiving
    /// unless it only writes. `what` names the caller in the error outside a runtime.
    pub(crate) fn open(
        endpoint: Endpoint,
        limits: Limits,
        direction: Direction,
        what: &str,
    ) -> io::Result<Rc<Conn>> {
        let Some(core) = crate::runtime::current_core() else {
            return Err(crate::error::outside_runtime(what));
        };
        let mut inbound = Inbound::new(limits.read)?;
        inbound.enable_flow_control();
        if direction == Direction::Write {
            // Nobody reads a write pipe: its receive side is over from the start.
            inbound.feed_eof();
        }
        let mut outbound = Outbound::default();
        if limits.write_high.is_some() || limits.write_low.is_some() {
            outbound.set_write_buffer_limits(limits.write_high, limits.write_low)?;
        }
        let conn = Rc::new_cyclic(|weak: &Weak<Conn>| Conn {
            driver: core.driver.clone(),
            endpoint: RefCell::new(EndpointState::Open(endpoint)),
            inbound: Rc::new(RefCell::new(inbound)),
            outbound: RefCell::new(outbound),
            recv: Cell::new(RecvState::Idle),
            send: Cell::new(SendState::Idle),
            send_buffers: Cell::new(None),
            flush_scheduled: Cell::new(false),
            notify_at_flush: Cell::new(false),
            activity: Cell::new(0),
            events: RefCell::new(None),
            #[cfg(feature = "tls")]
            tls: RefCell::new(None),
            weak_self: weak.clone(),
        });
        conn.arm_recv();
        Ok(conn)
    }

    fn strong(&self) -> Option<Rc<Conn>> {
        self.weak_self.upgrade()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self.endpoint.borrow().get() {
            Some(e) => e.peer_addr(),
            None => Err(closed_error()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self.endpoint.borrow().get() {
            Some(e) => e.local_addr(),
            None => Err(closed_error()),
        }
    }

    /// The descriptor, or -1 once it is closed.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.endpoint.borrow().get().map_or(-1, Endpoint::raw_fd)
    }

    fn is_pipe(&self) -> bool {
        self.endpoint.borrow().get().is_some_and(Endpoint::is_pipe)
    }

    /// The descriptor a new op names, and whether it is a pipe (read / writev instead of
    /// recv / send); `None` once the endpoint is closing, when no new op goes out. One look
    /// at the endpoint per op.
    fn op_target(&self) -> Option<(RawFd, bool)> {
        match &*self.endpoint.borrow() {
            EndpointState::Open(e) => Some((e.raw_fd(), e.is_pipe())),
            EndpointState::Closing(_) | EndpointState::Closed => None,
        }
    }

    /// Submits a one-shot poll for `events` on the endpoint (a pipe that met `EAGAIN`
    /// waits for readiness before it reads or writes again); the connection handles its
    /// completion. Returns the poll's key.
    fn submit_poll(&self, events: i16) -> Option<usize> {
        let conn = self.strong()?;
        nowait::count_wait();
        let poll = ops::Poll::once(self.raw_fd(), events);
        Some(self.driver.submit_handler(poll, conn))
    }

    /// Whether bytes were received (`RECEIVED`) or sent (`SENT`) since the last call. The
    /// server's idle and read timeouts look at every connection now and then with this,
    /// rather than arming a timer per read; a completion only sets a bit.
    pub(crate) fn take_activity(&self) -> u8 {
        self.activity.replace(0)
    }

    fn note_activity(&self, bit: u8) {
        self.activity.set(self.activity.get() | bit);
    }

    // ---- the reader's door (through `ReadSide`) -------------------------------------

    /// The inbound state, for `ReadSide` only.
    pub(super) fn inbound_cell(&self) -> &Rc<RefCell<Inbound>> {
        &self.inbound
    }

    /// A read step brought a paused buffer back down (E4): receive again.
    pub(super) fn resume_reading(&self) {
        self.arm_recv();
    }

    /// A read is waiting for data; a front-end told by the completions (a protocol) waits
    /// for data whenever it is receiving (not paused, not at EOF or closed).
    pub(crate) fn read_pending(&self) -> bool {
        let inbound = self.inbound.borrow();
        inbound.read_pending() || (self.events.borrow().is_some() && inbound.wants_data())
    }

    // ---- the writer's door ---------------------------------------------------------

    /// Queues a copy of `data` (F9 errors after close or failure).
    pub(crate) fn write(&self, data: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(encrypted) = self.tls_write(data) {
            return encrypted;
        }
        self.outbound.borrow_mut().write_slice(data)?;
        self.schedule_flush();
        Ok(())
    }

    /// Queues `data` without copying a large one.
    pub(crate) fn write_bytes(&self, data: Bytes) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(encrypted) = self.tls_write(&data) {
            return encrypted;
        }
        self.outbound.borrow_mut().write(data)?;
        self.schedule_flush();
        Ok(())
    }

    /// Queues copies of every line, in order; stops at the first error (what was queued
    /// before it is still sent).
    pub(crate) fn write_lines<I, B>(&self, lines: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let result = lines.into_iter().try_for_each(|line| {
            #[cfg(feature = "tls")]
            if let Some(encrypted) = self.tls_write(line.as_ref()) {
                return encrypted;
            }
            self.outbound.borrow_mut().write_slice(line.as_ref())
        });
        self.schedule_flush();
        result
    }

    /// Half-closes once everything queued is sent (a pipe closes instead).
    ///
    /// # Errors
    /// `Unsupported` on TLS, which has no half-close (`close_notify` ends both ways).
    pub(crate) fn write_eof(&self) -> io::Result<()> {
        if !self.can_write_eof() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "write_eof() on a TLS connection: TLS has no half-close; close() sends \
                 close_notify and ends the connection",
            ));
        }
        self.outbound.borrow_mut().write_eof();
        self.schedule_flush();
        Ok(())
    }

    /// Whether [`write_eof`](Self::write_eof) works: not on TLS.
    pub(crate) fn can_write_eof(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.is_tls() {
            return false;
        }
        true
    }

    /// Ready once the queue is at or below the low watermark (or the connection failed).
    pub(crate) fn poll_drain(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        self.outbound.borrow_mut().poll_drain(cx, waiter)
    }

    pub(crate) fn cancel_drain(&self, waiter: &mut Waiter) {
        self.outbound.borrow_mut().cancel_drain(waiter);
    }

    /// Ready once everything written (and a requested FIN) is handed to the kernel.
    pub(crate) fn poll_flush(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        self.outbound.borrow_mut().poll_flush(cx, waiter)
    }

    pub(crate) fn cancel_flush(&self, waiter: &mut Waiter) {
        self.outbound.borrow_mut().cancel_flush(waiter);
    }

    /// Ready once the endpoint is closed, with the connection's error if it had one.
    pub(crate) fn poll_closed(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        self.outbound.borrow_mut().poll_closed(cx, waiter)
    }

    pub(crate) fn cancel_closed(&self, waiter: &mut Waiter) {
        self.outbound.borrow_mut().cancel_closed(waiter);
    }

    pub(crate) fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.outbound
            .borrow_mut()
            .set_write_buffer_limits(high, low)
    }

    pub(crate) fn write_buffer_limits(&self) -> (usize, usize) {
        self.outbound.borrow().write_buffer_limits()
    }

    /// Bytes queued or in flight.
    pub(crate) fn write_buffer_size(&self) -> usize {
        self.outbound.borrow().write_buffer_size()
    }

    /// From `close()`, `abort()` or a failure on.
    pub(crate) fn is_closing(&self) -> bool {
        self.outbound.borrow().is_closing()
    }

    /// Aborted, failed or closed: nothing more will be sent.
    pub(crate) fn is_torn_down(&self) -> bool {
        self.outbound.borrow().is_torn_down()
    }

    /// Asks for a flush just before the ring's next submission, so that everything
    /// written in this turn (several responses to pipelined requests, say) goes out in one
    /// send rather than the first write alone and the rest in a second send (see
    /// `docs/decisions.md`, "Flush just before submission").
    fn schedule_flush(&self) {
        if self.flush_scheduled.replace(true) {
            return;
        }
        match self.strong() {
            Some(conn) => self.driver.before_submit(conn),
            None => self.flush_scheduled.set(false),
        }
    }

    // ---- half-close, close, abort, failure -----------------------------------------

    fn finish_pending_close(&self) {
        let shutdown = self.outbound.borrow().should_shutdown_write();
        if shutdown && self.is_pipe() {
            // A pipe has no half-close: its write_eof is a close once everything is sent.
            self.outbound.borrow_mut().shutdown_done();
            self.outbound.borrow_mut().close();
        } else if shutdown {
            let res = match self.endpoint.borrow().get() {
                Some(e) => e.shutdown_write(),
                None => Ok(()),
            };
            match res {
                Ok(()) => self.outbound.borrow_mut().shutdown_done(),
                Err(e) => self.fail(e),
            }
        }
        if self.outbound.borrow().should_close() {
            self.close_endpoint();
        }
    }

    /// `close()`: no more writes, flush, then close the endpoint; stop reading.
    pub(crate) fn close(&self) {
        #[cfg(feature = "tls")]
        self.tls_close();
        self.outbound.borrow_mut().close();
        self.stop_reading();
        self.schedule_flush();
    }

    /// `abort()`: drop the queue and close now, with RST.
    pub(crate) fn abort(&self) {
        if let Some(e) = self.endpoint.borrow().get() {
            e.reset_on_close();
        }
        self.outbound.borrow_mut().abort();
        self.stop_waiting_to_send();
        self.stop_reading();
        self.schedule_flush();
    }

    /// The connection is lost: both halves see `err`, and the endpoint closes without
    /// waiting for `close()` (F7: `wait_closed` then returns `err`, and the descriptor is
    /// released even while the reader and writer live on).
    ///
    /// Once the connection is torn down (aborted, failed or closed) an error changes
    /// nothing: it comes from an op the teardown cancelled (F8: after our own `abort()` a
    /// cancelled send completes with `ECANCELED`, and reads must still see EOF), and the
    /// first error is the one both halves report.
    pub(crate) fn fail(&self, err: io::Error) {
        if self.outbound.borrow().is_torn_down() {
            return;
        }
        let error = Rc::new(StoredError::new(&err));
        self.inbound.borrow_mut().fail(error.clone());
        self.outbound.borrow_mut().fail_with(error);
        self.stop_waiting_to_send();
        self.stop_reading();
        #[cfg(feature = "tls")]
        self.wake_handshake();
        // The outbound state now asks for the close; the flush carries it out.
        self.schedule_flush();
    }

    /// Closes the endpoint once the queue is flushed (close) or dropped (abort, failure).
    ///
    /// A recv or send still in flight holds the kernel's reference to the socket, so the
    /// descriptor would close (and the peer see FIN or RST) only when that op ends: such ops
    /// are cancelled here and the close completes from their last completion
    /// (`close_if_idle`). A graceful close shuts down the write side at once, so the peer
    /// gets its FIN without waiting for that; `wait_closed` resolves only after the real
    /// close.
    fn close_endpoint(&self) {
        let started = {
            let mut state = self.endpoint.borrow_mut();
            match std::mem::replace(&mut *state, EndpointState::Closed) {
                EndpointState::Open(endpoint) => {
                    if !self.outbound.borrow().is_torn_down() {
                        // Best effort: a peer that is already gone makes this fail
                        // harmlessly.
                        let _ = endpoint.shutdown_write();
                    }
                    *state = EndpointState::Closing(endpoint);
                    true
                }
                closing @ EndpointState::Closing(_) => {
                    *state = closing;
                    false
                }
                EndpointState::Closed => return,
            }
        };
        if started {
            for key in [self.recv.get().key(), self.send.get().key()]
                .into_iter()
                .flatten()
            {
                self.driver.cancel(key);
            }
        }
        self.close_if_idle();
    }

    /// Finishes a pending close once no op holds the endpoint.
    fn close_if_idle(&self) {
        if self.recv.get().key().is_some() || self.send.get().key().is_some() {
            return;
        }
        let closing = matches!(*self.endpoint.borrow(), EndpointState::Closing(_));
        if closing {
            let endpoint =
                std::mem::replace(&mut *self.endpoint.borrow_mut(), EndpointState::Closed);
            drop(endpoint);
            self.outbound.borrow_mut().closed(Ok(()));
            self.notify();
        }
    }

    /// Whether ops may still be submitted on the endpoint.
    fn is_open(&self) -> bool {
        matches!(*self.endpoint.borrow(), EndpointState::Open(_))
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

/// The connection's ops come back with their last completion and say which one ended.
impl CompletionHandler for Conn {
    fn on_completion(&self, driver: &Driver, c: Completion, op: Option<HandlerOp>) {
        match op {
            Some(HandlerOp::Recv(_) | HandlerOp::Read(_)) => {
                self.on_recv(driver, Received::of(c));
                self.notify();
            }
            Some(HandlerOp::RecvInto(op)) => {
                self.on_recv_into(Received::of_own_buffer(c), op);
                self.notify();
            }
            Some(HandlerOp::Send(op)) => self.on_send(Sent::of(c), op.into_buffers()),
            Some(HandlerOp::Writev(op)) => self.on_send(Sent::of(c), op.into_buffers()),
            Some(HandlerOp::Poll(poll)) if poll.events() == libc::POLLIN => {
                self.on_readable(ops::Poll::error_of(c));
            }
            Some(HandlerOp::Poll(_)) => self.on_writable(ops::Poll::error_of(c)),
            // Every op a connection submits is single-shot and none is an accept or a
            // datagram op.
            Some(HandlerOp::AcceptMulti(_) | HandlerOp::RecvMsgMulti(_) | HandlerOp::SendTo(_))
            | None => {}
        }
    }
}

/// The flush before the ring's next submission (see `schedule_flush`).
impl BeforeSubmit for Conn {
    fn before_submit(&self, _driver: &Driver) {
        self.flush_scheduled.set(false);
        self.flush();
        if self.notify_at_flush.replace(false) {
            self.notify();
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("fd", &self.raw_fd())
            .field("recv", &self.recv.get())
            .field("send", &self.send.get())
            .finish_non_exhaustive()
    }
}

/// Kernels since about 6.x poll a pipe for io_uring even when it is O_NONBLOCK, so the
/// EAGAIN path never runs here on its own; tests force it with `RWF_NOWAIT`.
mod nowait {
    #[cfg(test)]
    thread_local! {
        pub(super) static FORCE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        pub(super) static WAITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    pub(super) fn rw_flags() -> i32 {
        #[cfg(test)]
        if FORCE.get() {
            return libc::RWF_NOWAIT;
        }
        0
    }

    pub(super) fn count_wait() {
        #[cfg(test)]
        WAITS.set(WAITS.get() + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::nowait;

    /// The EAGAIN fallback of pipes (older kernels, or RWF_NOWAIT): reads and writes wait
    /// for readiness with a poll and retry; 2 MB through a 64 KiB pipe arrive intact.
    #[test]
    fn pipe_eagain_waits_for_readiness_and_loses_nothing() {
        nowait::FORCE.set(true);
        nowait::WAITS.set(0);
        let data: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let got = crate::run(async move {
            let (r, w) = std::io::pipe().expect("pipe");
            let mut reader = crate::read_pipe(r).expect("read_pipe");
            let writer = crate::write_pipe(w).expect("write_pipe");
            let producer = crate::spawn(async move {
                // The reader's first read goes out on an empty pipe, so it meets EAGAIN.
                crate::time::sleep(std::time::Duration::from_millis(20)).await;
                writer.write(&data).expect("write");
                writer.close();
                writer.wait_closed().await.expect("closed");
            });
            let got =
                crate::time::timeout(std::time::Duration::from_secs(30), reader.read_to_end())
                    .await
                    .expect("in time")
                    .expect("read_to_end");
            producer.await.expect("producer");
            got
        })
        .expect("runtime");
        nowait::FORCE.set(false);
        assert!(got[..] == expected[..], "bytes differ");
        assert!(nowait::WAITS.get() > 0, "the EAGAIN path never ran");
    }

    /// Memory comes back after a burst over a real connection (a socketpair): a reader
    /// that let 1 MB pile up unread (copies behind the first lent receive grow its buffer)
    /// and a writer that queued 1 MB of copied writes each hold at most `KEPT_CAPACITY`
    /// once the burst is read and sent and a small message went through after it.
    #[test]
    fn burst_buffers_are_released_once_read_and_sent() {
        use std::time::{Duration, Instant};

        use crate::transport::KEPT_CAPACITY;

        crate::run(async {
            let (a, b) = crate::Stream::pair().expect("pair");
            let (_ra, wa) = a.split();
            let (mut rb, wb) = b.split();
            let rb_conn = wb.conn().clone();
            let deadline = Instant::now() + Duration::from_secs(10);
            wa.write(&vec![5u8; 1 << 20]).expect("write");
            while rb.buffered_len() < 100 * 1024 {
                assert!(Instant::now() < deadline, "the burst never piled up");
                crate::time::sleep(Duration::from_millis(1)).await;
            }
            let mut received = 0;
            while received < 1 << 20 {
                let read = crate::time::timeout(Duration::from_secs(10), rb.read(1 << 20));
                received += read
                    .await
                    .expect("the reader resumes receiving once read down (E4)")
                    .expect("read")
                    .len();
            }
            while wa.get_write_buffer_size() > 0 {
                assert!(Instant::now() < deadline, "the burst was never sent");
                crate::nop().await.expect("nop");
            }
            assert!(
                !wa.conn()
                    .outbound
                    .borrow_mut()
                    .tail_has_room_for(KEPT_CAPACITY + 1),
                "the writer kept the burst's buffer"
            );
            wa.write(b"x\n").expect("write");
            drop(rb.read_line().await.expect("read_line"));
            assert!(
                !rb_conn.inbound.borrow_mut().has_room_for(KEPT_CAPACITY + 1),
                "the reader kept the burst's buffer"
            );
        })
        .expect("runtime");
    }
}
