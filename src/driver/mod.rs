//! The driver: one io_uring, the submission of ops (every SQE is built in [`ops`], under
//! its [`OpCode`](ops::OpCode) contract), the dispatch of CQEs by `user_data`, the op
//! lifecycle, and the provided-buffer ring receives pick their buffers from.
//!
//! It knows nothing about tasks or streams: an op is completed by waking a [`Waker`] or by
//! calling a [`CompletionHandler`].
//!
//! # Op lifecycle
//!
//! Every op has a slot in a slab; its `user_data` is the slot key plus a generation. A slot
//! is `Waiting` (submitted, a future waits), `Done` (result parked, waker woken), `Handler`
//! (completions go straight to a callback; the slot holds the op until its last completion
//! and gives it back with it) or `Orphaned` (its future was dropped before the last CQE:
//! the slot keeps the op, and so every resource the kernel may touch, and frees it when the
//! last CQE arrives). Multishot ops live until a CQE without `IORING_CQE_F_MORE`.
//!
//! # Ring failure
//!
//! An `io_uring_enter` error that is not transient (seccomp refusing the call, ENOMEM,
//! EBADR when completions were dropped, ...) is stored (the first one wins, see
//! [`failure`]) and the ring is never entered again. Completions already posted are still
//! dispatched; every other op then ends with a completion of `-errno` (delivered by the
//! next [`Driver::enter`]), and ops submitted later end the same way without reaching the
//! kernel, so no waiter is left hanging. An op the kernel may still hold keeps its
//! resources for good: an orphaned slot's are leaked instead of freed, and the buffer
//! memory is leaked when the driver drops. The kernel never writes into memory an op's
//! owner gets back (receives use the provided-buffer ring; accepts, polls and cancels take
//! no memory; a connect reads its address when it is submitted); a send the kernel had
//! taken may still read the bytes it was given.

mod buf_ring;
pub(crate) mod failure;
pub(crate) mod op;
pub(crate) mod ops;
mod region;
mod setup;
mod slot;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use io_uring::{cqueue, squeue, types, IoUring};
use slab::Slab;

use ops::{Cancel, CancelAll, HandlerOp, OpCode};
use slot::{decode, encode, Entry, Slot};

pub(crate) use buf_ring::waiters::RecvWaiter;
use buf_ring::waiters::RecvWaiters;
use failure::{During, RingFailure};

pub(crate) use buf_ring::BufRing;
pub use setup::RingMode;
pub(crate) use setup::{build_ring, RingConfig};

/// `user_data` of SQEs whose completion nobody waits for (cancel requests).
const IGNORED: u64 = u64::MAX;

/// One completion: the CQE's `res` and `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completion {
    pub result: i32,
    pub flags: u32,
}

impl Completion {
    /// `res` as an `io::Result`: a negative value is `-errno`.
    pub(crate) fn into_result(self) -> io::Result<u32> {
        if self.result < 0 {
            Err(io::Error::from_raw_os_error(-self.result))
        } else {
            Ok(self.result as u32)
        }
    }

    /// Whether more completions will follow for this op (multishot).
    pub(crate) fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer this completion filled, if any.
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// Receives the completions of an op submitted with [`Driver::submit_handler`].
///
/// The driver calls it with no internal borrow held, so the handler may submit new ops.
pub(crate) trait CompletionHandler {
    /// One completion of an op submitted with [`Driver::submit_handler`]. `op` is the op
    /// itself, given back with its last completion (`None` before that: a multishot op's
    /// other completions).
    fn on_completion(&self, driver: &Driver, completion: Completion, op: Option<HandlerOp>);
}

/// Work to do just before the next submission (see [`Driver::before_submit`]).
pub(crate) trait BeforeSubmit {
    fn before_submit(&self, driver: &Driver);
}

/// Counters for tests and diagnostics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DriverStats {
    pub submitted: u64,
    pub completions: u64,
    pub enters: u64,
    pub sq_full_flushes: u64,
    pub cq_overflow_flushes: u64,
    /// Receivers that found no receive buffer (ENOBUFS) and waited for one in turn.
    pub recv_buffer_waits: u64,
    /// Ring-buffer receives handed to a reader as they are (zero copy).
    pub recvs_lent: u64,
    /// Ring-buffer receives copied into a reader's buffer (the ring buffer went back at
    /// once).
    pub recvs_copied: u64,
    /// Bytes the connections' receives and pipe reads brought in.
    pub bytes_received: u64,
    /// Bytes the connections' sends and pipe writes took.
    pub bytes_sent: u64,
}

/// Which way a ring-buffer receive reached its reader (see [`Driver::count_recv`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvDelivery {
    Lent,
    Copied,
}

/// The ring and its op table. Owned by one runtime, used from its thread only.
pub(crate) struct Driver {
    ring: RefCell<IoUring>,
    ops: RefCell<Slab<Entry>>,
    mode: RingMode,
    next_generation: Cell<u32>,
    /// CQEs taken off the CQ while the SQ was being flushed, waiting to be dispatched.
    backlog: RefCell<Vec<(u64, Completion)>>,
    scratch: RefCell<Vec<(u64, Completion)>>,
    recv_buffers: RefCell<Option<BufRing>>,
    /// Receivers to arm before the next submission, starved ones first (see
    /// `buf_ring::waiters`).
    recv_waiters: RefCell<RecvWaiters>,
    /// The receivers armed this turn (kept to reuse its allocation).
    recv_waiters_scratch: RefCell<Vec<Weak<dyn RecvWaiter>>>,
    stats: Cell<DriverStats>,
    /// Keys of the runtime's own long-lived ops (see `submit_internal_handler`).
    internal: RefCell<Vec<usize>>,
    /// Run before the next submission (see `before_submit`).
    before_submit: RefCell<Vec<Rc<dyn BeforeSubmit>>>,
    /// The ring failed: it is not entered again (see "Ring failure" above).
    failure: Cell<Option<RingFailure>>,
    /// Ops to end with the failure on the next reap: `user_data`, and whether the kernel
    /// may still hold the op (it was submitted before the failure).
    failed_ops: RefCell<VecDeque<(u64, bool)>>,
}

/// How long [`Driver::enter`] may block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Submit and collect completions, never block.
    No,
    /// Block until at least one completion, or until the deadline.
    Until(Option<Instant>),
}

/// Buffer options for [`Driver::new`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BufferConfig {
    /// Provided-buffer ring: (count, size); count 0 disables it.
    pub recv: (u16, u32),
}

impl Driver {
    pub(crate) fn new(ring: RingConfig, buffers: BufferConfig) -> io::Result<Driver> {
        let (ring, mode) = build_ring(&ring)?;
        let recv_buffers = if buffers.recv.0 > 0 {
            Some(BufRing::new(&ring, 0, buffers.recv.0, buffers.recv.1)?)
        } else {
            None
        };
        Ok(Driver {
            ring: RefCell::new(ring),
            ops: RefCell::new(Slab::with_capacity(256)),
            mode,
            next_generation: Cell::new(0),
            backlog: RefCell::new(Vec::new()),
            scratch: RefCell::new(Vec::with_capacity(256)),
            recv_buffers: RefCell::new(recv_buffers),
            recv_waiters: RefCell::new(RecvWaiters::default()),
            recv_waiters_scratch: RefCell::new(Vec::new()),
            stats: Cell::new(DriverStats::default()),
            internal: RefCell::new(Vec::new()),
            before_submit: RefCell::new(Vec::new()),
            failure: Cell::new(None),
            failed_ops: RefCell::new(VecDeque::new()),
        })
    }

    pub(crate) fn mode(&self) -> RingMode {
        self.mode
    }

    pub(crate) fn stats(&self) -> DriverStats {
        self.stats.get()
    }

    /// The ring's fatal failure, if it failed (see "Ring failure" above).
    pub(crate) fn failure(&self) -> Option<io::Error> {
        self.failure.get().map(RingFailure::to_io_error)
    }

    /// Whether the ring failed.
    pub(crate) fn has_failed(&self) -> bool {
        self.failure.get().is_some()
    }

    /// Whether ops wait to be ended with the ring's failure by the next
    /// [`enter`](Driver::enter) (which then returns at once).
    pub(crate) fn has_failed_ops(&self) -> bool {
        !self.failed_ops.borrow().is_empty()
    }

    fn bump(&self, f: impl FnOnce(&mut DriverStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Counts one ring-buffer receive, by the way it reached the reader.
    pub(crate) fn count_recv(&self, delivery: RecvDelivery) {
        match delivery {
            RecvDelivery::Lent => self.bump(|s| s.recvs_lent += 1),
            RecvDelivery::Copied => self.bump(|s| s.recvs_copied += 1),
        }
    }

    /// Counts the bytes a connection's data op moved: a positive result of a receive, a
    /// read, a send or a write (datagram, accept and poll results are no byte counts of a
    /// connection).
    fn count_bytes(&self, op: &HandlerOp, c: Completion) {
        if c.result <= 0 {
            return;
        }
        let n = c.result as u64;
        match op {
            HandlerOp::Recv(_) | HandlerOp::RecvInto(_) | HandlerOp::Read(_) => {
                self.bump(|s| s.bytes_received += n)
            }
            HandlerOp::Send(_) | HandlerOp::Writev(_) => self.bump(|s| s.bytes_sent += n),
            HandlerOp::Poll(_)
            | HandlerOp::AcceptMulti(_)
            | HandlerOp::RecvMsgMulti(_)
            | HandlerOp::SendTo(_) => {}
        }
    }

    /// Ops whose last completion has not arrived yet (including orphaned ones).
    pub(crate) fn ops_in_flight(&self) -> usize {
        let ops = self.ops.borrow();
        let internal = self
            .internal
            .borrow()
            .iter()
            .filter(|&&k| ops.contains(k))
            .count();
        ops.len() - internal
    }

    /// Runs `f` on the provided-buffer ring, if one was configured.
    pub(crate) fn with_recv_buffers<R>(&self, f: impl FnOnce(&mut BufRing) -> R) -> Option<R> {
        self.recv_buffers.borrow_mut().as_mut().map(f)
    }

    /// Arms `receiver`'s recv in this turn's submission, after the connections that got
    /// `ENOBUFS` before it (see `buf_ring::waiters`): [`RecvWaiter::buffers_ready`] is
    /// called just before the submission.
    pub(crate) fn recv_when_ready(&self, receiver: Weak<dyn RecvWaiter>) {
        self.recv_waiters.borrow_mut().push_fresh(receiver);
    }

    /// `receiver`'s recv found no receive buffer (`ENOBUFS`): it is armed again, in turn,
    /// once the ring has a buffer for it (see `buf_ring::waiters`).
    pub(crate) fn wait_for_recv_buffer(&self, receiver: Weak<dyn RecvWaiter>) {
        self.bump(|s| s.recv_buffer_waits += 1);
        #[cfg(feature = "tracing")]
        crate::trace::recv_buffers_exhausted(self.stats.get().recv_buffer_waits);
        self.recv_waiters.borrow_mut().push_starved(receiver);
    }

    /// Arms this turn's recvs: as many starved receivers as the ring has buffers in the
    /// kernel's hands, oldest first, then every fresh one. Runs once per loop turn just
    /// before the submission, so the starved recvs go out (and, with data waiting, run)
    /// ahead of every other.
    fn arm_recvs(&self) {
        if self.recv_waiters.borrow().is_empty() {
            return;
        }
        let free = self.with_recv_buffers(|ring| ring.available()).unwrap_or(0);
        let mut turn = std::mem::take(&mut *self.recv_waiters_scratch.borrow_mut());
        self.recv_waiters.borrow_mut().take_turn(free, &mut turn);
        for receiver in turn.drain(..) {
            if let Some(receiver) = receiver.upgrade() {
                receiver.buffers_ready();
            }
        }
        *self.recv_waiters_scratch.borrow_mut() = turn;
    }

    /// Inserts a slot and returns (key, user_data).
    fn insert(&self, slot: Slot) -> (usize, u64) {
        let generation = self.next_generation.get().wrapping_add(1);
        self.next_generation.set(generation);
        let key = self.ops.borrow_mut().insert(Entry { generation, slot });
        (key, encode(key, generation))
    }

    /// Submits `op` for a future to poll (see [`op::Op`], which keeps `op` until its last
    /// completion).
    pub(crate) fn submit_waiting(&self, op: &impl OpCode) -> usize {
        let (key, user_data) = self.insert(Slot::Waiting(None));
        self.push(op.sqe().user_data(user_data));
        key
    }

    /// Submits `op` (single or multishot); its completions go straight to `handler`, and
    /// its slot keeps it until the last one, which gives it back. Returns the slot key,
    /// which [`Driver::cancel`] takes.
    pub(crate) fn submit_handler(
        &self,
        op: impl Into<HandlerOp>,
        handler: Rc<dyn CompletionHandler>,
    ) -> usize {
        let op = op.into();
        let sqe = op.sqe();
        let (key, user_data) = self.insert(Slot::Handler { handler, op });
        self.push(sqe.user_data(user_data));
        key
    }

    /// Like [`Driver::submit_handler`], for the runtime's own long-lived ops: they are not
    /// counted by [`Driver::ops_in_flight`] while armed.
    pub(crate) fn submit_internal_handler(
        &self,
        op: impl Into<HandlerOp>,
        handler: Rc<dyn CompletionHandler>,
    ) {
        let key = self.submit_handler(op, handler);
        self.internal.borrow_mut().push(key);
    }

    /// Asks the kernel to cancel op `key` if it is still in flight. Its slot stays until
    /// the final CQE (usually `-ECANCELED`) arrives.
    pub(crate) fn cancel(&self, key: usize) {
        let user_data = match self.ops.borrow().get(key) {
            Some(entry) => encode(key, entry.generation),
            None => return,
        };
        self.push(Cancel::new(user_data).sqe().user_data(IGNORED));
    }

    /// Queues one SQE, built by an [`OpCode`] whose value the op's slot (or its future)
    /// keeps until the last completion. A full SQ is flushed to the kernel and the push
    /// retried: an SQE is never dropped. Once the ring has failed nothing reaches it: the
    /// op ends with the failure on the next reap instead.
    fn push(&self, sqe: squeue::Entry) {
        let mut ring = self.ring.borrow_mut();
        loop {
            if self.failure.get().is_some() {
                let user_data = sqe.get_user_data();
                if user_data != IGNORED {
                    self.failed_ops.borrow_mut().push_back((user_data, false));
                }
                return;
            }
            // SAFETY: the SQE comes from an `OpCode`, so it points only at memory its op value
            // owns, and that value stays in the op's slot or future until the op's final
            // CQE (or is leaked if the ring fails first): the kernel never touches freed or
            // changed memory.
            if unsafe { ring.submission().push(&sqe) }.is_ok() {
                self.bump(|s| s.submitted += 1);
                return;
            }
            self.bump(|s| s.sq_full_flushes += 1);
            if let Err(e) = failure::inject::enter(|| ring.submit()) {
                match e.raw_os_error() {
                    // The CQ is full and the kernel cannot post more: move CQEs aside
                    // (dispatched on the next reap) and retry.
                    Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                        self.move_cq_to_backlog(&mut ring);
                    }
                    Some(libc::EINTR) => {}
                    _ => {
                        self.fail(&e, During::SqFlush, &mut ring);
                        if self.failure.get().is_some() {
                            // This op's slot is in the table already, so `fail` queued it
                            // to end with the failure like every other pending op.
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Stores a non-transient `io_uring_enter` error as the ring's failure (the first one
    /// wins) and queues every pending op to end with it. Completions the kernel already
    /// posted are real: they are moved aside to be dispatched first.
    fn fail(&self, err: &io::Error, during: During, ring: &mut IoUring) {
        let Some(failure) = RingFailure::of(err, during) else {
            return;
        };
        if self.failure.get().is_some() {
            return;
        }
        self.failure.set(Some(failure));
        // Said once here too: a `block_on` future may see only the bare errno of its op.
        log::error!("ringstream: {failure}");
        self.move_cq_to_backlog(ring);
        let ops = self.ops.borrow();
        let mut failed = self.failed_ops.borrow_mut();
        for (key, entry) in ops.iter() {
            let pending = match &entry.slot {
                Slot::Done(_) => false,
                Slot::Waiting(_) | Slot::Handler { .. } | Slot::Orphaned(_) => true,
            };
            if pending {
                failed.push_back((encode(key, entry.generation), true));
            }
        }
    }

    fn move_cq_to_backlog(&self, ring: &mut IoUring) {
        let mut backlog = self.backlog.borrow_mut();
        for cqe in ring.completion() {
            backlog.push((
                cqe.user_data(),
                Completion {
                    result: cqe.result(),
                    flags: cqe.flags(),
                },
            ));
        }
    }

    /// Whether an `io_uring_enter` is needed to make progress without waiting.
    fn needs_enter(ring: &mut IoUring) -> bool {
        let sq = ring.submission();
        !sq.is_empty() || sq.taskrun() || sq.cq_overflow()
    }

    /// Submits queued SQEs and collects completions, blocking per `wait`; then dispatches
    /// every completion. Returns the number dispatched.
    ///
    /// A non-transient error fails the ring (see "Ring failure" above). A failed ring is
    /// not entered: this only dispatches what is left and never blocks, so the caller
    /// waits by other means ([`has_failed`](Driver::has_failed)).
    pub(crate) fn enter(&self, wait: Wait) -> usize {
        // Lent receive buffers dropped since the last turn go back to the kernel here: the
        // runtime enters once per loop turn, so this costs one atomic load per turn (not
        // per completion, as `with_recv_buffers` would), needs no caller to remember it,
        // and runs before the submission below, so re-armed recvs already find them.
        // `try_`: never panic if a caller enters from inside `with_recv_buffers`; the next
        // turn reclaims instead.
        if let Ok(mut buffers) = self.recv_buffers.try_borrow_mut() {
            if let Some(buffers) = buffers.as_mut() {
                buffers.reclaim();
            }
        }
        self.arm_recvs();
        if self.failure.get().is_none() {
            let mut ring = self.ring.borrow_mut();
            // Completions already posted make a wait pointless: just submit.
            let wait = match wait {
                Wait::Until(_) if !ring.completion().is_empty() => Wait::No,
                w => w,
            };
            let res = match wait {
                Wait::No if !Self::needs_enter(&mut ring) => Ok(0),
                Wait::No => {
                    self.bump(|s| s.enters += 1);
                    failure::inject::enter(|| submit_getevents(&mut ring))
                }
                Wait::Until(None) => {
                    self.bump(|s| s.enters += 1);
                    failure::inject::enter(|| ring.submit_and_wait(1))
                }
                Wait::Until(Some(deadline)) => {
                    self.bump(|s| s.enters += 1);
                    let left = deadline.saturating_duration_since(Instant::now());
                    let ts = timespec(left);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    failure::inject::enter(|| ring.submitter().submit_with_args(1, &args))
                }
            };
            if let Err(e) = res {
                match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EAGAIN) => {}
                    Some(libc::EBUSY) => self.move_cq_to_backlog(&mut ring),
                    _ => self.fail(&e, During::Wait, &mut ring),
                }
            }
        }
        self.reap()
    }

    /// Runs `hook` before the next submission (the runtime loop calls
    /// [`run_before_submit`](Driver::run_before_submit) before each [`enter`](Driver::enter)): a connection written to several times in one turn builds one send
    /// with all of it instead of sending the first write alone.
    pub(crate) fn before_submit(&self, hook: Rc<dyn BeforeSubmit>) {
        self.before_submit.borrow_mut().push(hook);
    }

    /// Runs the pending [`before_submit`](Driver::before_submit) hooks now. The runtime
    /// calls this before it decides whether to block, since a hook may wake a task.
    pub(crate) fn run_before_submit(&self) {
        // Bounded: a hook may schedule another one (a flush that completes a close).
        for _ in 0..4 {
            let mut hooks = std::mem::take(&mut *self.before_submit.borrow_mut());
            if hooks.is_empty() {
                // Nothing ran since the take: put the (empty) allocation back.
                *self.before_submit.borrow_mut() = hooks;
                return;
            }
            for hook in hooks.drain(..) {
                hook.before_submit(self);
            }
            // Keep the allocation for the next turn (this runs every loop iteration).
            let mut pending = self.before_submit.borrow_mut();
            if pending.is_empty() {
                *pending = hooks;
            }
        }
    }

    /// Dispatches every completion in the backlog and the CQ, flushing kernel-side CQ
    /// overflow until none is left; then ends the ops queued by a ring failure.
    fn reap(&self) -> usize {
        let mut total = 0;
        // Bounded: each round empties the CQ; overflowed CQEs move in by CQ-sized batches.
        for _ in 0..1024 {
            let mut batch = std::mem::take(&mut *self.scratch.borrow_mut());
            let overflow;
            {
                let mut ring = self.ring.borrow_mut();
                batch.append(&mut self.backlog.borrow_mut());
                // A failed ring's CQ is not read again: ops pending at the failure end with
                // it instead, and a late real completion would end them twice.
                if self.failure.get().is_none() {
                    for cqe in ring.completion() {
                        batch.push((
                            cqe.user_data(),
                            Completion {
                                result: cqe.result(),
                                flags: cqe.flags(),
                            },
                        ));
                    }
                    overflow = ring.submission().cq_overflow();
                } else {
                    overflow = false;
                }
            }
            total += batch.len();
            self.bump(|s| s.completions += batch.len() as u64);
            for (user_data, completion) in batch.drain(..) {
                self.dispatch(user_data, completion);
            }
            *self.scratch.borrow_mut() = batch;
            if !overflow {
                break;
            }
            // The kernel holds CQEs it could not post: an enter with GETEVENTS moves them in.
            self.bump(|s| s.cq_overflow_flushes += 1);
            let mut ring = self.ring.borrow_mut();
            if let Err(e) = failure::inject::enter(|| submit_getevents(&mut ring)) {
                self.fail(&e, During::OverflowFlush, &mut ring);
            }
        }
        total + self.end_failed_ops()
    }

    /// Ends the ops queued by the ring's failure with its `-errno`. Only those queued
    /// before this call: a handler that submits again in response gets its answer on the
    /// next turn, so one that retries forever cannot keep this call from returning.
    fn end_failed_ops(&self) -> usize {
        let Some(failure) = self.failure.get() else {
            return 0;
        };
        let failed = std::mem::take(&mut *self.failed_ops.borrow_mut());
        let mut count = 0;
        let completion = Completion {
            result: failure.result(),
            flags: 0,
        };
        for (user_data, kernel_may_hold) in failed {
            let (key, generation) = decode(user_data);
            let mut ops = self.ops.borrow_mut();
            let Some(entry) = ops.get_mut(key).filter(|e| e.generation == generation) else {
                continue; // a real last completion ended it first
            };
            match &mut entry.slot {
                Slot::Done(_) => continue,
                // The handler gets its op back, but not memory the kernel may still use.
                Slot::Handler { op, .. } if kernel_may_hold => op.leak_memory(),
                Slot::Orphaned(_) if kernel_may_hold => {
                    // Nobody waits, and the kernel may still use what the slot holds: keep
                    // it for good rather than free memory the kernel can touch.
                    let entry = ops.remove(key);
                    drop(ops);
                    std::mem::forget(entry);
                    continue;
                }
                _ => {}
            }
            drop(ops);
            count += 1;
            self.dispatch(user_data, completion);
        }
        self.bump(|s| s.completions += count as u64);
        count
    }

    fn dispatch(&self, user_data: u64, c: Completion) {
        if user_data == IGNORED {
            return;
        }
        let (key, generation) = decode(user_data);
        let mut ops = self.ops.borrow_mut();
        let Some(entry) = ops.get_mut(key) else {
            debug_assert!(false, "completion for unknown op {key}");
            return;
        };
        if entry.generation != generation {
            debug_assert!(false, "completion for a recycled op slot {key}");
            return;
        }
        match &mut entry.slot {
            Slot::Waiting(waker) => {
                let waker = waker.take();
                entry.slot = Slot::Done(c);
                drop(ops);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            Slot::Handler { handler, op } => {
                self.count_bytes(op, c);
                let handler = handler.clone();
                let op = if c.more() {
                    None
                } else {
                    self.internal.borrow_mut().retain(|&k| k != key);
                    match ops.remove(key).slot {
                        Slot::Handler { op, .. } => Some(op),
                        _ => None,
                    }
                };
                drop(ops);
                handler.on_completion(self, c, op);
            }
            Slot::Orphaned(_) => {
                let last = !c.more();
                if last {
                    let slot = ops.remove(key).slot;
                    drop(ops);
                    if let Slot::Orphaned(op) = slot {
                        // The kernel is done with what the op held: free it now.
                        drop(op);
                    }
                } else {
                    drop(ops);
                }
                self.recycle_buffer_of(c);
            }
            Slot::Done(_) => {
                // A second CQE for a single-shot op: not expected for the ops we issue.
                debug_assert!(false, "extra completion for op {key}");
            }
        }
    }

    /// Gives back the provided buffer a completion carries, if it carries one.
    pub(crate) fn recycle_buffer_of(&self, c: Completion) {
        if let Some(bid) = c.buffer_id() {
            if let Some(ring) = self.recv_buffers.borrow_mut().as_mut() {
                ring.recycle(bid);
            }
        }
    }

    /// Polls a `Waiting`/`Done` slot. On `Ready` the slot is freed.
    pub(crate) fn poll_op(
        &self,
        key: usize,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Completion> {
        let mut ops = self.ops.borrow_mut();
        let entry = &mut ops[key];
        match &mut entry.slot {
            Slot::Done(c) => {
                let c = *c;
                ops.remove(key);
                std::task::Poll::Ready(c)
            }
            Slot::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                std::task::Poll::Pending
            }
            _ => unreachable!("poll_op on a slot that is not a single-shot op"),
        }
    }

    /// The owner of op `key` is gone. If the op is finished its slot is freed now (with
    /// `resources`); otherwise the slot keeps `resources` until the last CQE and the op is
    /// cancelled.
    pub(crate) fn orphan(&self, key: usize, resources: Option<Box<dyn Any>>) {
        let mut ops = self.ops.borrow_mut();
        let Some(entry) = ops.get_mut(key) else {
            return;
        };
        let finished = match &mut entry.slot {
            Slot::Done(_) => true,
            Slot::Waiting(_) => false,
            Slot::Handler { .. } | Slot::Orphaned(_) => return,
        };
        if finished {
            // A receive that completed unseen gives its buffer back.
            if let Slot::Done(c) = ops.remove(key).slot {
                drop(ops);
                self.recycle_buffer_of(c);
            }
            drop(resources);
        } else {
            entry.slot = Slot::Orphaned(resources);
            drop(ops);
            self.cancel(key);
        }
    }

    /// Cancels every op and waits (bounded) for their last completions, so that no buffer
    /// is freed while the kernel may still write to it.
    fn quiesce(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.ops.borrow().is_empty() && Instant::now() < deadline {
            if self.failure.get().is_some() {
                // No ring to wait on: end the ops still queued for the failure (their
                // handlers may queue more, bounded by the deadline), then give up on the
                // rest.
                if self.failed_ops.borrow().is_empty() {
                    break;
                }
                self.run_before_submit();
                self.reap();
                continue;
            }
            // Again every round: a completion handler may have started a new op (a
            // connection flushing as it closes).
            self.push(CancelAll.sqe().user_data(IGNORED));
            self.run_before_submit();
            self.enter(Wait::Until(Some(deadline)));
        }
        self.ops.borrow().is_empty()
    }

    /// Ends every op (cancel, then wait for the last completions, bounded) so that the
    /// handlers they hold — and what those hold, such as connections and their sockets —
    /// are dropped now, while the runtime is being torn down, instead of keeping each
    /// other (and this driver) alive.
    pub(crate) fn shutdown(&self) {
        self.quiesce();
        // Pending flushes hold connections, which hold this driver.
        self.before_submit.borrow_mut().clear();
        self.recv_waiters.borrow_mut().clear();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let quiet = self.quiesce();
        // After a ring failure, ops the kernel had taken may still run (their slots ended
        // with the failure, not with their last completion), so the buffer memory stays.
        if !quiet || self.failure.get().is_some() {
            // Some op never completed: the kernel may still write into its resources, so
            // leak them (and the buffer memory) rather than free memory it can touch.
            // Forgetting the ring leaks its share of the receive buffer memory, so lent
            // `Bytes` dropped later never unmap it either.
            let ops = std::mem::take(&mut *self.ops.borrow_mut());
            std::mem::forget(ops);
            if let Some(ring) = self.recv_buffers.borrow_mut().take() {
                std::mem::forget(ring);
            }
        }
    }
}

/// `IORING_ENTER_GETEVENTS` (the crate's constant is not public).
const ENTER_GETEVENTS: u32 = 1;

/// Submits what is queued and runs deferred task work so completions get posted, without
/// waiting for any.
fn submit_getevents(ring: &mut IoUring) -> io::Result<usize> {
    let to_submit = ring.submission().len() as u32;
    // SAFETY: a plain io_uring_enter with GETEVENTS and no argument pointer; the SQEs it
    // submits point at memory owned by their op slots (see `Driver::push`).
    unsafe {
        ring.submitter()
            .enter::<libc::sigset_t>(to_submit, 0, ENTER_GETEVENTS, None)
    }
}

fn timespec(d: Duration) -> types::Timespec {
    types::Timespec::new()
        .sec(d.as_secs())
        .nsec(d.subsec_nanos())
}
