//! The echo servers, each on one thread pinned to the server CPU, each reporting the id of
//! the thread that runs its connections (so its CPU time can be read). `ringstream-spin` is
//! ringstream with a busy-poll window (`Builder::busy_poll`), to show what it buys in
//! latency and costs in CPU.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::raw_ring;

/// Server CPU: every server runs here; the load generator runs on another CPU.
pub const SERVER_CPU: usize = 0;

/// The load generator's CPU.
pub const LOAD_CPU: usize = 1;

/// The busy-poll window of the `ringstream-spin` server.
pub const BUSY_POLL: Duration = Duration::from_micros(50);

/// Read size of every server (and the raw ring's buffer per connection).
pub const READ_SIZE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Ringstream,
    RingstreamSpin,
    Tokio,
    Monoio,
    RawRing,
}

impl Peer {
    pub const ALL: [Peer; 5] = [
        Peer::Ringstream,
        Peer::RingstreamSpin,
        Peer::Tokio,
        Peer::Monoio,
        Peer::RawRing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Peer::Ringstream => "ringstream",
            Peer::RingstreamSpin => "ringstream-spin",
            Peer::Tokio => "tokio",
            Peer::Monoio => "monoio",
            Peer::RawRing => "raw-ring",
        }
    }
}

/// A running server: where it listens and the thread id that serves.
pub struct Server {
    pub peer: Peer,
    pub addr: SocketAddr,
    tid: Arc<OnceLock<u32>>,
    /// Keeps the ringstream server alive (other servers live on detached threads).
    _keep: Option<ringstream::net::StreamServer>,
}

impl Server {
    /// Nanoseconds of CPU the serving thread has used (from its schedstat), once it has
    /// served a connection.
    pub fn cpu_ns(&self) -> Option<u64> {
        let tid = self.tid.get()?;
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
        stat.split_whitespace().next()?.parse().ok()
    }
}

/// The calling thread's id, from /proc/thread-self.
pub fn current_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

fn remember_tid(tid: &OnceLock<u32>) {
    if tid.get().is_none() {
        let _ = tid.set(current_tid());
    }
}

pub fn start(peer: Peer) -> Server {
    let tid = Arc::new(OnceLock::new());
    match peer {
        Peer::Ringstream | Peer::RingstreamSpin => {
            let seen = tid.clone();
            let mut runtime = ringstream::Builder::new();
            if peer == Peer::RingstreamSpin {
                runtime.busy_poll(BUSY_POLL);
            }
            let server = ringstream::net::StreamServer::bind("127.0.0.1:0")
                .cpus(vec![SERVER_CPU])
                .runtime(runtime)
                .serve(move |stream| {
                    remember_tid(&seen);
                    ringstream_echo(stream)
                })
                .expect("ringstream server");
            let addr = server.local_addr().to_string().parse().expect("tcp addr");
            Server {
                peer,
                addr,
                tid,
                _keep: Some(server),
            }
        }
        other => {
            let (tx, rx) = mpsc::channel();
            let seen = tid.clone();
            std::thread::Builder::new()
                .name(format!("{}-server", other.name()))
                .spawn(move || {
                    if let Err(e) = ringstream::runtime::pin_current_thread(SERVER_CPU) {
                        eprintln!("yardstick: server unpinned: {e}");
                    }
                    remember_tid(&seen);
                    let listener =
                        std::net::TcpListener::bind("127.0.0.1:0").expect("bind the server");
                    tx.send(listener.local_addr().expect("addr"))
                        .expect("report");
                    match other {
                        Peer::Tokio => tokio_server(listener),
                        Peer::Monoio => monoio_server(listener),
                        Peer::RawRing => raw_ring::serve(listener),
                        Peer::Ringstream | Peer::RingstreamSpin => unreachable!(),
                    }
                })
                .expect("spawn the server thread");
            let addr = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the server reports its address");
            Server {
                peer: other,
                addr,
                tid,
                _keep: None,
            }
        }
    }
}

async fn ringstream_echo(stream: ringstream::Stream) -> io::Result<()> {
    let (mut reader, writer) = stream.split();
    loop {
        let data = reader.read(READ_SIZE).await?;
        if data.is_empty() {
            return Ok(());
        }
        writer.write_bytes(data)?;
        writer.drain().await?;
    }
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
