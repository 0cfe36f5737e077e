//! The `http_hello` server on tokio, built to compare with ringstream's `StreamServer`:
//! one thread per core, each pinned to its CPU with its own `current_thread` runtime and
//! its own `SO_REUSEPORT` listener on the shared port (the kernel spreads connections over
//! them), and a task per connection on the thread that accepted it.
//!
//! [`TokioServer::start_with`] serves another handler (the http bench's hyper rows), and
//! can give each thread a `multi_thread` runtime with one worker instead.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::head::{parse_head, CONTINUE, MAX_HEAD, TOO_LARGE};

/// `listen(2)` backlog, as ringstream's default.
const BACKLOG: u32 = 1024;
/// Room made in the input buffer before each read.
const READ_SIZE: usize = 8 * 1024;
/// How long a closing connection keeps reading (and discarding) after its last response.
const LINGER: Duration = Duration::from_secs(1);
/// At most this much is read and discarded while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Where a connection is between requests.
enum State {
    /// Waiting for (the rest of) a request head; the first `scanned` bytes of the input
    /// are known to hold no `\r\n\r\n` end (minus 3 bytes of overlap).
    Head { scanned: usize },
    /// Discarding `left` bytes of body, then sending `response`.
    Body {
        left: u64,
        response: &'static [u8],
        keep_alive: bool,
    },
}

/// Answers every request on the connection until the client closes it, asks to close it,
/// or sends something unparseable. The same rules as the ringstream handler
/// (`super::head`), framed by hand: bytes are read into one buffer, every
/// complete request in it is answered into an output buffer, and the output is written
/// (one `write_all`) only when no complete request is left, so the responses to a
/// pipelined batch leave together.
///
/// # Errors
/// The connection's I/O errors; protocol errors are answered (400, 431, 501) and end the
/// connection without an error.
pub async fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input = BytesMut::with_capacity(READ_SIZE);
    let mut output: Vec<u8> = Vec::with_capacity(1024);
    let mut state = State::Head { scanned: 0 };
    loop {
        // Answer every complete request that is buffered.
        let mut close = false;
        loop {
            match state {
                State::Body {
                    left,
                    response,
                    keep_alive,
                } => {
                    let n = left.min(input.len() as u64);
                    input.advance(n as usize);
                    if n < left {
                        state = State::Body {
                            left: left - n,
                            response,
                            keep_alive,
                        };
                        break;
                    }
                    output.extend_from_slice(response);
                    state = State::Head { scanned: 0 };
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                State::Head { scanned } => {
                    let from = scanned.saturating_sub(3);
                    let Some(end) =
                        memchr::memmem::find(&input[from..], b"\r\n\r\n").map(|i| from + i)
                    else {
                        if input.len() > MAX_HEAD + 3 {
                            return refuse(&mut stream, &mut output, TOO_LARGE).await;
                        }
                        state = State::Head {
                            scanned: input.len(),
                        };
                        break;
                    };
                    if end > MAX_HEAD {
                        return refuse(&mut stream, &mut output, TOO_LARGE).await;
                    }
                    let head = input.split_to(end + 4);
                    let request = match parse_head(&head) {
                        Ok(request) => request,
                        Err(refusal) => {
                            return refuse(&mut stream, &mut output, refusal.response()).await
                        }
                    };
                    if request.content_length > 0 {
                        if request.expect_continue {
                            output.extend_from_slice(CONTINUE);
                        }
                        state = State::Body {
                            left: request.content_length,
                            response: request.response(),
                            keep_alive: request.keep_alive,
                        };
                        continue;
                    }
                    output.extend_from_slice(request.response());
                    state = State::Head { scanned: 0 };
                    if !request.keep_alive {
                        close = true;
                        break;
                    }
                }
            }
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if close {
            return close_gracefully(&mut stream).await;
        }
        input.reserve(READ_SIZE);
        if stream.read_buf(&mut input).await? == 0 {
            // The client closed, between requests or in the middle of one: nobody is left
            // to answer.
            return Ok(());
        }
    }
}

/// Sends what is already answered and an error response, then closes as
/// [`close_gracefully`] does.
async fn refuse(
    stream: &mut TcpStream,
    output: &mut Vec<u8>,
    response: &'static [u8],
) -> io::Result<()> {
    output.extend_from_slice(response);
    stream.write_all(output).await?;
    close_gracefully(stream).await
}

/// Closes without losing what was sent: half-close (FIN after the last response), then
/// read and drop what the client still sends until it closes, for at most [`LINGER`]
/// (closing with unread bytes would send an RST that can destroy the response before the
/// client reads it).
async fn close_gracefully(stream: &mut TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let _ = tokio::time::timeout(LINGER, async {
        let mut buf = vec![0; 64 * 1024];
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(n) if n > 0 => discarded += n,
                _ => break,
            }
        }
    })
    .await;
    Ok(())
}

/// Which tokio runtime each serving thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `current_thread`: the pinned thread itself runs every task.
    CurrentThread,
    /// `multi_thread` with one worker, pinned to the same CPU: the work-stealing
    /// scheduler most tokio servers run, on one core. Everything (accepting too) runs on
    /// the worker, whose id [`TokioServer::tids`] reports.
    MultiThreadOneWorker,
}

/// A running tokio server: one pinned thread, `current_thread` runtime and `SO_REUSEPORT`
/// listener per CPU.
pub struct TokioServer {
    addr: SocketAddr,
    cpus: Vec<usize>,
    tids: Vec<u32>,
    stop: watch::Sender<bool>,
    threads: Vec<thread::JoinHandle<()>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    active: AtomicUsize,
    failures: AtomicU64,
}

impl TokioServer {
    /// Binds `addr` once per CPU in `cpus` (port 0: the first socket picks the port, the
    /// others join it) and starts serving. `on_failure` sees every connection that ended
    /// with an I/O error (on the thread that served it).
    ///
    /// # Errors
    /// Binding or listening failed, or a thread or runtime could not start.
    pub fn start(
        addr: SocketAddr,
        cpus: &[usize],
        on_failure: impl Fn(&io::Error) + Send + Sync + 'static,
    ) -> io::Result<TokioServer> {
        Self::start_with(
            addr,
            cpus,
            Flavor::CurrentThread,
            serve_connection,
            on_failure,
        )
    }

    /// [`start`](Self::start) with `handler` serving each connection, on runtimes of
    /// `flavor`.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_with<H, Fut>(
        addr: SocketAddr,
        cpus: &[usize],
        flavor: Flavor,
        handler: H,
        on_failure: impl Fn(&io::Error) + Send + Sync + 'static,
    ) -> io::Result<TokioServer>
    where
        H: Fn(TcpStream) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + Send + 'static,
    {
        if cpus.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no CPU given"));
        }
        let mut sockets = Vec::with_capacity(cpus.len());
        let mut target = addr;
        for _ in cpus {
            let socket = if target.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_reuseport(true)?;
            socket
                .bind(target)
                .map_err(|e| io::Error::new(e.kind(), format!("binding {target} failed: {e}")))?;
            target = socket.local_addr()?;
            sockets.push(socket);
        }
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let on_failure = Arc::new(on_failure);
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<u32>>();
        let mut threads = Vec::with_capacity(cpus.len());
        for (index, (socket, &cpu)) in sockets.into_iter().zip(cpus).enumerate() {
            let mut stop_rx = stop_rx.clone();
            let counters = counters.clone();
            let on_failure = on_failure.clone();
            let ready_tx = ready_tx.clone();
            let handler = handler.clone();
            let thread = thread::Builder::new()
                .name(format!("tokio-http-{index}"))
                .spawn(move || {
                    let pin = move || {
                        if ringstream::runtime::pin_current_thread(cpu).is_err() {
                            eprintln!("tokio_server: cannot pin thread {index} to CPU {cpu}");
                        }
                    };
                    pin();
                    let runtime = match flavor {
                        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build(),
                        Flavor::MultiThreadOneWorker => tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(1)
                            .on_thread_start(pin)
                            .enable_all()
                            .build(),
                    };
                    let setup = runtime.and_then(|rt| {
                        let listener = rt.block_on(async { socket.listen(BACKLOG) })?;
                        // The thread that runs the tasks: this one, or the one worker.
                        let tid = match flavor {
                            Flavor::CurrentThread => crate::cpu::current_thread_id(),
                            Flavor::MultiThreadOneWorker => rt
                                .block_on(rt.spawn(async { crate::cpu::current_thread_id() }))
                                .map_err(io::Error::other)?,
                        }?;
                        Ok((rt, listener, tid))
                    });
                    let (runtime, listener, tid) = match setup {
                        Ok(ok) => ok,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(tid));
                    let serving = accept_loop(listener, counters, on_failure, handler);
                    runtime.block_on(async move {
                        match flavor {
                            // Accepting runs on this thread, with the connections.
                            Flavor::CurrentThread => tokio::select! {
                                () = serving => {}
                                _ = stop_rx.wait_for(|stop| *stop) => {}
                            },
                            // Accepting runs on the worker; this thread only waits.
                            Flavor::MultiThreadOneWorker => {
                                let accepting = tokio::spawn(serving);
                                let _ = stop_rx.wait_for(|stop| *stop).await;
                                accepting.abort();
                            }
                        }
                    });
                    // Dropping the runtime drops every connection task: open connections
                    // are closed at once.
                })?;
            threads.push(thread);
        }
        drop(ready_tx);
        let mut tids = Vec::with_capacity(cpus.len());
        let mut failed = None;
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok(Ok(tid)) => tids.push(tid),
                Ok(Err(e)) => failed = Some(e),
                Err(_) => failed = Some(io::Error::other("a server thread died while starting")),
            }
        }
        let server = TokioServer {
            addr: target,
            cpus: cpus.to_vec(),
            tids,
            stop,
            threads,
            counters,
        };
        match failed {
            Some(e) => {
                server.shutdown();
                Err(e)
            }
            None => Ok(server),
        }
    }

    /// The address every thread listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CPU of each thread.
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// The kernel thread id of each serving thread (for `/proc/self/task/<tid>/stat`), in
    /// the order they started.
    pub fn tids(&self) -> &[u32] {
        &self.tids
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Connections still open.
    pub fn active(&self) -> usize {
        self.counters.active.load(Ordering::Relaxed)
    }

    /// Connections that ended with an I/O error.
    pub fn failures(&self) -> u64 {
        self.counters.failures.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for every open connection to end by itself; true if they did.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.active() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Stops accepting, drops the connections still open and joins the threads.
    pub fn shutdown(self) {
        let _ = self.stop.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

async fn accept_loop<H, Fut>(
    listener: TcpListener,
    counters: Arc<Counters>,
    on_failure: Arc<impl Fn(&io::Error) + Send + Sync + 'static>,
    handler: H,
) where
    H: Fn(TcpStream) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                counters.active.fetch_add(1, Ordering::Relaxed);
                let counters = counters.clone();
                let on_failure = on_failure.clone();
                let serving = handler(stream);
                tokio::spawn(async move {
                    let result = serving.await;
                    if let Err(e) = result {
                        counters.failures.fetch_add(1, Ordering::Relaxed);
                        on_failure(&e);
                    }
                    counters.active.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) => {
                // Out of descriptors, say: the connection waits in the backlog; try later.
                eprintln!("tokio_server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
