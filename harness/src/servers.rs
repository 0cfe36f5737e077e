//! The echo servers every measurement compares, each on one thread pinned to the server
//! CPU, each reporting the id of the thread that runs its connections (so its CPU time can
//! be read): ringstream (a one-core `StreamServer` serving [`echo_connection`], the handler
//! `ringstream echo` serves), `ringstream-protocol` and `ringstream-buffered` (the same
//! server with the echo as a protocol, [`EchoProtocol`] and [`EchoBuffered`]: [`serve_echo`]
//! starts all three, as `ringstream echo --api` does), `ringstream-spin` (the stream echo
//! with a busy-poll window, `Builder::busy_poll`, to show what it buys in latency and costs
//! in CPU), tokio (`current_thread`, read + `write_all`), monoio (io_uring driver) and the
//! raw ring ([`raw_ring`]: no runtime, the practical ceiling). Every server sets
//! `TCP_NODELAY` and reads at most [`READ_SIZE`] at once (the protocols: the runtime's
//! receive size, the same 64 KiB); each echoes until EOF, and runs until the process ends.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ringstream::net::{ServerBuilder, StreamServer};
use ringstream::protocol::Buffered;
use ringstream::Stream;

use crate::protocol_echo::{EchoBuffered, EchoProtocol};
use crate::{cpu, raw_ring};

/// Server CPU: every server runs here; the load generator runs on another CPU.
pub const SERVER_CPU: usize = 0;

/// The load generator's CPU.
pub const LOAD_CPU: usize = 1;

/// The busy-poll window of the `ringstream-spin` server.
pub const BUSY_POLL: Duration = Duration::from_micros(50);

/// Read size of every server (and the raw ring's buffer per connection), and the most
/// bytes `ringstream echo` reads at once.
pub const READ_SIZE: usize = 64 * 1024;

/// Which of ringstream's APIs serves an echo (`ringstream echo --api`, `bench --api`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// StreamReader / StreamWriter: a task per connection (`serve` with `echo_connection`).
    #[default]
    Stream,
    /// A Protocol: `data_received` writes the bytes back, run straight from the receive
    /// completion (`serve_protocol`).
    Protocol,
    /// A BufferedProtocol: the kernel receives into the protocol's own buffer, whose
    /// received bytes are written back (`serve_protocol` with `Buffered`).
    Buffered,
}

impl Api {
    /// Its name on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Api::Stream => "stream",
            Api::Protocol => "protocol",
            Api::Buffered => "buffered",
        }
    }
}

/// Serves the echo through `api` with everything else `builder` sets, so the APIs differ in
/// nothing else. `on_connection` runs on the serving core as each connection starts (the
/// benches note the serving thread's id there).
///
/// ```no_run
/// use ringstream::net::StreamServer;
/// use ringstream_harness::servers::{serve_echo, Api};
///
/// let server = serve_echo(StreamServer::bind("127.0.0.1:7878").cores(1), Api::Buffered, || {})?;
/// server.serve_forever()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// As `ServerBuilder::serve`: binding, options, starting the cores.
pub fn serve_echo<F>(builder: ServerBuilder, api: Api, on_connection: F) -> io::Result<StreamServer>
where
    F: Fn() + Clone + Send + 'static,
{
    match api {
        Api::Stream => builder.serve(move |stream| {
            on_connection();
            echo_connection(stream)
        }),
        Api::Protocol => builder.serve_protocol(move || {
            on_connection();
            EchoProtocol::default()
        }),
        Api::Buffered => builder.serve_protocol(move || {
            on_connection();
            Buffered(EchoBuffered::default())
        }),
    }
}

/// The echo servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Ringstream,
    RingstreamProtocol,
    RingstreamBuffered,
    RingstreamSpin,
    Tokio,
    Monoio,
    RawRing,
}

impl Peer {
    /// Every server, in the order tables show them.
    pub const ALL: [Peer; 7] = [
        Peer::Ringstream,
        Peer::RingstreamProtocol,
        Peer::RingstreamBuffered,
        Peer::RingstreamSpin,
        Peer::Tokio,
        Peer::Monoio,
        Peer::RawRing,
    ];

    /// Its name in tables and on command lines (`--server`).
    pub fn name(self) -> &'static str {
        match self {
            Peer::Ringstream => "ringstream",
            Peer::RingstreamProtocol => "ringstream-protocol",
            Peer::RingstreamBuffered => "ringstream-buffered",
            Peer::RingstreamSpin => "ringstream-spin",
            Peer::Tokio => "tokio",
            Peer::Monoio => "monoio",
            Peer::RawRing => "raw-ring",
        }
    }

    /// The ringstream API a ringstream server echoes through; `None` for the others.
    fn ringstream_api(self) -> Option<Api> {
        match self {
            Peer::Ringstream | Peer::RingstreamSpin => Some(Api::Stream),
            Peer::RingstreamProtocol => Some(Api::Protocol),
            Peer::RingstreamBuffered => Some(Api::Buffered),
            Peer::Tokio | Peer::Monoio | Peer::RawRing => None,
        }
    }
}

/// A running server: where it listens and the thread id that serves.
pub struct Server {
    /// Which server.
    pub peer: Peer,
    /// Where it listens.
    pub addr: SocketAddr,
    tid: Arc<OnceLock<u32>>,
    /// Keeps the ringstream server alive (other servers live on detached threads).
    _keep: Option<StreamServer>,
}

impl Server {
    /// Nanoseconds of CPU the serving thread has used (from its schedstat), once it has
    /// served a connection.
    pub fn cpu_ns(&self) -> Option<u64> {
        let cpu = cpu::thread_cpu_time(*self.tid.get()?).ok()?;
        u64::try_from(cpu.as_nanos()).ok()
    }
}

fn remember_tid(tid: &OnceLock<u32>) {
    if tid.get().is_none() {
        if let Ok(id) = cpu::current_thread_id() {
            let _ = tid.set(id);
        }
    }
}

/// Starts `peer` on a thread pinned to [`SERVER_CPU`] (unpinned, with a note, when the
/// process may not run there), listening on a free port of 127.0.0.1.
///
/// # Panics
/// When the server cannot start: a bench cannot go on without it.
pub fn start(peer: Peer) -> Server {
    let tid = Arc::new(OnceLock::new());
    match peer.ringstream_api() {
        Some(api) => {
            let seen = tid.clone();
            let mut runtime = ringstream::Builder::new();
            if peer == Peer::RingstreamSpin {
                runtime.busy_poll(BUSY_POLL);
            }
            let builder = StreamServer::bind("127.0.0.1:0")
                .cpus(vec![SERVER_CPU])
                .runtime(runtime);
            let server =
                serve_echo(builder, api, move || remember_tid(&seen)).expect("ringstream server");
            let addr = server.local_addr().to_string().parse().expect("tcp addr");
            Server {
                peer,
                addr,
                tid,
                _keep: Some(server),
            }
        }
        None => {
            let (tx, rx) = mpsc::channel();
            let seen = tid.clone();
            std::thread::Builder::new()
                .name(format!("{}-server", peer.name()))
                .spawn(move || {
                    crate::pin::pin_or_warn(SERVER_CPU, &format!("the {} server", peer.name()));
                    remember_tid(&seen);
                    let listener =
                        std::net::TcpListener::bind("127.0.0.1:0").expect("bind the server");
                    tx.send(listener.local_addr().expect("addr"))
                        .expect("report");
                    match peer {
                        Peer::Tokio => tokio_server(listener),
                        Peer::Monoio => monoio_server(listener),
                        Peer::RawRing => raw_ring::serve(listener),
                        ringstream => unreachable!("{ringstream:?} is served by serve_echo"),
                    }
                })
                .expect("spawn the server thread");
            let addr = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the server reports its address");
            Server {
                peer,
                addr,
                tid,
                _keep: None,
            }
        }
    }
}

/// One echo connection on ringstream: read up to [`READ_SIZE`], queue it back without
/// copying, wait for the write buffer to drain below its watermark, repeat until EOF; then
/// close gracefully.
///
/// # Errors
/// The connection's error, other than the peer resetting or leaving mid-echo (load
/// generators do, at the end of a run), which ends the connection as EOF would.
pub async fn echo_connection(stream: Stream) -> io::Result<()> {
    let (mut reader, writer) = stream.split();
    let result = async {
        loop {
            let data = reader.read(READ_SIZE).await?;
            if data.is_empty() {
                break;
            }
            writer.write_bytes(data)?;
            writer.drain().await?;
        }
        writer.close();
        writer.wait_closed().await
    }
    .await;
    match result {
        Err(e) if is_disconnect(&e) => Ok(()),
        other => other,
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// tokio `current_thread`: read into a buffer, `write_all` it back.
fn tokio_server(listener: std::net::TcpListener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; READ_SIZE];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// monoio (io_uring driver): owned-buffer read, `write_all` it back.
fn monoio_server(listener: std::net::TcpListener) {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .build()
        .expect("monoio io_uring runtime");
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(listener).expect("monoio listener");
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            monoio::spawn(async move {
                let mut buf = Vec::with_capacity(READ_SIZE);
                loop {
                    let (res, back) = s.read(buf).await;
                    match res {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let (res, mut back) = s.write_all(back).await;
                    if res.is_err() {
                        return;
                    }
                    back.clear();
                    buf = back;
                }
            });
        }
    });
}
