//! Timers: [`sleep`], [`timeout`] and [`interval`].
//!
//! Deadlines live in an ordered map on the runtime; the loop blocks in `io_uring_enter`
//! with the nearest deadline as its timeout, so an idle runtime with timers makes no
//! syscall until one is due. Timers fire in deadline order (ties in creation order).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Weak;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::context;
use super::executor::Core;

/// The runtime's pending deadlines.
#[derive(Default)]
pub(crate) struct Timers {
    entries: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

impl Timers {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert((deadline, id), waker);
        id
    }

    fn update(&mut self, deadline: Instant, id: u64, waker: &Waker) {
        if let Some(w) = self.entries.get_mut(&(deadline, id)) {
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
        }
    }

    fn remove(&mut self, deadline: Instant, id: u64) {
        self.entries.remove(&(deadline, id));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.keys().next().map(|(d, _)| *d)
    }

    /// Registered timers (sleeps being awaited).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn has_timers(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Removes and returns the wakers of every timer due at `now`, earliest first.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<Waker> {
        let mut fired = Vec::new();
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            fired.push(entry.remove());
        }
        fired
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Waits until `duration` has passed.
///
/// `sleep(Duration::ZERO)` (or any deadline already past when first polled) yields to the
/// runtime once, like [`crate::yield_now`], then completes. Must be polled inside a
/// ringstream runtime; polled elsewhere it completes at its deadline only when polled again.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringstream::run(async {
///     let start = Instant::now();
///     ringstream::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// })
/// .unwrap();
/// ```
#[doc(alias = "asyncio.sleep")]
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Waits until `deadline`.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringstream::run(async {
///     let deadline = Instant::now() + Duration::from_millis(2);
///     ringstream::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// })
/// .unwrap();
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
        polled: false,
    }
}

/// Future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    registered: Option<(Weak<Core>, u64)>,
    polled: bool,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (the next poll re-registers the timer).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// ringstream::run(async {
    ///     let mut s = ringstream::time::sleep(Duration::from_secs(3600));
    ///     s.reset(Instant::now() + Duration::from_millis(1));
    ///     s.await;
    /// })
    /// .unwrap();
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.deadline = deadline;
    }

    fn unregister(&mut self) {
        if let Some((core, id)) = self.registered.take() {
            if let Some(core) = core.upgrade() {
                core.timers.borrow_mut().remove(self.deadline, id);
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        let first = !self.polled;
        self.polled = true;
        if self.deadline <= now {
            if first {
                // Already due: give other tasks a turn first (sleep(0) yields).
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.unregister();
            return Poll::Ready(());
        }
        match &self.registered {
            Some((core, id)) => {
                if let Some(core) = core.upgrade() {
                    core.timers
                        .borrow_mut()
                        .update(self.deadline, *id, cx.waker());
                }
            }
            None => {
                if let Some(core) = context::current() {
                    let id = core
                        .timers
                        .borrow_mut()
                        .insert(self.deadline, cx.waker().clone());
                    self.registered = Some((std::rc::Rc::downgrade(&core), id));
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed before the operation completed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`.
///
/// When the deadline passes first the inner future is dropped at once (so whatever it
/// owned is released) and the result is `Err(Elapsed)`.
///
/// ```
/// use std::time::Duration;
/// use ringstream::time::{sleep, timeout};
/// ringstream::run(async {
///     let slow = timeout(Duration::from_millis(1), sleep(Duration::from_secs(60))).await;
///     assert!(slow.is_err());
///     let fast = timeout(Duration::from_secs(60), async { 7 }).await;
///     assert_eq!(fast, Ok(7));
/// })
/// .unwrap();
/// ```
#[doc(alias = "asyncio.wait_for")]
#[doc(alias = "asyncio.timeout")]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        state: TimeoutState::Running { future },
        sleep: sleep(duration),
    }
}

pin_project! {
    #[project = TimeoutStateProj]
    enum TimeoutState<F> {
        Running { #[pin] future: F },
        Done,
    }
}

pin_project! {
    /// Future returned by [`timeout`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        state: TimeoutState<F>,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match this.state.as_mut().project() {
            TimeoutStateProj::Running { future } => {
                if let Poll::Ready(v) = future.poll(cx) {
                    this.state.set(TimeoutState::Done);
                    return Poll::Ready(Ok(v));
                }
            }
            TimeoutStateProj::Done => return Poll::Ready(Err(Elapsed(()))),
        }
        // Unlike `sleep`, an already-expired timeout does not yield first: the inner
        // future just had its chance.
        if this.sleep.deadline <= Instant::now() {
            this.state.set(TimeoutState::Done);
            return Poll::Ready(Err(Elapsed(())));
        }
        this.sleep.polled = true;
        match Pin::new(&mut *this.sleep).poll(cx) {
            Poll::Ready(()) => {
                this.state.set(TimeoutState::Done);
                Poll::Ready(Err(Elapsed(())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ticks every `period`; see [`Interval::tick`].
///
/// The first tick completes at once. When ticks are missed (the task was busy longer than
/// a period), the next tick is the next multiple of `period` after now: missed ticks are
/// skipped, never bunched. A zero period makes every tick yield once and complete.
///
/// ```
/// use std::time::Duration;
/// ringstream::run(async {
///     let mut every = ringstream::time::interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// })
/// .unwrap();
/// ```
pub fn interval(period: Duration) -> Interval {
    let now = Instant::now();
    Interval {
        period,
        next: now,
        sleep: sleep_until(now),
        first: true,
    }
}

/// Stream of ticks returned by [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Sleep,
    first: bool,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// Cancel-safe: dropping the future does not lose or shift the tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.first {
            self.first = false;
            self.advance(Instant::now());
            return Poll::Ready(self.next_minus_period());
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => {
                let tick = self.sleep.deadline;
                self.advance(Instant::now());
                Poll::Ready(tick)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn next_minus_period(&self) -> Instant {
        self.next.checked_sub(self.period).unwrap_or(self.next)
    }

    fn advance(&mut self, now: Instant) {
        let mut next = self.next + self.period;
        if next <= now && !self.period.is_zero() {
            // Skip the ticks we missed.
            let behind = now.duration_since(next).as_nanos() / self.period.as_nanos() + 1;
            let skip = u32::try_from(behind).unwrap_or(u32::MAX);
            next += self.period.saturating_mul(skip);
        }
        self.next = next;
        self.sleep = sleep_until(next);
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}
