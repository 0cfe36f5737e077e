//! Memory per idle connection: ringstream against tokio (current_thread).
//!
//! `cargo bench --bench idle_memory` prints one table. Every measurement runs in its own
//! child process (this binary re-executed with `--child ...`), so the two libraries' heaps
//! never mix; each one is run [`RUNS`] times and the median is shown.
//!
//! What one child does:
//!
//! 1. raises `RLIMIT_NOFILE` to the hard limit and creates every socket with std first:
//!    `UnixStream::pair()` (5,000 pairs = 10,000 streams, both ends wrapped), or TCP over
//!    127.0.0.1 (5,000 connections; only the 5,000 accepted server-side streams are wrapped,
//!    the client ends stay plain std sockets);
//! 2. builds the runtime and warms it up: 64 streams go through the same path (wrap, a read
//!    task, one message, done) and are dropped;
//! 3. takes the baseline: RSS (`/proc/self/statm`), glibc heap in use (`mallinfo2`), and the
//!    live allocations seen by a counting global allocator;
//! 4. wraps every socket (`Stream::from_std` / `tokio::net::*Stream::from_std`) and, in the
//!    task scenarios, spawns one task per stream that waits in a read: ringstream
//!    `reader.read(1)` (or `read_line()`), tokio `stream.read(&mut [0u8; 64])` (or
//!    `BufReader::new(stream).read_line(..)`). That is what an idle server connection looks
//!    like, so the task, its future and the runtime's per-task bookkeeping are counted;
//! 5. lets the loop run until everything is parked (every ringstream stream has its recv in
//!    the ring, every tokio stream is registered with epoll), takes the second snapshot, and
//!    then checks the streams are live: bytes written by the peer reach the waiting reads
//!    (or, without tasks, ringstream's armed recv).
//!
//! The delta between the two snapshots, divided by the number of wrapped streams, is the cost
//! of one idle connection in user space. Kernel memory (socket buffers, io_uring's internal
//! poll entries, epoll items) is not in RSS and not counted. The runtimes' fixed costs (the
//! ring, its provided buffers, tokio's driver) are in the baseline, not the delta.
//!
//! The last section lists the allocations behind the delta, by size, per stream: the counting
//! allocator keeps a live count per 8-byte size class.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::Duration;

/// Runs per (scenario, library); the median by RSS delta is reported.
const RUNS: usize = 3;
/// Streams wrapped in the Unix socketpair scenarios (5,000 pairs).
const UNIX_STREAMS: usize = 10_000;
/// Connections in the TCP scenarios: 10,000 descriptors, 5,000 wrapped server-side streams.
const TCP_CONNECTIONS: usize = 5_000;
/// Streams put through the whole path before the baseline.
const WARM_UP: usize = 64;
/// The target for ringstream.
const TARGET_BYTES: f64 = 4096.0;

// ---- counting allocator ---------------------------------------------------------------

/// Size classes of 8 bytes up to 8 KiB (class `k` holds sizes `8k-7..=8k`); the last class
/// holds everything larger.
const CLASSES: usize = 1026;
const LARGE: usize = CLASSES - 1;
static LIVE: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];
static LARGE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, with a live count per size class and the live bytes.
struct Counting;

fn class(size: usize) -> usize {
    if size > 8192 {
        LARGE
    } else {
        size.div_ceil(8)
    }
}

fn record(size: usize, sign: isize) {
    let class = class(size);
    LIVE[class].fetch_add(sign, Ordering::Relaxed);
    if class == LARGE {
        LARGE_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
    }
    LIVE_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(layout.size(), 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(layout.size(), 1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(layout.size(), -1);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with this layout.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(layout.size(), -1);
            record(new_size, 1);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---- scenarios --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lib {
    Ringstream,
    Tokio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Unix,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Streams kept in a `Vec`, no task: ringstream's recv is armed, tokio's registered.
    Bare,
    /// One task per stream waiting in a small read.
    Read,
    /// One task per stream waiting in `read_line` (tokio: through a default `BufReader`).
    Line,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    transport: Transport,
    mode: Mode,
    streams: usize,
}

impl Scenario {
    fn describe(&self, lib: Lib) -> String {
        let transport = match self.transport {
            Transport::Unix => "unix pair",
            Transport::Tcp => "tcp server side",
        };
        let mode = match (self.mode, lib) {
            (Mode::Bare, Lib::Ringstream) => "no task, recv armed",
            (Mode::Bare, Lib::Tokio) => "no task, registered",
            (Mode::Read, Lib::Ringstream) => "task: read(1)",
            (Mode::Read, Lib::Tokio) => "task: read [u8; 64]",
            (Mode::Line, Lib::Ringstream) => "task: read_line()",
            (Mode::Line, Lib::Tokio) => "task: BufReader read_line",
        };
        let lib = match lib {
            Lib::Ringstream => "ringstream",
            Lib::Tokio => "tokio",
        };
        format!("{lib:<10} {transport}, {mode}")
    }

    fn args(&self, lib: Lib) -> Vec<String> {
        vec![
            "--child".into(),
            format!("{lib:?}"),
            format!("{:?}", self.transport),
            format!("{:?}", self.mode),
            self.streams.to_string(),
        ]
    }

    fn from_args(args: &[String]) -> Option<(Lib, Scenario)> {
        let lib = match args.first()?.as_str() {
            "Ringstream" => Lib::Ringstream,
            "Tokio" => Lib::Tokio,
            _ => return None,
        };
        let transport = match args.get(1)?.as_str() {
            "Unix" => Transport::Unix,
            "Tcp" => Transport::Tcp,
            _ => return None,
        };
        let mode = match args.get(2)?.as_str() {
            "Bare" => Mode::Bare,
            "Read" => Mode::Read,
            "Line" => Mode::Line,
            _ => return None,
        };
        let streams = args.get(3)?.parse().ok()?;
        Some((
            lib,
            Scenario {
                transport,
                mode,
                streams,
            },
        ))
    }
}

// ---- measurements -----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Snapshot {
    rss: usize,
    heap: usize,
    live_bytes: isize,
    large_bytes: isize,
    classes: Vec<isize>,
}

fn snapshot() -> io::Result<Snapshot> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected /proc/self/statm: {statm:?}")))?;
    // SAFETY: sysconf and mallinfo2 have no preconditions.
    let (page, heap) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::mallinfo2().uordblks,
        )
    };
    Ok(Snapshot {
        rss: pages * page as usize,
        heap,
        live_bytes: LIVE_BYTES.load(Ordering::Relaxed),
        large_bytes: LARGE_BYTES.load(Ordering::Relaxed),
        classes: LIVE.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
    })
}

/// One child's result, as printed on its `RESULT` line.
#[derive(Debug, Clone, Default)]
struct Measured {
    streams: usize,
    /// RSS added by building the runtime and the warm-up (fixed cost, not in `rss`).
    runtime_rss: isize,
    rss: isize,
    heap: isize,
    live_bytes: isize,
    allocations: isize,
    /// (size class upper bound, live allocations added), for the classes that grew.
    classes: Vec<(usize, isize)>,
    large_bytes: isize,
    check: String,
}

impl Measured {
    fn new(streams: usize, start: &Snapshot, base: &Snapshot, idle: &Snapshot) -> Measured {
        let classes: Vec<(usize, isize)> = base
            .classes
            .iter()
            .zip(&idle.classes)
            .enumerate()
            .filter(|&(class, (b, i))| i != b || class == LARGE)
            .map(|(class, (b, i))| (class * 8, i - b))
            .collect();
        Measured {
            streams,
            runtime_rss: base.rss as isize - start.rss as isize,
            rss: idle.rss as isize - base.rss as isize,
            heap: idle.heap as isize - base.heap as isize,
            live_bytes: idle.live_bytes - base.live_bytes,
            allocations: classes.iter().map(|&(_, n)| n).sum(),
            classes,
            large_bytes: idle.large_bytes - base.large_bytes,
            check: String::new(),
        }
    }

    fn print(&self) {
        println!(
            "RESULT {} {} {} {} {} {} {}",
            self.streams,
            self.runtime_rss,
            self.rss,
            self.heap,
            self.live_bytes,
            self.allocations,
            self.large_bytes
        );
        for (size, count) in &self.classes {
            println!("CLASS {size} {count}");
        }
        println!("CHECK {}", self.check);
    }

    fn parse(output: &str) -> Option<Measured> {
        let mut m = Measured::default();
        for line in output.lines() {
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("RESULT") => {
                    let v: Vec<isize> = fields.filter_map(|f| f.parse().ok()).collect();
                    let [streams, runtime_rss, rss, heap, live_bytes, allocations, large_bytes] =
                        v[..]
                    else {
                        return None;
                    };
                    m.streams = streams as usize;
                    m.runtime_rss = runtime_rss;
                    m.rss = rss;
                    m.heap = heap;
                    m.live_bytes = live_bytes;
                    m.allocations = allocations;
                    m.large_bytes = large_bytes;
                }
                Some("CLASS") => {
                    let size = fields.next()?.parse().ok()?;
                    let count = fields.next()?.parse().ok()?;
                    m.classes.push((size, count));
                }
                Some("CHECK") => m.check = fields.collect::<Vec<_>>().join(" "),
                _ => {}
            }
        }
        (m.streams > 0).then_some(m)
    }

    fn per_stream(&self, bytes: isize) -> f64 {
        bytes as f64 / self.streams as f64
    }
}

// ---- sockets ----------------------------------------------------------------------------

/// A connected std socket to wrap.
enum StdSock {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl StdSock {
    fn raw_fd(&self) -> RawFd {
        match self {
            StdSock::Unix(s) => s.as_raw_fd(),
            StdSock::Tcp(s) => s.as_raw_fd(),
        }
    }
}

/// The sockets of one run: the ones to wrap, the descriptors to write into to check that
/// their reads are live (`pokes[i]` reaches wrapped stream `targets[i]`), the descriptors
/// that reach every wrapped stream (the warm-up finishes all its reads), and the peers that
/// must stay open.
struct Sockets {
    wrap: Vec<StdSock>,
    pokes: Vec<RawFd>,
    reach_all: Vec<RawFd>,
    targets: Vec<usize>,
    _peers: Vec<TcpStream>,
    _listener: Option<TcpListener>,
}

/// Checked on this many streams after the measurement.
const POKED: usize = 10;

fn make_sockets(transport: Transport, streams: usize) -> io::Result<Sockets> {
    let mut wrap = Vec::with_capacity(streams);
    let mut peers = Vec::new();
    let mut listener = None;
    match transport {
        Transport::Unix => {
            for _ in 0..streams / 2 {
                let (a, b) = UnixStream::pair()?;
                wrap.push(StdSock::Unix(a));
                wrap.push(StdSock::Unix(b));
            }
        }
        Transport::Tcp => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let addr = l.local_addr()?;
            peers.reserve(streams);
            for _ in 0..streams {
                peers.push(TcpStream::connect(addr)?);
                wrap.push(StdSock::Tcp(l.accept()?.0));
            }
            listener = Some(l);
        }
    }
    // Unix: writing into stream 2k reaches stream 2k+1. TCP: client i reaches server i.
    let (pokes, targets) = match transport {
        Transport::Unix => (0..POKED.min(streams / 2))
            .map(|k| (wrap[2 * k].raw_fd(), 2 * k + 1))
            .unzip(),
        Transport::Tcp => (0..POKED.min(streams))
            .map(|k| (peers[k].as_raw_fd(), k))
            .unzip(),
    };
    let reach_all = match transport {
        Transport::Unix => wrap.iter().map(StdSock::raw_fd).collect(),
        Transport::Tcp => peers.iter().map(AsRawFd::as_raw_fd).collect(),
    };
    Ok(Sockets {
        wrap,
        pokes,
        reach_all,
        targets,
        _peers: peers,
        _listener: listener,
    })
}

/// Writes `x\n` into `fd` without taking ownership of it.
fn poke(fd: RawFd) -> io::Result<()> {
    // SAFETY: `fd` is an open socket owned elsewhere for the duration of the call.
    let n = unsafe { libc::write(fd, b"x\n".as_ptr().cast(), 2) };
    if n == 2 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads that finished (the liveness check counts them).
static COMPLETED: AtomicUsize = AtomicUsize::new(0);
/// Tasks that have been polled once. A task counts itself in the same poll that parks its
/// read, so once this reaches the number spawned, every read is waiting.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// How long to wait for every task to start before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn all_started(expected: usize, waited: Duration) -> io::Result<bool> {
    let started = STARTED.load(Ordering::Relaxed);
    if started >= expected {
        Ok(true)
    } else if waited > START_TIMEOUT {
        Err(io::Error::other(format!(
            "only {started} of {expected} tasks started within {START_TIMEOUT:?}"
        )))
    } else {
        Ok(false)
    }
}

// ---- ringstream -------------------------------------------------------------------------

mod ring {
    use super::*;
    use ringstream::{Stream, StreamReader, StreamWriter};

    fn wrap(sock: StdSock) -> io::Result<Stream> {
        match sock {
            StdSock::Unix(s) => Stream::from_std(s),
            StdSock::Tcp(s) => Stream::from_std(s),
        }
    }

    async fn idle(mut reader: StreamReader, mode: Mode) {
        STARTED.fetch_add(1, Ordering::Relaxed);
        let got = match mode {
            Mode::Line => reader.read_line().await,
            _ => reader.read(1).await,
        };
        if matches!(got, Ok(b) if !b.is_empty()) {
            COMPLETED.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What stays alive while idle: the writers (readers live in their tasks), or the
    /// whole streams when there are no tasks.
    enum Held {
        Writers(Vec<StreamWriter>),
        Streams(Vec<Stream>),
    }

    fn set_up(socks: Vec<StdSock>, mode: Mode, held: &mut Held) -> io::Result<()> {
        for sock in socks {
            let stream = wrap(sock)?;
            match held {
                Held::Streams(v) => v.push(stream),
                Held::Writers(v) => {
                    let (reader, writer) = stream.split();
                    drop(ringstream::spawn(idle(reader, mode)));
                    v.push(writer);
                }
            }
        }
        Ok(())
    }

    /// Runs the loop long enough for every task to park and every recv to be submitted.
    /// Runs the loop until `expected` tasks have started (and so parked in their reads),
    /// then a while longer so that every recv is submitted / every registration is done.
    async fn settle(expected: usize) -> io::Result<()> {
        let mut waited = Duration::ZERO;
        while !all_started(expected, waited)? {
            ringstream::yield_now().await;
            ringstream::time::sleep(Duration::from_millis(1)).await;
            waited += Duration::from_millis(1);
        }
        ringstream::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    pub(super) fn child(scenario: Scenario) -> io::Result<Measured> {
        let warm = make_sockets(Transport::Unix, WARM_UP)?;
        let sockets = make_sockets(scenario.transport, scenario.streams)?;
        let start = snapshot()?;
        let rt = ringstream::Runtime::new()?;
        let mode = scenario.mode;
        let (mut measured, held) = rt.block_on(async move {
            // Warm-up: the same path, one message each, then everything dropped.
            let mut held = Held::Writers(Vec::new());
            set_up(warm.wrap, Mode::Read, &mut held)?;
            settle(WARM_UP).await?;
            for &fd in &warm.reach_all {
                poke(fd)?;
            }
            settle(0).await?;
            drop(held);
            settle(0).await?;
            COMPLETED.store(0, Ordering::Relaxed);
            STARTED.store(0, Ordering::Relaxed);

            let mut held = match mode {
                Mode::Bare => Held::Streams(Vec::with_capacity(scenario.streams)),
                _ => Held::Writers(Vec::with_capacity(scenario.streams)),
            };
            let base = snapshot()?;
            set_up(sockets.wrap, mode, &mut held)?;
            settle(if mode == Mode::Bare {
                0
            } else {
                scenario.streams
            })
            .await?;
            let idle_snapshot = snapshot()?;
            let mut measured = Measured::new(scenario.streams, &start, &base, &idle_snapshot);

            // Liveness: what the peers write must reach the waiting reads (or armed recvs).
            for &fd in &sockets.pokes {
                poke(fd)?;
            }
            settle(0).await?;
            measured.check = match &held {
                Held::Writers(_) => format!(
                    "{}/{} poked reads finished",
                    COMPLETED.load(Ordering::Relaxed),
                    sockets.pokes.len()
                ),
                Held::Streams(streams) => format!(
                    "{}/{} poked streams received into their buffers",
                    sockets
                        .targets
                        .iter()
                        .filter(|&&i| streams[i].reader.buffered_len() > 0)
                        .count(),
                    sockets.pokes.len()
                ),
            };
            Ok::<_, io::Error>((measured, held))
        })?;
        let stats = rt.stats();
        measured.check = format!(
            "{}; {} ops in flight, {} tasks, ring {:?}",
            measured.check, stats.ops_in_flight, stats.tasks, stats.ring_mode
        );
        drop(held);
        Ok(measured)
    }
}

// ---- tokio ------------------------------------------------------------------------------

mod tok {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

    async fn idle<S: AsyncRead + Unpin>(mut stream: S, mode: Mode) {
        STARTED.fetch_add(1, Ordering::Relaxed);
        let got = match mode {
            Mode::Line => {
                let mut line = String::new();
                BufReader::new(stream).read_line(&mut line).await
            }
            _ => {
                let mut buf = [0u8; 64];
                stream.read(&mut buf).await
            }
        };
        if matches!(got, Ok(n) if n > 0) {
            COMPLETED.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The streams of the no-task scenario.
    #[derive(Default)]
    struct Held {
        unix: Vec<tokio::net::UnixStream>,
        tcp: Vec<tokio::net::TcpStream>,
    }

    fn set_up(socks: Vec<StdSock>, mode: Mode, held: &mut Held) -> io::Result<()> {
        for sock in socks {
            match sock {
                StdSock::Unix(s) => {
                    s.set_nonblocking(true)?;
                    let s = tokio::net::UnixStream::from_std(s)?;
                    if mode == Mode::Bare {
                        held.unix.push(s);
                    } else {
                        drop(tokio::spawn(idle(s, mode)));
                    }
                }
                StdSock::Tcp(s) => {
                    s.set_nonblocking(true)?;
                    let s = tokio::net::TcpStream::from_std(s)?;
                    if mode == Mode::Bare {
                        held.tcp.push(s);
                    } else {
                        drop(tokio::spawn(idle(s, mode)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the loop until `expected` tasks have started (and so parked in their reads),
    /// then a while longer so that every recv is submitted / every registration is done.
    async fn settle(expected: usize) -> io::Result<()> {
        let mut waited = Duration::ZERO;
        while !all_started(expected, waited)? {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            waited += Duration::from_millis(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    pub(super) fn child(scenario: Scenario) -> io::Result<Measured> {
        let warm = make_sockets(Transport::Unix, WARM_UP)?;
        let sockets = make_sockets(scenario.transport, scenario.streams)?;
        let start = snapshot()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mode = scenario.mode;
        let (measured, held) = rt.block_on(async move {
            let mut held = Held::default();
            set_up(warm.wrap, Mode::Read, &mut held)?;
            settle(WARM_UP).await?;
            for &fd in &warm.reach_all {
                poke(fd)?;
            }
            settle(0).await?;
            drop(held);
            settle(0).await?;
            COMPLETED.store(0, Ordering::Relaxed);
            STARTED.store(0, Ordering::Relaxed);

            let mut held = Held::default();
            if mode == Mode::Bare {
                match scenario.transport {
                    Transport::Unix => held.unix.reserve(scenario.streams),
                    Transport::Tcp => held.tcp.reserve(scenario.streams),
                }
            }
            let base = snapshot()?;
            set_up(sockets.wrap, mode, &mut held)?;
            settle(if mode == Mode::Bare {
                0
            } else {
                scenario.streams
            })
            .await?;
            let idle_snapshot = snapshot()?;
            let mut measured = Measured::new(scenario.streams, &start, &base, &idle_snapshot);
            let alive = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();

            for &fd in &sockets.pokes {
                poke(fd)?;
            }
            settle(0).await?;
            measured.check = if mode == Mode::Bare {
                format!(
                    "{} streams registered (no task to wake)",
                    held.unix.len() + held.tcp.len()
                )
            } else {
                format!(
                    "{}/{} poked reads finished; {alive} tasks",
                    COMPLETED.load(Ordering::Relaxed),
                    sockets.pokes.len()
                )
            };
            Ok::<_, io::Error>((measured, held))
        })?;
        drop(held);
        Ok(measured)
    }
}

// ---- parent -----------------------------------------------------------------------------

fn run_child(lib: Lib, scenario: Scenario) -> io::Result<Measured> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe).args(scenario.args(lib)).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} failed ({}): {}{}",
            scenario.describe(lib),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            stdout
        )));
    }
    Measured::parse(&stdout).ok_or_else(|| {
        io::Error::other(format!(
            "{}: no RESULT line in the child's output:\n{stdout}",
            scenario.describe(lib)
        ))
    })
}

fn median(lib: Lib, scenario: Scenario) -> io::Result<Measured> {
    let mut runs = (0..RUNS)
        .map(|_| run_child(lib, scenario))
        .collect::<io::Result<Vec<_>>>()?;
    runs.sort_by_key(|m| m.rss);
    Ok(runs.swap_remove(RUNS / 2))
}

fn kib(bytes: isize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn print_classes(title: &str, m: &Measured) {
    println!("\n{title}: live allocations added, per stream (median run)");
    println!(
        "  {:>14}  {:>10}  {:>12}",
        "size class", "per stream", "bytes/stream"
    );
    let mut classes: Vec<_> = m
        .classes
        .iter()
        .filter(|&&(size, n)| size > 8192 || n.unsigned_abs() * 20 >= m.streams)
        .collect();
    classes.sort_by_key(|&&(size, _)| std::cmp::Reverse(size));
    for &&(size, count) in &classes {
        let (label, bytes) = if size > 8192 {
            // Vectors that grew past 8 KiB (slabs, the Vec the bench keeps the streams in).
            ("> 8 KiB".to_string(), m.per_stream(m.large_bytes))
        } else {
            (
                format!("{}..={size} B", size.saturating_sub(7)),
                m.per_stream(count * size as isize),
            )
        };
        println!(
            "  {label:>14}  {:>10.2}  {bytes:>12.0}",
            count as f64 / m.streams as f64
        );
    }
    println!(
        "  total: {:.2} allocations and {:.0} bytes requested per stream; glibc heap in use \
         (brk arena, without mmap-ed large blocks) {:.0} bytes per stream",
        m.allocations as f64 / m.streams as f64,
        m.per_stream(m.live_bytes),
        m.per_stream(m.heap)
    );
}

fn parent() -> io::Result<()> {
    let limit = ringstream_harness::fd_limit::raise()?;
    let scenarios = [
        Scenario {
            transport: Transport::Unix,
            mode: Mode::Read,
            streams: UNIX_STREAMS,
        },
        Scenario {
            transport: Transport::Unix,
            mode: Mode::Line,
            streams: UNIX_STREAMS,
        },
        Scenario {
            transport: Transport::Unix,
            mode: Mode::Bare,
            streams: UNIX_STREAMS,
        },
        Scenario {
            transport: Transport::Tcp,
            mode: Mode::Read,
            streams: TCP_CONNECTIONS,
        },
        Scenario {
            transport: Transport::Tcp,
            mode: Mode::Bare,
            streams: TCP_CONNECTIONS,
        },
    ];
    let needed = UNIX_STREAMS.max(2 * TCP_CONNECTIONS) + 2 * WARM_UP + 64;
    if (limit as usize) < needed {
        return Err(io::Error::other(format!(
            "RLIMIT_NOFILE is {limit}; this bench needs about {needed} descriptors (raise the hard limit)"
        )));
    }

    println!(
        "idle connections: RSS delta after wrapping, per wrapped stream; median of {RUNS} child runs each"
    );
    println!("(tcp: 5,000 loopback connections, only the accepted server-side streams are wrapped and counted)\n");
    println!(
        "columns: RSS delta for all streams; RSS bytes per stream; bytes allocated (live, as \
         requested) and allocations per stream; ringstream / tokio RSS per stream; RSS the \
         runtime and warm-up added before the baseline (fixed, per runtime)\n"
    );
    println!(
        "{:<48} {:>7} {:>12} {:>10} {:>11} {:>10} {:>10}  {:>16}",
        "variant",
        "streams",
        "RSS delta",
        "RSS B/str",
        "alloc B/str",
        "allocs/str",
        "ring/tokio",
        "runtime baseline"
    );
    let mut details = Vec::new();
    let mut over_target = Vec::new();
    for scenario in scenarios {
        let ring = median(Lib::Ringstream, scenario)?;
        let tokio = median(Lib::Tokio, scenario)?;
        let ratio = ring.rss as f64 / tokio.rss as f64;
        for (lib, m) in [(Lib::Ringstream, &ring), (Lib::Tokio, &tokio)] {
            let ratio = if lib == Lib::Ringstream {
                format!("{ratio:.2}")
            } else {
                String::new()
            };
            println!(
                "{:<48} {:>7} {:>12} {:>10.0} {:>11.0} {:>10.2} {:>10}  {:>16}",
                scenario.describe(lib),
                m.streams,
                kib(m.rss),
                m.per_stream(m.rss),
                m.per_stream(m.live_bytes),
                m.allocations as f64 / m.streams as f64,
                ratio,
                kib(m.runtime_rss),
            );
        }
        if ring.per_stream(ring.rss) > TARGET_BYTES {
            over_target.push(scenario.describe(Lib::Ringstream));
        }
        details.push((scenario, ring, tokio));
    }

    println!("\nchecks (after the measurement, the peers write a line into a few streams):");
    for (scenario, ring, tokio) in &details {
        println!("  {}: {}", scenario.describe(Lib::Ringstream), ring.check);
        println!("  {}: {}", scenario.describe(Lib::Tokio), tokio.check);
    }

    for (scenario, ring, tokio) in details
        .iter()
        .filter(|(s, _, _)| s.transport == Transport::Unix)
    {
        print_classes(&scenario.describe(Lib::Ringstream), ring);
        print_classes(&scenario.describe(Lib::Tokio), tokio);
    }

    println!();
    if over_target.is_empty() {
        println!("target: ringstream <= 4 KiB per idle connection: met in every scenario");
    } else {
        println!(
            "target: ringstream <= 4 KiB per idle connection: NOT met in: {}",
            over_target.join("; ")
        );
    }
    io::stdout().flush()
}

fn child(args: &[String]) -> io::Result<()> {
    let Some((lib, scenario)) = Scenario::from_args(args) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad child arguments {args:?}"),
        ));
    };
    ringstream_harness::fd_limit::raise()?;
    let measured = match lib {
        Lib::Ringstream => ring::child(scenario)?,
        Lib::Tokio => tok::child(scenario)?,
    };
    measured.print();
    Ok(())
}

fn main() -> io::Result<()> {
    // `cargo bench` passes `--bench` (and maybe a filter); only `--child` matters here.
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().position(|a| a == "--child") {
        Some(i) => child(&args[i + 1..]),
        None => parent(),
    }
}
