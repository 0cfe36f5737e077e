//! `ringstream bench`: the echo server and the load generator in one process over
//! loopback, through fixed scenarios, printed as one table with the server's CPU time per
//! message; `--api` picks the echo's ringstream API. `ringstream bench --runtime` is the
//! runtime micro-benchmark instead.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ringstream::net::StreamServer;
use ringstream::runtime::PerCore;

use ringstream_harness::cpu::{current_thread_id, thread_cpu_time};
use ringstream_harness::load::{
    run_load, LoadConfig, Mode, Placement, Report, Target, DEFAULT_STALL_TIMEOUT, DEFAULT_WINDOW,
};
use ringstream_harness::servers::{serve_echo, Api};
use ringstream_harness::table::{format_rate, render};
use ringstream_harness::units::{format_size, parse_duration};

use crate::output::{err, errln, out, outln};

/// How long the untimed warm-up run lasts.
const WARM_UP: Duration = Duration::from_millis(300);

/// How long `shutdown` waits for the server's connections at the end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The text after the options in `--help`.
const AFTER_HELP: &str = "\
Starts an echo server (StreamServer, one core pinned to the first CPU, echoing through
the --api `ringstream echo` has: stream, protocol or buffered) and the load generator
(one thread pinned to the second CPU when there are two or more) in this process, on
127.0.0.1, and runs each scenario for --duration:

  pp1       1 connection, 64 B ping-pong
  pp64      64 connections, 64 B ping-pong
  pp64x4k   64 connections, 4 KiB ping-pong
  st16      16 connections streaming 64 KiB chunks (a \"msg\" is one chunk)

The table shows messages per second, MB/s (echoed bytes, one way; 1 MB = 10^6 bytes,
while the sizes above are binary: 4 KiB = 4096 bytes), latency percentiles
in µs, and the server thread's CPU time per message and in percent of the run (from
/proc/self/task/<tid>/schedstat). Every echoed byte is checked; a wrong byte fails the
run (exit 1). The default run takes about 15 s; build with --release for real numbers.
Run it once per --api to compare the APIs (`--api protocol`: the echo's callbacks run
straight from the receive completion, with no task wake-up).

`--runtime` prints the runtime micro-benchmark instead: spawn + join, wake round trips
and NOPs through the ring, 100,000 each, on the current thread.";

/// `ringstream bench` options.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    /// Run the runtime micro-benchmark (spawn + join, wake, nop) instead of the echo
    /// scenarios.
    #[arg(long, conflicts_with_all = ["duration", "scenario", "api"])]
    pub runtime: bool,

    /// How long each scenario runs: 3s, 500ms, 1m.
    #[arg(long, value_name = "D", default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Run only this scenario.
    #[arg(long, value_enum, value_name = "NAME")]
    pub scenario: Option<Scenario>,

    /// The ringstream API the echo server uses (as `ringstream echo --api`).
    #[arg(long, value_enum, value_name = "API", default_value_t = Api::Stream)]
    pub api: Api,
}

/// The fixed echo scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// 1 connection, 64 B ping-pong.
    Pp1,
    /// 64 connections, 64 B ping-pong.
    Pp64,
    /// 64 connections, 4 KiB ping-pong.
    Pp64x4k,
    /// 16 connections streaming 64 KiB chunks.
    St16,
}

impl Scenario {
    /// Every scenario, in the order the table shows them.
    const ALL: [Scenario; 4] = [
        Scenario::Pp1,
        Scenario::Pp64,
        Scenario::Pp64x4k,
        Scenario::St16,
    ];

    /// Its name on the command line and in the table.
    fn name(self) -> &'static str {
        match self {
            Scenario::Pp1 => "pp1",
            Scenario::Pp64 => "pp64",
            Scenario::Pp64x4k => "pp64x4k",
            Scenario::St16 => "st16",
        }
    }

    /// (mode, connections, size).
    fn shape(self) -> (Mode, usize, usize) {
        match self {
            Scenario::Pp1 => (Mode::PingPong, 1, 64),
            Scenario::Pp64 => (Mode::PingPong, 64, 64),
            Scenario::Pp64x4k => (Mode::PingPong, 64, 4096),
            Scenario::St16 => (Mode::Stream, 16, 64 * 1024),
        }
    }
}

/// One scenario's results.
struct Row {
    scenario: Scenario,
    report: Report,
    /// The server thread's CPU time during the run.
    server_cpu: Duration,
}

/// Runs the benchmark and prints its table.
///
/// # Errors
/// When the server or the load cannot start; `Ok(false)` when an echo was wrong or a
/// connection failed.
pub fn run(args: &BenchArgs) -> io::Result<bool> {
    if cfg!(debug_assertions) {
        errln!(
            "ringstream: note: this is a debug build; use `cargo run --release -- bench` \
             for meaningful numbers"
        );
    }
    if args.runtime {
        out!("{}", crate::runtime_demo::run()?);
        return Ok(true);
    }
    let scenarios: Vec<Scenario> = match args.scenario {
        Some(s) => vec![s],
        None => Scenario::ALL.to_vec(),
    };
    let allowed = PerCore::new().resolve_cpus()?;
    let server_cpu = allowed[0];
    let (load_placement, load_where) = match allowed.get(1) {
        Some(&cpu) => (Placement::Cpus(vec![cpu]), format!("CPU {cpu}")),
        None => (
            Placement::Threads(1),
            "an unpinned thread (one CPU only)".to_owned(),
        ),
    };
    let ring_mode = ringstream::Runtime::new()?.ring_mode();

    // The handler notes the id of the server's thread, to read its CPU time.
    let server_tid = Arc::new(AtomicU32::new(0));
    let tid = server_tid.clone();
    let builder = StreamServer::bind("127.0.0.1:0").cpus(vec![server_cpu]);
    let server = serve_echo(builder, args.api, move || {
        if tid.load(Ordering::Relaxed) == 0 {
            if let Ok(id) = current_thread_id() {
                tid.store(id, Ordering::Relaxed);
            }
        }
    })?;
    let target = Target::Tcp(server.local_addr().to_string());
    let config = |scenario: Scenario, duration: Duration| {
        let (mode, conns, size) = scenario.shape();
        LoadConfig {
            target: target.clone(),
            mode,
            conns,
            size,
            pipeline: 1,
            duration,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            window: DEFAULT_WINDOW,
            placement: load_placement.clone(),
            tls: None,
            progress: None,
        }
    };

    outln!(
        "ringstream bench — echo over loopback: server on CPU {server_cpu} (echo API: {}), \
         load on {load_where}, {:.1} s per scenario, ring mode: {ring_mode}\n",
        args.api.name(),
        args.duration.as_secs_f64()
    );
    // Warm-up: connections, caches, and the server thread's id for the CPU readings.
    let warm_up = run_load(&config(Scenario::Pp1, WARM_UP))?;
    let tid = server_tid.load(Ordering::Relaxed);
    if warm_up.stats.errors > 0 || tid == 0 {
        out!("{}", warm_up.summary());
        return Err(io::Error::other(
            "the warm-up run against the echo server failed",
        ));
    }

    let mut rows = Vec::new();
    for scenario in scenarios {
        if io::stderr().is_terminal() {
            err!("\rrunning {} ...  ", scenario.name());
        }
        let before = thread_cpu_time(tid)?;
        let report = run_load(&config(scenario, args.duration))?;
        let server_cpu = thread_cpu_time(tid)?.saturating_sub(before);
        rows.push(Row {
            scenario,
            report,
            server_cpu,
        });
    }
    if io::stderr().is_terminal() {
        err!("\r\x1b[2K");
    }
    out!("{}", table(&rows));

    let mut ok = true;
    for row in rows.iter().filter(|r| r.report.stats.errors > 0) {
        ok = false;
        outln!("\n{} failed:", row.scenario.name());
        for m in &row.report.stats.failures {
            outln!("  {m}");
        }
    }
    let shutdown = server.shutdown(SHUTDOWN_GRACE)?;
    if shutdown.aborted > 0 {
        errln!(
            "ringstream bench: {} server connection(s) were still open at the end and were aborted",
            shutdown.aborted
        );
    }
    Ok(ok)
}

/// The results table.
fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let r = &row.report;
            let (mode, conns, size) = row.scenario.shape();
            let what = match mode {
                Mode::PingPong => format!("{conns} x {} ping-pong", format_size(size)),
                Mode::Stream | Mode::Reset => format!("{conns} x {} stream", format_size(size)),
            };
            let secs = r.elapsed.as_secs_f64();
            let cpu_per_msg = if r.stats.msgs > 0 {
                format!(
                    "{:.2}",
                    row.server_cpu.as_secs_f64() * 1e6 / r.stats.msgs as f64
                )
            } else {
                "-".to_owned()
            };
            let cpu_share = if secs > 0.0 {
                format!("{:.0}", row.server_cpu.as_secs_f64() / secs * 100.0)
            } else {
                "-".to_owned()
            };
            vec![
                row.scenario.name().to_owned(),
                what,
                format_rate(r.msgs_per_s()),
                format!("{:.1}", r.mb_per_s()),
                format!("{:.1}", r.latency_us(0.5)),
                format!("{:.1}", r.latency_us(0.99)),
                format!("{:.1}", r.latency_us(0.999)),
                cpu_per_msg,
                cpu_share,
                r.stats.errors.to_string(),
            ]
        })
        .collect();
    render(
        &[
            "scenario",
            "what",
            "msgs/s",
            "MB/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "srv cpu µs/msg",
            "srv cpu %",
            "errors",
        ],
        &cells,
        2,
    )
}
