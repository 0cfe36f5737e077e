//! [`Builder`]: the knobs of one runtime (one thread, one ring).

use std::io;
use std::time::Duration;

use crate::driver::{BufferConfig, Driver, RingConfig};

use super::Runtime;

/// Configures and creates a [`Runtime`].
///
/// ```
/// let rt = ringstream::Runtime::builder()
///     .entries(512)
///     .recv_buffers(256, 16 * 1024)
///     .build()
///     .expect("io_uring is available");
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) entries: u32,
    pub(crate) cq_entries: Option<u32>,
    pub(crate) recv_buffers: (u16, u32),
    pub(crate) sqpoll_idle_ms: Option<u32>,
    pub(crate) event_interval: usize,
    pub(crate) busy_poll: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            entries: 256,
            cq_entries: None,
            // 64 x 64 KiB: few enough buffers to stay in cache (the kernel takes them in
            // ring order, so all of them cycle) and big enough that one recv takes a whole
            // 64 KiB chunk; below ~64 buffers, many small messages completing in one batch
            // run the ring dry (see `docs/decisions.md`, "Receive buffer ring").
            recv_buffers: (64, 64 * 1024),
            sqpoll_idle_ms: None,
            // 64 keeps timers and I/O fair to a compute-heavy task without a ring visit per
            // poll; 16 and 256 measured the same (see `docs/decisions.md`, "Task budget").
            event_interval: 64,
            busy_poll: Duration::ZERO,
        }
    }
}

impl Builder {
    /// A builder with the defaults: 256 SQ entries (CQ twice that), 64 receive buffers of
    /// 64 KiB, no SQPOLL, 64 task polls between ring visits. Nothing is registered as
    /// pinned memory, so a runtime starts under any `RLIMIT_MEMLOCK`.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Submission-queue size (a power of two, 1..=32768). A full SQ is flushed and the
    /// submission retried, so this bounds batching, not the number of ops in flight.
    pub fn entries(&mut self, entries: u32) -> &mut Self {
        self.entries = entries;
        self
    }

    /// Completion-queue size (default: twice `entries`). Overflow is handled either way.
    pub fn cq_entries(&mut self, entries: u32) -> &mut Self {
        self.cq_entries = Some(entries);
        self
    }

    /// The provided-buffer ring for receives: `count` (a power of two) buffers of `size`
    /// bytes. `count == 0` disables it.
    pub fn recv_buffers(&mut self, count: u16, size: u32) -> &mut Self {
        self.recv_buffers = (count, size);
        self
    }

    /// Lets a kernel thread poll the submission queue, idling after `idle_ms` without
    /// work. Trades a busy kernel thread for fewer syscalls; off by default.
    pub fn sqpoll(&mut self, idle_ms: u32) -> &mut Self {
        self.sqpoll_idle_ms = Some(idle_ms);
        self
    }

    /// How many tasks run between two looks at the ring when tasks stay ready (fairness
    /// between compute-heavy tasks and I/O). Default 64; 0 is treated as 1.
    pub fn event_interval(&mut self, polls: usize) -> &mut Self {
        self.event_interval = polls;
        self
    }

    /// Spins for up to `window` looking for completions, cross-thread wakes and due timers
    /// before the loop blocks in the ring: a reply that arrives within the window is
    /// handled without the thread going to sleep and being woken, which cuts latency for
    /// request/response traffic, at the price of that CPU core spinning while idle (up to
    /// `window` after each burst of work). Looking costs no syscall until the kernel flags
    /// work. Default: zero (block at once). `Duration::ZERO` turns it off.
    ///
    /// Figures (`cargo bench --bench yardstick`, the `ringstream-spin` rows) are in the
    /// README's performance section.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = ringstream::Runtime::builder()
    ///     .busy_poll(Duration::from_micros(50))
    ///     .build()
    ///     .expect("io_uring is available");
    /// assert_eq!(rt.block_on(async { 6 * 7 }), 42);
    /// ```
    pub fn busy_poll(&mut self, window: Duration) -> &mut Self {
        self.busy_poll = window;
        self
    }

    /// Creates the runtime on the calling thread.
    ///
    /// # Errors
    /// When io_uring cannot be set up (ENOSYS, EPERM from seccomp or
    /// `kernel.io_uring_disabled`, an invalid size, a kernel without provided-buffer rings),
    /// with a message naming the cause and the fix.
    pub fn build(&self) -> io::Result<Runtime> {
        let driver = Driver::new(
            RingConfig {
                entries: self.entries,
                cq_entries: self.cq_entries,
                sqpoll_idle_ms: self.sqpoll_idle_ms,
            },
            BufferConfig {
                recv: self.recv_buffers,
            },
        )?;
        Runtime::from_driver(driver, self.event_interval, self.busy_poll)
    }
}
