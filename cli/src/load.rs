//! `ringstream load`: the command line of the load generator
//! ([`ringstream_harness::load`]), Ctrl-C / SIGTERM, and the printed results.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Args;
use ringstream_harness::load::{
    run_load_until, ClientTls, Deadline, LoadConfig, Mode, Placement, Target,
};
use ringstream_harness::units::{parse_duration, parse_size};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::output::{errln, out, outln};

/// The text after the options in `--help`.
const AFTER_HELP: &str = "\
Works against any echo server: nothing but the bytes sent is expected back, in order.
Each ping-pong message carries its sequence number and connection id, and stream mode
sends a byte pattern that depends on the stream offset, so every echoed byte is checked:
corrupted, lost, repeated or reordered data is an error.

Latency is from queueing a message (or chunk) to receiving the last byte of its echo.
MB/s counts echoed bytes one way, in decimal megabytes (1 MB = 10^6 bytes; sizes on
the command line are binary: 4KiB = 4KB = 4096 bytes). While stdout is a terminal a
progress line is updated every second. The last line printed is

  RESULT mode=<m> conns=<c> size=<s> msgs_per_s=<f> mb_per_s=<f> p50_us=<f> p99_us=<f> p999_us=<f> errors=<n> stalls=<n> max_gap_ms=<n>

A connection stalls when no echoed byte arrives for --stall-timeout while bytes it sent
are outstanding; a stall is an error (stalls= counts the connections that stalled, also
in errors=), even when the echo resumes later. A stalled connection keeps waiting until
the end of the run, so max_gap_ms (the longest such wait of any connection) says how long
the server really stalled.

Ctrl-C or SIGTERM stops sending at once, collects the outstanding echoes and prints the
results so far; a second one quits without results.

Exit status: 0 when every connection opened, every echo was correct and none stalled; 1
otherwise (the reasons are printed); 2 for invalid options.

Examples:
  ringstream load --addr 127.0.0.1:7878 --conns 64 --size 64 --duration 10s
  ringstream load --conns 8 --size 4KiB --pipeline 16 --cores 2
  ringstream load --mode stream --conns 4 --size 64KiB --duration 5s";

/// `ringstream load` options.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct LoadArgs {
    /// TCP address of the echo server.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7878", value_parser = ringstream_harness::units::parse_host_port)]
    pub addr: String,

    /// Connect to this Unix socket path instead of TCP (`@name` for an abstract name).
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    pub unix: Option<PathBuf>,

    /// Number of connections.
    #[arg(long, value_name = "C", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub conns: u32,

    /// Message size (pingpong) or chunk size (stream): 64, 4KiB, 64k, 1MiB (at most 64MiB;
    /// k, KB and KiB all mean 1024 bytes, M, MB and MiB 1024²).
    #[arg(long, value_name = "S", default_value = "64", value_parser = parse_size)]
    pub size: usize,

    /// How long to send: 10s, 500ms, 2m.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// What each connection does.
    #[arg(long, value_enum, default_value_t = Mode::PingPong)]
    pub mode: Mode,

    /// Messages in flight per connection (pingpong mode only) [default: 1].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub pipeline: Option<u32>,

    /// Load threads (one ring each, unpinned); the connections are split between them.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=crate::MAX_CORES))]
    pub cores: u16,

    /// No echo for this long while bytes are outstanding is a stall (an error): 2s, 500ms.
    #[arg(long, value_name = "D", default_value = "2s", value_parser = parse_duration)]
    pub stall_timeout: Duration,

    /// Stream mode: most bytes a connection may have sent and not yet seen echoed; the
    /// writer waits for the echo beyond it (at least one chunk; 0: no bound) [default: 256KiB].
    #[arg(long, value_name = "S", default_value = "256KiB", value_parser = parse_window)]
    pub window: usize,

    /// Speak TLS on every connection, trusting the CA certificates in this PEM file (a
    /// self-signed server certificate is its own CA). Built with `--features tls` only.
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "CA.pem")]
    pub tls_ca: Option<PathBuf>,

    /// The name the server's TLS certificate must carry.
    #[cfg(feature = "tls")]
    #[arg(
        long,
        value_name = "NAME",
        default_value = "localhost",
        requires = "tls_ca"
    )]
    pub tls_name: String,
}

/// The TLS the command line asks for.
#[cfg(feature = "tls")]
fn tls_from_args(args: &LoadArgs) -> Result<Option<ClientTls>, String> {
    args.tls_ca
        .as_deref()
        .map(|ca| ClientTls::from_ca_file(ca, &args.tls_name).map_err(|e| e.to_string()))
        .transpose()
}

#[cfg(not(feature = "tls"))]
fn tls_from_args(_: &LoadArgs) -> Result<Option<ClientTls>, String> {
    Ok(None)
}

fn parse_window(text: &str) -> Result<usize, String> {
    if text.trim() == "0" {
        return Ok(0);
    }
    parse_size(text)
}

/// The run the command line asks for.
///
/// # Errors
/// `--pipeline` in stream mode.
pub fn config_from_args(args: &LoadArgs) -> Result<LoadConfig, String> {
    if args.mode.streams() && args.pipeline.is_some() {
        return Err(
            "--pipeline applies to --mode pingpong only (a stream has no messages to \
                 keep in flight)"
                .to_owned(),
        );
    }
    let target = match &args.unix {
        Some(path) => Target::Unix(path.clone()),
        None => Target::Tcp(args.addr.clone()),
    };
    Ok(LoadConfig {
        target,
        mode: args.mode,
        conns: args.conns as usize,
        size: args.size,
        pipeline: args.pipeline.unwrap_or(1) as usize,
        duration: args.duration,
        stall_timeout: args.stall_timeout,
        window: args.window,
        placement: Placement::Threads(usize::from(args.cores)),
        tls: tls_from_args(args)?,
        progress: io::stdout().is_terminal().then_some(print_progress),
    })
}

/// Shows the load generator's progress line on stdout.
fn print_progress(line: &str) {
    out!("{line}");
}

/// `ringstream load`: runs the load (until its duration or Ctrl-C / SIGTERM), prints the
/// summary and the `RESULT` line.
///
/// # Errors
/// Bad option combinations, connections that could not be opened, threads that could not
/// start; a run with failed or stalled connections or wrong bytes returns `Ok(false)`.
pub fn run(args: &LoadArgs) -> io::Result<bool> {
    let config =
        config_from_args(args).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let deadline = Arc::new(Deadline::default());
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| io::Error::new(e.kind(), format!("installing signal handlers: {e}")))?;
    let closer = signals.handle();
    let stopper = {
        let deadline = deadline.clone();
        thread::spawn(move || {
            let mut signals = signals.forever();
            if signals.next().is_some() {
                errln!("stopping: collecting the outstanding echoes (a second Ctrl-C quits)");
                deadline.stop_now();
            }
            if let Some(signal) = signals.next() {
                std::process::exit(128 + signal);
            }
        })
    };
    let report = run_load_until(&config, &deadline);
    // Ends the signal thread's wait; a signal from now on ends the process as usual.
    closer.close();
    let _ = stopper.join();
    let report = report?;
    out!("{}", report.summary());
    outln!("{}", report.result_line());
    Ok(report.stats.errors == 0)
}
