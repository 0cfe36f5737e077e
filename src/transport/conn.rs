//! One connection's transport core: the socket, the inbound and outbound state, and the
//! completion handlers of its recv and send ops, which write into that state directly.
//!
//! Receive: one recv at a time with a buffer picked by the kernel from the runtime's
//! provided-buffer ring, so a connection waiting for data holds no buffer. A completion of
//! at least `LEND_MIN` bytes that finds the reader empty is lent to it as it is (zero copy;
//! the buffer returns to the ring when the last `Bytes` over it drops); other completions
//! are copied into the reader's buffer and the ring buffer is given straight back. Lending
//! stops while half the ring is out, so readers that hold on to data cannot starve receives.
//! The driver arms the recv, in the loop turn's submission: connections that met an empty
//! ring (ENOBUFS) first, oldest first, so none starves (`driver::buf_ring::waiters`).
//!
//! Why not multishot recv (as DESIGN.md planned): measured, it does not pay. Unbounded, one
//! multishot recv may post up to 32 completions per kernel pass (MULTISHOT_MAX_RETRY)
//! before the loop can see that the reader is over its limit (on a socketpair with a 16 KiB
//! limit the reader buffered 224 KiB, 14 x limit). Bounded by a byte total (`sqe->optlen`,
//! Linux 6.17) it keeps the buffer bounded, and was built and measured
//! (`cargo bench --bench yardstick -- --rounds 1 --secs 2 --server ringstream`, 3-4
//! alternating runs each): pp64 server CPU per message 6.0-8.0 us against 7.0-8.9 single,
//! pp1 p50 25-34 us against 27-34 — no difference above the noise — while st16 got worse,
//! 1,020-1,570 us per MB against 610-660 (with receive lending in both): receiving on
//! while the handler waits in `drain` fills the reader behind data it still holds, so
//! completions are copied instead of lent (memmove 8 -> 25 % of the server's cycles).
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
//! Send: at most one send in flight; it takes up to `MAX_IOVECS` queued chunks (small writes
//! are already coalesced by the outbound queue) in one vectored `sendmsg`, or a plain `send`
//! when there is one chunk.
//!
//! Ops name the socket by its plain descriptor, not a registered file: measured on the
//! yardstick's raw echo loop (64 x 64 B ping-pong, 41 rotating rounds), plain fds 6,279
//! ns/msg against 6,206 with direct-descriptor accept and fixed files (within-round ratio
//! 0.98, interquartile 0.93-1.09): the ~1.8 % of fget/fput that perf shows is below the
//! noise, and a fixed-only socket would have no descriptor for addresses and options.
//!
//! Pipes take `read` / `writev` instead of `recv` / `sendmsg`. Kernels that honour a pipe's
//! `O_NONBLOCK` in io_uring complete those with `EAGAIN`; the connection then waits for
//! readiness with a one-shot poll and retries (`wait_ready`).

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use io_uring::{opcode, squeue, types};

use crate::driver::{BeforeSubmit, Completion, CompletionHandler, Driver, RecvWaiter};

use super::inbound::{Inbound, ReadControl};
use super::outbound::{Outbound, SendBatch};
use super::socket::{Addr, Socket};
use super::stored_error::StoredError;

/// Received bytes from which a receive buffer is lent to the reader (`read(n)` hands it on
/// without a copy) rather than copied into the reader's buffer, when the reader holds
/// nothing else and fewer than half the ring's buffers are out (so receives never starve).
/// Lending costs a flat ~35-60 ns (an allocation and a reference count), a copy ~60-100 ns
/// at 4 KiB, ~300 at 16 KiB, ~1,500 at 64 KiB (measured per buffer, release build); below
/// 4 KiB copying wins, and it does not pin a whole 64 KiB buffer for a small message.
const LEND_MIN: usize = 4096;

/// Chunks in one vectored send.
const MAX_IOVECS: usize = 64;
/// Piece-list and iovec capacity a connection keeps between sends (see `SendSide::keep`).
const KEPT_PIECES: usize = 8;
/// Bytes in one send; more stays queued for the next one.
const MAX_SEND_BYTES: usize = 1 << 20;

/// The transport core shared by a connection's reader and writer halves.
pub(crate) struct Conn {
    driver: Rc<Driver>,
    /// `None` once closed.
    socket: RefCell<Option<Socket>>,
    fd: RawFd,
    /// Read/write ops instead of recv/send.
    pipe: bool,
    pub(crate) inbound: Rc<RefCell<Inbound>>,
    pub(crate) outbound: RefCell<Outbound>,
    /// Key of the recv in flight.
    recv: Cell<Option<usize>>,
    /// Waiting for the driver to arm the recv (this turn, or when a receive buffer is free
    /// after ENOBUFS; see `driver::buf_ring::waiters`).
    recv_queued: Cell<bool>,
    /// Inbound flow control asked us to stop receiving.
    reading_paused: Cell<bool>,
    /// EOF or an error ended the receive side.
    recv_done: Cell<bool>,
    sending: Cell<bool>,
    /// Key of the send in flight.
    send_key: Cell<Option<usize>>,
    /// Made at the first send (connections that only read never pay for it).
    send_side: OnceCell<Rc<SendSide>>,
    /// The socket is to be closed as soon as no op holds it any more.
    closing: Cell<bool>,
    /// Key of a readiness poll the send side waits on (pipes after `EAGAIN`).
    send_poll: Cell<Option<usize>>,
    /// A flush waits for the next submission (see `kick`).
    flush_scheduled: Cell<bool>,
    /// `RECEIVED` / `SENT` bits since the last `take_activity`.
    activity: Cell<u8>,
    weak_self: Weak<Conn>,
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

impl Conn {
    /// Wraps a connected socket (or pipe end) and starts receiving unless it only writes.
    pub(crate) fn new(
        driver: Rc<Driver>,
        socket: Socket,
        limit: usize,
        direction: Direction,
    ) -> io::Result<Rc<Conn>> {
        let inbound = Rc::new(RefCell::new(Inbound::new(limit)?));
        let fd = socket.raw_fd();
        let pipe = socket.is_pipe();
        let conn = Rc::new_cyclic(|weak: &Weak<Conn>| Conn {
            driver,
            socket: RefCell::new(Some(socket)),
            fd,
            pipe,
            inbound: inbound.clone(),
            outbound: RefCell::new(Outbound::default()),
            recv: Cell::new(None),
            recv_queued: Cell::new(false),
            reading_paused: Cell::new(false),
            recv_done: Cell::new(direction == Direction::Write),
            sending: Cell::new(false),
            send_key: Cell::new(None),
            send_side: OnceCell::new(),
            closing: Cell::new(false),
            send_poll: Cell::new(None),
            flush_scheduled: Cell::new(false),
            activity: Cell::new(0),
            weak_self: weak.clone(),
        });
        // The connection is its own read control (held weakly: it owns the inbound state),
        // so no separate allocation per connection.
        inbound.borrow_mut().set_control(&conn);
        conn.arm_recv();
        Ok(conn)
    }

    fn strong(&self) -> Option<Rc<Conn>> {
        self.weak_self.upgrade()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match &*self.socket.borrow() {
            Some(s) => s.peer_addr(),
            None => Err(closed_error()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match &*self.socket.borrow() {
            Some(s) => s.local_addr(),
            None => Err(closed_error()),
        }
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd
    }

    /// Whether bytes were received (`RECEIVED`) or sent (`SENT`) since the last call. The
    /// server's idle and read timeouts look at every connection now and then with this,
    /// rather than arming a timer per read; a completion only sets a bit.
    pub(crate) fn take_activity(&self) -> u8 {
        self.activity.replace(0)
    }

    // ---- receive -------------------------------------------------------------------

    /// Asks for a recv in this turn's submission, behind the connections that found no
    /// receive buffer before (see `driver::buf_ring::waiters`).
    fn arm_recv(&self) {
        if self.recv_queued.get() || !self.wants_recv() {
            return;
        }
        self.recv_queued.set(true);
        self.driver.recv_when_ready(self.as_receiver());
    }

    fn wants_recv(&self) -> bool {
        self.recv.get().is_none()
            && !self.reading_paused.get()
            && !self.recv_done.get()
            && self.socket.borrow().is_some()
    }

    fn queue_for_buffer(&self) {
        self.recv_queued.set(true);
        self.driver.wait_for_recv_buffer(self.as_receiver());
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
        // 0: as much as the selected ring buffer holds (see the module comment).
        let len = 0;
        let sqe = if self.pipe {
            // Offset -1: "the current position", the only meaning a pipe has.
            opcode::Read::new(types::Fd(self.fd), std::ptr::null_mut(), len)
                .offset(u64::MAX)
                .rw_flags(nowait::rw_flags())
                .buf_group(group)
                .build()
        } else {
            opcode::Recv::new(types::Fd(self.fd), std::ptr::null_mut(), len)
                .buf_group(group)
                .build()
        }
        .flags(squeue::Flags::BUFFER_SELECT);
        // The connection itself is the recv op's completion handler: the strong reference
        // the slot needs is a refcount increment on the `Rc<Conn>`, where a `RecvHandler`
        // wrapper cost one 24-byte allocation per recv (every re-arm) and 48 bytes per idle
        // connection with the `RecvControl` it replaced too (benches/idle_memory.rs).
        let key = self.driver.submit_handler(sqe, conn);
        self.recv.set(Some(key));
    }

    fn on_recv(&self, driver: &Driver, c: Completion) {
        if !c.more() {
            self.recv.set(None);
        }
        match c.result {
            n if n > 0 => {
                self.activity.set(self.activity.get() | RECEIVED);
                if let Some(bid) = c.buffer_id() {
                    let done = self.recv_done.get();
                    driver.with_recv_buffers(|ring| {
                        // After close() or a failure nobody may read this any more.
                        if done {
                            ring.recycle(bid);
                            return;
                        }
                        let n = n as usize;
                        let mut inbound = self.inbound.borrow_mut();
                        if n >= LEND_MIN && inbound.is_empty() && ring.lent() < ring.count() / 2 {
                            let _ = inbound.feed_lent(ring.lend(bid, n));
                        } else {
                            let _ = inbound.feed_data(ring.slice(bid, n));
                            ring.recycle(bid);
                        }
                    });
                }
            }
            0 => {
                self.recv_done.set(true);
                self.inbound.borrow_mut().feed_eof();
            }
            // The buffer ring ran dry: the data is still in the socket. Wait for a buffer
            // in turn instead of re-arming (which would spin and let the recv that comes
            // first in the submission win every time).
            e if e == -libc::ENOBUFS => {
                if !c.more() && self.wants_recv() {
                    self.queue_for_buffer();
                }
            }
            // Cancelled by pause_reading or close.
            e if e == -libc::ECANCELED => {}
            // A pipe in O_NONBLOCK mode with nothing to read: wait for data, then read.
            e if e == -libc::EAGAIN && self.pipe => {
                if !c.more() {
                    self.wait_ready(libc::POLLIN, Readiness::Read);
                }
                return;
            }
            e => self.fail(io::Error::from_raw_os_error(-e)),
        }
        if !c.more() {
            self.arm_recv();
        }
        self.close_if_idle();
    }

    /// Waits with a one-shot poll until the pipe is ready for `events`, then retries the
    /// read or the send. The poll takes the op's place, so close and failure cancel it.
    fn wait_ready(&self, events: i16, then: Readiness) {
        let Some(conn) = self.strong() else { return };
        nowait::count_wait();
        let sqe = opcode::PollAdd::new(types::Fd(self.fd), events as u32).build();
        let key = self
            .driver
            .submit_handler(sqe, Rc::new(ReadyHandler { conn, then }));
        match then {
            Readiness::Read => self.recv.set(Some(key)),
            Readiness::Write => self.send_poll.set(Some(key)),
        }
    }

    fn on_ready(&self, c: Completion, then: Readiness) {
        match then {
            Readiness::Read => {
                self.recv.set(None);
                if c.result < 0 && c.result != -libc::ECANCELED {
                    self.fail(io::Error::from_raw_os_error(-c.result));
                }
                self.arm_recv();
                self.close_if_idle();
            }
            Readiness::Write => {
                self.send_poll.set(None);
                self.sending.set(false);
                if c.result < 0 && c.result != -libc::ECANCELED {
                    self.fail(io::Error::from_raw_os_error(-c.result));
                }
                self.kick();
            }
        }
    }

    // ---- send ----------------------------------------------------------------------

    /// Asks for a [`flush`](Conn::flush) just before the ring's next submission, so that
    /// everything written in this turn (several responses to pipelined requests, say) goes
    /// out in one send rather than the first write alone and the rest in a second send.
    /// Measured with 16 pipelined requests per write, 2,000 times: responses in the client's
    /// first read were 1 (1,986 times) before, 16 (every time) after — as with tokio's one
    /// `write_all`.
    pub(crate) fn kick(&self) {
        if self.flush_scheduled.replace(true) {
            return;
        }
        match self.strong() {
            Some(conn) => self.driver.before_submit(conn),
            None => self.flush_scheduled.set(false),
        }
    }

    /// Starts a send if none is in flight and data is queued; then runs any half-close or
    /// close that the outbound state is waiting for.
    fn flush(&self) {
        if !self.sending.get() && self.socket.borrow().is_some() {
            // The piece list of the last batch, reused (no allocation per send).
            let mut spare = match self.send_side.get() {
                Some(side) => side.spare.take(),
                None => Vec::new(),
            };
            let batch = self.outbound.borrow_mut().next_send_reusing(
                MAX_IOVECS,
                MAX_SEND_BYTES,
                &mut spare,
            );
            if let Some(batch) = batch {
                self.submit_send(batch);
                return;
            }
            if let Some(side) = self.send_side.get() {
                side.spare.replace(spare);
            }
        }
        self.finish_pending_close();
    }

    /// Submits `batch` as one send: a plain `send` for one piece, a vectored `sendmsg`
    /// (`writev` for a pipe) for several. The iovec array and the msghdr live in the
    /// connection's `SendSide`, reused by every send, so a send allocates nothing; its
    /// slot holds the side, which holds the batch (what the kernel reads) and the
    /// connection until the completion.
    ///
    /// From ordinary memory, not the registered buffer pool: measured over loopback TCP
    /// (sender CPU per send, 16 in flight, 15 alternating runs, medians), a plain `send` cost
    /// 5.2 / 5.1 / 7.2 us at 64 B / 4 KiB / 16 KiB, `sendmsg` with one iovec 5.2 / 7.0 /
    /// 8.2, `SEND_ZC` 6.7 / 8.1 / 8.0 and `SEND_ZC` from a registered buffer 6.6 / 7.5 /
    /// 7.7; a plain `send` from a registered buffer (`IORING_RECVSEND_FIXED_BUF`) is
    /// refused with EINVAL by Linux 6.18 (only `SEND_ZC` takes one). On loopback the
    /// kernel copies anyway, so zero-copy send only adds its notification completion.
    fn submit_send(&self, batch: SendBatch) {
        let Some(conn) = self.strong() else { return };
        let side = self.send_side.get_or_init(|| Rc::new(SendSide::default()));
        let fd = types::Fd(self.fd);
        let sqe = match batch.pieces() {
            [piece] if !self.pipe => opcode::Send::new(fd, piece.as_ptr(), piece.len() as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
            pieces => {
                let mut iovecs = side.iovecs.borrow_mut();
                iovecs.clear();
                iovecs.extend(pieces.iter().map(|b| libc::iovec {
                    iov_base: b.as_ptr() as *mut libc::c_void,
                    iov_len: b.len(),
                }));
                if self.pipe {
                    opcode::Writev::new(fd, iovecs.as_ptr(), iovecs.len() as u32)
                        .offset(u64::MAX)
                        .rw_flags(nowait::rw_flags())
                        .build()
                } else {
                    side.msg.set(msghdr(iovecs.as_mut_ptr(), iovecs.len()));
                    opcode::SendMsg::new(fd, side.msg.as_ptr())
                        .flags(libc::MSG_NOSIGNAL as u32)
                        .build()
                }
            }
        };
        *side.batch.borrow_mut() = Some(batch);
        *side.conn.borrow_mut() = Some(conn);
        self.sending.set(true);
        let key = self.driver.submit_handler(sqe, side.clone());
        self.send_key.set(Some(key));
    }

    fn on_send(&self, side: &SendSide, c: Completion, batch: SendBatch) {
        self.send_key.set(None);
        if c.result == -libc::EAGAIN && self.pipe {
            // A full O_NONBLOCK pipe: nothing was written; wait until it drains.
            side.keep(self.outbound.borrow_mut().complete_send(batch, 0));
            self.wait_ready(libc::POLLOUT, Readiness::Write);
            return;
        }
        self.sending.set(false);
        let (sent, error) = match c.into_result() {
            Ok(sent) => (sent as usize, None),
            Err(e) => (0, Some(e)),
        };
        if sent > 0 {
            self.activity.set(self.activity.get() | SENT);
        }
        side.keep(self.outbound.borrow_mut().complete_send(batch, sent));
        if let Some(e) = error {
            self.fail(e);
        }
        self.kick();
    }

    // ---- half-close, close, abort, failure -----------------------------------------

    fn finish_pending_close(&self) {
        let shutdown = self.outbound.borrow().should_shutdown_write();
        if shutdown && self.pipe {
            // A pipe has no half-close: its write_eof is a close once everything is sent.
            self.outbound.borrow_mut().shutdown_done();
            self.outbound.borrow_mut().close();
        } else if shutdown {
            let res = match &*self.socket.borrow() {
                Some(s) => s.shutdown_write(),
                None => Ok(()),
            };
            match res {
                Ok(()) => self.outbound.borrow_mut().shutdown_done(),
                Err(e) => self.fail(e),
            }
        }
        if self.outbound.borrow().should_close() {
            self.close_socket();
        }
    }

    /// `close()`: no more writes, flush, then close the socket; stop reading.
    pub(crate) fn close(&self) {
        self.outbound.borrow_mut().close();
        self.stop_reading();
        self.kick();
    }

    /// `abort()`: drop the queue and close now, with RST.
    pub(crate) fn abort(&self) {
        if let Some(s) = &*self.socket.borrow() {
            s.reset_on_close();
        }
        self.outbound.borrow_mut().abort();
        self.stop_waiting_to_send();
        self.stop_reading();
        self.kick();
    }

    /// The connection is lost: both halves see `err`, and the socket closes without waiting
    /// for `close()` (F7: `wait_closed` then returns `err`, and the descriptor is released
    /// even while the reader and writer live on).
    ///
    /// Once the connection is torn down (aborted, failed or closed) an error changes
    /// nothing: it comes from an op the teardown cancelled (F8: after our own `abort()` a
    /// cancelled send completes with `ECANCELED`, and reads must still see EOF), and the
    /// first error is the one both halves report.
    fn fail(&self, err: io::Error) {
        if self.outbound.borrow().is_torn_down() {
            return;
        }
        self.recv_done.set(true);
        let copy = StoredError::new(&err).to_io_error();
        self.inbound.borrow_mut().set_exception(copy);
        self.outbound.borrow_mut().fail(err);
        self.stop_waiting_to_send();
        self.stop_reading();
        // The outbound state now asks for the close; `flush` carries it out.
        self.kick();
    }

    /// Abort and failure drop the queue, so a send waiting for the pipe to drain goes too.
    fn stop_waiting_to_send(&self) {
        if let Some(key) = self.send_poll.get() {
            self.driver.cancel(key);
        }
    }

    fn stop_reading(&self) {
        if let Some(key) = self.recv.get() {
            self.driver.cancel(key);
        }

        if !self.recv_done.get() {
            self.recv_done.set(true);
            // Reads after close see EOF rather than waiting forever.
            self.inbound.borrow_mut().feed_eof();
        }
    }

    /// Closes the socket once the queue is flushed (close) or dropped (abort, failure).
    ///
    /// A recv or send still in flight holds the kernel's reference to the socket, so the
    /// descriptor would close (and the peer see FIN or RST) only when that op ends: such ops
    /// are cancelled here and the close completes from their last completion
    /// (`close_if_idle`). A graceful close shuts down the write side at once, so the peer
    /// gets its FIN without waiting for that; `wait_closed` resolves only after the real
    /// close.
    fn close_socket(&self) {
        if self.socket.borrow().is_none() {
            return;
        }
        if !self.closing.replace(true) && !self.outbound.borrow().is_torn_down() {
            if let Some(s) = &*self.socket.borrow() {
                // Best effort: a peer that is already gone makes this fail harmlessly.
                let _ = s.shutdown_write();
            }
        }
        for key in [self.recv.get(), self.send_key.get(), self.send_poll.get()]
            .into_iter()
            .flatten()
        {
            self.driver.cancel(key);
        }
        self.close_if_idle();
    }

    /// Finishes a pending close once no op holds the socket.
    fn close_if_idle(&self) {
        if !self.closing.get()
            || self.recv.get().is_some()
            || self.send_key.get().is_some()
            || self.send_poll.get().is_some()
        {
            return;
        }
        let socket = self.socket.borrow_mut().take();
        if socket.is_some() {
            drop(socket);
            self.outbound.borrow_mut().closed(Ok(()));
        }
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

/// Inbound flow control (E4): pausing stops re-arming recv (the one in flight brings at
/// most one ring buffer more), resuming re-arms it. The inbound state holds the connection
/// weakly for this.
impl ReadControl for Conn {
    fn pause_reading(&self) {
        self.reading_paused.set(true);
    }

    fn resume_reading(&self) {
        self.reading_paused.set(false);
        self.arm_recv();
    }
}

/// The driver arms a connection's recv when its turn comes.
impl RecvWaiter for Conn {
    fn buffers_ready(&self) {
        self.recv_queued.set(false);
        if self.wants_recv() {
            self.submit_recv();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Readiness {
    Read,
    Write,
}

struct ReadyHandler {
    conn: Rc<Conn>,
    then: Readiness,
}

impl CompletionHandler for ReadyHandler {
    fn on_completion(&self, _driver: &Driver, completion: Completion) {
        self.conn.on_ready(completion, self.then);
    }
}

/// The connection is the completion handler of its recv ops (and of nothing else: the
/// readiness poll and the send have their own handlers), see `arm_recv`.
impl BeforeSubmit for Conn {
    fn before_submit(&self, _driver: &Driver) {
        self.flush_scheduled.set(false);
        self.flush();
    }
}

impl CompletionHandler for Conn {
    fn on_completion(&self, driver: &Driver, completion: Completion) {
        self.on_recv(driver, completion);
    }
}

/// The send side of a connection, made at its first send and reused by every later one:
/// the completion handler of its send ops and what they point to.
struct SendSide {
    /// The connection, held only while a send is in flight (a cycle only until then).
    conn: RefCell<Option<Rc<Conn>>>,
    /// The batch in flight: the kernel reads its pieces.
    batch: RefCell<Option<SendBatch>>,
    /// One iovec per piece of a vectored send; left alone while a send is in flight.
    iovecs: RefCell<Vec<libc::iovec>>,
    /// The vectored send's msghdr, pointing into `iovecs`.
    msg: Cell<libc::msghdr>,
    /// The last batch's piece list, emptied, for the next batch.
    spare: RefCell<Vec<Bytes>>,
}

impl Default for SendSide {
    fn default() -> Self {
        SendSide {
            conn: RefCell::new(None),
            batch: RefCell::new(None),
            iovecs: RefCell::new(Vec::new()),
            msg: Cell::new(msghdr(std::ptr::null_mut(), 0)),
            spare: RefCell::new(Vec::new()),
        }
    }
}

/// A msghdr for a plain vectored send of `len` iovecs at `iov`.
fn msghdr(iov: *mut libc::iovec, len: usize) -> libc::msghdr {
    libc::msghdr {
        msg_name: std::ptr::null_mut(),
        msg_namelen: 0,
        msg_iov: iov,
        msg_iovlen: len,
        msg_control: std::ptr::null_mut(),
        msg_controllen: 0,
        msg_flags: 0,
    }
}

impl SendSide {
    /// Keeps `spare` for the next send unless a large vectored send grew it (and the iovec
    /// array): an idle connection should not keep a 64-piece list from a burst.
    fn keep(&self, spare: Vec<Bytes>) {
        if spare.capacity() <= KEPT_PIECES {
            self.spare.replace(spare);
        }
        let mut iovecs = self.iovecs.borrow_mut();
        if iovecs.capacity() > KEPT_PIECES {
            *iovecs = Vec::new();
        }
    }
}

impl CompletionHandler for SendSide {
    fn on_completion(&self, _driver: &Driver, completion: Completion) {
        let conn = self.conn.borrow_mut().take();
        let batch = self.batch.borrow_mut().take();
        if let (Some(conn), Some(batch)) = (conn, batch) {
            conn.on_send(self, completion, batch);
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("fd", &self.fd)
            .field("open", &self.socket.borrow().is_some())
            .finish_non_exhaustive()
    }
}

/// Kernels since about 6.x poll a pipe for io_uring even when it is O_NONBLOCK, so the
/// EAGAIN path above never runs here on its own; tests force it with `RWF_NOWAIT`.
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
            let deadline = Instant::now() + Duration::from_secs(10);
            wa.write(&vec![5u8; 1 << 20]).expect("write");
            while rb.buffered_len() < 100 * 1024 {
                assert!(Instant::now() < deadline, "the burst never piled up");
                crate::time::sleep(Duration::from_millis(1)).await;
            }
            let mut received = 0;
            while received < 1 << 20 {
                received += rb.read(1 << 20).await.expect("read").len();
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
                !wb.conn()
                    .inbound
                    .borrow_mut()
                    .has_room_for(KEPT_CAPACITY + 1),
                "the reader kept the burst's buffer"
            );
        })
        .expect("runtime");
    }
}
