//! The datagram core: per-socket state the completions of a UDP socket write into, as the
//! connection core is for streams.
//!
//! One multishot `RECVMSG` (buffer select on the runtime's provided-buffer ring) receives
//! every datagram into the bounded [`RecvQueue`]; it is cancelled when the queue is full
//! and armed again when a reader takes it back under its limit, or when the kernel ends it
//! (a completion without `IORING_CQE_F_MORE`: `ENOBUFS`, an ICMP error). Sends leave the
//! [`SendQueue`] (watermarks as for streams) once per loop turn as one batch of
//! `SENDMSG`s (see `flush`). Errors that concern one datagram (an ICMP error such as
//! `ECONNREFUSED` on a connected socket, a truncated datagram, a send refused) are queued
//! in order with the datagrams, so the next receive returns them; an error that ends the socket is kept and returned by every
//! later call.
//!
//! Front-ends (the async `UdpSocket`, the protocol dispatcher) hold an `Rc` and use only
//! its methods; the protocol one is told through [`DatagramEvents`].

pub(crate) mod recv_queue;
mod send_queue;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use socket2::Socket;

use crate::driver::ops::{
    Datagram, HandlerOp, RecvMsgMulti, RecvMsgOutcome, SendHeader, SendTo, HEADER_ROOM,
};
use crate::driver::{BeforeSubmit, Completion, CompletionHandler, Driver, RecvWaiter};
use crate::runtime::current_core;
use crate::transport::outbound::{Waiter, Waiters};
use crate::transport::stored_error::StoredError;
use crate::transport::KEPT_CAPACITY;
use recv_queue::{Entry, RecvQueue};
use send_queue::SendQueue;

/// Told (with no borrow held) that something a protocol may want to hear about changed: a
/// datagram or error queued, writing resumed, the socket closed.
pub(crate) trait DatagramEvents {
    fn changed(&self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvState {
    Idle,
    /// Waiting for the driver to arm it (this turn, or when a buffer is free).
    Queued,
    Armed(usize),
    /// Cancel asked; more datagrams may still come before the last completion.
    Stopping(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// `close()`: the queue still flushes; `abort()`: it was dropped.
    Closing,
    Closed,
}

/// Receive errors that concern one datagram: reported, and the receive goes on.
fn is_per_datagram(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::EPROTO
                | libc::EMSGSIZE
                | libc::ECONNRESET
                | libc::EINTR
                | libc::ETIMEDOUT
                | libc::ENOPROTOOPT
        )
    )
}

pub(crate) struct DatagramCore {
    driver: Rc<Driver>,
    this: Weak<DatagramCore>,
    /// `None` once closed.
    socket: RefCell<Option<Socket>>,
    fd: RawFd,
    state: Cell<State>,
    recv: Cell<RecvState>,
    /// The sends of the batch in flight (keys, in order); empty when none is.
    sending: RefCell<Vec<usize>>,
    /// A flush waits for the next submission.
    flush_scheduled: Cell<bool>,
    /// `abort()`: cancelled sends are dropped, not sent again.
    aborted: Cell<bool>,
    inbound: RefCell<RecvQueue>,
    /// Header memory of finished sends, for the next ones (at most `MAX_BATCH`).
    spare_headers: RefCell<Vec<SendHeader>>,
    /// Where datagrams are copied: received ones out of the ring buffer, sent ones out of
    /// the caller's slice (see `copy_in`).
    arena: RefCell<BytesMut>,
    outbound: RefCell<SendQueue>,
    fatal: RefCell<Option<StoredError>>,
    readers: RefCell<Vec<Waker>>,
    drains: RefCell<Waiters>,
    closed: RefCell<Vec<Waker>>,
    events: RefCell<Option<Rc<dyn DatagramEvents>>>,
}

impl DatagramCore {
    /// Takes `socket` (a bound UDP socket) onto this thread's ring and starts receiving.
    pub(crate) fn new(socket: Socket) -> io::Result<Rc<DatagramCore>> {
        let core = current_core().ok_or_else(|| {
            io::Error::other(
                "a UDP socket needs a ringstream runtime: create it inside block_on or run",
            )
        })?;
        if core.driver.with_recv_buffers(|r| r.group()).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a UDP socket receives into the runtime's receive buffer ring, and this runtime \
                 has none: build it with a non-zero Builder::recv_buffers count",
            ));
        }
        crate::sys::report_receive_drops(&socket)?;
        let fd = socket.as_raw_fd();
        let this = Rc::new_cyclic(|this| DatagramCore {
            driver: core.driver.clone(),
            this: this.clone(),
            socket: RefCell::new(Some(socket)),
            fd,
            state: Cell::new(State::Open),
            recv: Cell::new(RecvState::Idle),
            sending: RefCell::new(Vec::new()),
            flush_scheduled: Cell::new(false),
            aborted: Cell::new(false),
            inbound: RefCell::new(RecvQueue::default()),
            arena: RefCell::new(BytesMut::new()),
            spare_headers: RefCell::new(Vec::new()),
            outbound: RefCell::new(SendQueue::default()),
            fatal: RefCell::new(None),
            readers: RefCell::new(Vec::new()),
            drains: RefCell::new(Waiters::default()),
            closed: RefCell::new(Vec::new()),
            events: RefCell::new(None),
        });
        this.want_recv();
        Ok(this)
    }

    /// Runs `f` on the socket (options, addresses), or fails if it is closed.
    pub(crate) fn with_socket<R>(&self, f: impl FnOnce(&Socket) -> io::Result<R>) -> io::Result<R> {
        match &*self.socket.borrow() {
            Some(socket) => f(socket),
            None => Err(closed_error()),
        }
    }

    /// Sets (or clears) the hook told when something changed.
    pub(crate) fn set_events(&self, events: Option<Rc<dyn DatagramEvents>>) {
        *self.events.borrow_mut() = events;
    }

    fn notify(&self) {
        let events = self.events.borrow().clone();
        if let Some(events) = events {
            events.changed();
        }
    }

    fn wake_readers(&self) {
        for waker in self.readers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    // ---- receiving ----

    fn should_receive(&self) -> bool {
        self.state.get() == State::Open
            && self.fatal.borrow().is_none()
            && !self.inbound.borrow().is_full()
    }

    /// Asks the driver to arm the receive, if it is idle and should run.
    fn want_recv(&self) {
        if self.recv.get() == RecvState::Idle && self.should_receive() {
            self.recv.set(RecvState::Queued);
            self.driver
                .recv_when_ready(self.this.clone() as Weak<dyn RecvWaiter>);
        }
    }

    fn arm(&self) {
        let Some(group) = self.driver.with_recv_buffers(|r| r.group()) else {
            self.recv.set(RecvState::Idle);
            return;
        };
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let key = self
            .driver
            .submit_handler(RecvMsgMulti::new(self.fd, group), this);
        self.recv.set(RecvState::Armed(key));
    }

    fn stop_recv(&self) {
        match self.recv.get() {
            RecvState::Armed(key) => {
                self.recv.set(RecvState::Stopping(key));
                self.driver.cancel(key);
            }
            RecvState::Queued => self.recv.set(RecvState::Idle),
            RecvState::Idle | RecvState::Stopping(_) => {}
        }
    }

    fn on_recv(&self, driver: &Driver, c: Completion, last: bool) {
        if last {
            // The op is over (its slot is gone): nothing may cancel it from here on.
            self.recv.set(RecvState::Idle);
        }
        match RecvMsgOutcome::of(c) {
            RecvMsgOutcome::Data { buffer, len } => {
                let entry = driver
                    .with_recv_buffers(|ring| {
                        let entry = self.entry_of(Datagram::parse(ring.slice(buffer, len)));
                        ring.recycle(buffer);
                        entry
                    })
                    .unwrap_or_else(|| Err(io::Error::other("the receive buffer ring is gone")));
                self.inbound.borrow_mut().push(entry);
                if self.inbound.borrow().is_full() {
                    self.stop_recv();
                }
            }
            RecvMsgOutcome::Failed(e) if is_per_datagram(&e) => {
                self.inbound.borrow_mut().push(Err(e));
            }
            RecvMsgOutcome::Failed(e) => {
                // The socket cannot receive any more (asyncio's fatal error): it closes,
                // and every later call (and `connection_lost`) reports the error.
                self.fatal.borrow_mut().get_or_insert(StoredError::new(&e));
                self.abort();
            }
            RecvMsgOutcome::NoBuffer => {
                if last && self.should_receive() {
                    self.recv.set(RecvState::Queued);
                    driver.wait_for_recv_buffer(self.this.clone() as Weak<dyn RecvWaiter>);
                }
            }
            RecvMsgOutcome::Cancelled | RecvMsgOutcome::Ended => {}
        }
        if last {
            self.want_recv();
            self.maybe_finish_close();
        }
        self.wake_readers();
        self.notify();
    }

    /// The queue entry for one parsed datagram.
    fn entry_of(&self, parsed: io::Result<Datagram<'_>>) -> Entry {
        let d = parsed?;
        if let Some(counter) = d.kernel_drops {
            self.inbound.borrow_mut().kernel_dropped(counter);
        }
        let source = d.source.ok_or_else(|| {
            io::Error::other("a datagram came with a sender address that is neither IPv4 nor IPv6")
        })?;
        if d.truncated {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a datagram from {source} was longer than the {} bytes a receive buffer \
                     holds (its size less {HEADER_ROOM} bytes of header) and was truncated; \
                     raise the size in Builder::recv_buffers",
                    d.payload.len()
                ),
            ));
        }
        Ok((self.copy_in(d.payload), source))
    }

    /// A copy of `payload` as `Bytes`, carved out of the arena: one allocation of
    /// `KEPT_CAPACITY` serves many small datagrams, received or sent from a slice, and is
    /// reused in place once every datagram taken from it is dropped. An idle socket keeps
    /// at most one such chunk.
    pub(crate) fn copy_in(&self, payload: &[u8]) -> Bytes {
        let mut arena = self.arena.borrow_mut();
        if arena.capacity() < payload.len() {
            arena.reserve(payload.len().max(KEPT_CAPACITY));
        }
        arena.extend_from_slice(payload);
        arena.split().freeze()
    }

    /// The next datagram (or per-datagram error), without waiting: `None` if none is
    /// queued. Taking one may re-arm a receive stopped by a full queue.
    pub(crate) fn try_recv(&self) -> Option<Entry> {
        let entry = self.inbound.borrow_mut().pop()?;
        self.want_recv();
        Some(entry)
    }

    /// Waits for the next datagram. Cancel safe: a datagram leaves the queue only in the
    /// poll that returns it.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Entry> {
        if let Some(entry) = self.try_recv() {
            return Poll::Ready(entry);
        }
        if let Some(error) = &*self.fatal.borrow() {
            return Poll::Ready(Err(error.to_io_error()));
        }
        if self.state.get() != State::Open {
            return Poll::Ready(Err(closed_error()));
        }
        let mut readers = self.readers.borrow_mut();
        if !readers.iter().any(|w| w.will_wake(cx.waker())) {
            readers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The error that ended the socket, if one did.
    pub(crate) fn error(&self) -> Option<io::Error> {
        self.fatal.borrow().as_ref().map(StoredError::to_io_error)
    }

    /// Datagrams the kernel dropped because the socket buffer was full.
    pub(crate) fn drops(&self) -> u64 {
        self.inbound.borrow().drops()
    }

    /// Bytes the receive queue may hold before the receive stops.
    pub(crate) fn set_recv_queue_limit(&self, limit: usize) {
        self.inbound.borrow_mut().set_limit(limit);
        if self.inbound.borrow().is_full() {
            self.stop_recv();
        } else {
            self.want_recv();
        }
    }

    // ---- sending ----

    /// Queues one datagram (F1: never waits). Errors: the socket is closing or closed, or
    /// failed.
    pub(crate) fn send(&self, data: Bytes, addr: Option<SocketAddr>) -> io::Result<()> {
        if let Some(error) = &*self.fatal.borrow() {
            return Err(error.to_io_error());
        }
        if self.state.get() != State::Open {
            return Err(closed_error());
        }
        self.outbound.borrow_mut().push(data, addr);
        self.schedule_flush();
        Ok(())
    }

    /// Sends what is queued just before the next submission, so every datagram queued in
    /// one loop turn goes out in one batch.
    fn schedule_flush(&self) {
        if self.flush_scheduled.get() || !self.sending.borrow().is_empty() {
            return;
        }
        if let Some(this) = self.this.upgrade() {
            self.flush_scheduled.set(true);
            self.driver.before_submit(this);
        }
    }

    /// Submits up to [`MAX_BATCH`] queued datagrams, in queue order, in one submission; one
    /// batch at a time. The kernel issues them in that order, so they leave in it unless
    /// one waits for room in the socket's send buffer and a later one overtakes it (UDP
    /// promises no order). Not linked (`IOSQE_IO_LINK`), which would keep the order even
    /// then: links cost 15-20 % more server CPU per datagram (`cargo bench --bench udp`,
    /// 1.20x -> 1.00x tokio's), since a linked send is issued from the previous one's
    /// completion instead of inline.
    fn flush(&self) {
        if !self.sending.borrow().is_empty() || self.socket.borrow().is_none() {
            return;
        }
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let mut sending = self.sending.borrow_mut();
        let mut outbound = self.outbound.borrow_mut();
        let mut next = outbound.next();
        while let Some((data, addr)) = next.take() {
            let header = self.spare_headers.borrow_mut().pop();
            let op = SendTo::new(self.fd, data, addr, header);
            if sending.len() + 1 < MAX_BATCH {
                next = outbound.next();
            }
            sending.push(self.driver.submit_handler(op, this.clone()));
        }
    }

    fn on_sent(&self, c: Completion, op: SendTo) {
        match SendTo::sent(c) {
            // Sent, or cancelled by `abort()`.
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {}
            Err(e) => self.inbound.borrow_mut().push(Err(e)),
        }
        let resumed = self.outbound.borrow_mut().sent(op.len());
        let mut spare = self.spare_headers.borrow_mut();
        if spare.len() < MAX_BATCH {
            spare.push(op.into_header());
        }
        drop(spare);
        let batch_done = {
            let mut sending = self.sending.borrow_mut();
            if !sending.is_empty() {
                sending.remove(0);
            }
            sending.is_empty()
        };
        if batch_done {
            self.flush();
        }
        if resumed {
            self.drains.borrow_mut().wake_all();
        }
        if self.state.get() == State::Closing && self.sending.borrow().is_empty() {
            self.stop_recv();
        }
        self.maybe_finish_close();
        self.wake_readers();
        self.notify();
    }

    /// Queued plus in-flight bytes (F2).
    pub(crate) fn write_buffer_size(&self) -> usize {
        self.outbound.borrow().size()
    }

    /// `(low, high)`.
    pub(crate) fn write_buffer_limits(&self) -> (usize, usize) {
        self.outbound.borrow().limits()
    }

    /// F3.
    pub(crate) fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.outbound.borrow_mut().set_limits(high, low)
    }

    /// Whether writing is paused (over the high watermark).
    pub(crate) fn is_paused(&self) -> bool {
        self.outbound.borrow().is_paused()
    }

    /// F4: ready when not paused, else when writing resumes. Errors once closed.
    pub(crate) fn poll_drain(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        let mut drains = self.drains.borrow_mut();
        let outcome = if let Some(error) = &*self.fatal.borrow() {
            Err(error.to_io_error())
        } else if drains.was_released(waiter) || !self.is_paused() {
            Ok(())
        } else if self.state.get() == State::Closed {
            Err(closed_error())
        } else {
            drains.park(waiter, cx.waker());
            return Poll::Pending;
        };
        drains.remove(waiter);
        Poll::Ready(outcome)
    }

    /// A drain future was dropped.
    pub(crate) fn cancel_drain(&self, waiter: &mut Waiter) {
        self.drains.borrow_mut().remove(waiter);
    }

    // ---- closing ----

    /// Stops receiving, flushes the send queue, then closes the socket. Idempotent.
    pub(crate) fn close(&self) {
        if self.state.get() != State::Open {
            return;
        }
        self.state.set(State::Closing);
        if self.sending.borrow().is_empty() && self.outbound.borrow().is_empty() {
            self.stop_recv();
        }
        self.maybe_finish_close();
        self.wake_readers();
        self.notify();
    }

    /// Drops the send queue and closes now.
    pub(crate) fn abort(&self) {
        if self.state.get() == State::Closed {
            return;
        }
        self.state.set(State::Closing);
        self.aborted.set(true);
        if self.outbound.borrow_mut().clear() {
            self.drains.borrow_mut().wake_all();
        }
        for &key in self.sending.borrow().iter() {
            self.driver.cancel(key);
        }
        self.stop_recv();
        self.maybe_finish_close();
        self.wake_readers();
        self.notify();
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.state.get() != State::Open
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.get() == State::Closed
    }

    /// Ready once the socket is closed.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_closed() {
            return Poll::Ready(());
        }
        let mut closed = self.closed.borrow_mut();
        if !closed.iter().any(|w| w.will_wake(cx.waker())) {
            closed.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Closes the descriptor once no op holds it.
    fn maybe_finish_close(&self) {
        let idle = matches!(self.recv.get(), RecvState::Idle | RecvState::Queued);
        if self.state.get() != State::Closing
            || !self.sending.borrow().is_empty()
            || !self.outbound.borrow().is_empty()
            || !idle
        {
            return;
        }
        self.recv.set(RecvState::Idle);
        self.state.set(State::Closed);
        drop(self.socket.borrow_mut().take());
        self.drains.borrow_mut().wake_all();
        for waker in self.closed.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the UDP socket is closed (close() or abort() was called)",
    )
}

/// The most datagrams one batch of sends carries: a burst queued in one loop turn goes out
/// in one submission, and a batch stays well below the submission queue's size.
const MAX_BATCH: usize = 32;

impl BeforeSubmit for DatagramCore {
    fn before_submit(&self, _driver: &Driver) {
        self.flush_scheduled.set(false);
        self.flush();
    }
}

impl RecvWaiter for DatagramCore {
    fn buffers_ready(&self) {
        if self.recv.get() != RecvState::Queued {
            return;
        }
        if self.should_receive() {
            self.arm();
        } else {
            self.recv.set(RecvState::Idle);
            self.maybe_finish_close();
        }
    }
}

impl CompletionHandler for DatagramCore {
    fn on_completion(&self, driver: &Driver, c: Completion, op: Option<HandlerOp>) {
        match op {
            None | Some(HandlerOp::RecvMsgMulti(_)) => self.on_recv(driver, c, !c.more()),
            Some(HandlerOp::SendTo(op)) => self.on_sent(c, op),
            Some(other) => {
                debug_assert!(false, "a datagram socket got {other:?} back");
            }
        }
    }
}
