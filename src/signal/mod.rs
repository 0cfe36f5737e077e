//! Unix signals as streams of deliveries: [`signal`] and [`ctrl_c`] (asyncio's
//! `loop.add_signal_handler`), usable on every runtime and core of the process.
//!
//! The first listener for a signal installs a `sigaction` handler (through
//! signal-hook-registry, so other handlers registered that way keep running) that stays
//! for the life of the process: from then on the signal's default action (ending the
//! process, for `SIGINT` and `SIGTERM`) no longer happens, as with tokio. Every listener
//! gets every delivery made after it was created; deliveries that arrive while a listener
//! is not waiting, or close together, may be coalesced into one, as the kernel does with
//! pending signals.
//!
//! ```no_run
//! use ringstream::signal::{signal, SignalKind};
//!
//! ringstream::run(async {
//!     let mut hangups = signal(SignalKind::HANGUP)?;
//!     loop {
//!         hangups.recv().await?;
//!         println!("reloading the configuration");
//!     }
//!     # #[allow(unreachable_code)]
//!     Ok::<(), std::io::Error>(())
//! })
//! .unwrap()
//! .unwrap();
//! ```

mod registry;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::driver::op::Op;
use crate::driver::ops;
use crate::runtime::current_core;

use self::registry::Registry;

/// A Unix signal number, with names for the common ones.
///
/// ```
/// use ringstream::signal::SignalKind;
///
/// assert_eq!(SignalKind::TERMINATE.as_raw_value(), libc::SIGTERM);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::USER_DEFINED1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// `SIGINT`: Ctrl-C in a terminal.
    pub const INTERRUPT: SignalKind = SignalKind(libc::SIGINT);
    /// `SIGTERM`: the polite request to stop (`kill`, service managers).
    pub const TERMINATE: SignalKind = SignalKind(libc::SIGTERM);
    /// `SIGHUP`: the terminal went away; daemons often reload on it.
    pub const HANGUP: SignalKind = SignalKind(libc::SIGHUP);
    /// `SIGQUIT`: Ctrl-\ in a terminal.
    pub const QUIT: SignalKind = SignalKind(libc::SIGQUIT);
    /// `SIGUSR1`.
    pub const USER_DEFINED1: SignalKind = SignalKind(libc::SIGUSR1);
    /// `SIGUSR2`.
    pub const USER_DEFINED2: SignalKind = SignalKind(libc::SIGUSR2);
    /// `SIGCHLD`: a child process stopped or exited.
    pub const CHILD: SignalKind = SignalKind(libc::SIGCHLD);
    /// `SIGALRM`.
    pub const ALARM: SignalKind = SignalKind(libc::SIGALRM);
    /// `SIGPIPE`: a write to a pipe or socket with no reader.
    pub const PIPE: SignalKind = SignalKind(libc::SIGPIPE);
    /// `SIGWINCH`: the terminal was resized.
    pub const WINDOW_CHANGE: SignalKind = SignalKind(libc::SIGWINCH);

    /// Any signal by number (`libc::SIGRTMIN() + 1`, ...).
    pub const fn from_raw(signal: i32) -> SignalKind {
        SignalKind(signal)
    }

    /// The signal number.
    pub const fn as_raw_value(self) -> i32 {
        self.0
    }
}

impl From<i32> for SignalKind {
    fn from(signal: i32) -> SignalKind {
        SignalKind(signal)
    }
}

/// Listens for `kind` (a [`SignalKind`] or a signal number): the returned [`Signal`]
/// yields one item per delivery from now on.
///
/// Callable from any thread; [`Signal::recv`] is awaited inside a ringstream runtime (any
/// one, any core). Many listeners for the same signal, on the same or different runtimes,
/// each get every delivery.
///
/// ```no_run
/// use ringstream::signal::{signal, SignalKind};
///
/// ringstream::run(async {
///     let mut terminate = signal(SignalKind::TERMINATE)?;
///     terminate.recv().await?;
///     println!("SIGTERM: shutting down");
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
///
/// # Errors
/// `InvalidInput` for a number that is not a signal, or for `SIGKILL`, `SIGSTOP`,
/// `SIGILL`, `SIGFPE`, `SIGSEGV` (which cannot or must not be caught); the OS error when
/// the handler or the eventfd cannot be set up.
#[doc(alias = "add_signal_handler")]
#[doc(alias = "loop.add_signal_handler")]
pub fn signal(kind: impl Into<SignalKind>) -> io::Result<Signal> {
    let kind = kind.into();
    let registry = Registry::get()?;
    let seen = registry.listen(kind.0)?;
    Ok(Signal {
        registry,
        kind,
        seen,
        waiter: registry.add_waiter(),
    })
}

/// Waits for the next `SIGINT` (Ctrl-C).
///
/// The handler is installed when this is called, so a Ctrl-C before that still ends the
/// process the default way, and one after it no longer does (for the rest of the
/// process's life): keep a [`signal`]`(SignalKind::INTERRUPT)` listener to catch every
/// later one too.
///
/// ```no_run
/// ringstream::run(async {
///     ringstream::signal::ctrl_c().await?;
///     println!("Ctrl-C: stopping");
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
///
/// # Errors
/// As [`signal`] and [`Signal::recv`].
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::INTERRUPT)?.recv().await
}

/// A listener for one signal: a stream of its deliveries, read with [`recv`](Signal::recv).
///
/// `Send`, so it can be made on one thread and moved to the runtime that waits on it.
///
/// ```no_run
/// use ringstream::signal::{signal, SignalKind};
///
/// ringstream::run(async {
///     let mut usr1 = signal(SignalKind::USER_DEFINED1)?;
///     for _ in 0..3 {
///         usr1.recv().await?;
///         println!("SIGUSR1");
///     }
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
pub struct Signal {
    registry: &'static Registry,
    kind: SignalKind,
    /// The signal's delivery count when this listener last returned from `recv`.
    seen: u64,
    waiter: usize,
}

impl Signal {
    /// Waits for the next delivery (deliveries made since the last `recv` returned, or
    /// since the listener was made, count at once; several may be coalesced into one).
    ///
    /// Cancel-safe: dropping the future loses no delivery.
    ///
    /// # Errors
    /// `Unsupported` when polled outside a ringstream runtime; the ring's error if the
    /// ring fails while waiting.
    pub fn recv(&mut self) -> Recv<'_> {
        Recv {
            signal: self,
            poll: None,
        }
    }

    /// The signal this listener is for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.registry.remove_waiter(self.waiter);
    }
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Future returned by [`Signal::recv`]: a poll of the signal eventfd on the current ring
/// while no new delivery is counted.
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a> {
    signal: &'a mut Signal,
    poll: Option<Op<ops::Poll>>,
}

impl Future for Recv<'_> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let registry = this.signal.registry;
        let kind = this.signal.kind.0;
        loop {
            // The waker first, then the count: a fan-out between the two wakes us.
            registry.set_waker(this.signal.waiter, cx.waker());
            let count = registry.count(kind);
            if count != this.signal.seen {
                this.signal.seen = count;
                this.poll = None;
                return Poll::Ready(Ok(()));
            }
            if this.poll.is_none() {
                let Some(core) = current_core() else {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "Signal::recv polled outside a ringstream runtime: await it inside \
                         Runtime::block_on, ringstream::run, or a PerCore thread",
                    )));
                };
                let poll = ops::Poll::once(registry.wake_fd(), libc::POLLIN);
                this.poll = Some(Op::submit(core.driver.clone(), poll));
            }
            let Some(op) = this.poll.as_mut() else {
                return Poll::Pending;
            };
            match Pin::new(op).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready((completion, _)) => {
                    this.poll = None;
                    if let Some(e) = ops::Poll::error_of(completion) {
                        return Poll::Ready(Err(io::Error::new(
                            e.kind(),
                            format!("waiting for signal {kind} on the ring failed: {e}"),
                        )));
                    }
                    registry.fan_out();
                }
            }
        }
    }
}
