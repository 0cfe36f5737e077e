//! The runtime: tasks, wakers, the run queue, timers, `block_on`, `spawn`, and the
//! thread-per-core launcher. One runtime = one thread = one ring; tasks are `!Send` and
//! never migrate.

mod blocking;
mod builder;
mod context;
pub(crate) mod executor;
mod nop;
mod per_core;
pub(crate) mod task;
pub mod time;
mod waker;
mod yield_now;

use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

pub use blocking::{spawn_blocking, BlockingHandle, KEEP_ALIVE, MAX_THREADS};
pub use builder::Builder;
pub use nop::{nop, Nop};
pub use per_core::{current_cpu, pin_current_thread, pinned_cpu, CoreError, CoreGroup, PerCore};
pub use task::{JoinError, JoinHandle};
pub use yield_now::{yield_now, YieldNow};

use crate::driver::Driver;
pub use crate::driver::RingMode;

use self::executor::Core;
use self::waker::Shared;

/// Why `block_on` refuses to nest.
const NESTED: &str = "Runtime::block_on called from inside a ringstream runtime: nesting \
                      would block the outer loop; spawn the future or .await it instead";

/// A single-threaded executor that owns one io_uring.
///
/// `Runtime` is `!Send`: create it on the thread that will run it. For one runtime per
/// core, see [`PerCore`].
///
/// ```
/// let rt = ringstream::Runtime::new().expect("io_uring is available");
/// let answer = rt.block_on(async {
///     let task = ringstream::spawn(async { 6 * 7 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    core: Rc<Core>,
}

/// What a runtime reports about itself; see [`Runtime::stats`].
///
/// Every counter is a plain integer of the runtime's thread, bumped where the event
/// happens (no atomics): reading them costs a copy, keeping them next to nothing.
///
/// ```
/// use ringstream::Stream;
///
/// let rt = ringstream::Runtime::new().expect("io_uring is available");
/// let before = rt.stats();
/// rt.block_on(async {
///     let (a, b) = Stream::pair()?;
///     let (_a_reader, writer) = a.split();
///     let (mut reader, _b_writer) = b.split();
///     writer.write_all(b"hello").await?;
///     let got = reader.read_exact(5).await.map_err(std::io::Error::from)?;
///     assert_eq!(&got[..], b"hello");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// let after = rt.stats();
/// assert_eq!(after.bytes_sent - before.bytes_sent, 5);
/// assert_eq!(after.bytes_received - before.bytes_received, 5);
/// assert_eq!(after.recvs_copied - before.recvs_copied, 1); // small: copied, not lent
/// assert!(after.submitted > before.submitted);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RuntimeStats {
    /// How the ring was set up.
    pub ring_mode: RingMode,
    /// Tasks spawned and not yet joined or finished-and-detached.
    pub tasks: usize,
    /// Ops whose last completion has not arrived (orphaned ones included).
    pub ops_in_flight: usize,
    /// SQEs queued since the runtime started.
    pub submitted: u64,
    /// CQEs dispatched since the runtime started.
    pub completions: u64,
    /// `io_uring_enter` calls made by the loop.
    pub enters: u64,
    /// Times a full submission queue was flushed to make room.
    pub sq_full_flushes: u64,
    /// Times completions the kernel held back on CQ overflow were flushed in.
    pub cq_overflow_flushes: u64,
    /// Task polls.
    pub polls: u64,
    /// Times the loop blocked waiting for completions or timers.
    pub parks: u64,
    /// Times the busy-poll window ([`Builder::busy_poll`]) found work before it ran out,
    /// so the loop did not block.
    pub busy_poll_hits: u64,
    /// Timers registered by sleeps, timeouts and intervals being awaited.
    pub pending_timers: usize,
    /// Times a connection queued for a receive buffer because the ring had none to spare
    /// (`Builder::recv_buffers`): starved receivers wait their turn in order rather than
    /// retrying. Each is one `ENOBUFS` from the kernel; a count that keeps growing says
    /// the ring is too small for the connections' bursts.
    pub recv_buffer_waits: u64,
    /// Receives of the buffer ring handed to the reader as they are, with no copy: at
    /// least 4 KiB that found the reader empty (`read(n)` then passes the buffer on).
    pub recvs_lent: u64,
    /// Receives of the buffer ring copied into the reader's buffer: small ones, ones that
    /// found data already buffered, and all while half the ring is lent out.
    pub recvs_copied: u64,
    /// Bytes received by the connections of this runtime (TCP, Unix sockets, pipes; not
    /// UDP).
    pub bytes_received: u64,
    /// Bytes sent by the connections of this runtime (TCP, Unix sockets, pipes; not UDP).
    pub bytes_sent: u64,
}

impl Runtime {
    /// Creates a runtime with the default [`Builder`] settings.
    ///
    /// # Errors
    /// When io_uring cannot be set up; the message names the cause and the fix, e.g.
    /// `io_uring_setup failed: EPERM — io_uring is disabled by seccomp ...`.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure ring and buffer sizes.
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn from_driver(
        driver: Driver,
        event_interval: usize,
        busy_poll: std::time::Duration,
    ) -> io::Result<Runtime> {
        let shared = Arc::new(Shared::new()?);
        let core = Core::new(driver, shared, event_interval, busy_poll);
        waker::arm_eventfd(&core.driver, core.shared());
        Ok(Runtime { core })
    }

    /// Runs `future` to completion on this thread, along with every task it spawns.
    ///
    /// # Ring failure
    /// If the ring fails for good (an `io_uring_enter` error that is not transient: a
    /// seccomp filter refusing the call, ENOMEM, EBADR when the kernel dropped
    /// completions), the runtime does not panic and does not stop: it never enters the
    /// ring again, every op pending then ends with that error (`-errno`, e.g. a read
    /// failing with `PermissionDenied`), and every op started later fails the same way at
    /// once, so `future` runs its own error path and returns. Timers and wakes from other
    /// threads go on working. The full error, naming the cause and the fix, is logged
    /// through the `log` facade; [`try_block_on`](Runtime::try_block_on) returns it
    /// instead, and [`run`] uses that.
    ///
    /// # Panics
    /// If called from inside a runtime on this thread (nesting would block the outer
    /// one), or if `future` itself panics.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let Some(_guard) = context::enter(&self.core) else {
            panic!("{NESTED}");
        };
        self.core.block_on(future)
    }

    /// Like [`block_on`](Runtime::block_on), but a ring failure ends it: the error is
    /// returned, with a message that names the cause and the fix (e.g. `io_uring_enter
    /// failed: EPERM — io_uring is refused by a seccomp filter ...`), and `future` is
    /// dropped. Tasks it spawned stay with the runtime until it is dropped; their ops end
    /// with the same error.
    ///
    /// ```
    /// let rt = ringstream::Runtime::new().expect("io_uring is available");
    /// match rt.try_block_on(async { ringstream::nop().await }) {
    ///     Ok(nop) => nop.expect("the ring answers"),
    ///     Err(ring_failure) => eprintln!("the ring failed: {ring_failure}"),
    /// }
    /// ```
    ///
    /// # Errors
    /// The ring's failure (see [`block_on`](Runtime::block_on)), also when it failed
    /// during an earlier call: a failed runtime cannot run anything else.
    ///
    /// # Panics
    /// As [`block_on`](Runtime::block_on): nested in a runtime, or `future` panics.
    pub fn try_block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        let Some(_guard) = context::enter(&self.core) else {
            panic!("{NESTED}");
        };
        self.core.try_block_on(future)
    }

    /// How the ring was set up (see [`RingMode`]).
    pub fn ring_mode(&self) -> RingMode {
        self.core.driver.mode()
    }

    /// Counters about this runtime.
    ///
    /// ```
    /// let rt = ringstream::Runtime::new().unwrap();
    /// rt.block_on(ringstream::nop()).unwrap();
    /// let stats = rt.stats();
    /// assert!(stats.completions >= 1);
    /// assert_eq!(stats.ops_in_flight, 0);
    /// ```
    pub fn stats(&self) -> RuntimeStats {
        stats_of(&self.core)
    }
}

fn stats_of(core: &Core) -> RuntimeStats {
    let d = core.driver.stats();
    let l = core.loop_stats();
    RuntimeStats {
        ring_mode: core.driver.mode(),
        tasks: core.task_count(),
        ops_in_flight: core.driver.ops_in_flight(),
        submitted: d.submitted,
        completions: d.completions,
        enters: d.enters,
        sq_full_flushes: d.sq_full_flushes,
        cq_overflow_flushes: d.cq_overflow_flushes,
        polls: l.polls,
        parks: l.parks,
        busy_poll_hits: l.busy_poll_hits,
        pending_timers: core.timers.borrow().len(),
        recv_buffer_waits: d.recv_buffer_waits,
        recvs_lent: d.recvs_lent,
        recvs_copied: d.recvs_copied,
        bytes_received: d.bytes_received,
        bytes_sent: d.bytes_sent,
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Drop the tasks with this runtime current, so their destructors (orphaning ops,
        // detaching handles) find it; the ring is closed after, once no op is left.
        let guard = context::enter(&self.core);
        self.core.shutdown();
        drop(guard);
    }
}

/// Creates a runtime, runs `future` on it, and returns its output.
///
/// ```
/// let n = ringstream::run(async { 40 + 2 }).expect("io_uring is available");
/// assert_eq!(n, 42);
/// ```
///
/// # Errors
/// When the runtime cannot be created (see [`Runtime::new`]), or when its ring fails while
/// `future` runs (see [`Runtime::try_block_on`]).
#[doc(alias = "asyncio.run")]
pub fn run<F: Future>(future: F) -> io::Result<F::Output> {
    Runtime::new()?.try_block_on(future)
}

/// Spawns a `!Send` future onto the current thread's runtime.
///
/// The task starts at the runtime's next turn. Awaiting the returned [`JoinHandle`] gives
/// its output; dropping the handle lets it run detached.
///
/// ```
/// ringstream::run(async {
///     let handles: Vec<_> = (0..10).map(|i| ringstream::spawn(async move { i * 2 })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await.unwrap();
///     }
///     assert_eq!(sum, 90);
/// })
/// .unwrap();
/// ```
///
/// # Panics
/// When called outside a ringstream runtime (not inside `block_on` / `run` / a core
/// started by [`PerCore`]): there is no loop to run the task.
#[doc(alias = "asyncio.create_task")]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match context::current() {
        Some(core) => core.spawn(future),
        None => panic!(
            "ringstream::spawn called outside a ringstream runtime: call it from inside \
             Runtime::block_on, ringstream::run, or a PerCore thread"
        ),
    }
}

/// Counters of the runtime running on this thread, or `None` outside a runtime.
///
/// ```
/// ringstream::run(async {
///     let stats = ringstream::runtime::stats().expect("inside a runtime");
///     assert_eq!(stats.tasks, 0);
/// })
/// .unwrap();
/// ```
pub fn stats() -> Option<RuntimeStats> {
    context::current().map(|core| stats_of(&core))
}

pub(crate) fn current_core() -> Option<Rc<Core>> {
    context::current()
}
