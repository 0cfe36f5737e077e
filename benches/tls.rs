//! TLS yardstick: the same echo served over TLS by ringstream (`StreamServer::tls`, one
//! core) and by tokio `current_thread` + tokio-rustls, in the same run, with the same
//! rustls `ServerConfig` (ring provider, TLS 1.3, `TLS13_AES_128_GCM_SHA256` only, one
//! self-signed P-256 certificate): server pinned to CPU 0, one load generator pinned to CPU
//! 1 (tokio `current_thread` + tokio-rustls clients).
//!
//! Scenarios:
//! - `pp64`: `--conns` connections (default 32), each a ping-pong of 64 B messages.
//! - `st16`: `--stream-conns` connections (default 16), each writing 64 KiB chunks as fast
//!   as the echo comes back, reading the echo concurrently.
//!
//! Reported per scenario and server, medians of `--rounds` rounds [min–max], servers in turn
//! within a round: messages/s (pp64) or MiB/s of echo received (st16), the server thread's
//! CPU per message or per MiB (schedstat), both CPUs' busy time per unit (`/proc/stat`), and
//! the ratios against tokio-rustls.
//!
//! ```text
//! cargo bench --features tls --bench tls                          # 3 rounds x 3 s
//! cargo bench --features tls --bench tls -- --rounds 5 --secs 2
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use ringstream::net::StreamServer;
use ringstream::tls::rustls::{self, pki_types::ServerName, ClientConfig, ServerConfig};
use ringstream::tls::TlsAcceptor;
use ringstream_harness::servers::{serve_echo, Api, LOAD_CPU, SERVER_CPU};
use ringstream_harness::{cpu, cpu_busy, pin, stats, table};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Ringstream,
    TokioRustls,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Ringstream => "ringstream",
            Server::TokioRustls => "tokio-rustls",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Pp64,
    St16,
}

struct Options {
    rounds: usize,
    secs: f64,
    conns: usize,
    stream_conns: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 3,
        secs: 3.0,
        conns: 32,
        stream_conns: 16,
    };
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            args.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--rounds" => o.rounds = value("--rounds")? as usize,
            "--secs" => o.secs = value("--secs")?,
            "--conns" => o.conns = value("--conns")? as usize,
            "--stream-conns" => o.stream_conns = value("--stream-conns")? as usize,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--rounds N --secs S --conns N --stream-conns N)"
                ))
            }
        }
    }
    if o.rounds == 0 || o.conns == 0 || o.stream_conns == 0 || o.secs <= 0.0 {
        return Err("--rounds, --secs, --conns and --stream-conns must be positive".into());
    }
    Ok(o)
}

/// One provider for both sides: ring, with the one cipher suite both servers must use.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256];
    Arc::new(provider)
}

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
    let private =
        rustls::pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).expect("key");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .expect("server config");
    let client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

struct Running {
    addr: SocketAddr,
    tid: Arc<OnceLock<u32>>,
    _keep: Option<StreamServer>,
}

fn remember_tid(tid: &OnceLock<u32>) {
    if tid.get().is_none() {
        if let Ok(id) = cpu::current_thread_id() {
            let _ = tid.set(id);
        }
    }
}

fn start(server: Server, config: Arc<ServerConfig>) -> Running {
    let tid = Arc::new(OnceLock::new());
    match server {
        Server::Ringstream => {
            let seen = tid.clone();
            let builder = StreamServer::bind("127.0.0.1:0")
                .cpus(vec![SERVER_CPU])
                .tls(TlsAcceptor::new(config));
            let server = serve_echo(builder, Api::Stream, move || remember_tid(&seen))
                .expect("ringstream server");
            let addr = server.local_addr().to_string().parse().expect("addr");
            Running {
                addr,
                tid,
                _keep: Some(server),
            }
        }
        Server::TokioRustls => {
            let (tx, rx) = mpsc::channel();
            let seen = tid.clone();
            std::thread::spawn(move || {
                pin::pin_or_warn(SERVER_CPU, "the tokio-rustls server");
                remember_tid(&seen);
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    tx.send(listener.local_addr().expect("addr"))
                        .expect("report");
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    loop {
                        let (socket, _) = listener.accept().await.expect("accept");
                        socket.set_nodelay(true).expect("nodelay");
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let Ok(mut tls) = acceptor.accept(socket).await else {
                                return;
                            };
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                match tls.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if tls.write_all(&buf[..n]).await.is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                            let _ = tls.shutdown().await;
                        });
                    }
                });
            });
            let addr = rx.recv().expect("the server started");
            Running {
                addr,
                tid,
                _keep: None,
            }
        }
    }
}

struct Sample {
    /// Messages or MiB per second.
    rate: f64,
    /// Server thread CPU per message or per MiB, in microseconds.
    server_us: f64,
    /// Both CPUs' busy time per message or per MiB, in microseconds.
    both_us: f64,
}

async fn connect(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let socket = tokio::net::TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    tokio_rustls::TlsConnector::from(client)
        .connect(name, socket)
        .await
}

/// Runs `scenario` against `server` for the window; counts messages or bytes.
fn load(scenario: Scenario, server: &Running, client: &Arc<ClientConfig>, o: &Options) -> Sample {
    let addr = server.addr;
    let window = Duration::from_secs_f64(o.secs);
    let conns = match scenario {
        Scenario::Pp64 => o.conns,
        Scenario::St16 => o.stream_conns,
    };
    let client = client.clone();
    let tid = server.tid.clone();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                pin::pin_or_warn(LOAD_CPU, "the TLS load generator");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let done = Arc::new(AtomicU64::new(0));
                    let stop = Instant::now() + window + Duration::from_millis(500);
                    let mut tasks = Vec::new();
                    for _ in 0..conns {
                        let tls = connect(addr, client.clone()).await.expect("TLS connect");
                        let done = done.clone();
                        tasks.push(tokio::spawn(async move {
                            match scenario {
                                Scenario::Pp64 => ping_pong(tls, &done, stop).await,
                                Scenario::St16 => stream(tls, &done, stop).await,
                            }
                        }));
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let tid = *tid.get().expect("the server served a connection");
                    let n0 = done.load(Ordering::Relaxed);
                    let cpu0 = cpu::thread_cpu_time(tid).expect("server cpu");
                    let busy0 = cpu_busy::busy_ns(&[SERVER_CPU, LOAD_CPU]);
                    let t0 = Instant::now();
                    tokio::time::sleep(window).await;
                    let elapsed = t0.elapsed().as_secs_f64();
                    let n1 = done.load(Ordering::Relaxed);
                    let cpu1 = cpu::thread_cpu_time(tid).expect("server cpu");
                    let busy1 = cpu_busy::busy_ns(&[SERVER_CPU, LOAD_CPU]);
                    for task in tasks {
                        task.await.expect("load task");
                    }
                    let units = match scenario {
                        Scenario::Pp64 => (n1 - n0) as f64,
                        Scenario::St16 => (n1 - n0) as f64 / (1024.0 * 1024.0),
                    }
                    .max(1e-9);
                    Sample {
                        rate: units / elapsed,
                        server_us: (cpu1 - cpu0).as_secs_f64() * 1e6 / units,
                        both_us: match (busy0, busy1) {
                            (Some(a), Some(b)) => (b - a) as f64 / 1e3 / units,
                            _ => f64::NAN,
                        },
                    }
                })
            })
            .join()
            .expect("load thread")
    })
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn ping_pong(mut tls: Tls, done: &AtomicU64, stop: Instant) {
    let out = [7u8; 64];
    let mut back = [0u8; 64];
    while Instant::now() < stop {
        tls.write_all(&out).await.expect("write");
        tls.read_exact(&mut back).await.expect("read");
        done.fetch_add(1, Ordering::Relaxed);
    }
    let _ = tls.shutdown().await;
}

async fn stream(tls: Tls, done: &AtomicU64, stop: Instant) {
    let (mut reader, mut writer) = tokio::io::split(tls);
    let sent = Arc::new(AtomicU64::new(0));
    let sent_w = sent.clone();
    let writing = tokio::spawn(async move {
        let chunk = vec![5u8; 64 * 1024];
        while Instant::now() < stop {
            writer.write_all(&chunk).await.expect("write");
            sent_w.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        writer
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        if Instant::now() >= stop && received >= sent.load(Ordering::Relaxed) {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                received += n as u64;
                done.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let writer = writing.await.expect("writer");
    let mut tls = reader.unsplit(writer);
    let _ = tls.shutdown().await;
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tls bench: {e}");
            std::process::exit(2);
        }
    };
    let (server_config, client_config) = configs();
    let servers = [Server::Ringstream, Server::TokioRustls];
    let running: Vec<Running> = servers
        .iter()
        .map(|&s| start(s, server_config.clone()))
        .collect();
    for (scenario, unit) in [(Scenario::Pp64, "msg"), (Scenario::St16, "MiB")] {
        let mut samples: Vec<Vec<Sample>> = servers.iter().map(|_| Vec::new()).collect();
        for round in 1..=o.rounds {
            // Alternate which server goes first.
            let order: Vec<usize> = if round % 2 == 1 {
                vec![0, 1]
            } else {
                vec![1, 0]
            };
            for i in order {
                let sample = load(scenario, &running[i], &client_config, &o);
                eprintln!(
                    "{scenario:?} round {round} {:>13}: {:>10.0} {unit}/s  cpu {:>8.2} us/{unit}  both {:>8.2} us/{unit}",
                    servers[i].name(),
                    sample.rate,
                    sample.server_us,
                    sample.both_us
                );
                samples[i].push(sample);
            }
        }
        let median = |v: &[Sample], f: fn(&Sample) -> f64| stats::median_spread(v.iter().map(f));
        let (t_rate, _, _) = median(&samples[1], |s| s.rate);
        let (t_cpu, _, _) = median(&samples[1], |s| s.server_us);
        let (t_both, _, _) = median(&samples[1], |s| s.both_us);
        let rows: Vec<Vec<String>> = servers
            .iter()
            .enumerate()
            .map(|(i, server)| {
                let (rate, rlo, rhi) = median(&samples[i], |s| s.rate);
                let (cpu_us, clo, chi) = median(&samples[i], |s| s.server_us);
                let (both, blo, bhi) = median(&samples[i], |s| s.both_us);
                vec![
                    server.name().to_string(),
                    format!("{rate:.0} [{rlo:.0}-{rhi:.0}]"),
                    format!("{cpu_us:.2} us [{clo:.2}-{chi:.2}]"),
                    format!("{both:.2} us [{blo:.2}-{bhi:.2}]"),
                    format!(
                        "rate {:.2}x, cpu {:.2}x, both {:.2}x",
                        rate / t_rate,
                        cpu_us / t_cpu,
                        both / t_both
                    ),
                ]
            })
            .collect();
        let name = match scenario {
            Scenario::Pp64 => format!("pp64: {} connections, 64 B ping-pong", o.conns),
            Scenario::St16 => format!("st16: {} connections, 64 KiB writes", o.stream_conns),
        };
        println!("\n{name}");
        println!(
            "{}",
            table::render(
                &[
                    "server",
                    &format!("{unit}/s"),
                    &format!("server CPU / {unit}"),
                    &format!("both CPUs / {unit}"),
                    "vs tokio-rustls"
                ],
                &rows,
                1
            )
        );
    }
}
