//! `ringstream soak`: the echo server as a child process, driven through phases of the
//! checked load generator (`load`'s own code), while its resident memory and open
//! descriptors are read from `/proc`.
//!
//! - `child`: the `ringstream echo` child process.
//! - `phase`: a phase's `MODE:CONNS:SIZE`.
//! - `proc_stats`: memory, descriptors, the open-file limit, the sampling thread.
//!
//! This file runs the phases, prints the table and the `SOAK` line, and judges the run.

mod child;
mod phase;
mod proc_stats;

use std::io::{self, IsTerminal};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;

use ringstream_harness::load::{run_load, LoadConfig, Placement, Report, Target, DEFAULT_WINDOW};
use ringstream_harness::table::{format_rate, render};
use ringstream_harness::units::{format_size, parse_duration};

use crate::output::{err, errln, outln};
use child::EchoChild;
use phase::{parse_phase, Phase, DEFAULT_PHASES};
use proc_stats::{sample, Sample, Sampler};
use ringstream_harness::fd_limit::open_file_limit;

/// Longest wait after a phase for the server's descriptors to come back to its idle
/// count and its resident memory to within `MAX_RSS_GROWTH` of idle (the server gives
/// memory back a second after its last connection closed).
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// How often the settling server is read.
const SETTLE_POLL: Duration = Duration::from_millis(50);

/// Descriptors a process needs beyond one per connection (standard streams, rings,
/// eventfds, listeners, the signal pipe), with room to spare.
const FD_HEADROOM: u64 = 64;

/// Resident memory after the soak may be at most this many times the idle memory.
const MAX_RSS_GROWTH: f64 = 2.0;

/// The text after the options in `--help`.
const AFTER_HELP: &str = "\
The server is `ringstream echo --addr 127.0.0.1:0 --cores N` started from this same
executable. Its resident memory (VmRSS) and open descriptors (/proc/PID/fd) are read at
idle, then every 100 ms during each phase; after each phase the soak waits up to 5 s for
the descriptors to come back to the idle count and the memory to within 2x of idle. Each
phase is `ringstream load` for --phase-duration (one load thread): every echoed byte is
checked and a connection with no echo for --stall-timeout while bytes are outstanding is a
stall.

One table row per phase (MB/s: echoed bytes one way, 1 MB = 10^6 bytes; the phases'
sizes are binary, 4KiB = 4096 bytes), then the last line

  SOAK result=pass|fail phases=<n> errors=<n> stalls=<n> max_gap_ms=<n> rss_before_kib=<n> rss_peak_kib=<n> rss_after_kib=<n> rss_ratio=<f> fds_before=<n> fds_peak=<n> fds_after=<n>

The soak fails (exit status 1, the reasons printed) on any error or stall, descriptors
not back to the idle count after a phase, or resident memory at the end more than twice
the idle memory. The open-file limit (ulimit -n) must leave room for the largest phase's
connections in each process.

Examples:
  ringstream soak                                   # the four default phases, 15 s each
  ringstream soak --cores 2 --phase-duration 60s
  ringstream soak --phase stream:256:16KiB --phase-duration 15s";

/// `ringstream soak` options.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct SoakArgs {
    /// Cores (pinned threads, one ring each) of the echo server.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=crate::MAX_CORES))]
    pub cores: u16,

    /// A phase, MODE:CONNS:SIZE (stream, pingpong or reset; SIZE is the chunk or message size);
    /// repeat for several, run in order [default: stream:256:16KiB pingpong:256:64
    /// stream:2000:4KiB pingpong:2000:64].
    #[arg(long = "phase", value_name = "MODE:CONNS:SIZE", value_parser = parse_phase)]
    pub phases: Vec<Phase>,

    /// How long each phase sends.
    #[arg(long, value_name = "D", default_value = "15s", value_parser = parse_duration)]
    pub phase_duration: Duration,

    /// No echo for this long while bytes are outstanding is a stall.
    #[arg(long, value_name = "D", default_value = "2s", value_parser = parse_duration)]
    pub stall_timeout: Duration,
}

/// What one phase did.
struct Row {
    phase: Phase,
    /// The load's report, or why the load could not run.
    load: Result<Report, String>,
    /// The server before the phase, at its peak during it, and after it settled.
    before: Sample,
    peak: Sample,
    after: Sample,
}

impl Row {
    /// Errors of the phase (a load that could not run counts as one).
    fn errors(&self) -> u64 {
        self.load.as_ref().map_or(1, |r| r.stats.errors)
    }

    /// Stalled connections of the phase.
    fn stalls(&self) -> u64 {
        self.load.as_ref().map_or(0, |r| r.stats.stalls)
    }

    /// The longest gap without an echo, in milliseconds.
    fn max_gap_ms(&self) -> u128 {
        self.load.as_ref().map_or(0, Report::max_gap_ms)
    }
}

/// Runs the soak and prints its table and `SOAK` line.
///
/// # Errors
/// An open-file limit too low for the phases, a server that does not start or cannot be
/// read; a soak that ran and failed returns `Ok(false)`.
pub fn run(args: &SoakArgs) -> io::Result<bool> {
    let phases: Vec<Phase> = if args.phases.is_empty() {
        DEFAULT_PHASES
            .iter()
            .map(|p| parse_phase(p).map_err(io::Error::other))
            .collect::<io::Result<_>>()?
    } else {
        args.phases.clone()
    };
    check_open_file_limit(&phases)?;
    if cfg!(debug_assertions) {
        errln!("ringstream: note: this is a debug build; use `cargo run --release -- soak`");
    }
    let mut server = EchoChild::start(args.cores)?;
    // Let the server finish starting (its rings and threads) before the idle reading.
    thread::sleep(Duration::from_millis(200));
    let idle = sample(server.pid())?;
    outln!(
        "ringstream soak — echo server pid {} on {} core{} at {}; {:.1} s per phase, stall \
         timeout {:?}; at idle: RSS {}, {} fds\n",
        server.pid(),
        args.cores,
        if args.cores == 1 { "" } else { "s" },
        server.addr,
        args.phase_duration.as_secs_f64(),
        args.stall_timeout,
        format_kib(idle.rss_kib),
        idle.fds
    );

    let terminal = io::stderr().is_terminal();
    let mut rows = Vec::with_capacity(phases.len());
    for phase in phases {
        if !server.running() {
            break;
        }
        if terminal {
            err!("\rrunning {phase} ...  ");
        }
        rows.push(run_phase(&mut server, phase, args, idle)?);
    }
    if terminal {
        err!("\r\x1b[2K");
    }
    let gone = !server.running();
    let summary = server.stop();

    outln!("{}", table(&rows));
    outln!("server: {summary}");
    let mut reasons = verdict(idle, &rows);
    if gone {
        reasons.insert(0, "the echo server exited during the soak".to_owned());
    }
    for row in &rows {
        match &row.load {
            Err(e) => outln!("{}: error: {e}", row.phase),
            Ok(report) => {
                for m in &report.stats.failures {
                    outln!("{}: error: {m}", row.phase);
                }
            }
        }
    }
    for why in &reasons {
        outln!("fail: {why}");
    }
    outln!("{}", soak_line(reasons.is_empty(), idle, &rows));
    Ok(reasons.is_empty())
}

/// Runs one phase against the server, sampling it throughout, then waits for its
/// descriptors to settle back to `idle.fds`.
///
/// # Errors
/// When the server cannot be read before the phase.
fn run_phase(
    server: &mut EchoChild,
    phase: Phase,
    args: &SoakArgs,
    idle: Sample,
) -> io::Result<Row> {
    let before = sample(server.pid())?;
    let sampler = Sampler::start(server.pid(), before);
    let load = run_load(&LoadConfig {
        target: Target::Tcp(server.addr.clone()),
        mode: phase.mode,
        conns: phase.conns,
        size: phase.size,
        pipeline: 1,
        duration: args.phase_duration,
        stall_timeout: args.stall_timeout,
        window: DEFAULT_WINDOW,
        placement: Placement::Threads(1),
        tls: None,
        progress: None,
    })
    .map_err(|e| e.to_string());
    let peak = sampler.finish().unwrap_or(before);
    // The load has closed its connections; the server closes its ends once it sees that.
    let settle_until = Instant::now() + SETTLE_LIMIT;
    let mut after = sample(server.pid()).unwrap_or_default();
    let settled =
        |s: &Sample| s.fds <= idle.fds && s.rss_kib as f64 <= idle.rss_kib as f64 * MAX_RSS_GROWTH;
    while !settled(&after) && Instant::now() < settle_until && server.running() {
        thread::sleep(SETTLE_POLL);
        after = sample(server.pid()).unwrap_or_default();
    }
    Ok(Row {
        phase,
        load,
        before,
        peak: peak.max(after),
        after,
    })
}

/// Fails early, naming `ulimit -n`, when the open-file limit leaves too little room for
/// the largest phase in this process or the server (which inherits the limit).
///
/// # Errors
/// The limit is too low, or cannot be read.
fn check_open_file_limit(phases: &[Phase]) -> io::Result<()> {
    let most = phases.iter().map(|p| p.conns as u64).max().unwrap_or(0);
    let needed = most + FD_HEADROOM;
    let (soft, hard) = open_file_limit()?;
    match soft {
        Some(soft) if soft < needed => Err(io::Error::other(format!(
            "the open-file limit is {soft}, below the {needed} descriptors {most} connections \
             need; raise it with `ulimit -n {needed}` (the hard limit is {}) or use fewer \
             connections in --phase",
            hard.map_or("unlimited".to_owned(), |h| h.to_string())
        ))),
        _ => Ok(()),
    }
}

/// Why the soak failed (empty: it passed), judged against the server at `idle`.
fn verdict(idle: Sample, rows: &[Row]) -> Vec<String> {
    let mut reasons = Vec::new();
    for row in rows {
        if row.errors() > 0 {
            reasons.push(format!(
                "{}: {} error{} ({} stalled)",
                row.phase,
                row.errors(),
                if row.errors() == 1 { "" } else { "s" },
                row.stalls()
            ));
        }
        if row.after.fds > idle.fds {
            reasons.push(format!(
                "{}: the server had {} descriptors {SETTLE_LIMIT:?} after the phase, {} at idle",
                row.phase, row.after.fds, idle.fds
            ));
        }
    }
    if let Some(last) = rows.last() {
        let ratio = rss_ratio(idle, last.after);
        if ratio > MAX_RSS_GROWTH {
            reasons.push(format!(
                "the server's resident memory grew {ratio:.2}x (from {} at idle to {} at the \
                 end; at most {MAX_RSS_GROWTH}x)",
                format_kib(idle.rss_kib),
                format_kib(last.after.rss_kib)
            ));
        }
    }
    reasons
}

/// `after`'s memory over `idle`'s.
fn rss_ratio(idle: Sample, after: Sample) -> f64 {
    after.rss_kib as f64 / idle.rss_kib.max(1) as f64
}

/// The table: one row per phase.
fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let (rate, mb, p99) = match &row.load {
                Ok(r) => (
                    format_rate(r.msgs_per_s()),
                    format!("{:.1}", r.mb_per_s()),
                    format!("{:.1}", r.latency_us(0.99)),
                ),
                Err(_) => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            };
            vec![
                row.phase.mode.to_string(),
                row.phase.conns.to_string(),
                format_size(row.phase.size),
                rate,
                mb,
                p99,
                row.errors().to_string(),
                row.stalls().to_string(),
                row.max_gap_ms().to_string(),
                format_kib(row.before.rss_kib),
                format_kib(row.peak.rss_kib),
                format_kib(row.after.rss_kib),
                row.before.fds.to_string(),
                row.peak.fds.to_string(),
                row.after.fds.to_string(),
            ]
        })
        .collect();
    render(
        &[
            "phase",
            "conns",
            "size",
            "msgs/s",
            "MB/s",
            "p99 µs",
            "errors",
            "stalls",
            "max gap ms",
            "RSS before",
            "RSS peak",
            "RSS after",
            "fds before",
            "fds peak",
            "fds after",
        ],
        &cells,
        1,
    )
}

/// The machine-readable last line.
fn soak_line(pass: bool, idle: Sample, rows: &[Row]) -> String {
    let errors: u64 = rows.iter().map(Row::errors).sum();
    let stalls: u64 = rows.iter().map(Row::stalls).sum();
    let max_gap = rows.iter().map(Row::max_gap_ms).max().unwrap_or(0);
    let peak = rows.iter().fold(idle, |p, r| p.max(r.peak));
    let after = rows.last().map_or(idle, |r| r.after);
    format!(
        "SOAK result={} phases={} errors={errors} stalls={stalls} max_gap_ms={max_gap} \
         rss_before_kib={} rss_peak_kib={} rss_after_kib={} rss_ratio={:.2} fds_before={} \
         fds_peak={} fds_after={}",
        if pass { "pass" } else { "fail" },
        rows.len(),
        idle.rss_kib,
        peak.rss_kib,
        after.rss_kib,
        rss_ratio(idle, after),
        idle.fds,
        peak.fds,
        after.fds
    )
}

/// `12.3 MiB`.
fn format_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringstream_harness::load::Mode;

    /// A phase whose load could not run (one error), leaving the server at `after`.
    fn row(after: Sample) -> Row {
        Row {
            phase: Phase {
                mode: Mode::Stream,
                conns: 4,
                size: 64,
            },
            load: Err("could not open 4 of 4 connections".to_owned()),
            before: after,
            peak: after,
            after,
        }
    }

    const IDLE: Sample = Sample {
        rss_kib: 10_000,
        fds: 12,
    };

    #[test]
    fn the_verdict_names_every_reason() {
        let settled = Sample {
            rss_kib: 15_000,
            fds: 12,
        };
        let leaked = Sample {
            rss_kib: 25_000,
            fds: 14,
        };
        let reasons = verdict(IDLE, &[row(settled), row(leaked)]);
        let text = reasons.join("\n");
        assert_eq!(reasons.len(), 4, "{text}");
        assert!(text.contains("1 error (0 stalled)"), "{text}");
        assert!(text.contains("had 14 descriptors"), "{text}");
        assert!(text.contains("grew 2.50x"), "{text}");
        let line = soak_line(false, IDLE, &[row(leaked)]);
        assert!(
            line.starts_with("SOAK result=fail phases=1 errors=1 stalls=0"),
            "{line}"
        );
        assert!(
            line.contains("rss_ratio=2.50 fds_before=12 fds_peak=14 fds_after=14"),
            "{line}"
        );
    }

    #[test]
    fn limits_too_low_for_the_phases_are_named() {
        let huge = Phase {
            mode: Mode::PingPong,
            conns: 100_000,
            size: 64,
        };
        match open_file_limit().expect("/proc/self/limits").0 {
            Some(soft) if soft < 100_064 => {
                let e = check_open_file_limit(&[huge]).unwrap_err().to_string();
                assert!(e.contains("ulimit -n 100064"), "{e}");
            }
            _ => check_open_file_limit(&[huge]).expect("the limit is high enough"),
        }
    }
}
