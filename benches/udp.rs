//! UDP yardstick: a 64 B datagram echo served by ringstream's `UdpSocket` (a task looping
//! on `recv_from` / `send_to`), by ringstream's `DatagramProtocol` (`datagram_received`
//! sends the datagram back, straight from the receive completion) and by tokio's
//! `UdpSocket` (`current_thread`), in the same run: server pinned to CPU 0, one load
//! generator pinned to CPU 1 (tokio `current_thread`, `--flows` sockets each keeping one
//! datagram in flight; a datagram not echoed within 50 ms counts as lost and is sent
//! again).
//!
//! Reported per server, medians of `--rounds` rounds [min–max] with the servers in turn
//! within a round: datagrams echoed per second, the server thread's CPU per datagram
//! (schedstat), the busy time of both CPUs per datagram (`/proc/stat`), losses, and the
//! ratios against tokio.
//!
//! ```text
//! cargo bench --bench udp                                   # 5 rounds x 3 s, 64 flows
//! cargo bench --bench udp -- --rounds 3 --secs 2 --flows 16
//! cargo bench --bench udp -- --server ringstream-protocol   # that one and tokio
//! ```

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringstream::protocol::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
use ringstream_harness::servers::{LOAD_CPU, SERVER_CPU};
use ringstream_harness::{cpu, cpu_busy, pin, stats, table};

/// The servers, in the order the table shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Ringstream,
    RingstreamProtocol,
    Tokio,
}

impl Server {
    const ALL: [Server; 3] = [
        Server::Ringstream,
        Server::RingstreamProtocol,
        Server::Tokio,
    ];

    fn name(self) -> &'static str {
        match self {
            Server::Ringstream => "ringstream",
            Server::RingstreamProtocol => "ringstream-protocol",
            Server::Tokio => "tokio",
        }
    }
}

struct Options {
    /// Only these servers (tokio is always run: the ratios need it).
    servers: Vec<Server>,
    rounds: usize,
    secs: f64,
    flows: usize,
    size: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        servers: Server::ALL.to_vec(),
        rounds: 5,
        secs: 3.0,
        flows: 64,
        size: 64,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--rounds" => {
                o.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?
            }
            "--secs" => {
                o.secs = value("--secs")?
                    .parse()
                    .map_err(|e| format!("--secs: {e}"))?
            }
            "--flows" => {
                o.flows = value("--flows")?
                    .parse()
                    .map_err(|e| format!("--flows: {e}"))?
            }
            "--size" => {
                o.size = value("--size")?
                    .parse()
                    .map_err(|e| format!("--size: {e}"))?
            }
            "--server" => {
                let names = value("--server")?;
                o.servers = Server::ALL
                    .into_iter()
                    .filter(|s| *s == Server::Tokio || names.split(',').any(|n| n == s.name()))
                    .collect();
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--rounds N --secs S --flows N --size BYTES --server NAME,...)"
                ))
            }
        }
    }
    if o.rounds == 0 || o.flows == 0 || o.size == 0 || o.secs <= 0.0 {
        return Err("--rounds, --secs, --flows and --size must be positive".into());
    }
    Ok(o)
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The protocol echo: every datagram goes back to its sender from `datagram_received`.
struct Echo(Option<DatagramTransport>);

impl DatagramProtocol for Echo {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.0 = Some(transport);
    }

    fn datagram_received(&mut self, data: Bytes, addr: SocketAddr) {
        if let Some(transport) = &self.0 {
            let _ = transport.sendto(data, Some(addr));
        }
    }
}

/// A running server: its address and the id of the thread that serves.
struct Running {
    addr: SocketAddr,
    tid: u32,
}

/// Starts `server` on its own thread pinned to the server CPU; it runs until the process
/// ends.
fn start(server: Server) -> Running {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        pin::pin_or_warn(SERVER_CPU, "the UDP echo server");
        let tid = cpu::current_thread_id().expect("thread id");
        match server {
            Server::Ringstream => ringstream::run(async move {
                let socket = ringstream::net::UdpSocket::bind(loopback()).expect("bind");
                tx.send((socket.local_addr().expect("addr"), tid))
                    .expect("report");
                loop {
                    let (data, from) = socket.recv_from().await.expect("recv_from");
                    socket.send_to_bytes(data, from).await.expect("send_to");
                }
            })
            .expect("runtime"),
            Server::RingstreamProtocol => ringstream::run(async move {
                let transport = create_datagram_endpoint(|| Echo(None), Some(loopback()), None)
                    .expect("endpoint");
                let addr = transport.socket().local_addr().expect("addr");
                tx.send((addr, tid)).expect("report");
                transport.wait_closed().await;
            })
            .expect("runtime"),
            Server::Tokio => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    tx.send((socket.local_addr().expect("addr"), tid))
                        .expect("report");
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let (n, from) = socket.recv_from(&mut buf).await.expect("recv_from");
                        socket.send_to(&buf[..n], from).await.expect("send_to");
                    }
                });
            }
        }
    });
    let (addr, tid) = rx.recv().expect("the server started");
    Running { addr, tid }
}

/// What one round against one server measured.
struct Sample {
    rate: f64,
    /// The server thread's context switches per datagram.
    switches: f64,
    server_us: f64,
    both_us: f64,
    lost: u64,
}

/// Voluntary and involuntary context switches of thread `tid` of this process so far
/// (0 when `/proc` cannot say).
fn context_switches(tid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches")
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Drives `flows` ping-pong flows against `addr` for `secs` on the load CPU.
fn load(addr: SocketAddr, o: &Options, server_tid: u32) -> Sample {
    let flows = o.flows;
    let size = o.size;
    let window = Duration::from_secs_f64(o.secs);
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                pin::pin_or_warn(LOAD_CPU, "the UDP load generator");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let echoed = Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let lost = Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let stop = Instant::now() + window + Duration::from_millis(300);
                    let mut tasks = Vec::new();
                    for flow in 0..flows {
                        let echoed = echoed.clone();
                        let lost = lost.clone();
                        tasks.push(tokio::spawn(async move {
                            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                                .await
                                .expect("bind");
                            socket.connect(addr).await.expect("connect");
                            let mut out = vec![(flow % 251) as u8; size];
                            let mut back = vec![0u8; size + 1];
                            let mut seq: u32 = 0;
                            while Instant::now() < stop {
                                seq = seq.wrapping_add(1);
                                out[..4].copy_from_slice(&seq.to_le_bytes());
                                socket.send(&out).await.expect("send");
                                loop {
                                    match tokio::time::timeout(
                                        Duration::from_millis(50),
                                        socket.recv(&mut back),
                                    )
                                    .await
                                    {
                                        Ok(Ok(n)) if n == size && back[..4] == out[..4] => {
                                            echoed
                                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                            break;
                                        }
                                        // A late echo of an earlier datagram: wait for ours.
                                        Ok(Ok(_)) => continue,
                                        Ok(Err(e)) => panic!("recv: {e}"),
                                        Err(_) => {
                                            lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                            break;
                                        }
                                    }
                                }
                            }
                        }));
                    }
                    // Warm up, then measure the window.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let (e0, l0) = (
                        echoed.load(std::sync::atomic::Ordering::Relaxed),
                        lost.load(std::sync::atomic::Ordering::Relaxed),
                    );
                    let cpu0 = cpu::thread_cpu_time(server_tid).expect("server cpu");
                    let switches0 = context_switches(server_tid);
                    let busy0 = cpu_busy::busy_ns(&[SERVER_CPU, LOAD_CPU]);
                    let t0 = Instant::now();
                    tokio::time::sleep(window).await;
                    let elapsed = t0.elapsed().as_secs_f64();
                    let (e1, l1) = (
                        echoed.load(std::sync::atomic::Ordering::Relaxed),
                        lost.load(std::sync::atomic::Ordering::Relaxed),
                    );
                    let cpu1 = cpu::thread_cpu_time(server_tid).expect("server cpu");
                    let switches1 = context_switches(server_tid);
                    let busy1 = cpu_busy::busy_ns(&[SERVER_CPU, LOAD_CPU]);
                    for task in tasks {
                        task.await.expect("flow");
                    }
                    let n = (e1 - e0).max(1) as f64;
                    Sample {
                        rate: n / elapsed,
                        switches: switches1.saturating_sub(switches0) as f64 / n,
                        server_us: (cpu1 - cpu0).as_secs_f64() * 1e6 / n,
                        both_us: match (busy0, busy1) {
                            (Some(a), Some(b)) => (b - a) as f64 / 1e3 / n,
                            _ => f64::NAN,
                        },
                        lost: l1 - l0,
                    }
                })
            })
            .join()
            .expect("load thread")
    })
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("udp bench: {e}");
            std::process::exit(2);
        }
    };
    let servers: Vec<(Server, Running)> = o.servers.iter().map(|&s| (s, start(s))).collect();
    let mut samples: Vec<Vec<Sample>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 1..=o.rounds {
        for (i, (server, running)) in servers.iter().enumerate() {
            let sample = load(running.addr, &o, running.tid);
            eprintln!(
                "round {round} {:>20}: {:>9.0} datagrams/s  cpu {:>6.2} us  both {:>6.2} us  switches {:.3}  lost {}",
                server.name(),
                sample.rate,
                sample.server_us,
                sample.both_us,
                sample.switches,
                sample.lost
            );
            samples[i].push(sample);
        }
    }
    let tokio_at = servers
        .iter()
        .position(|(s, _)| *s == Server::Tokio)
        .expect("tokio runs");
    let median = |v: &[Sample], f: fn(&Sample) -> f64| stats::median_spread(v.iter().map(f));
    let (tokio_rate, _, _) = median(&samples[tokio_at], |s| s.rate);
    let (tokio_cpu, _, _) = median(&samples[tokio_at], |s| s.server_us);
    let (tokio_both, _, _) = median(&samples[tokio_at], |s| s.both_us);
    let mut rows = Vec::new();
    for (i, (server, _)) in servers.iter().enumerate() {
        let (rate, rlo, rhi) = median(&samples[i], |s| s.rate);
        let (cpu_us, clo, chi) = median(&samples[i], |s| s.server_us);
        let (both, blo, bhi) = median(&samples[i], |s| s.both_us);
        let lost: u64 = samples[i].iter().map(|s| s.lost).sum();
        let (switches, _, _) = median(&samples[i], |s| s.switches);
        rows.push(vec![
            server.name().to_string(),
            format!("{rate:.0} [{rlo:.0}-{rhi:.0}]"),
            format!("{cpu_us:.2} us [{clo:.2}-{chi:.2}]"),
            format!("{both:.2} us [{blo:.2}-{bhi:.2}]"),
            format!("{switches:.3}"),
            lost.to_string(),
            format!(
                "thr {:.2}x, cpu {:.2}x, both {:.2}x",
                rate / tokio_rate,
                cpu_us / tokio_cpu,
                both / tokio_both
            ),
        ]);
    }
    println!(
        "{}",
        table::render(
            &[
                "server",
                "datagrams/s",
                "server CPU / datagram",
                "both CPUs / datagram",
                "server switches / datagram",
                "lost",
                "vs tokio"
            ],
            &rows,
            1
        )
    );
}
