//! The `ringstream` command.
//!
//! For now it has one subcommand, `ringstream bench`: a short, self-contained benchmark of
//! the runtime through its public API (spawn + join, wake round trips between two tasks,
//! NOPs through the ring), printed as one table. The criterion benches in
//! `benches/runtime.rs` are the careful, side-by-side version of the same measurements.
//!
//! Arguments are parsed by hand (the crate has no CLI dependency). Exit codes: 0 on
//! success, 1 when the benchmark fails (e.g. io_uring is unavailable), 2 on a usage error.

mod ping_pong;
use ping_pong::{ping, pong, Pair};

use std::ffi::OsString;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// `ringstream --help`.
const USAGE: &str = "\
ringstream — asyncio-style Streams on io_uring, one single-threaded runtime per core

Usage: ringstream <COMMAND>

Commands:
  bench    Time the runtime: spawn + join, wake round trips, NOPs through the ring

Options:
  -h, --help       Print this help
  -V, --version    Print the version

Run `ringstream <COMMAND> --help` for the options of one command.
";

/// `ringstream bench --help`.
const BENCH_USAGE: &str = "\
Usage: ringstream bench

Runs a short benchmark of the runtime on the current thread, through its public API
only, and prints one table (scenario, total time, ns/op, ops/s) with the ring mode:

  spawn + join      100000 trivial tasks, spawned in batches of 1000, each handle awaited
  wake round trip   100000 ping-pongs between two tasks (A wakes B, B wakes A)
  nop (ring)        100000 IORING_OP_NOPs submitted and completed through the ring

Takes well under a second in a release build (`cargo run --release -- bench`).

Options:
  -h, --help    Print this help
";

/// Operations per scenario.
const OPS: u64 = 100_000;
/// Operations run before each timed scenario, to warm caches and the allocator.
const WARM_UP_OPS: u64 = 1_000;
/// Tasks spawned before their handles are awaited, in the spawn + join scenario.
const SPAWN_BATCH: u64 = 1_000;

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// `ringstream --help`.
    Help,
    /// `ringstream --version`.
    Version,
    /// `ringstream bench`.
    Bench,
    /// `ringstream bench --help`.
    BenchHelp,
}

/// A command line that does not parse: what is wrong, and the usage text to show.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsageError {
    /// One line saying what is wrong.
    message: String,
    /// The usage text of the command the error is about.
    usage: &'static str,
}

/// Parses the arguments that follow the program name.
fn parse_args<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return Err(UsageError {
            message: "no command given".to_owned(),
            usage: USAGE,
        });
    };
    let command = match first.to_str() {
        Some("-h" | "--help" | "help") => Command::Help,
        Some("-V" | "--version") => Command::Version,
        Some("bench") => Command::Bench,
        _ => {
            return Err(UsageError {
                message: format!("unknown command or option {}", quoted(&first)),
                usage: USAGE,
            })
        }
    };
    let (command, usage) = match command {
        Command::Bench => match args.next() {
            None => return Ok(Command::Bench),
            Some(arg) if matches!(arg.to_str(), Some("-h" | "--help")) => {
                (Command::BenchHelp, BENCH_USAGE)
            }
            Some(arg) => {
                return Err(UsageError {
                    message: format!("unexpected argument {} for `bench`", quoted(&arg)),
                    usage: BENCH_USAGE,
                })
            }
        },
        other => (other, USAGE),
    };
    match args.next() {
        None => Ok(command),
        Some(arg) => Err(UsageError {
            message: format!("unexpected argument {}", quoted(&arg)),
            usage,
        }),
    }
}

/// An argument in quotes for an error message (lossy if it is not UTF-8).
fn quoted(arg: &OsString) -> String {
    format!("'{}'", arg.to_string_lossy())
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
fn main() -> ExitCode {
    match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::BenchHelp) => {
            print!("{BENCH_USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("ringstream {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Bench) => match bench() {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ringstream: error: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("ringstream: error: {}\n\n{}", e.message, e.usage);
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------------------------------
// ringstream bench

/// One timed scenario.
struct Row {
    /// What was measured.
    scenario: &'static str,
    /// How many operations were timed.
    ops: u64,
    /// Wall-clock time for all of them.
    total: Duration,
}

/// Runs the three scenarios on a fresh runtime and renders the report table.
///
/// # Errors
/// When the runtime cannot be created (the message names the cause and the fix), or when
/// a NOP or a task fails.
fn bench() -> io::Result<String> {
    if cfg!(debug_assertions) {
        eprintln!(
            "ringstream: note: this is a debug build; use `cargo run --release -- bench` \
             for meaningful numbers"
        );
    }
    let rt = ringstream::Runtime::new()?;
    let rows = [
        Row {
            scenario: "spawn + join",
            ops: OPS,
            total: rt.block_on(timed(spawn_join))?,
        },
        Row {
            scenario: "wake round trip",
            ops: OPS,
            total: rt.block_on(timed(wake_round_trips))?,
        },
        Row {
            scenario: "nop (ring)",
            ops: OPS,
            total: rt.block_on(timed(nops))?,
        },
    ];
    Ok(render(rt.ring_mode(), &rows))
}

/// Runs `scenario` for [`WARM_UP_OPS`] untimed, then for [`OPS`], and returns how long the
/// second run took.
async fn timed<F, Fut>(scenario: F) -> io::Result<Duration>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    scenario(WARM_UP_OPS).await?;
    let start = Instant::now();
    scenario(OPS).await?;
    Ok(start.elapsed())
}

/// Spawns `ops` trivial tasks in batches of [`SPAWN_BATCH`] and awaits every handle.
async fn spawn_join(ops: u64) -> io::Result<()> {
    let mut handles = Vec::with_capacity(SPAWN_BATCH as usize);
    let mut left = ops;
    while left > 0 {
        let n = left.min(SPAWN_BATCH);
        left -= n;
        handles.extend((0..n).map(|i| ringstream::spawn(async move { i })));
        for handle in handles.drain(..) {
            handle.await?;
        }
    }
    Ok(())
}

/// Two tasks wake each other `ops` times.
async fn wake_round_trips(ops: u64) -> io::Result<()> {
    let pair = Rc::new(Pair::default());
    let b = ringstream::spawn(pong(pair.clone(), ops));
    let a = ringstream::spawn(ping(pair, ops));
    a.await?;
    b.await?;
    Ok(())
}

/// Sends `ops` NOPs through the ring, one at a time.
async fn nops(ops: u64) -> io::Result<()> {
    for _ in 0..ops {
        ringstream::nop().await?;
    }
    Ok(())
}

/// Renders the report: the ring mode, then one aligned table row per scenario.
fn render(mode: ringstream::RingMode, rows: &[Row]) -> String {
    let header = ["scenario", "ops", "total", "ns/op", "ops/s"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let secs = r.total.as_secs_f64();
            let ns_per_op = secs * 1e9 / r.ops as f64;
            let ops_per_sec = if secs > 0.0 {
                group_thousands((r.ops as f64 / secs).round() as u64)
            } else {
                "-".to_owned()
            };
            [
                r.scenario.to_owned(),
                group_thousands(r.ops),
                format_duration(r.total),
                format!("{ns_per_op:.1}"),
                ops_per_sec,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = format!("ringstream bench — ring mode: {mode}\n\n");
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&cells) {
        // The scenario column is left-aligned, the numbers right-aligned.
        let _ = write!(out, "{:<w$}", row[0], w = widths[0]);
        for (cell, w) in row.iter().zip(widths).skip(1) {
            let _ = write!(out, "  {cell:>w$}");
        }
        out.push('\n');
    }
    out
}

/// `1234567` -> `"1,234,567"`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration with a unit that keeps 3-4 significant digits: `812.4 µs`, `11.52 ms`, `1.204 s`.
fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a command line given as string slices.
    fn parse(args: &[&str]) -> Result<Command, UsageError> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn commands_and_help_parse() {
        assert_eq!(parse(&["bench"]), Ok(Command::Bench));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h"]), Ok(Command::Help));
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert_eq!(parse(&["bench", "--help"]), Ok(Command::BenchHelp));
        assert_eq!(parse(&["bench", "-h"]), Ok(Command::BenchHelp));
    }

    #[test]
    fn bad_command_lines_are_usage_errors_with_the_right_usage() {
        let none = parse(&[]).unwrap_err();
        assert_eq!(none.usage, USAGE);
        let unknown = parse(&["serve"]).unwrap_err();
        assert!(unknown.message.contains("'serve'"), "{}", unknown.message);
        assert_eq!(unknown.usage, USAGE);
        let extra = parse(&["bench", "--fast"]).unwrap_err();
        assert!(extra.message.contains("'--fast'"), "{}", extra.message);
        assert_eq!(extra.usage, BENCH_USAGE);
        assert_eq!(
            parse(&["bench", "--help", "x"]).unwrap_err().usage,
            BENCH_USAGE
        );
        assert_eq!(parse(&["--help", "x"]).unwrap_err().usage, USAGE);
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(12_345_678), "12,345,678");
        assert_eq!(format_duration(Duration::from_nanos(812)), "812 ns");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(format_duration(Duration::from_millis(1204)), "1.204 s");
    }

    #[test]
    fn the_table_is_aligned() {
        let rows = [
            Row {
                scenario: "spawn + join",
                ops: 100_000,
                total: Duration::from_millis(12),
            },
            Row {
                scenario: "nop (ring)",
                ops: 100_000,
                total: Duration::from_millis(80),
            },
        ];
        let report = render(ringstream::RingMode::Plain, &rows);
        let lines: Vec<&str> = report.lines().skip(2).collect();
        assert_eq!(lines.len(), 3, "{report}");
        let len = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == len), "{report}");
        assert!(
            lines[1].contains("120.0") && lines[1].contains("8,333,333"),
            "{report}"
        );
    }
}
