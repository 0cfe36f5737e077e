//! The load generator for any echo server, built on ringstream: what `ringstream load`,
//! `bench` and `soak` run.
//!
//! - `conn`: one connection's ping-pong or streaming loop, every echoed byte checked.
//! - `watch`: stall detection (no echo while bytes are outstanding) bounding every wait.
//! - `deadline`: the end of the run, shared by every thread, brought forward by Ctrl-C.
//! - `pattern`: the bytes sent and how an echo is checked.
//! - `stats`: counters, latency histograms, the summary and the `RESULT` line.
//! - `worker`: one load thread (its connections, the start signal).
//!
//! This file starts the threads, reports progress and collects the results.

mod conn;
mod deadline;
mod pattern;
mod stats;
mod tls;
mod watch;
mod worker;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use ringstream::runtime::{CoreGroup, PerCore};

pub use deadline::Deadline;
pub use stats::Report;
use stats::{Counters, Progress, ThreadStats};
pub use tls::ClientTls;
use worker::{Gate, Plan, Ready, Worker, CONNECT_TIMEOUT};

/// What each connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Send a message, wait for its whole echo, send the next (keeping --pipeline
    /// messages in flight).
    #[value(name = "pingpong")]
    PingPong,
    /// Write chunks continuously while reading the echo concurrently.
    Stream,
    /// As stream, but at the end every connection resets (RST) with its echo still on the
    /// way instead of collecting it and closing: a server's fault path at scale (the
    /// server must release every such connection).
    Reset,
}

impl Mode {
    /// Stream or reset: chunks written back to back, echo read concurrently.
    pub fn streams(self) -> bool {
        self != Mode::PingPong
    }
}

/// Where the echo server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP `host:port`.
    Tcp(String),
    /// A Unix socket path (or `@abstract` name).
    Unix(PathBuf),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => f.write_str(addr),
            Target::Unix(path) => path.display().fmt(f),
        }
    }
}

/// `--stall-timeout`'s default, for runs not started from the command line.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(2);

/// `--window`'s default: a stream connection keeps at most this much unechoed.
///
/// Why a bound at all: with none, a streaming client writes as long as the kernel takes
/// bytes, and loopback TCP buffers autotune to megabytes per socket (`tcp_wmem` up to 4 MB,
/// `tcp_rmem` up to 32 MB here). 256 connections then held ~9 MB in flight each, 2.3 GB in
/// all, past the kernel's `tcp_mem` pressure threshold (1.5 GB on this machine): the kernel
/// dropped segments (`nstat`: TcpExtTCPMemoryPressures, TCPRcvQDrop, TCPTimeouts by the
/// thousand) and retransmit back-off stalled connections for 5–13 s, whatever the server.
/// 256 KiB x 2,000 connections is 512 MB, well clear of it, and still 4 chunks of 64 KiB.
pub const DEFAULT_WINDOW: usize = 256 * 1024;
/// Where the load threads run.
#[derive(Debug, Clone)]
pub enum Placement {
    /// This many plain threads, each with its own runtime, wherever the scheduler puts them.
    Threads(usize),
    /// One thread pinned to each of these CPUs ([`PerCore`]).
    Cpus(Vec<usize>),
}

impl Placement {
    /// How many threads.
    fn count(&self) -> usize {
        match self {
            Placement::Threads(n) => *n,
            Placement::Cpus(cpus) => cpus.len(),
        }
    }
}

/// A complete description of one load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where to connect.
    pub target: Target,
    /// Ping-pong or stream.
    pub mode: Mode,
    /// Connections.
    pub conns: usize,
    /// Message or chunk size.
    pub size: usize,
    /// Messages in flight per connection (ping-pong).
    pub pipeline: usize,
    /// How long to send.
    pub duration: Duration,
    /// No echo for this long while bytes are outstanding is a stall.
    pub stall_timeout: Duration,
    /// Stream mode: most unechoed bytes per connection (0: no bound).
    pub window: usize,
    /// The load threads.
    pub placement: Placement,
    /// Speak TLS on every connection (feature `tls`).
    pub tls: Option<ClientTls>,
    /// Called every second with a progress line (starting with `\r`, to overwrite the last
    /// one), and once at the end with the text that clears it.
    pub progress: Option<fn(&str)>,
}

/// Runs a load: opens every connection, starts them all at once, runs them for the
/// duration, and collects what they measured.
///
/// # Errors
/// When a thread cannot start or any connection cannot be opened (the message says how
/// many and why); failures after the start are counted in the report instead.
pub fn run_load(config: &LoadConfig) -> io::Result<Report> {
    run_load_until(config, &Arc::new(Deadline::default()))
}

/// [`run_load`], ending early if `deadline` is brought forward (by a signal).
///
/// # Errors
/// As [`run_load`].
pub fn run_load_until(config: &LoadConfig, deadline: &Arc<Deadline>) -> io::Result<Report> {
    let threads = config.placement.count().min(config.conns).max(1);
    let plan = Arc::new(Plan {
        target: config.target.clone(),
        mode: config.mode,
        size: config.size,
        pipeline: config.pipeline,
        deadline: deadline.clone(),
        stall_timeout: config.stall_timeout,
        window: config.window,
        tls: config.tls.clone(),
    });
    let gate = Arc::new(Gate::default());
    // However this function returns, no thread is left waiting for the start.
    let _release = Release(gate.clone());
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let counters: Vec<Arc<Counters>> = (0..threads).map(|_| Arc::default()).collect();
    let workers: Vec<Worker> = (0..threads)
        .map(|t| Worker {
            conn_ids: (0..config.conns as u32)
                .filter(|id| *id as usize % threads == t)
                .collect(),
            plan: plan.clone(),
            counters: counters[t].clone(),
            ready: ready_tx.clone(),
            gate: gate.clone(),
            done: done_tx.clone(),
        })
        .collect();
    drop((ready_tx, done_tx));
    let running = launch(workers, &config.placement)?;

    // Every connection opens before anything is measured.
    let mut failed = 0;
    let mut first_error = None;
    for _ in 0..threads {
        match ready_rx.recv_timeout(CONNECT_TIMEOUT + Duration::from_secs(5)) {
            Ok(Ready {
                failed: n,
                first_error: e,
            }) => {
                failed += n;
                first_error = first_error.or(e);
            }
            Err(_) => {
                gate.open(false);
                let why = running.join().join("; ");
                return Err(io::Error::other(format!(
                    "a load thread did not open its connections: {}",
                    if why.is_empty() { "it stopped" } else { &why }
                )));
            }
        }
    }
    if failed > 0 {
        gate.open(false);
        running.join();
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "could not open {failed} of {} connection{} to {}: {}",
                config.conns,
                if config.conns == 1 { "" } else { "s" },
                config.target,
                first_error.unwrap_or_default()
            ),
        ));
    }

    let start = deadline.start(config.duration);
    gate.open(true);
    let mut progress = Progress::new(start);
    let mut total = ThreadStats::empty();
    let mut reported = 0;
    let mut next_tick = start + Duration::from_secs(1);
    // Connections bound every wait (the watch), so this only guards against a bug.
    let give_up = start
        + config.duration
        + config.stall_timeout
        + watch::DRAIN_LIMIT
        + conn::CLOSE_TIMEOUT
        + Duration::from_secs(5);
    while reported < threads {
        let now = Instant::now();
        if now > give_up {
            return Err(io::Error::other(
                "the load threads did not finish (a connection is stuck)",
            ));
        }
        let wait = if config.progress.is_some() {
            next_tick.saturating_duration_since(now)
        } else {
            give_up - now
        };
        match done_rx.recv_timeout(wait) {
            Ok(stats) => {
                total.merge(stats);
                reported += 1;
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(show) = config.progress.filter(|_| Instant::now() >= next_tick) {
                    show(&format!("\r{}", progress.line(&counters)));
                    next_tick += Duration::from_secs(1);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let elapsed = start.elapsed();
    if let Some(show) = config.progress {
        // Clear the progress line.
        show("\r\x1b[2K");
    }
    for why in running.join() {
        total.errors += 1;
        total.failures.push(why);
    }
    if reported < threads {
        total.errors += (threads - reported) as u64;
        total.failures.push(format!(
            "{} load thread(s) sent no results",
            threads - reported
        ));
    }
    Ok(Report {
        mode: config.mode,
        conns: config.conns,
        size: config.size,
        pipeline: config.pipeline,
        threads,
        elapsed,
        stats: total,
        interrupted: deadline.stopped_early(),
    })
}

/// Opens the gate with "stop" when dropped (a no-op once it was opened).
struct Release(Arc<Gate>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.open(false);
    }
}

/// The running load threads.
enum Running {
    /// Plain threads.
    Threads(Vec<thread::JoinHandle<()>>),
    /// Pinned cores.
    Cores(CoreGroup<()>),
}

impl Running {
    /// Waits for every thread; what went wrong with any of them.
    fn join(self) -> Vec<String> {
        match self {
            Running::Threads(handles) => handles
                .into_iter()
                .filter_map(|h| h.join().err())
                .map(|_| "a load thread panicked".to_owned())
                .collect(),
            Running::Cores(group) => group
                .join()
                .into_iter()
                .filter_map(Result::err)
                .map(|e| format!("load thread: {e}"))
                .collect(),
        }
    }
}

/// Starts one thread per worker, as `placement` says.
fn launch(workers: Vec<Worker>, placement: &Placement) -> io::Result<Running> {
    match placement {
        Placement::Threads(_) => {
            let mut handles = Vec::with_capacity(workers.len());
            for (t, worker) in workers.into_iter().enumerate() {
                let handle = thread::Builder::new()
                    .name(format!("ringstream-load-{t}"))
                    .spawn(move || {
                        let ready = worker.ready.clone();
                        let conns = worker.conn_ids.len();
                        if let Err(e) = ringstream::run(worker.run()) {
                            let _ = ready.send(Ready {
                                failed: conns,
                                first_error: Some(format!("starting a load thread's ring: {e}")),
                            });
                        }
                    })
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("starting load thread {t}: {e}"))
                    })?;
                handles.push(handle);
            }
            Ok(Running::Threads(handles))
        }
        Placement::Cpus(cpus) => {
            let cpus = cpus[..workers.len()].to_vec();
            let slots: Arc<Mutex<Vec<Option<Worker>>>> =
                Arc::new(Mutex::new(workers.into_iter().map(Some).collect()));
            let group = PerCore::new().cpus(cpus).launch(move |index| {
                let worker = slots
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(index)
                    .and_then(Option::take);
                async move {
                    if let Some(worker) = worker {
                        worker.run().await;
                    }
                }
            })?;
            Ok(Running::Cores(group))
        }
    }
}
