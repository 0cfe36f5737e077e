//! When a load stops sending: set when the measured run starts, brought forward by
//! Ctrl-C (from the signal thread); every connection of every load thread reads it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The end of the run, shared between threads.
#[derive(Debug)]
pub struct Deadline {
    /// What `end` counts from.
    origin: Instant,
    /// Nanoseconds from `origin` to the end; `u64::MAX` until the run starts.
    end: AtomicU64,
    /// [`stop_now`](Deadline::stop_now) was called.
    stopped: AtomicBool,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline {
            origin: Instant::now(),
            end: AtomicU64::new(u64::MAX),
            stopped: AtomicBool::new(false),
        }
    }
}

impl Deadline {
    /// The run starts now and ends `duration` from now (or earlier, if it was already
    /// stopped); returns the start.
    pub fn start(&self, duration: Duration) -> Instant {
        let now = Instant::now();
        self.end_at(now + duration);
        now
    }

    /// The run ends now (a no-op once it has ended).
    pub fn stop_now(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.end_at(Instant::now());
    }

    /// True if [`stop_now`](Deadline::stop_now) cut the run short.
    pub fn stopped_early(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Moves the end to `at` if that is earlier.
    fn end_at(&self, at: Instant) {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        self.end.fetch_min(
            u64::try_from(nanos).unwrap_or(u64::MAX - 1),
            Ordering::Relaxed,
        );
    }

    /// How long ago the run ended; `None` while it goes on (or has not started).
    pub fn overdue(&self, now: Instant) -> Option<Duration> {
        let end = self.end.load(Ordering::Relaxed);
        if end == u64::MAX {
            return None;
        }
        let since_origin = now.saturating_duration_since(self.origin);
        since_origin.checked_sub(Duration::from_nanos(end))
    }

    /// True once the run has ended.
    pub fn passed(&self, now: Instant) -> bool {
        self.overdue(now).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_only_moves_earlier() {
        let deadline = Deadline::default();
        assert!(!deadline.passed(Instant::now()), "not started");
        let start = deadline.start(Duration::from_secs(60));
        assert!(!deadline.passed(start + Duration::from_secs(59)));
        assert!(deadline.passed(start + Duration::from_secs(61)));
        assert!(!deadline.stopped_early());
        deadline.stop_now();
        assert!(deadline.stopped_early());
        let now = Instant::now();
        assert!(deadline.passed(now));
        assert!(deadline.overdue(now) < Some(Duration::from_secs(1)));
        // Starting after a stop does not move the end back out.
        deadline.start(Duration::from_secs(60));
        assert!(deadline.passed(Instant::now()));
    }
}
