//! The one home of the helpers the integration tests share: loopback addresses and pairs,
//! a bounded run, descriptor and listener counts from `/proc`, bounded waits, a drop flag,
//! echo handlers (`echo`), a protocol that records its callbacks (`protocol`). Each test
//! file says `mod support;`; child processes come from `ringstream_harness::child`, which
//! the command's tests share.

// Every test file is its own crate and uses a different subset of these helpers: what one
// crate leaves unused is not dead.
#![allow(dead_code)]

pub mod echo;
pub mod protocol;
#[cfg(feature = "tls")]
pub mod tls;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringstream::net::{ListenOptions, Listener, StreamServer};
use ringstream::stream::Addr;
use ringstream::time::timeout;
use ringstream::{spawn, Stream, StreamOptions};

/// Any free port on the IPv4 loopback.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("literal address")
}

/// Runs `body` on a fresh runtime, failing the test if it takes longer than `limit` or
/// returns an error.
pub fn run_bounded<T>(limit: Duration, body: impl Future<Output = io::Result<T>>) -> T {
    ringstream::run(timeout(limit, body))
        .expect("runtime")
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"))
        .expect("no I/O error")
}

/// A loopback TCP connection between two ringstream streams: (client made by
/// `connect_with`, server side from `accept`).
pub async fn tcp_pair_with(
    client: StreamOptions,
    server: StreamOptions,
) -> io::Result<(Stream, Stream)> {
    let options = ListenOptions {
        stream: server,
        ..Default::default()
    };
    let listener = Listener::bind_with(loopback(), options)?;
    let addr = listener.local_addr()?.to_string();
    let connecting = spawn(async move { ringstream::connect_with(&addr, client).await });
    let accepted = listener.accept().await?;
    Ok((connecting.await.expect("connect task")?, accepted))
}

/// [`tcp_pair_with`] the default options on both sides.
pub async fn tcp_pair() -> io::Result<(Stream, Stream)> {
    tcp_pair_with(StreamOptions::default(), StreamOptions::default()).await
}

/// A loopback TCP connection between two std sockets: (client, server side).
pub fn std_tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(loopback()).expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// A blocking std client connected to `addr`, whose reads give up after 10 s (a test
/// waiting on a server that never answers fails instead of hanging).
pub fn tcp_client(addr: impl ToSocketAddrs) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// The TCP port `server` listens on.
pub fn port_of(server: &StreamServer) -> u16 {
    match server.local_addr() {
        Addr::Tcp(a) => a.port(),
        other => panic!("not a TCP address: {other}"),
    }
}

/// Descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The listening TCP sockets on `port`, each as the number of connections waiting in its
/// accept queue (`/proc/net/tcp`: state 0A is LISTEN, and a listener's rx_queue is its
/// accept queue).
pub fn listeners_on(port: u16) -> Vec<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let wanted = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let listening = cols.len() > 4 && cols[1].ends_with(&wanted) && cols[3] == "0A";
            let queue = cols.get(4)?.split(':').nth(1)?;
            listening
                .then(|| usize::from_str_radix(queue, 16).ok())
                .flatten()
        })
        .collect()
}

/// Waits until `done` holds, checking every 5 ms on this (blocking) thread; fails the
/// test naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sets its flag when dropped: proves a future (and what it owned) was dropped.
pub struct DropFlag(Rc<Cell<bool>>);

impl DropFlag {
    /// A flag and the shared cell that turns true on drop.
    pub fn new() -> (DropFlag, Rc<Cell<bool>>) {
        let dropped = Rc::new(Cell::new(false));
        (DropFlag(dropped.clone()), dropped)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}
