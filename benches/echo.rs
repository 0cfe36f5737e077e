//! Echo over loopback TCP: ringstream next to tokio (`current_thread`), monoio (io_uring
//! driver) and the hand-written io_uring loop of the yardstick (no runtime: the practical
//! ceiling), in the same run, under the same criterion settings.
//!
//! # What is measured
//!
//! - `echo/pp1_64B`: one connection; the client writes a 64-byte message and waits for its
//!   whole echo before sending the next. Time per round trip.
//! - `echo/pp64_64B`: 64 connections doing the same ping-pong at the same time (one client
//!   task per connection, no barrier between rounds). One criterion iteration is one round
//!   trip on every connection, so the time is per batch of 64 round trips and the
//!   throughput line is messages (round trips) per second.
//! - `echo/pp64_4KiB`: the same with 4 KiB messages.
//! - `echo/stream_64KiB`: one connection; a writer task sends 64 KiB chunks back to back
//!   (held back only by flow control) while the reader reads the echo. One iteration is one
//!   chunk sent and echoed back; the throughput line is bytes per second, one way.
//!
//! # Architecture
//!
//! The four echo servers are the harness's (`ringstream_harness::servers`, the same as
//! the yardstick's), started once and kept for the whole run, each on a thread of its own
//! pinned to CPU 0 (when the process may run there), with one single-threaded runtime:
//! a ringstream `StreamServer` (one core) for the `ringstream` row, a tokio
//! `current_thread` server for `tokio`, a monoio (io_uring) server for `monoio`, and for
//! `raw-ring` the hand-written loop (`ringstream_harness::raw_ring`: a multishot accept,
//! then per connection recv -> send -> recv on a DEFER_TASKRUN ring, no runtime). The load
//! client runs on the bench thread, pinned to CPU 1, **on the same library as the server**:
//! ringstream client against ringstream server, tokio against tokio, monoio against monoio.
//! So those rows measure one library at both ends of the connection, not a server alone.
//! The raw ring has no client of its own: its row is driven by the ringstream client (the
//! same code, load and checks as the `ringstream` row), so `ringstream` against `raw-ring`
//! differs only in the server.
//!
//! - Servers: ringstream `read(64 KiB)` -> `write_bytes` -> `drain`; tokio `read` into a
//!   64 KiB buffer -> `write_all`; monoio `read` into an owned 64 KiB `Vec` -> `write_all`;
//!   the raw ring `recv` into the connection's 64 KiB buffer -> `send` (resumed on short
//!   sends). `TCP_NODELAY` is on at both ends everywhere.
//! - Connections are opened once per (scenario, row), before anything is measured, and
//!   reused by every sample; `iter_custom` times N operations inside one `block_on`.
//! - Every echo is checked, so a broken echo fails the bench instead of timing it: in
//!   ping-pong each message carries a per-connection rolling counter (first 8 bytes, its low
//!   byte again in the last byte) and the reply's length, counter, last and middle byte
//!   must match; in streaming every byte at stream offset `o` is `o % 251` (so consecutive
//!   64 KiB chunks differ), and each piece read is checked at its first, middle and last
//!   byte, and the total length must come out exact.
//! - At the end of each (scenario, row) the client closes its connections and the server
//!   sees EOF on all of them. A watchdog aborts the run if a sample stalls for 30 s (a lost
//!   echo would otherwise hang it).
//!
//! # Running
//!
//! ```text
//! cargo bench --bench echo
//! ```
//!
//! takes about 1.5 minutes. One scenario or one row with a filter:
//! `cargo bench --bench echo -- echo/pp64_64B` or `cargo bench --bench echo -- /ringstream`
//! (`/raw-ring` for the ceiling).
//!
//! # Reading the results
//!
//! Loopback numbers depend heavily on the machine and on what else runs on it: compare
//! the rows of one group from the same run, as ratios. After criterion's output the bench
//! prints a summary table: per scenario and row the time per iteration (criterion's slope
//! estimate, recomputed from the measured samples), the throughput, and the ratios
//! `row / tokio` and `row / raw-ring` (time divided by time: below 1 means the row is
//! faster). Since the ringstream, tokio and monoio rows run the same library at both ends,
//! a ratio between two of them covers the client and the server together; `ringstream /
//! raw-ring` shares the client, so it is what the ringstream server costs over the
//! ceiling. On loopback most of a round trip is the kernel's TCP path and the wake-up of
//! the other CPU, so differences between runtimes come from what each does per message on
//! top of that: syscalls (`io_uring_enter` against `epoll_wait` + `read` + `write`),
//! copies and task wake-ups.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, Criterion, Throughput};
use ringstream_harness::pin;
use ringstream_harness::servers::{self, Peer, Server, LOAD_CPU};

/// Most bytes a streaming client reads at once (as much as every server).
const READ_SIZE: usize = servers::READ_SIZE;
/// Size of one `stream_64KiB` chunk.
const CHUNK: usize = 64 * 1024;
/// Period of the streamed byte pattern: prime, so it does not divide the chunk size.
const PERIOD: u64 = 251;
/// A sample (or a connection setup) that takes longer than this aborts the run.
const STALL_LIMIT: Duration = Duration::from_secs(30);
/// Criterion samples per row; the summary takes each row's last this many timings.
const SAMPLE_SIZE: usize = 20;

/// One scenario: its criterion group, under its name for the summary.
struct Group<'a> {
    name: &'static str,
    group: BenchmarkGroup<'a, WallTime>,
}

impl<'a> Group<'a> {
    /// Starts the group `name`; one iteration of it is `per_iteration`.
    fn new(c: &'a mut Criterion, name: &'static str, per_iteration: Throughput) -> Group<'a> {
        let mut group = c.benchmark_group(name);
        group.throughput(per_iteration.clone());
        summary::scenario(name, per_iteration);
        Group { name, group }
    }

    /// Measures the row `row`: `routine(iters)` runs `iters` iterations and returns the
    /// time they took. Each call runs under the watchdog, and its timing is kept for the
    /// summary.
    fn row(&mut self, row: &'static str, mut routine: impl FnMut(u64) -> Duration) {
        let name = self.name;
        self.group.bench_function(row, |b| {
            b.iter_custom(|iters| {
                let elapsed = guard(|| routine(iters));
                summary::record(name, row, iters, elapsed);
                elapsed
            })
        });
    }

    fn finish(self) {
        self.group.finish();
    }
}

// ---------------------------------------------------------------------------------------
// Servers, watchdog

/// The address of `peer`'s echo server. The four servers are started the first time a row
/// needs one, each on its own thread pinned to [`servers::SERVER_CPU`], and serve every row of the
/// run; then the bench thread (the load client) is pinned to [`LOAD_CPU`].
fn server(peer: Peer) -> SocketAddr {
    static SERVERS: OnceLock<Vec<Server>> = OnceLock::new();
    let all = SERVERS.get_or_init(|| {
        // Servers first: pinning this thread narrows the CPU set new threads may choose from.
        let started = [Peer::Ringstream, Peer::Tokio, Peer::Monoio, Peer::RawRing]
            .map(servers::start)
            .into();
        pin::pin_or_warn(LOAD_CPU, "echo bench: the client");
        started
    });
    all.iter()
        .find(|s| s.peer == peer)
        .map(|s| s.addr)
        .expect("every row's server was started")
}

/// Aborts the run when a guarded section stalls past [`STALL_LIMIT`].
mod watchdog {
    use super::*;

    /// Deadline in milliseconds since `base()`, 0 when nothing is guarded.
    static DEADLINE_MS: AtomicU64 = AtomicU64::new(0);

    fn base() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    fn now_ms() -> u64 {
        base().elapsed().as_millis() as u64
    }

    /// Runs `f` under the watchdog.
    pub fn guard<T>(f: impl FnOnce() -> T) -> T {
        static START: Once = Once::new();
        START.call_once(|| {
            base();
            thread::Builder::new()
                .name("echo-watchdog".into())
                .spawn(|| loop {
                    thread::sleep(Duration::from_secs(1));
                    let deadline = DEADLINE_MS.load(Ordering::Relaxed);
                    if deadline != 0 && now_ms() > deadline {
                        eprintln!(
                            "echo bench: no progress for {STALL_LIMIT:?} (a lost echo or a \
                             stuck connection); aborting"
                        );
                        std::process::exit(2);
                    }
                })
                .expect("spawn the watchdog thread");
        });
        DEADLINE_MS.store(now_ms() + STALL_LIMIT.as_millis() as u64, Ordering::Relaxed);
        let out = f();
        DEADLINE_MS.store(0, Ordering::Relaxed);
        out
    }
}
use watchdog::guard;

/// The table printed after criterion's output: per scenario and row the time per
/// iteration, the throughput, and the ratios to the `tokio` and `raw-ring` rows.
mod summary {
    use super::*;
    use std::sync::{Mutex, MutexGuard};

    struct Scenario {
        name: &'static str,
        per_iteration: Throughput,
        /// The rows in the order they ran, each with every (iterations, time) it measured.
        rows: Vec<(&'static str, Vec<(u64, Duration)>)>,
    }

    static SCENARIOS: Mutex<Vec<Scenario>> = Mutex::new(Vec::new());

    fn scenarios() -> MutexGuard<'static, Vec<Scenario>> {
        SCENARIOS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the scenario `name`; one iteration of it is `per_iteration`.
    pub fn scenario(name: &'static str, per_iteration: Throughput) {
        scenarios().push(Scenario {
            name,
            per_iteration,
            rows: Vec::new(),
        });
    }

    /// Keeps one timing of `row` in `scenario`: `iters` iterations took `elapsed`.
    pub fn record(scenario: &'static str, row: &'static str, iters: u64, elapsed: Duration) {
        let mut all = scenarios();
        let Some(s) = all.iter_mut().rev().find(|s| s.name == scenario) else {
            return;
        };
        match s.rows.iter_mut().find(|(r, _)| *r == row) {
            Some((_, timings)) => timings.push((iters, elapsed)),
            None => s.rows.push((row, vec![(iters, elapsed)])),
        }
    }

    /// Seconds per iteration from a row's last [`SAMPLE_SIZE`] timings, criterion's
    /// measured samples (the ones before are its warm-up): the least-squares slope of time
    /// over iterations through the origin, as criterion's own slope estimate. `None` with
    /// fewer timings (criterion's `--test` mode runs each row once).
    fn per_iteration(timings: &[(u64, Duration)]) -> Option<f64> {
        let measured = timings.get(timings.len().checked_sub(SAMPLE_SIZE)?..)?;
        let (xy, xx) = measured.iter().fold((0.0, 0.0), |(xy, xx), &(iters, t)| {
            let x = iters as f64;
            (xy + x * t.as_secs_f64(), xx + x * x)
        });
        Some(xy / xx)
    }

    fn time(secs: f64) -> String {
        if secs < 1e-6 {
            format!("{:.1} ns", secs * 1e9)
        } else if secs < 1e-3 {
            format!("{:.2} us", secs * 1e6)
        } else {
            format!("{:.2} ms", secs * 1e3)
        }
    }

    fn throughput(per_iteration: &Throughput, secs: f64) -> String {
        match *per_iteration {
            Throughput::Elements(n) => format!("{:.1} K msgs/s", n as f64 / secs / 1e3),
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                format!("{:.1} MiB/s", n as f64 / secs / (1 << 20) as f64)
            }
        }
    }

    /// Prints the table (nothing when no row has its full set of samples).
    pub fn print() {
        let all = scenarios();
        let mut lines = Vec::new();
        for s in all.iter() {
            let of = |row: &str| {
                s.rows
                    .iter()
                    .find(|(r, _)| *r == row)
                    .and_then(|(_, timings)| per_iteration(timings))
            };
            let (tokio, raw) = (of("tokio"), of("raw-ring"));
            for (row, timings) in &s.rows {
                let Some(secs) = per_iteration(timings) else {
                    continue;
                };
                let ratio = |base: Option<f64>| match base {
                    Some(base) => format!("{:.2}x", secs / base),
                    None => "-".to_string(),
                };
                lines.push(format!(
                    "| {} | {row} | {} | {} | {} | {} |",
                    s.name,
                    time(secs),
                    throughput(&s.per_iteration, secs),
                    ratio(tokio),
                    ratio(raw)
                ));
            }
        }
        if lines.is_empty() {
            return;
        }
        println!(
            "\necho summary: time per iteration (slope over each row's {SAMPLE_SIZE} samples); \
             vs = time / time, below 1 is faster; raw-ring = the hand-written io_uring \
             server driven by the ringstream client"
        );
        println!("| scenario | row | time | throughput | vs tokio | vs raw ring |");
        println!("|---|---|---|---|---|---|");
        for line in lines {
            println!("{line}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Payloads and their checks

/// One connection's ping-pong message with its rolling counter.
struct Msg {
    buf: Vec<u8>,
    counter: u64,
}

impl Msg {
    /// A `size`-byte message for connection number `conn` (counters differ per connection).
    fn new(size: usize, conn: usize) -> Msg {
        assert!(
            size >= 16,
            "messages carry an 8-byte counter and a tail byte"
        );
        Msg {
            buf: (0..size).map(|i| (i % 251) as u8).collect(),
            counter: (conn as u64) << 40,
        }
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    /// Stamps the next counter value into the message.
    fn stamp(&mut self) {
        self.counter += 1;
        self.buf[..8].copy_from_slice(&self.counter.to_le_bytes());
        let last = self.buf.len() - 1;
        self.buf[last] = self.counter as u8 ^ 0x5a;
    }

    /// Stamps the next counter value and returns the message.
    fn next(&mut self) -> &[u8] {
        self.stamp();
        &self.buf
    }

    /// Panics unless `reply` is the echo of the message last stamped.
    fn check(&self, reply: &[u8]) {
        let n = self.buf.len();
        let (last, mid) = (n - 1, n / 2);
        let ok = reply.len() == n
            && reply[..8] == self.buf[..8]
            && reply[last] == self.buf[last]
            && reply[mid] == self.buf[mid];
        assert!(
            ok,
            "broken echo: sent message #{:#x} ({n} bytes), got {} bytes starting {:02x?}",
            self.counter,
            reply.len(),
            &reply[..reply.len().min(16)],
        );
    }
}

/// The streamed byte pattern, one chunk plus one period long (chunks are slices of it).
fn pattern() -> Bytes {
    (0..CHUNK as u64 + PERIOD)
        .map(|i| (i % PERIOD) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Chunk number `k` of the stream: stream bytes `k * CHUNK ..`, a slice of `pattern`.
fn chunk(pattern: &Bytes, k: u64) -> Bytes {
    let phase = (k * CHUNK as u64 % PERIOD) as usize;
    pattern.slice(phase..phase + CHUNK)
}

/// Panics unless `piece`, read at stream offset `offset`, matches the pattern at its
/// first, middle and last byte (an empty piece is an early EOF).
fn check_piece(offset: u64, piece: &[u8]) {
    assert!(
        !piece.is_empty(),
        "broken echo: EOF at stream offset {offset}"
    );
    for i in [0, piece.len() / 2, piece.len() - 1] {
        let want = ((offset + i as u64) % PERIOD) as u8;
        assert_eq!(
            piece[i],
            want,
            "broken echo: byte {} of the stream is wrong",
            offset + i as u64
        );
    }
}

// ---------------------------------------------------------------------------------------
// ringstream

mod on_ringstream {
    use super::*;
    use ringstream::{Runtime, Stream, StreamReader, StreamWriter};

    fn runtime() -> Runtime {
        Runtime::new().expect("ringstream runtime (is io_uring available?)")
    }

    async fn connect(addr: &str) -> Stream {
        ringstream::connect(addr)
            .await
            .expect("connect to the ringstream echo server")
    }

    /// Closes a client connection.
    async fn close(writer: StreamWriter) {
        writer.close();
        writer.wait_closed().await.expect("close the connection");
    }

    /// Runs the ring until no op of `rt` is in flight, after closing client connections.
    /// `wait_closed` returns before the cancelled recv of the connection has ended, and
    /// until it ends the kernel keeps the socket open, so no FIN reaches the server. With
    /// DEFER_TASKRUN that end only happens while the thread is inside the ring, and one
    /// NOP is not always enough (it returned with 24 of 64 recvs still pending); a runtime
    /// dropped with ops in flight is leaked, and those sockets with it.
    async fn flush_closes(rt: &Runtime) {
        for _ in 0..1000 {
            if rt.stats().ops_in_flight == 0 {
                return;
            }
            ringstream::nop().await.expect("a NOP through the ring");
        }
        eprintln!(
            "echo bench: ringstream ops still in flight after closing: {}",
            rt.stats().ops_in_flight
        );
    }

    struct Conn {
        reader: StreamReader,
        writer: StreamWriter,
        msg: Msg,
    }

    async fn ping_pong(mut c: Conn, rounds: u64) -> Conn {
        let len = c.msg.len();
        for _ in 0..rounds {
            c.writer
                .write_all(c.msg.next())
                .await
                .expect("send a message");
            let reply = c.reader.read_exact(len).await.expect("read the echo");
            c.msg.check(&reply);
        }
        c
    }

    /// The ringstream client against the ringstream server.
    pub fn bench_ping_pong(g: &mut Group, conns: usize, size: usize) {
        client_ping_pong(g, Peer::Ringstream, conns, size);
    }

    /// The ringstream client against the ringstream server.
    pub fn bench_stream(g: &mut Group) {
        client_stream(g, Peer::Ringstream);
    }

    /// Ping-pong with the ringstream client against `peer`'s server, as its row.
    pub fn client_ping_pong(g: &mut Group, peer: Peer, conns: usize, size: usize) {
        let row = peer.name();
        let rt = runtime();
        let addr = server(peer).to_string();
        let mut clients = guard(|| {
            rt.block_on(async {
                let mut clients = Vec::with_capacity(conns);
                for i in 0..conns {
                    let (reader, writer) = connect(&addr).await.split();
                    let msg = Msg::new(size, i);
                    clients.push(Conn {
                        reader,
                        writer,
                        msg,
                    });
                }
                clients
            })
        });
        g.row(row, |iters| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = clients
                    .drain(..)
                    .map(|c| ringstream::spawn(ping_pong(c, iters)))
                    .collect();
                for task in tasks {
                    clients.push(task.await.expect("client task ran"));
                }
                start.elapsed()
            })
        });
        guard(|| {
            rt.block_on(async {
                for c in clients {
                    close(c.writer).await;
                }
                flush_closes(&rt).await;
            })
        });
        drop(rt);
    }

    /// Streaming with the ringstream client against `peer`'s server, as its row.
    pub fn client_stream(g: &mut Group, peer: Peer) {
        let row = peer.name();
        let rt = runtime();
        let addr = server(peer).to_string();
        let pattern = pattern();
        let (mut reader, writer) = guard(|| rt.block_on(connect(&addr))).split();
        let mut writer = Some(writer);
        let mut next = 0u64;
        g.row(row, |iters| {
            rt.block_on(async {
                let start = Instant::now();
                let first = next;
                let w = writer.take().expect("the writer came back last sample");
                let p = pattern.clone();
                let sender = ringstream::spawn(async move {
                    for k in first..first + iters {
                        w.write_bytes(chunk(&p, k)).expect("queue a chunk");
                        w.drain().await.expect("drain");
                    }
                    w
                });
                let mut offset = first * CHUNK as u64;
                let end = (first + iters) * CHUNK as u64;
                while offset < end {
                    let piece = reader.read(READ_SIZE).await.expect("read the echo");
                    check_piece(offset, &piece);
                    offset += piece.len() as u64;
                }
                assert_eq!(offset, end, "broken echo: more bytes than were sent");
                writer = Some(sender.await.expect("writer task ran"));
                next = first + iters;
                start.elapsed()
            })
        });
        let writer = writer.expect("the writer came back");
        guard(|| {
            rt.block_on(async {
                close(writer).await;
                drop(reader);
                flush_closes(&rt).await;
            })
        });
        drop(rt);
    }
}

// ---------------------------------------------------------------------------------------
// tokio

mod on_tokio {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::runtime::Runtime;

    fn runtime() -> Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio current_thread runtime")
    }

    async fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the tokio echo server");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        stream
    }

    struct Conn {
        stream: TcpStream,
        msg: Msg,
        reply: Vec<u8>,
    }

    async fn ping_pong(mut c: Conn, rounds: u64) -> Conn {
        for _ in 0..rounds {
            c.stream
                .write_all(c.msg.next())
                .await
                .expect("send a message");
            c.stream
                .read_exact(&mut c.reply)
                .await
                .expect("read the echo");
            c.msg.check(&c.reply);
        }
        c
    }

    pub fn bench_ping_pong(g: &mut Group, conns: usize, size: usize) {
        let addr = server(Peer::Tokio);
        let rt = runtime();
        let mut clients = guard(|| {
            rt.block_on(async {
                let mut clients = Vec::with_capacity(conns);
                for i in 0..conns {
                    clients.push(Conn {
                        stream: connect(addr).await,
                        msg: Msg::new(size, i),
                        reply: vec![0; size],
                    });
                }
                clients
            })
        });
        g.row("tokio", |iters| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = clients
                    .drain(..)
                    .map(|c| tokio::spawn(ping_pong(c, iters)))
                    .collect();
                for task in tasks {
                    clients.push(task.await.expect("client task ran"));
                }
                start.elapsed()
            })
        });
        guard(|| {
            rt.block_on(async {
                for mut c in clients {
                    c.stream.shutdown().await.expect("close the connection");
                }
            })
        });
        drop(rt);
    }

    pub fn bench_stream(g: &mut Group) {
        let addr = server(Peer::Tokio);
        let rt = runtime();
        let pattern = pattern();
        let (mut reader, writer) = guard(|| rt.block_on(connect(addr))).into_split();
        let mut writer = Some(writer);
        let mut buf = vec![0u8; READ_SIZE];
        let mut next = 0u64;
        g.row("tokio", |iters| {
            rt.block_on(async {
                let start = Instant::now();
                let first = next;
                let mut w = writer.take().expect("the writer came back last sample");
                let p = pattern.clone();
                let sender = tokio::spawn(async move {
                    for k in first..first + iters {
                        w.write_all(&chunk(&p, k)).await.expect("send a chunk");
                    }
                    w
                });
                let mut offset = first * CHUNK as u64;
                let end = (first + iters) * CHUNK as u64;
                while offset < end {
                    let n = reader.read(&mut buf).await.expect("read the echo");
                    check_piece(offset, &buf[..n]);
                    offset += n as u64;
                }
                assert_eq!(offset, end, "broken echo: more bytes than were sent");
                writer = Some(sender.await.expect("writer task ran"));
                next = first + iters;
                start.elapsed()
            })
        });
        let mut writer = writer.expect("the writer came back");
        guard(|| {
            rt.block_on(async {
                writer.shutdown().await.expect("close the connection");
                drop(writer);
                drop(reader);
            })
        });
        drop(rt);
    }
}

// ---------------------------------------------------------------------------------------
// monoio

mod on_monoio {
    use super::*;
    use monoio::io::{AsyncReadRent, AsyncReadRentExt, AsyncWriteRent, AsyncWriteRentExt};
    use monoio::io::{OwnedReadHalf, OwnedWriteHalf, Splitable};
    use monoio::net::TcpStream;

    type Runtime = monoio::Runtime<monoio::IoUringDriver>;

    fn runtime() -> Runtime {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .expect("monoio io_uring runtime (is io_uring available?)")
    }

    async fn connect(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect_addr(addr)
            .await
            .expect("connect to the monoio echo server");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        stream
    }

    struct Conn {
        stream: TcpStream,
        msg: Msg,
        reply: Box<[u8]>,
    }

    async fn ping_pong(mut c: Conn, rounds: u64) -> Conn {
        for _ in 0..rounds {
            c.msg.stamp();
            let (res, sent) = c.stream.write_all(std::mem::take(&mut c.msg.buf)).await;
            c.msg.buf = sent;
            res.expect("send a message");
            let (res, reply) = c.stream.read_exact(std::mem::take(&mut c.reply)).await;
            c.reply = reply;
            res.expect("read the echo");
            c.msg.check(&c.reply);
        }
        c
    }

    pub fn bench_ping_pong(g: &mut Group, conns: usize, size: usize) {
        let addr = server(Peer::Monoio);
        let mut rt = runtime();
        let mut clients = guard(|| {
            rt.block_on(async {
                let mut clients = Vec::with_capacity(conns);
                for i in 0..conns {
                    clients.push(Conn {
                        stream: connect(addr).await,
                        msg: Msg::new(size, i),
                        reply: vec![0; size].into_boxed_slice(),
                    });
                }
                clients
            })
        });
        g.row("monoio", |iters| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = clients
                    .drain(..)
                    .map(|c| monoio::spawn(ping_pong(c, iters)))
                    .collect();
                for task in tasks {
                    clients.push(task.await);
                }
                start.elapsed()
            })
        });
        guard(|| {
            rt.block_on(async {
                for mut c in clients {
                    c.stream.shutdown().await.expect("close the connection");
                }
            })
        });
        drop(rt);
    }

    pub fn bench_stream(g: &mut Group) {
        let addr = server(Peer::Monoio);
        let mut rt = runtime();
        let pattern = pattern();
        let (mut reader, writer): (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) =
            guard(|| rt.block_on(connect(addr))).into_split();
        let mut writer = Some(writer);
        let mut buf = Some(Vec::with_capacity(READ_SIZE));
        let mut next = 0u64;
        g.row("monoio", |iters| {
            rt.block_on(async {
                let start = Instant::now();
                let first = next;
                let mut w = writer.take().expect("the writer came back last sample");
                let p = pattern.clone();
                let sender = monoio::spawn(async move {
                    for k in first..first + iters {
                        let (res, _) = w.write_all(chunk(&p, k)).await;
                        res.expect("send a chunk");
                    }
                    w
                });
                let mut b: Vec<u8> = buf.take().expect("the read buffer came back");
                let mut offset = first * CHUNK as u64;
                let end = (first + iters) * CHUNK as u64;
                while offset < end {
                    b.clear();
                    let (res, back) = reader.read(b).await;
                    b = back;
                    let n = res.expect("read the echo");
                    check_piece(offset, &b[..n]);
                    offset += n as u64;
                }
                assert_eq!(offset, end, "broken echo: more bytes than were sent");
                buf = Some(b);
                writer = Some(sender.await);
                next = first + iters;
                start.elapsed()
            })
        });
        let mut writer = writer.expect("the writer came back");
        guard(|| {
            rt.block_on(async {
                writer.shutdown().await.expect("close the connection");
                drop(writer);
                drop(reader);
            })
        });
        drop(rt);
    }
}

// ---------------------------------------------------------------------------------------
// The raw ring (the ceiling), driven by the ringstream client

mod on_raw_ring {
    use super::*;

    pub fn bench_ping_pong(g: &mut Group, conns: usize, size: usize) {
        on_ringstream::client_ping_pong(g, Peer::RawRing, conns, size);
    }

    pub fn bench_stream(g: &mut Group) {
        on_ringstream::client_stream(g, Peer::RawRing);
    }
}

// ---------------------------------------------------------------------------------------
// Groups

/// A ping-pong group: `conns` connections, `size`-byte messages; one iteration is one
/// round trip on every connection.
fn ping_pong(c: &mut Criterion, name: &'static str, conns: usize, size: usize) {
    let mut g = Group::new(c, name, Throughput::Elements(conns as u64));
    on_ringstream::bench_ping_pong(&mut g, conns, size);
    on_tokio::bench_ping_pong(&mut g, conns, size);
    on_monoio::bench_ping_pong(&mut g, conns, size);
    on_raw_ring::bench_ping_pong(&mut g, conns, size);
    g.finish();
}

fn pp1_64b(c: &mut Criterion) {
    ping_pong(c, "echo/pp1_64B", 1, 64);
}

fn pp64_64b(c: &mut Criterion) {
    ping_pong(c, "echo/pp64_64B", 64, 64);
}

fn pp64_4kib(c: &mut Criterion) {
    ping_pong(c, "echo/pp64_4KiB", 64, 4096);
}

fn stream_64kib(c: &mut Criterion) {
    let mut g = Group::new(c, "echo/stream_64KiB", Throughput::Bytes(CHUNK as u64));
    on_ringstream::bench_stream(&mut g);
    on_tokio::bench_stream(&mut g);
    on_monoio::bench_stream(&mut g);
    on_raw_ring::bench_stream(&mut g);
    g.finish();
}

/// Short measurements, so the whole file runs in about 1.5 minutes.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = pp1_64b, pp64_64b, pp64_4kib, stream_64kib
}

/// `criterion_main!(benches)`, then the summary table.
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary::print();
}
