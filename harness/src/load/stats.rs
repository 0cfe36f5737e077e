//! Counting and reporting: live counters for the progress line, a latency histogram per
//! load thread, and the final report (summary table and `RESULT` line).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::table::{format_rate, render};
use crate::units::format_size;

use super::Mode;

/// Highest latency the histogram holds (60 s, in nanoseconds); longer ones are clamped.
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Error messages kept per thread (the count covers all of them).
const KEPT_ERRORS: usize = 5;

/// A histogram of latencies in nanoseconds, 3 significant digits, 1 ns to 60 s.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// One load thread's running totals, updated by its connections and read once a second by
/// the main thread for the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages (ping-pong) or chunks (stream) whose echo arrived and checked out.
    pub msgs: AtomicU64,
    /// Echoed bytes that checked out.
    pub bytes: AtomicU64,
    /// Connections that failed.
    pub errors: AtomicU64,
}

/// What the connections of one load thread share: its counters, latency histogram and the
/// first error messages. Lives on that thread (`Rc`).
pub struct Recorder {
    counters: Arc<Counters>,
    latencies: RefCell<Histogram<u64>>,
    errors: RefCell<Vec<String>>,
    stalls: Cell<u64>,
    max_gap: Cell<Duration>,
}

impl Recorder {
    /// A recorder that publishes its totals in `counters`.
    pub fn new(counters: Arc<Counters>) -> Recorder {
        Recorder {
            counters,
            latencies: RefCell::new(new_histogram()),
            errors: RefCell::new(Vec::new()),
            stalls: Cell::new(0),
            max_gap: Cell::new(Duration::ZERO),
        }
    }

    /// One message (or chunk) came back whole and correct, `latency` after it was sent.
    pub fn message(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latencies.borrow_mut().saturating_record(ns.max(1));
        self.counters.msgs.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` echoed bytes checked out.
    pub fn bytes(&self, n: usize) {
        self.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A connection failed with `message`.
    pub fn error(&self, message: String) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut errors = self.errors.borrow_mut();
        if errors.len() < KEPT_ERRORS {
            errors.push(message);
        }
    }

    /// A connection stalled (its failure is reported through [`error`](Recorder::error)
    /// too).
    pub fn stall(&self) {
        self.stalls.set(self.stalls.get() + 1);
    }

    /// A connection's longest gap without an echo while bytes were outstanding.
    pub fn gap(&self, gap: Duration) {
        self.max_gap.set(self.max_gap.get().max(gap));
    }

    /// This thread's results.
    pub fn finish(&self) -> ThreadStats {
        ThreadStats {
            latencies: self.latencies.borrow().clone(),
            msgs: self.counters.msgs.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            failures: self.errors.borrow().clone(),
            stalls: self.stalls.get(),
            max_gap: self.max_gap.get(),
        }
    }
}

/// One load thread's results, sent to the main thread when its connections are done.
#[derive(Debug, Clone)]
pub struct ThreadStats {
    /// Latencies in nanoseconds.
    pub latencies: Histogram<u64>,
    /// Messages or chunks echoed correctly.
    pub msgs: u64,
    /// Bytes echoed correctly.
    pub bytes: u64,
    /// Failed connections.
    pub errors: u64,
    /// The first few failures' messages.
    pub failures: Vec<String>,
    /// Connections that stalled (counted in `errors` too).
    pub stalls: u64,
    /// The longest time any connection waited for an echo while bytes were outstanding.
    pub max_gap: Duration,
}

impl ThreadStats {
    /// Empty results (for a thread that produced none).
    pub fn empty() -> ThreadStats {
        ThreadStats {
            latencies: new_histogram(),
            msgs: 0,
            bytes: 0,
            errors: 0,
            failures: Vec::new(),
            stalls: 0,
            max_gap: Duration::ZERO,
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: ThreadStats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latencies.add(&other.latencies);
        self.msgs += other.msgs;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.stalls += other.stalls;
        self.max_gap = self.max_gap.max(other.max_gap);
        for m in other.failures {
            if self.failures.len() < KEPT_ERRORS {
                self.failures.push(m);
            }
        }
    }
}

/// The outcome of a load run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Ping-pong or stream.
    pub mode: Mode,
    /// Connections opened.
    pub conns: usize,
    /// Message (ping-pong) or chunk (stream) size in bytes.
    pub size: usize,
    /// Messages in flight per connection (ping-pong).
    pub pipeline: usize,
    /// Load threads.
    pub threads: usize,
    /// From the start signal until the last connection finished.
    pub elapsed: Duration,
    /// Everything the threads counted.
    pub stats: ThreadStats,
    /// A signal ended the run before its duration.
    pub interrupted: bool,
}

impl Report {
    /// Messages (or chunks) echoed per second.
    pub fn msgs_per_s(&self) -> f64 {
        per_second(self.stats.msgs as f64, self.elapsed)
    }

    /// Echoed megabytes (10^6 bytes, one way) per second.
    pub fn mb_per_s(&self) -> f64 {
        per_second(self.stats.bytes as f64 / 1e6, self.elapsed)
    }

    /// Latency at `quantile` (0.5, 0.99, ...) in microseconds; 0 without messages.
    pub fn latency_us(&self, quantile: f64) -> f64 {
        if self.stats.latencies.is_empty() {
            return 0.0;
        }
        self.stats.latencies.value_at_quantile(quantile) as f64 / 1e3
    }

    /// The highest latency in microseconds.
    pub fn max_us(&self) -> f64 {
        self.stats.latencies.max() as f64 / 1e3
    }

    /// The longest gap without an echo, in whole milliseconds.
    pub fn max_gap_ms(&self) -> u128 {
        self.stats.max_gap.as_millis()
    }

    /// The human summary: one line saying what ran, one table, and the failures.
    pub fn summary(&self) -> String {
        let what = match self.mode {
            Mode::PingPong => format!(
                "ping-pong, {} connection{} x {} messages, pipeline {}",
                self.conns,
                plural(self.conns),
                format_size(self.size),
                self.pipeline
            ),
            Mode::Stream | Mode::Reset => format!(
                "{}, {} connection{} writing {} chunks",
                self.mode,
                self.conns,
                plural(self.conns),
                format_size(self.size)
            ),
        };
        let row = vec![
            format_rate(self.msgs_per_s()),
            format!("{:.2}", self.mb_per_s()),
            format!("{:.1}", self.latency_us(0.5)),
            format!("{:.1}", self.latency_us(0.99)),
            format!("{:.1}", self.latency_us(0.999)),
            format!("{:.1}", self.max_us()),
            self.stats.errors.to_string(),
            self.stats.stalls.to_string(),
            self.max_gap_ms().to_string(),
        ];
        let unit = match self.mode {
            Mode::PingPong => "msgs/s",
            Mode::Stream | Mode::Reset => "chunks/s",
        };
        let mut out = format!(
            "{what}; {:.2} s on {} load thread{}{}\n\n",
            self.elapsed.as_secs_f64(),
            self.threads,
            plural(self.threads),
            if self.interrupted {
                " (stopped early by a signal)"
            } else {
                ""
            }
        );
        out.push_str(&render(
            &[
                unit,
                "MB/s",
                "p50 µs",
                "p99 µs",
                "p99.9 µs",
                "max µs",
                "errors",
                "stalls",
                "max gap ms",
            ],
            &[row],
            0,
        ));
        for m in &self.stats.failures {
            out.push_str(&format!("error: {m}\n"));
        }
        if self.stats.errors > self.stats.failures.len() as u64 {
            out.push_str(&format!(
                "({} more failed connections not shown)\n",
                self.stats.errors - self.stats.failures.len() as u64
            ));
        }
        out
    }

    /// The machine-readable last line.
    pub fn result_line(&self) -> String {
        format!(
            "RESULT mode={} conns={} size={} msgs_per_s={:.1} mb_per_s={:.3} p50_us={:.1} \
             p99_us={:.1} p999_us={:.1} errors={} stalls={} max_gap_ms={}",
            self.mode,
            self.conns,
            self.size,
            self.msgs_per_s(),
            self.mb_per_s(),
            self.latency_us(0.5),
            self.latency_us(0.99),
            self.latency_us(0.999),
            self.stats.errors,
            self.stats.stalls,
            self.max_gap_ms()
        )
    }
}

/// `value / elapsed`, 0 for a zero elapsed time.
fn per_second(value: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        value / secs
    } else {
        0.0
    }
}

/// `"s"` unless `n` is 1.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The once-a-second progress line (for a terminal).
pub struct Progress {
    start: Instant,
    last: Instant,
    last_msgs: u64,
    last_bytes: u64,
}

impl Progress {
    /// Rates are measured from `start`.
    pub fn new(start: Instant) -> Progress {
        Progress {
            start,
            last: start,
            last_msgs: 0,
            last_bytes: 0,
        }
    }

    /// The line for the totals of `counters` now: rates over the last interval.
    pub fn line(&mut self, counters: &[Arc<Counters>]) -> String {
        let now = Instant::now();
        let sum = |f: fn(&Counters) -> &AtomicU64| -> u64 {
            counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
        };
        let (msgs, bytes, errors) = (sum(|c| &c.msgs), sum(|c| &c.bytes), sum(|c| &c.errors));
        let interval = now - self.last;
        let line = format!(
            "{:6.1} s  {:>12} msgs/s  {:>10.2} MB/s  errors {errors}",
            (now - self.start).as_secs_f64(),
            format_rate(per_second((msgs - self.last_msgs) as f64, interval)),
            per_second((bytes - self.last_bytes) as f64 / 1e6, interval),
        );
        self.last = now;
        self.last_msgs = msgs;
        self.last_bytes = bytes;
        line
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::PingPong => "pingpong",
            Mode::Stream => "stream",
            Mode::Reset => "reset",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(latencies_us: &[u64], errors: u64) -> Report {
        report_with_stalls(latencies_us, errors, 0)
    }

    fn report_with_stalls(latencies_us: &[u64], errors: u64, stalls: u64) -> Report {
        let recorder = Recorder::new(Arc::default());
        for &us in latencies_us {
            recorder.message(Duration::from_micros(us));
            recorder.bytes(64);
        }
        for i in 0..errors {
            recorder.error(format!("connection {i}: broke"));
        }
        for _ in 0..stalls {
            recorder.stall();
        }
        recorder.gap(Duration::from_millis(1234));
        let mut stats = ThreadStats::empty();
        stats.merge(recorder.finish());
        Report {
            mode: Mode::PingPong,
            conns: 2,
            size: 64,
            pipeline: 1,
            threads: 1,
            elapsed: Duration::from_secs(2),
            stats,
            interrupted: false,
        }
    }

    #[test]
    fn the_result_line_has_every_field() {
        let r = report(&[10, 20, 30, 40], 0);
        assert_eq!(
            r.result_line(),
            "RESULT mode=pingpong conns=2 size=64 msgs_per_s=2.0 mb_per_s=0.000 \
             p50_us=20.0 p99_us=40.0 p999_us=40.0 errors=0 stalls=0 max_gap_ms=1234"
        );
    }

    #[test]
    fn stalls_and_the_longest_gap_are_reported() {
        let r = report_with_stalls(&[10], 3, 2);
        assert!(r
            .result_line()
            .ends_with("errors=3 stalls=2 max_gap_ms=1234"));
        let text = r.summary();
        assert!(text.contains("max gap ms"), "{text}");
        let row = text.lines().nth(3).expect("the table's row");
        assert!(row.trim_end().ends_with("3       2        1234"), "{text}");
    }

    #[test]
    fn the_summary_shows_rates_latencies_and_errors() {
        let r = report(&[100; 10], 7);
        let text = r.summary();
        assert!(text.contains("p99.9 µs"), "{text}");
        assert!(text.contains("error: connection 0: broke"), "{text}");
        assert!(text.contains("2 more failed connections"), "{text}");
        assert!(r.result_line().contains(" errors=7 "));
    }

    #[test]
    fn an_empty_run_reports_zeroes() {
        let r = report(&[], 0);
        assert_eq!(r.latency_us(0.99), 0.0);
        assert_eq!(r.msgs_per_s(), 0.0);
    }
}
