//! Greedy neighbours: on ONE server core, N greedy connections stream 64 KiB chunks as
//! fast as they can while a few light connections ping 64 B messages at a modest rate;
//! how long do the light ones wait? Reported per server: the light round trips' p50 / p99
//! / max, the greedy MB/s (echoed, one way) and the server thread's CPU per greedy MB,
//! medians and spread (min–max) over rounds, servers alternating within each round, with
//! the light p99 as a multiple of tokio's and the issue's target (light p99 ≤ 2x tokio's,
//! max < 100 ms) checked.
//!
//! Servers (each pinned to CPU 0): the yardstick's ringstream `StreamServer` echo and
//! tokio `current_thread` echo by default, any of the yardstick's five with `--server`
//! (`ringstream_harness::servers`). The load is the same for every server, all
//! tokio, pinned to CPU 1: the greedy connections are the yardstick's tokio streaming
//! client (`ringstream_harness::tokio_stream`) on this thread, the light ones
//! (`benches/greedy/light.rs`: one message in flight, the next one period after the last
//! was sent) on a thread and runtime of their own, so they do not queue behind greedy
//! tasks in the client. Every echo is checked.
//!
//! ```text
//! cargo bench --bench greedy                                      # 5 rounds x 3 s, ~40 s
//! cargo bench --bench greedy -- --rounds 1 --secs 1               # smoke run
//! cargo bench --bench greedy -- --greedy 0                        # the light ones alone
//! cargo bench --bench greedy -- --greedy 256 --light 8 --period-us 1000 --chunk 65536 --size 64
//! cargo bench --bench greedy -- --server ringstream --server ringstream-spin --server tokio
//! ```

#[path = "greedy/light.rs"]
mod light;
#[path = "greedy/report.rs"]
mod report;

use std::io;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use light::Light;
use ringstream_harness::servers::{self, Peer, Server, LOAD_CPU};
use ringstream_harness::{fd_limit, pin, stats, tokio_stream};

/// The run's settings, from the command line.
pub struct Options {
    rounds: usize,
    secs: f64,
    /// Greedy connections and their chunk size.
    greedy: usize,
    chunk: usize,
    light: Light,
    servers: Vec<Peer>,
}

/// One round's figures for one server.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub greedy_mb_per_s: f64,
    /// Server thread CPU per greedy MB, microseconds.
    pub server_us_per_mb: f64,
    pub light_p50_us: f64,
    pub light_p99_us: f64,
    pub light_max_us: f64,
    /// Light round trips timed in the measured phase.
    pub light_pings: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 5,
        secs: 3.0,
        greedy: 64,
        chunk: 64 * 1024,
        light: Light {
            conns: 8,
            size: 64,
            period: Duration::from_millis(1),
        },
        servers: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| -> Result<f64, String> {
            args.next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| (v.is_finite() && *v > 0.0) || (a == "--greedy" && *v == 0.0))
                .ok_or_else(|| format!("{a} needs a positive number ({what})"))
        };
        match a.as_str() {
            "--rounds" => o.rounds = value("rounds")? as usize,
            "--secs" => o.secs = value("seconds per measurement")?,
            "--greedy" => o.greedy = value("greedy connections")? as usize,
            "--chunk" => o.chunk = value("bytes per greedy write")? as usize,
            "--light" => o.light.conns = value("light connections")? as usize,
            "--size" => o.light.size = value("bytes per light message")? as usize,
            "--period-us" => {
                o.light.period =
                    Duration::from_micros(value("microseconds between light sends")? as u64)
            }
            "--server" => {
                let name = args.next().unwrap_or_default();
                let peer = Peer::ALL
                    .into_iter()
                    .find(|p| p.name() == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Peer::ALL.iter().map(|p| p.name()).collect();
                        format!("--server {name:?}: not one of {}", names.join(", "))
                    })?;
                o.servers.push(peer);
            }
            "--bench" => {} // passed by `cargo bench`
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.servers.is_empty() {
        o.servers = vec![Peer::Ringstream, Peer::Tokio];
    }
    Ok(o)
}

fn main() {
    let opts = options().unwrap_or_else(|e| {
        eprintln!("greedy: {e}");
        std::process::exit(2);
    });
    let conns = opts.greedy + opts.light.conns;
    if let Err(e) = fd_limit::check(3 * conns + 256, "the greedy bench") {
        eprintln!("greedy: {e}");
        std::process::exit(1);
    }
    // Servers first: pinning this thread narrows the CPU set new threads may choose from.
    let servers: Vec<Server> = opts.servers.iter().map(|&p| servers::start(p)).collect();
    pin::pin_or_warn(LOAD_CPU, "greedy: the load");
    let mut samples: Vec<(Peer, Vec<Sample>)> =
        opts.servers.iter().map(|&p| (p, Vec::new())).collect();
    for round in 0..opts.rounds {
        for (server, (_, got)) in servers.iter().zip(samples.iter_mut()) {
            let sample = run(server, &opts).unwrap_or_else(|e| {
                eprintln!("greedy: against {} failed: {e}", server.peer.name());
                std::process::exit(1);
            });
            eprintln!(
                "round {} {:>15}: greedy {:>7.1} MB/s, server {:>6.1} us/MB; light p50 {:>8.1} us p99 {:>8.1} us max {:>8.1} us ({} pings)",
                round + 1,
                server.peer.name(),
                sample.greedy_mb_per_s,
                sample.server_us_per_mb,
                sample.light_p50_us,
                sample.light_p99_us,
                sample.light_max_us,
                sample.light_pings
            );
            got.push(sample);
        }
    }
    report::print(&opts, &samples);
}

/// One measurement against `server`: the light connections first (on their own thread),
/// then the greedy ones on this thread for the warm-up and the measured phase.
fn run(server: &Server, opts: &Options) -> io::Result<Sample> {
    let phase = Arc::new(tokio_stream::Phase::default());
    let (ready_tx, ready_rx) = mpsc::channel();
    let (addr, light) = (server.addr, opts.light);
    let light_phase = phase.clone();
    let light_thread = std::thread::Builder::new()
        .name("greedy-light".into())
        .spawn(move || {
            // Unpinned, it would compete with the server for CPU 0.
            ringstream::runtime::pin_current_thread(LOAD_CPU)?;
            light::ping_pong(addr, light, &light_phase, ready_tx)
        })?;
    let joined = |t: std::thread::JoinHandle<io::Result<Vec<u32>>>| {
        t.join()
            .map_err(|_| io::Error::other("the light connections' thread panicked"))?
    };
    if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
        // The thread ended without connecting (its error says why), or is stuck connecting.
        return Err(match light_thread.is_finished() {
            true => joined(light_thread)
                .err()
                .unwrap_or_else(|| io::Error::other("no light connections")),
            false => io::Error::other("the light connections did not connect within 10 s"),
        });
    }
    let mut marks = Vec::with_capacity(2);
    let mut mark = || marks.push(server.cpu_ns());
    let greedy = tokio_stream::stream(
        addr,
        opts.greedy,
        opts.chunk,
        &phase,
        Duration::from_millis(300),
        Duration::from_secs_f64(opts.secs),
        &mut mark,
    );
    // The light thread ends with the phase, which the greedy run ends even when it fails.
    let mut rtts = joined(light_thread)?;
    let greedy = greedy?;
    rtts.sort_unstable();
    let server_ns = match (marks.first(), marks.get(1)) {
        (Some(Some(a)), Some(Some(b))) => b.saturating_sub(*a) as f64,
        _ => f64::NAN,
    };
    let mb = greedy.bytes as f64 / 1e6;
    let us = |q: f64| stats::percentile(&rtts, q) / 1000.0;
    Ok(Sample {
        greedy_mb_per_s: mb / greedy.elapsed.as_secs_f64(),
        server_us_per_mb: server_ns / 1000.0 / mb,
        light_p50_us: us(0.50),
        light_p99_us: us(0.99),
        light_max_us: us(1.0),
        light_pings: rtts.len(),
    })
}
