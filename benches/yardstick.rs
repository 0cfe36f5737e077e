//! The yardstick: one load generator against seven echo servers — ringstream (the stream
//! echo), ringstream-protocol and ringstream-buffered (the same server with the echo as a
//! `Protocol` and as a `BufferedProtocol`, run straight from the receive completions),
//! ringstream-spin (the stream echo with a busy-poll window), tokio (`current_thread`, read +
//! `write_all`), monoio (io_uring driver) and a hand-written io_uring loop (no runtime: the
//! practical ceiling) — in the same run, server pinned to CPU 0, load pinned to CPU 1.
//!
//! Scenarios:
//! - `pp1`: 1 connection, 64 B ping-pong: p50 / p99 / p99.9 round-trip latency.
//! - `pp64`: 64 connections, 64 B ping-pong: msgs/s and **server CPU time per message**
//!   (the serving thread's schedstat run time over the measured window). On two cores the
//!   load generator saturates first, so CPU per message is the deciding figure.
//! - `pp64x4k`: the same with 4 KiB messages.
//! - `pp2000`: 2,000 connections, 64 B ping-pong (the same figures at a scale where per
//!   connection state and wake-ups count).
//! - `st16`: 16 connections streaming 64 KiB chunks: MB/s (echoed, one way) and server
//!   CPU per MB.
//! - `st16-tokio-client`: `st16` driven by a tokio `current_thread` client instead of the
//!   ringstream one (`ringstream_harness::tokio_stream`), so no server is measured against its
//!   own library's client.
//! - `st2000x4k`: 2,000 connections streaming 4 KiB chunks.
//!
//! Every scenario also reports the **busy time of both CPUs** (server's and load
//! generator's) per message or per MB, from `/proc/stat` (`ringstream_harness::cpu_busy`): on
//! loopback the kernel charges TCP work to whichever side triggers it, so the server
//! thread's CPU alone flatters servers whose client does the work; the sum of both cores
//! does not. The 2,000-connection rows need about 6,300 open descriptors (RLIMIT_NOFILE
//! is checked before anything runs).
//!
//! Every scenario runs `--rounds` times (default 5), the servers in turn within a round;
//! the table gives medians with the spread (min–max) and ratios against tokio, the
//! ringstream stream echo and the raw ring, all from the same run. `--only` and `--server`
//! take one name or several separated by commas (`--server ringstream,ringstream-protocol,tokio`).
//!
//! `--svg <path>` also writes, after the run, a bar chart of the same medians: each
//! server's CPU per message (per MB for st16) as a multiple of tokio's, one group per
//! scenario, with the command line at the bottom (`benches/yardstick/cpu-per-message.svg`
//! in the README). It needs tokio in the run; without it nothing is written.
//!
//! ```text
//! cargo bench --bench yardstick                       # everything, ~8 minutes
//! cargo bench --bench yardstick -- --rounds 3 --secs 2 --only pp64
//! cargo bench --bench yardstick -- --only pp64,pp64x4k,st16 --server ringstream,ringstream-protocol,ringstream-buffered,tokio
//! cargo bench --bench yardstick -- --rounds 5 --secs 3 --only st16-tokio-client
//! cargo bench --bench yardstick -- --rounds 5 --secs 2 --svg benches/yardstick/cpu-per-message.svg
//! ```
//!
//! The load generator is ringstream for every server (one client for all, so the servers
//! are what differs) except in `st16-tokio-client`; its echo checks make a broken server
//! fail the run.

#[path = "yardstick/load.rs"]
mod load;
#[path = "yardstick/plot.rs"]
mod plot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ringstream_harness::servers::{self, Peer, Server, LOAD_CPU, SERVER_CPU};
use ringstream_harness::{cpu_busy, fd_limit, pin, stats, tokio_stream};

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    conns: usize,
    size: usize,
    load: Load,
}

/// What the load generator does, and with which library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// ringstream client, one message in flight per connection.
    PingPong,
    /// ringstream client, writing back to back while reading the echo.
    Stream,
    /// The same streaming from a tokio `current_thread` client.
    TokioStream,
}

impl Scenario {
    /// Whether figures are per MB (streaming) rather than per message.
    fn streaming(&self) -> bool {
        self.load != Load::PingPong
    }
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "pp1",
        conns: 1,
        size: 64,
        load: Load::PingPong,
    },
    Scenario {
        name: "pp64",
        conns: 64,
        size: 64,
        load: Load::PingPong,
    },
    Scenario {
        name: "pp64x4k",
        conns: 64,
        size: 4096,
        load: Load::PingPong,
    },
    Scenario {
        name: "pp2000",
        conns: 2000,
        size: 64,
        load: Load::PingPong,
    },
    Scenario {
        name: "st16",
        conns: 16,
        size: 64 * 1024,
        load: Load::Stream,
    },
    Scenario {
        name: "st16-tokio-client",
        conns: 16,
        size: 64 * 1024,
        load: Load::TokioStream,
    },
    Scenario {
        name: "st2000x4k",
        conns: 2000,
        size: 4096,
        load: Load::Stream,
    },
];

/// Open descriptors a scenario may hold at once: the client's ends, the server's, and the
/// server ends of the previous run that may still be closing, plus the listeners and rings.
fn descriptors_needed(scenario: &Scenario) -> usize {
    3 * scenario.conns + 256
}

/// One round's figures for one (scenario, server).
#[derive(Debug, Clone, Copy)]
struct Sample {
    msgs_per_s: f64,
    mb_per_s: f64,
    /// Server CPU per message (ping-pong) or per MB (streaming), in microseconds.
    cpu_us: f64,
    /// Busy time of both CPUs (server's and load's) per message or per MB, in microseconds.
    cores_us: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
}

struct Options {
    rounds: usize,
    secs: f64,
    /// The scenarios to run (`--only`); all when empty.
    only: Vec<&'static str>,
    /// The servers to run (`--server`); all when empty.
    servers: Vec<Peer>,
    /// Where to write the chart (`--svg`).
    svg: Option<String>,
    /// The arguments as given (less cargo's `--bench`), for the chart's footer.
    args: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 5,
        secs: 3.0,
        only: Vec::new(),
        servers: Vec::new(),
        svg: None,
        args: std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => o.rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(5),
            "--secs" => o.secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(3.0),
            "--only" => {
                let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
                o.only = pick("--only", args.next(), &names, |&name| name)?;
            }
            "--server" => o.servers = pick("--server", args.next(), &Peer::ALL, |p| p.name())?,
            "--svg" => o.svg = args.next(),
            _ => {} // `cargo bench` passes --bench
        }
    }
    Ok(o)
}

/// The items of `all` a comma-separated list names (in `all`'s order); an unknown name is
/// an error that lists the known ones.
fn pick<T: Copy>(
    option: &str,
    value: Option<String>,
    all: &[T],
    name: impl Fn(&T) -> &'static str,
) -> Result<Vec<T>, String> {
    let value = value.unwrap_or_default();
    let wanted: Vec<&str> = value.split(',').map(str::trim).collect();
    let known: Vec<&str> = all.iter().map(&name).collect();
    if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
        return Err(format!(
            "{option} {unknown:?}: not one of {}",
            known.join(", ")
        ));
    }
    Ok(all
        .iter()
        .filter(|item| wanted.contains(&name(item)))
        .copied()
        .collect())
}

fn main() {
    let opts = options().unwrap_or_else(|e| {
        eprintln!("yardstick: {e}");
        std::process::exit(2);
    });
    let selected = || {
        SCENARIOS
            .into_iter()
            .filter(|s| opts.only.is_empty() || opts.only.contains(&s.name))
    };
    for scenario in selected() {
        if let Err(e) = fd_limit::check(descriptors_needed(&scenario), scenario.name) {
            eprintln!("yardstick: {e}");
            std::process::exit(1);
        }
    }
    // Servers first: pinning this thread narrows the CPU set new threads may choose from.
    let servers: Vec<Server> = Peer::ALL
        .iter()
        .filter(|p| opts.servers.is_empty() || opts.servers.contains(p))
        .map(|&p| servers::start(p))
        .collect();
    pin::pin_or_warn(LOAD_CPU, "yardstick: the load generator");
    let measure = Duration::from_secs_f64(opts.secs);
    let warmup = Duration::from_millis(300);
    let mut samples: BTreeMap<(&str, &str), Vec<Sample>> = BTreeMap::new();
    for scenario in selected() {
        for round in 0..opts.rounds {
            for server in &servers {
                let sample = run(scenario, server, warmup, measure);
                eprintln!(
                    "{} round {} {:>19}: {:>9.0} msgs/s {:>8.1} MB/s cpu {:>6.2} us cores {:>6.2} us p50 {:>6.1} p99 {:>6.1}",
                    scenario.name,
                    round + 1,
                    server.peer.name(),
                    sample.msgs_per_s,
                    sample.mb_per_s,
                    sample.cpu_us,
                    sample.cores_us,
                    sample.p50_us,
                    sample.p99_us
                );
                samples
                    .entry((scenario.name, server.peer.name()))
                    .or_default()
                    .push(sample);
            }
        }
    }
    print_table(&samples, &opts);
    if let Some(path) = &opts.svg {
        write_svg(&samples, &opts, path);
    }
}

/// CPU counters read at the start and the end of the measured phase.
struct Mark {
    /// The serving thread's run time.
    server_ns: Option<u64>,
    /// Busy time of the server's and the load generator's CPUs.
    cores_ns: Option<u64>,
}

fn run(scenario: Scenario, server: &Server, warmup: Duration, measure: Duration) -> Sample {
    let mut marks = Vec::with_capacity(2);
    let mut mark = || {
        marks.push(Mark {
            server_ns: server.cpu_ns(),
            cores_ns: cpu_busy::busy_ns(&[SERVER_CPU, LOAD_CPU]),
        })
    };
    let (addr, conns, size) = (server.addr, scenario.conns, scenario.size);
    let result = match scenario.load {
        Load::PingPong => load::ping_pong(addr, conns, size, warmup, measure, &mut mark),
        Load::Stream => load::stream(addr, conns, size, warmup, measure, &mut mark),
        Load::TokioStream => {
            let phase = Arc::new(tokio_stream::Phase::default());
            tokio_stream::stream(addr, conns, size, &phase, warmup, measure, &mut mark).map(|r| {
                load::LoadResult {
                    messages: r.bytes / size as u64,
                    bytes: r.bytes,
                    elapsed: r.elapsed,
                    rtts: Vec::new(),
                }
            })
        }
    };
    let result = result.unwrap_or_else(|e| {
        panic!(
            "{} against {} failed: {e}",
            scenario.name,
            server.peer.name()
        )
    });
    let spent = |pick: fn(&Mark) -> Option<u64>| -> f64 {
        match (marks.first().and_then(pick), marks.get(1).and_then(pick)) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64,
            _ => f64::NAN,
        }
    };
    let cpu_ns = spent(|m| m.server_ns);
    let cores_ns = spent(|m| m.cores_ns);
    let secs = result.elapsed.as_secs_f64();
    let mb = result.bytes as f64 / 1e6;
    let mut rtts = result.rtts;
    rtts.sort_unstable();
    let pct = |q: f64| stats::percentile(&rtts, q) / 1000.0;
    let per_unit = if scenario.streaming() {
        mb
    } else {
        result.messages as f64
    };
    Sample {
        msgs_per_s: result.messages as f64 / secs,
        mb_per_s: mb / secs,
        cpu_us: cpu_ns / 1000.0 / per_unit,
        cores_us: cores_ns / 1000.0 / per_unit,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        p999_us: pct(0.999),
    }
}

/// A latency cell of the table: "—" where the scenario has none (the stream rows time
/// no round trips).
fn latency(us: f64) -> String {
    if us.is_nan() {
        "—".to_owned()
    } else {
        format!("{us:.1}")
    }
}

/// Median and (min, max) of one field.
fn stats(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> (f64, f64, f64) {
    stats::median_spread(samples.iter().map(field))
}

// On loopback the kernel's TCP work is charged to the side that triggers it: a server that
// sends from its own thread pays for the receiver's protocol processing too, and which side
// ends up busier depends on the client as much as on the server. "server CPU" is the
// serving thread alone; "both CPUs" (server's and load's, /proc/stat) is the whole cost,
// whoever it was charged to, and is the figure to compare across clients.
fn print_table(samples: &BTreeMap<(&str, &str), Vec<Sample>>, opts: &Options) {
    println!(
        "\nyardstick: {} rounds x {} s per (scenario, server); medians [min-max]; server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}",
        opts.rounds,
        opts.secs,
    );
    println!(
        "| scenario | server | msgs/s | MB/s | server CPU | both CPUs | p50 us | p99 us | p99.9 us | vs tokio | vs ringstream | vs raw ring |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for scenario in SCENARIOS {
        let get = |peer: Peer| samples.get(&(scenario.name, peer.name()));
        let Some(tokio) = get(Peer::Tokio) else {
            continue;
        };
        let stream_echo = get(Peer::Ringstream);
        let raw = get(Peer::RawRing);
        for peer in Peer::ALL {
            let Some(s) = get(peer) else { continue };
            let (msgs, msgs_lo, msgs_hi) = stats(s, |x| x.msgs_per_s);
            let (mb, _, _) = stats(s, |x| x.mb_per_s);
            let (cpu, cpu_lo, cpu_hi) = stats(s, |x| x.cpu_us);
            let (cores, cores_lo, cores_hi) = stats(s, |x| x.cores_us);
            let (p50, _, _) = stats(s, |x| x.p50_us);
            let (p99, _, _) = stats(s, |x| x.p99_us);
            let (p999, _, _) = stats(s, |x| x.p999_us);
            let unit = if scenario.streaming() {
                "us/MB"
            } else {
                "us/msg"
            };
            // The deciding ratio: latency for pp1, CPU for the others (throughput beside it).
            let ratio = |other: &[Sample]| -> String {
                if scenario.name == "pp1" {
                    let (o50, _, _) = stats(other, |x| x.p50_us);
                    let (o99, _, _) = stats(other, |x| x.p99_us);
                    format!("p50 {:.2}x, p99 {:.2}x", p50 / o50, p99 / o99)
                } else {
                    let (om, _, _) = stats(other, |x| x.msgs_per_s);
                    let (oc, _, _) = stats(other, |x| x.cpu_us);
                    let (ocores, _, _) = stats(other, |x| x.cores_us);
                    format!(
                        "thr {:.2}x, cpu {:.2}x, both {:.2}x",
                        msgs / om,
                        cpu / oc,
                        cores / ocores
                    )
                }
            };
            println!(
                "| {} | {} | {:.0} [{:.0}-{:.0}] | {:.1} | {:.2} {unit} [{:.2}-{:.2}] | {:.2} {unit} [{:.2}-{:.2}] | {} | {} | {} | {} | {} | {} |",
                scenario.name,
                peer.name(),
                msgs,
                msgs_lo,
                msgs_hi,
                mb,
                cpu,
                cpu_lo,
                cpu_hi,
                cores,
                cores_lo,
                cores_hi,
                latency(p50),
                latency(p99),
                latency(p999),
                ratio(tokio),
                stream_echo.map(|r| ratio(r)).unwrap_or_default(),
                raw.map(|r| ratio(r)).unwrap_or_default()
            );
        }
    }
}

/// `--svg`: the server CPU medians of the table, as multiples of tokio's, drawn by
/// `plot::bar_chart`.
fn write_svg(samples: &BTreeMap<(&str, &str), Vec<Sample>>, opts: &Options, path: &str) {
    let median_cpu = |scenario: &str, peer: Peer| {
        samples
            .get(&(scenario, peer.name()))
            .map(|s| stats(s, |x| x.cpu_us).0)
            .filter(|c| c.is_finite() && *c > 0.0)
    };
    if !samples
        .keys()
        .any(|&(_, server)| server == Peer::Tokio.name())
    {
        eprintln!(
            "yardstick: no chart written to {path}: tokio did not run (see --server), and the chart is relative to tokio"
        );
        return;
    }
    // The servers of the run, in table order, then the scenarios with a tokio figure.
    let series: Vec<Peer> = Peer::ALL
        .into_iter()
        .filter(|p| samples.keys().any(|&(_, server)| server == p.name()))
        .collect();
    let mut groups = Vec::new();
    let mut per_mb = false;
    for scenario in SCENARIOS {
        let Some(tokio) = median_cpu(scenario.name, Peer::Tokio) else {
            continue;
        };
        let values: Vec<Option<f64>> = series
            .iter()
            .map(|&p| median_cpu(scenario.name, p).map(|c| c / tokio))
            .collect();
        per_mb |= scenario.streaming();
        groups.push((scenario.name, values));
    }
    if groups.is_empty() {
        eprintln!(
            "yardstick: no chart written to {path}: no scenario has a server CPU figure for tokio"
        );
        return;
    }
    let title = format!(
        "Server CPU per message{}, relative to tokio — lower is better",
        if per_mb { " (st16: per MB)" } else { "" }
    );
    let mut command = String::from("cargo bench --bench yardstick");
    if !opts.args.is_empty() {
        command.push_str(" --");
        for a in &opts.args {
            command.push(' ');
            command.push_str(&shell_quote(a));
        }
    }
    let names: Vec<&str> = series.iter().map(|p| p.name()).collect();
    let svg = plot::bar_chart(&plot::Chart {
        title: &title,
        series: &names,
        groups: &groups,
        footer: &command,
    });
    match std::fs::write(path, svg) {
        Ok(()) => eprintln!("yardstick: wrote {path}"),
        Err(e) => {
            eprintln!("yardstick: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}

/// An argument as a shell would need it (quoted when it holds anything unusual).
fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}
