//! HTTP/1.1 keep-alive under wrk: the `http_hello` server on ringstream next to the same
//! server on tokio, one core each, in the same run; with the `tokio-io` feature also hyper
//! 1.x on ringstream (`examples/hyper_hello.rs`) next to the same hyper service on tokio,
//! `current_thread` and `multi_thread` (one worker).
//!
//! ```text
//! bash ci/install-bench-tools.sh        # wrk (Debian package), once
//! cargo bench --bench http              # 3 rounds x 2 servers x 5 s: 40 s on a quiet machine
//! cargo bench --features tokio-io --bench http -- --rounds 3 --duration 5   # + 3 hyper rows
//! cargo bench --bench http -- --rounds 5 --duration 10 --connections 256
//! ```
//!
//! # What runs
//!
//! - Both servers run in this process, started once and kept for every round, with the
//!   examples' own code (`ringstream_harness::http`): ringstream is a
//!   `StreamServer` on one core (`cpus([CPU 0])`: a pinned thread and ring), tokio is one
//!   pinned thread with a `current_thread` runtime and its own `SO_REUSEPORT` listener —
//!   how `examples/http_hello_tokio.rs` shards. Both pinned to the first CPU this process
//!   may use.
//! - Before measuring, each `http_hello` server must pass two checks of
//!   `ringstream_harness::http::conformance` (pipelining: three requests in one segment answered in
//!   order; `Connection: close` and HTTP/1.0), each hyper server must answer a GET with
//!   `200` and `Hello, World!` (hyper adds a `date` header, so the byte-exact checks do not
//!   apply); each gets a 1 s wrk warm-up.
//! - The hyper rows: `hyper_hello`'s own `serve_connection` on a one-core `StreamServer`
//!   ("hyper-ringstream"), and its `serve_http1` with the same service over tokio's
//!   `TcpStream` (`TCP_NODELAY` on, as ringstream's) on `TokioServer`'s pinned thread with
//!   a `current_thread` runtime ("hyper-tokio-ct") or a `multi_thread` runtime with one
//!   worker pinned to the same CPU ("hyper-tokio-mt", measured on the worker thread).
//! - Each measurement is `wrk -t1 -cC -dDs --latency http://127.0.0.1:PORT/`, pinned with
//!   `taskset -c` to the second CPU (unpinned, with a note, when there is none or no
//!   taskset). Each round starts with the next server in turn.
//! - Server CPU: `utime + stime` of the server's thread, from `/proc/self/task/<tid>/stat`
//!   before and after the run (the thread reports its own id from `/proc/thread-self`),
//!   divided by wrk's request count. "Process CPU" is the same from `/proc/self/stat`: it
//!   also covers io_uring's kernel workers (`iou-wrk-*`, threads of this process) and
//!   everything else here, which is idle during a run (the other server waits in
//!   `io_uring_enter` / `epoll_wait`, the bench thread in `wait`). wrk's own CPU time is
//!   read from `/proc/<pid>/stat` as it exits.
//! - Before each run the bench waits (up to 30 s) until both CPUs are nearly idle, and
//!   measures how much CPU time other processes took during the run ("other load"), so a
//!   run disturbed by something else on a shared machine can be seen and set aside.
//!
//! # Reading the table
//!
//! Medians over the rounds with [min–max]. The ratio rows are ringstream / tokio of the
//! medians (and hyper-ringstream / each hyper-tokio): above 1 is better for req/s, below 1
//! is better for latency and CPU. When some
//! runs were disturbed (other load over 0.10 CPUs), a second table repeats the medians over
//! the undisturbed runs only: trust that one.
//!
//! With wrk and the server on the two cores of a small machine, either side can be the
//! bottleneck: "server thread busy" is the server thread's CPU time over the run's wall
//! time and "wrk busy" the same for wrk. Near 100 % for the server means req/s measured the
//! server; wrk near 100 % means wrk was the limit, and CPU per request is the fairer
//! comparison. Loopback numbers depend on the machine: compare the rows of one run.
//!
//! Without wrk the bench prints how to install it and exits 0. Run as a test (`cargo test
//! --benches`, no `--bench` argument) it only runs the correctness check against both
//! servers.

use std::collections::BTreeMap;
use std::io;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use ringstream::net::{FailureCause, StreamServer};
use ringstream::stream::Addr;

use ringstream_harness::cpu::{current_thread_id, stat_ticks, TICK};
use ringstream_harness::cpu_busy::{cpu_ticks, shares as cpu_shares};
use ringstream_harness::http::tokio_server::{self, Flavor, TokioServer};
use ringstream_harness::http::{conformance, ringstream_server};

/// The hyper server: its handler, and its service for the hyper-on-tokio rows.
#[cfg(feature = "tokio-io")]
#[path = "../examples/hyper_hello.rs"]
#[allow(dead_code)] // its `main`
mod hyper_hello;

const DEFAULT_ROUNDS: usize = 3;
const DEFAULT_DURATION_S: u64 = 5;
const DEFAULT_CONNECTIONS: usize = 64;
/// Load (in CPUs, on the server's and wrk's CPUs together) under which the machine counts
/// as quiet before a run.
const QUIET_LOAD: f64 = 0.10;
/// How long to wait for a quiet machine before a run, at most.
const QUIET_WAIT: Duration = Duration::from_secs(30);
/// How long connections may take to close after a wrk run.
const SETTLE: Duration = Duration::from_secs(5);

struct Options {
    bench: bool,
    rounds: usize,
    duration_s: u64,
    connections: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        bench: false,
        rounds: DEFAULT_ROUNDS,
        duration_s: DEFAULT_DURATION_S,
        connections: DEFAULT_CONNECTIONS,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = args.next().ok_or(format!("{name} needs a value"))?;
            value
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{name} {value:?}: expected a positive number"))
        };
        match arg.as_str() {
            "--bench" => options.bench = true,
            "--rounds" => options.rounds = number("--rounds")? as usize,
            "--duration" => options.duration_s = number("--duration")?,
            "--connections" => options.connections = number("--connections")? as usize,
            // Filters and flags cargo or a harness may pass: nothing to filter here.
            _ => {}
        }
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------
// CPU time from /proc

#[derive(Debug, Clone, Copy, Default)]
struct CpuTimes {
    /// The server thread: user and system ticks.
    thread_user: u64,
    thread_sys: u64,
    /// The whole process, user + system ticks.
    process: u64,
}

fn cpu_times(tid: u32) -> io::Result<CpuTimes> {
    let (thread_user, thread_sys) = stat_ticks(&format!("/proc/self/task/{tid}/stat"))?;
    let (user, sys) = stat_ticks("/proc/self/stat")?;
    Ok(CpuTimes {
        thread_user,
        thread_sys,
        process: user + sys,
    })
}

/// Waits (up to [`QUIET_WAIT`]) until the given CPUs are nearly idle while nothing of this
/// bench runs: on a shared machine another process's load would otherwise land in one
/// server's numbers. Returns the load that was last seen, in CPUs.
fn wait_for_quiet(cpus: &[usize]) -> f64 {
    let deadline = Instant::now() + QUIET_WAIT;
    loop {
        let before: Vec<_> = cpus.iter().map(|&c| cpu_ticks(c)).collect();
        thread::sleep(Duration::from_millis(500));
        let load: f64 = cpus
            .iter()
            .zip(before)
            .filter_map(|(&c, b)| cpu_shares(b, cpu_ticks(c)))
            .map(|(busy, steal)| busy + steal)
            .sum();
        if load < QUIET_LOAD || Instant::now() > deadline {
            return load;
        }
    }
}

// ---------------------------------------------------------------------------------------
// wrk

#[derive(Debug, Default, Clone)]
struct WrkResult {
    requests: u64,
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    /// "connect 0, read 0, write 0, timeout 0" and non-2xx counts, when any is nonzero.
    errors: Vec<String>,
    /// wrk's own CPU time (user + system ticks), when it could be read.
    cpu_ticks: Option<u64>,
}

/// `0.96ms`, `740.00us`, `1.02s` -> microseconds.
fn duration_us(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix("m") {
        (n, 60e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

fn parse_wrk(output: &str) -> Result<WrkResult, String> {
    let mut result = WrkResult::default();
    let (mut rps, mut p50, mut p99, mut requests) = (None, None, None, None);
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => rps = n.parse().ok(),
            ["50%", t] => p50 = duration_us(t),
            ["99%", t] => p99 = duration_us(t),
            [n, "requests", "in", ..] => requests = n.parse().ok(),
            ["Socket", "errors:", ..] => result.errors.push(line.to_string()),
            ["Non-2xx", ..] => result.errors.push(line.to_string()),
            _ => {}
        }
    }
    match (rps, p50, p99, requests) {
        (Some(rps), Some(p50), Some(p99), Some(requests)) => {
            result.requests_per_s = rps;
            result.p50_us = p50;
            result.p99_us = p99;
            result.requests = requests;
            Ok(result)
        }
        _ => Err(format!(
            "wrk's output lacks Requests/sec, latency percentiles or the request count:\n{output}"
        )),
    }
}

struct Wrk {
    /// `taskset -c CPU` to pin wrk, when possible.
    pin: Option<usize>,
}

impl Wrk {
    fn run(&self, addr: SocketAddr, connections: usize, seconds: u64) -> Result<WrkResult, String> {
        let url = format!("http://{addr}/");
        let wrk_args = [
            "-t1".to_string(),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--latency".to_string(),
            url,
        ];
        let mut command = match self.pin {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string(), "wrk"]);
                c
            }
            None => Command::new("wrk"),
        };
        let mut child = command
            .args(&wrk_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running wrk failed: {e}"))?;
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        // wrk has closed its output, so it is exiting: its CPU time is still readable from
        // /proc until `wait` reaps it (taskset execs wrk, so the pid is wrk's).
        let cpu = wrk_cpu_ticks(child.id());
        let status = child.wait().map_err(|e| format!("waiting for wrk: {e}"))?;
        if !status.success() {
            return Err(format!("wrk failed ({status}): {stdout}{stderr}"));
        }
        let mut result = parse_wrk(&stdout)?;
        result.cpu_ticks = cpu;
        Ok(result)
    }
}

/// `utime + stime` of the exiting wrk process, once it is a zombie (so the times are
/// final); `None` if that cannot be read within a second.
fn wrk_cpu_ticks(pid: u32) -> Option<u64> {
    let path = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let stat = std::fs::read_to_string(&path).ok()?;
        let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
        if state == "Z" {
            let (user, sys) = stat_ticks(&path).ok()?;
            return Some(user + sys);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------
// The two servers

/// Handler failures by error kind ("ConnectionReset", ...), as both servers report them.
type Failures = Arc<Mutex<BTreeMap<String, u64>>>;

fn count_failure(failures: &Failures, what: String) {
    *failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(what)
        .or_default() += 1;
}

/// One of the servers under test, with what the bench needs to know about it.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    /// Checks that it answers correctly (panics if not).
    check: fn(SocketAddr),
    /// The serving thread's kernel id (ringstream's is known once it served a connection).
    tid: Arc<OnceLock<u32>>,
    /// Connections that ended in an error, by error kind.
    failures: Failures,
    inner: Inner,
}

enum Inner {
    Ringstream(StreamServer),
    Tokio(TokioServer),
}

impl Server {
    fn active(&self) -> usize {
        match &self.inner {
            Inner::Ringstream(server) => server.stats().iter().map(|c| c.active).sum(),
            Inner::Tokio(server) => server.active(),
        }
    }

    fn failure_count(&self) -> u64 {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    fn wait_idle(&self) -> bool {
        let deadline = Instant::now() + SETTLE;
        while self.active() > 0 {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }

    fn stop(self) {
        match self.inner {
            Inner::Ringstream(server) => {
                if let Err(e) = server.shutdown(Duration::from_secs(2)) {
                    eprintln!("http bench: ringstream shutdown: {e}");
                }
            }
            Inner::Tokio(server) => server.shutdown(),
        }
    }
}

/// The `http_hello` servers' checks.
fn http_hello_checks(addr: SocketAddr) {
    conformance::pipelined(addr);
    conformance::connection_close_and_http10(addr);
}

/// A hyper server answers a GET with `200` and `Hello, World!`.
#[cfg(feature = "tokio-io")]
fn hyper_check(addr: SocketAddr) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the hyper server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("the answer");
    assert!(
        reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("\r\n\r\nHello, World!"),
        "unexpected answer from the hyper server on {addr}: {reply:?}"
    );
}

fn start_ringstream<H, Fut>(
    cpu: usize,
    name: &'static str,
    check: fn(SocketAddr),
    handler: H,
) -> io::Result<Server>
where
    H: Fn(ringstream::Stream) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = io::Result<()>> + 'static,
{
    let tid = Arc::new(OnceLock::new());
    let failures = Failures::default();
    let (record, count) = (tid.clone(), failures.clone());
    let server = StreamServer::bind("127.0.0.1:0")
        .cpus(vec![cpu])
        .on_handler_failure(move |failure| {
            let what = match &failure.cause {
                FailureCause::Error(e) => format!("{:?}", e.kind()),
                FailureCause::Panic(message) => format!("panic: {message}"),
            };
            count_failure(&count, what);
        })
        .serve(move |stream| {
            record.get_or_init(|| current_thread_id().unwrap_or(0));
            handler(stream)
        })?;
    let Addr::Tcp(addr) = server.local_addr().clone() else {
        unreachable!("a TCP server has a TCP address")
    };
    Ok(Server {
        name,
        addr,
        check,
        tid,
        failures,
        inner: Inner::Ringstream(server),
    })
}

fn start_tokio<H, Fut>(
    cpu: usize,
    name: &'static str,
    check: fn(SocketAddr),
    flavor: Flavor,
    handler: H,
) -> io::Result<Server>
where
    H: Fn(tokio::net::TcpStream) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    let failures = Failures::default();
    let count = failures.clone();
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = TokioServer::start_with(addr, &[cpu], flavor, handler, move |e| {
        count_failure(&count, format!("{:?}", e.kind()));
    })?;
    let tid = Arc::new(OnceLock::new());
    if let Some(&t) = server.tids().first() {
        tid.get_or_init(|| t);
    }
    Ok(Server {
        name,
        addr: server.local_addr(),
        check,
        tid,
        failures,
        inner: Inner::Tokio(server),
    })
}

// ---------------------------------------------------------------------------------------
// Measuring

#[derive(Debug, Clone)]
struct Sample {
    wrk: WrkResult,
    /// Server thread CPU per request, µs.
    thread_us_per_req: f64,
    /// Share of the server thread's CPU time spent in the kernel.
    sys_share: f64,
    /// Server thread CPU time over wall time.
    busy: f64,
    /// How busy the server's CPU and wrk's CPU were as a whole, and how much time the
    /// hypervisor took from them (`/proc/stat`: `(busy, steal)`).
    server_cpu: Option<(f64, f64)>,
    client_cpu: Option<(f64, f64)>,
    /// wrk's CPU time over wall time.
    wrk_busy: Option<f64>,
    /// CPU time on the two CPUs that was neither the server thread's nor wrk's (other
    /// processes, interrupts), over wall time: 0 on a quiet machine, up to 2.
    other_load: Option<f64>,
    /// Whole-process CPU per request, µs.
    process_us_per_req: f64,
    /// Connections of this run that ended in an error (counted by the server).
    failures: u64,
}

fn measure(
    server: &Server,
    wrk: &Wrk,
    options: &Options,
    ticks: f64,
    cpus: (usize, Option<usize>),
) -> Result<Sample, String> {
    let tid = *server.tid.get().ok_or(format!(
        "{}: the server thread's id is unknown",
        server.name
    ))?;
    let failures_before = server.failure_count();
    let before = cpu_times(tid).map_err(|e| e.to_string())?;
    let server_cpu_before = cpu_ticks(cpus.0);
    let client_cpu_before = cpus.1.and_then(cpu_ticks);
    let started = Instant::now();
    let result = wrk.run(server.addr, options.connections, options.duration_s)?;
    let wall = started.elapsed().as_secs_f64();
    let after = cpu_times(tid).map_err(|e| e.to_string())?;
    let server_cpu = cpu_shares(server_cpu_before, cpu_ticks(cpus.0));
    let client_cpu = cpu_shares(client_cpu_before, cpus.1.and_then(cpu_ticks));
    if !server.wait_idle() {
        eprintln!(
            "http bench: {}: {} connections still open {SETTLE:?} after wrk ended",
            server.name,
            server.active()
        );
    }
    let failures = server.failure_count() - failures_before;
    let us = |t: u64| t as f64 / ticks * 1e6;
    let user = us(after.thread_user - before.thread_user);
    let sys = us(after.thread_sys - before.thread_sys);
    let requests = result.requests.max(1) as f64;
    let wrk_busy = result.cpu_ticks.map(|t| us(t) / 1e6 / wall);
    let thread_busy = (user + sys) / 1e6 / wall;
    let other_load = match (server_cpu, client_cpu, wrk_busy) {
        (Some((a, _)), Some((b, _)), Some(w)) => Some((a + b - thread_busy - w).max(0.0)),
        _ => None,
    };
    Ok(Sample {
        wrk_busy,
        other_load,
        thread_us_per_req: (user + sys) / requests,
        sys_share: if user + sys > 0.0 {
            sys / (user + sys)
        } else {
            0.0
        },
        busy: (user + sys) / 1e6 / wall,
        server_cpu,
        client_cpu,
        process_us_per_req: us(after.process - before.process) / requests,
        failures,
        wrk: result,
    })
}

/// Median, min and max.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn fmt_count(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_latency(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn fmt_percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

fn fmt_opt(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or("?".to_string(), format)
}

struct Column {
    title: &'static str,
    /// Whether ringstream / tokio of this column means anything.
    ratio: bool,
    value: fn(&Sample) -> f64,
    format: fn(f64) -> String,
}

const COLUMNS: [Column; 8] = [
    Column {
        title: "req/s",
        ratio: true,
        value: |s| s.wrk.requests_per_s,
        format: fmt_count,
    },
    Column {
        title: "p50",
        ratio: true,
        value: |s| s.wrk.p50_us,
        format: fmt_latency,
    },
    Column {
        title: "p99",
        ratio: true,
        value: |s| s.wrk.p99_us,
        format: fmt_latency,
    },
    Column {
        title: "server CPU µs/req",
        ratio: true,
        value: |s| s.thread_us_per_req,
        format: |v| format!("{v:.2}"),
    },
    Column {
        title: "process CPU µs/req",
        ratio: true,
        value: |s| s.process_us_per_req,
        format: |v| format!("{v:.2}"),
    },
    Column {
        title: "server thread busy",
        ratio: false,
        value: |s| s.busy,
        format: fmt_percent,
    },
    Column {
        title: "wrk busy",
        ratio: false,
        value: |s| s.wrk_busy.unwrap_or(f64::NAN),
        format: fmt_percent,
    },
    Column {
        title: "other load (CPUs)",
        ratio: false,
        value: |s| s.other_load.unwrap_or(f64::NAN),
        format: |v| format!("{v:.2}"),
    },
];

fn print_table(results: &[(&str, Vec<Sample>)]) {
    let header: Vec<&str> = std::iter::once("server")
        .chain(COLUMNS.iter().map(|c| c.title))
        .collect();
    println!("| {} |", header.join(" | "));
    println!("|{}", "---|".repeat(header.len()));
    let mut medians = Vec::new();
    for (name, samples) in results {
        let mut cells = vec![name.to_string()];
        let mut row = Vec::new();
        for column in &COLUMNS {
            let (median, min, max) = spread(samples.iter().map(column.value).collect());
            row.push(median);
            cells.push(format!(
                "{} [{}–{}]",
                (column.format)(median),
                (column.format)(min),
                (column.format)(max)
            ));
        }
        medians.push(row);
        println!("| {} |", cells.join(" | "));
    }
    let row = |name: &str| results.iter().position(|(n, _)| *n == name);
    for (ours, theirs) in RATIOS {
        let (Some(ours_at), Some(theirs_at)) = (row(ours), row(theirs)) else {
            continue;
        };
        let ratios: Vec<String> = medians[ours_at]
            .iter()
            .zip(&medians[theirs_at])
            .zip(&COLUMNS)
            .map(|((r, t), column)| match column.ratio {
                true => format!("{:.2}", r / t),
                false => "—".to_string(),
            })
            .collect();
        println!("| {ours} / {theirs} | {} |", ratios.join(" | "));
    }
}

/// The ratio rows: each ringstream server over its tokio counterparts.
const RATIOS: [(&str, &str); 3] = [
    ("ringstream", "tokio"),
    ("hyper-ringstream", "hyper-tokio-ct"),
    ("hyper-ringstream", "hyper-tokio-mt"),
];

/// The servers to compare: the `http_hello` pair, and the hyper three with `tokio-io`.
fn start_servers(cpu: usize) -> io::Result<Vec<Server>> {
    #[cfg_attr(not(feature = "tokio-io"), allow(unused_mut))]
    let mut servers = vec![
        start_ringstream(
            cpu,
            "ringstream",
            http_hello_checks,
            ringstream_server::serve_connection,
        )?,
        start_tokio(
            cpu,
            "tokio",
            http_hello_checks,
            Flavor::CurrentThread,
            tokio_server::serve_connection,
        )?,
    ];
    #[cfg(feature = "tokio-io")]
    {
        use hyper_util::rt::TokioIo;
        let hyper_on_tokio = |stream: tokio::net::TcpStream| async move {
            stream.set_nodelay(true)?;
            hyper_hello::serve_http1(TokioIo::new(stream)).await
        };
        servers.push(start_ringstream(
            cpu,
            "hyper-ringstream",
            hyper_check,
            hyper_hello::serve_connection,
        )?);
        servers.push(start_tokio(
            cpu,
            "hyper-tokio-ct",
            hyper_check,
            Flavor::CurrentThread,
            hyper_on_tokio,
        )?);
        servers.push(start_tokio(
            cpu,
            "hyper-tokio-mt",
            hyper_check,
            Flavor::MultiThreadOneWorker,
            hyper_on_tokio,
        )?);
    }
    #[cfg(not(feature = "tokio-io"))]
    println!("http bench: without the hyper rows (they need `--features tokio-io`)");
    Ok(servers)
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("http bench: {e}\nusage: cargo bench --bench http -- [--rounds N] [--duration SECONDS] [--connections N]");
            std::process::exit(2);
        }
    };
    let allowed = ringstream_harness::pin::allowed_cpus(None).unwrap_or_default();
    let Some(&server_cpu) = allowed.first() else {
        eprintln!("http bench: cannot read this process's CPU affinity");
        std::process::exit(1);
    };
    let client_cpu = allowed.get(1).copied();

    let mut servers = match start_servers(server_cpu) {
        Ok(servers) => servers,
        Err(e) => {
            eprintln!("http bench: a server did not start: {e}");
            std::process::exit(1);
        }
    };
    for server in &servers {
        (server.check)(server.addr);
    }
    if !options.bench {
        println!(
            "http bench: every server answers correctly (run `cargo bench --bench http` to measure)"
        );
        servers.drain(..).for_each(Server::stop);
        return;
    }

    if Command::new("wrk").arg("--version").output().is_err() {
        println!(
            "http bench: wrk is not installed. Install it with `bash ci/install-bench-tools.sh` \
             (Debian package wrk), then run `cargo bench --bench http` again."
        );
        servers.drain(..).for_each(Server::stop);
        return;
    }
    let taskset = Command::new("taskset").arg("--version").output().is_ok();
    let wrk = Wrk {
        pin: client_cpu.filter(|_| taskset),
    };
    let ticks = 1.0 / TICK.as_secs_f64();
    println!(
        "http bench: wrk -t1 -c{} -d{}s --latency, {} round(s); servers on CPU {server_cpu}, wrk {}",
        options.connections,
        options.duration_s,
        options.rounds,
        match wrk.pin {
            Some(cpu) => format!("on CPU {cpu} (taskset)"),
            None if !taskset => "unpinned (no taskset)".to_string(),
            None => "unpinned (only one CPU)".to_string(),
        }
    );

    // Warm-up: a short unmeasured run each.
    for server in &servers {
        if let Err(e) = wrk.run(server.addr, options.connections, 1) {
            eprintln!("http bench: warm-up of {}: {e}", server.name);
        }
        server.wait_idle();
    }
    for server in &servers {
        let warmup =
            std::mem::take(&mut *server.failures.lock().unwrap_or_else(|e| e.into_inner()));
        if !warmup.is_empty() {
            println!(
                "  warm-up: {} connections ended in errors: {warmup:?}",
                server.name
            );
        }
    }

    let mut samples: Vec<(&str, Vec<Sample>)> =
        servers.iter().map(|s| (s.name, Vec::new())).collect();
    let mut failed = false;
    for round in 0..options.rounds {
        // Each round starts with another server.
        let order: Vec<usize> = (0..servers.len())
            .map(|i| (i + round) % servers.len())
            .collect();
        for i in order {
            let server = &servers[i];
            let quiet_cpus: Vec<usize> = std::iter::once(server_cpu).chain(wrk.pin).collect();
            let load = wait_for_quiet(&quiet_cpus);
            if load >= QUIET_LOAD {
                println!(
                    "  (the machine is busy with something else: {load:.2} CPUs before this run)"
                );
            }
            match measure(server, &wrk, &options, ticks, (server_cpu, wrk.pin)) {
                Ok(sample) => {
                    println!(
                        "  round {} {:<10} {:>7} req/s  p50 {:>8}  p99 {:>8} | server {:.2} µs/req \
                         ({:.0} % sys), thread busy {:.0} %, process {:.2} µs/req | wrk busy {} \
                         | other load {} CPUs, steal {} / {} | failed conns {}{}",
                        round + 1,
                        server.name,
                        fmt_count(sample.wrk.requests_per_s),
                        fmt_latency(sample.wrk.p50_us),
                        fmt_latency(sample.wrk.p99_us),
                        sample.thread_us_per_req,
                        sample.sys_share * 100.0,
                        sample.busy * 100.0,
                        sample.process_us_per_req,
                        fmt_opt(sample.wrk_busy, fmt_percent),
                        fmt_opt(sample.other_load, |v| format!("{v:.2}")),
                        fmt_opt(sample.server_cpu.map(|(_, steal)| steal), fmt_percent),
                        fmt_opt(sample.client_cpu.map(|(_, steal)| steal), fmt_percent),
                        sample.failures,
                        if sample.wrk.errors.is_empty() {
                            String::new()
                        } else {
                            format!("  wrk: {}", sample.wrk.errors.join("; "))
                        }
                    );
                    samples[i].1.push(sample);
                }
                Err(e) => {
                    eprintln!("http bench: {}: {e}", server.name);
                    failed = true;
                }
            }
        }
    }

    println!();
    if samples.iter().all(|(_, s)| !s.is_empty()) {
        print_table(&samples);
        let quiet: Vec<(&str, Vec<Sample>)> = samples
            .iter()
            .map(|(name, s)| {
                let quiet = s
                    .iter()
                    .filter(|s| s.other_load.is_some_and(|l| l < QUIET_LOAD));
                (*name, quiet.cloned().collect())
            })
            .collect();
        let quiet_runs: usize = quiet.iter().map(|(_, s)| s.len()).sum();
        let all_runs: usize = samples.iter().map(|(_, s)| s.len()).sum();
        if quiet_runs < all_runs && quiet.iter().all(|(_, s)| !s.is_empty()) {
            println!(
                "\nOnly the runs during which other processes took under {QUIET_LOAD:.2} CPUs \
                 ({}):\n",
                quiet
                    .iter()
                    .map(|(name, s)| format!("{name} {}", s.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            print_table(&quiet);
        }
    }
    let busiest = samples
        .iter()
        .flat_map(|(_, s)| s.iter().filter_map(|s| s.other_load))
        .fold(0.0, f64::max);
    if busiest > QUIET_LOAD {
        println!(
            "\nnote: other processes took up to {busiest:.2} CPUs during a run; the rows with \
             the widest spread are the least trustworthy (rerun on a quieter machine)"
        );
    }
    println!();
    for server in &servers {
        let failures = server
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let accepted = match &server.inner {
            Inner::Ringstream(s) => s.stats().iter().map(|c| c.accepted).sum(),
            Inner::Tokio(s) => s.accepted(),
        };
        println!(
            "{}: {accepted} connections accepted in all; connections that ended in an error \
             during the measured runs, by kind: {failures:?}",
            server.name
        );
    }
    servers.drain(..).for_each(Server::stop);
    if failed {
        std::process::exit(1);
    }
}
