//! Stall detection for one connection: the gap is the time since the last echoed byte (or
//! since bytes went out, if none were outstanding) while bytes are outstanding. A gap of
//! at least the stall timeout is a stall; the longest gap is reported either way.
//!
//! Every wait of a connection goes through [`Watch::wait`]. A stalled connection keeps
//! waiting until the run ends (so the longest gap says how long the server really stalled),
//! then gives up; after the end of the run it gives up as soon as its gap reaches the stall
//! timeout, and in any case [`DRAIN_LIMIT`] after the end.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringstream::time::timeout;

use super::deadline::Deadline;

/// Longest wait for the last echoes after the end of the run, however steadily they
/// trickle in.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How often a wait that is already a stall looks at the deadline (which Ctrl-C can move).
const STALLED_POLL: Duration = Duration::from_millis(100);

/// One connection's progress.
pub struct Watch {
    /// A gap this long is a stall.
    stall: Duration,
    /// The end of the run.
    deadline: Arc<Deadline>,
    /// Start of the current gap; `None` while nothing is outstanding.
    since: Cell<Option<Instant>>,
    /// The longest gap so far (ended by an echo or by giving up).
    max_gap: Cell<Duration>,
    /// What the first stall was, once there was one.
    stalled: RefCell<Option<String>>,
}

impl Watch {
    /// A connection with nothing outstanding yet.
    pub fn new(stall: Duration, deadline: Arc<Deadline>) -> Watch {
        Watch {
            stall,
            deadline,
            since: Cell::new(None),
            max_gap: Cell::new(Duration::ZERO),
            stalled: RefCell::new(None),
        }
    }

    /// Bytes were queued: a gap starts now unless one is already running.
    pub fn sent(&self) {
        if self.since.get().is_none() {
            self.since.set(Some(Instant::now()));
        }
    }

    /// Echoed bytes arrived at `now`, ending the gap; `outstanding` says whether more are
    /// still to come (a new gap starts now) or not. `at` says where, for the message of a
    /// stall that ended here.
    pub fn echoed(&self, now: Instant, outstanding: bool, at: impl FnOnce() -> String) {
        if let Some(since) = self.since.get() {
            let gap = now.saturating_duration_since(since);
            self.end_gap(gap, || {
                format!("no echo for {} {} (then it resumed)", secs(gap), at())
            });
        }
        self.since.set(outstanding.then_some(now));
    }

    /// Records a gap that ended; a stall's message is built by `why`.
    fn end_gap(&self, gap: Duration, why: impl FnOnce() -> String) {
        self.max_gap.set(self.max_gap.get().max(gap));
        if gap >= self.stall {
            let mut stalled = self.stalled.borrow_mut();
            if stalled.is_none() {
                *stalled = Some(format!("stalled: {}", why()));
            }
        }
    }

    /// Waits for `future`, bounded as the module says; `what` names the wait for errors.
    ///
    /// # Errors
    /// `stalled: no echo for <gap> while <what>`, or the drain limit passed.
    pub async fn wait<F: Future>(
        &self,
        what: impl Fn() -> String,
        future: F,
    ) -> Result<F::Output, String> {
        let mut future = pin!(future);
        loop {
            let now = Instant::now();
            // Nothing outstanding: no gap runs, so this wait cannot stall.
            let since = self.since.get().unwrap_or(now);
            let gap = now.saturating_duration_since(since);
            let overdue = self.deadline.overdue(now);
            if gap >= self.stall && overdue.is_some() {
                let why = format!("no echo for {} while {}", secs(gap), what());
                self.end_gap(gap, || why.clone());
                return Err(format!("stalled: {why}"));
            }
            let mut slice = if gap < self.stall {
                self.stall - gap
            } else {
                STALLED_POLL
            };
            if let Some(overdue) = overdue {
                let Some(left) = DRAIN_LIMIT.checked_sub(overdue).filter(|d| !d.is_zero()) else {
                    return Err(format!(
                        "still {} {} after the end of the run (the echo trickles in too slowly)",
                        what(),
                        secs(DRAIN_LIMIT)
                    ));
                };
                slice = slice.min(left);
            }
            if let Ok(output) = timeout(slice, future.as_mut()).await {
                return Ok(output);
            }
        }
    }

    /// The longest gap, and the first stall's message if there was one.
    pub fn outcome(&self) -> (Duration, Option<String>) {
        (self.max_gap.get(), self.stalled.borrow().clone())
    }
}

/// `2.31 s`.
fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringstream::time::sleep;

    fn watch(stall_ms: u64, run_ms: u64) -> Watch {
        let deadline = Arc::new(Deadline::default());
        deadline.start(Duration::from_millis(run_ms));
        Watch::new(Duration::from_millis(stall_ms), deadline)
    }

    #[test]
    fn gaps_below_the_timeout_are_measured_but_are_no_stall() {
        let w = watch(1_000, 10_000);
        let now = Instant::now();
        w.sent();
        w.echoed(now + Duration::from_millis(300), true, String::new);
        w.echoed(now + Duration::from_millis(500), false, String::new);
        let (max_gap, stall) = w.outcome();
        assert!(max_gap >= Duration::from_millis(290), "{max_gap:?}");
        assert_eq!(stall, None);
        // Nothing outstanding: time passing is no gap.
        w.echoed(now + Duration::from_secs(5), false, String::new);
        assert_eq!(w.outcome().0, max_gap);
    }

    #[test]
    fn a_long_gap_that_ends_is_a_stall() {
        let w = watch(100, 10_000);
        let now = Instant::now();
        w.sent();
        w.echoed(now + Duration::from_millis(400), true, || {
            "at offset 7".into()
        });
        let (max_gap, stall) = w.outcome();
        assert!(max_gap >= Duration::from_millis(390), "{max_gap:?}");
        let stall = stall.expect("a stall");
        assert!(
            stall.contains("at offset 7") && stall.contains("resumed"),
            "{stall}"
        );
    }

    #[test]
    fn a_wait_without_progress_gives_up_at_the_end_of_the_run() {
        let w = watch(50, 300);
        let started = Instant::now();
        let result = ringstream::run(async {
            w.sent();
            w.wait(|| "reading".into(), sleep(Duration::from_secs(30)))
                .await
        })
        .expect("runtime");
        let took = started.elapsed();
        let e = result.unwrap_err();
        assert!(
            e.starts_with("stalled: no echo for") && e.contains("reading"),
            "{e}"
        );
        // Not at the stall timeout: the run was still going; not much after its end.
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(w.outcome().0 >= Duration::from_millis(290));
        assert!(w.outcome().1.is_some());
    }

    #[test]
    fn a_wait_that_completes_returns_its_output() {
        let w = watch(1_000, 10_000);
        let out =
            ringstream::run(async { w.wait(|| "x".into(), async { 7 }).await }).expect("runtime");
        assert_eq!(out, Ok(7));
        assert_eq!(w.outcome().1, None);
    }
}
