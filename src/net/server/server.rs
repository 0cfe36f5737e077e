//! [`StreamServer`]: the handle of a running server (asyncio's `Server`).

use std::future::{poll_fn, Future};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::runtime::CoreGroup;
use crate::transport::Addr;

use super::builder::ServerBuilder;
use super::control::Control;
use super::deferred::DeferredListen;

/// How long [`StreamServer::shutdown`] waits for aborted connections' handlers to end.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// A server with a listening socket and a pinned thread and ring on every core
/// (asyncio's `start_server` / `Server`).
///
/// Cloning gives another handle to the same server (for a signal-handling thread, say).
/// When the last handle drops, the server closes and aborts its connections without
/// waiting; keep a handle and call [`serve_forever`](StreamServer::serve_forever) or
/// [`shutdown`](StreamServer::shutdown) to end it in order.
///
/// ```
/// use ringstream::net::StreamServer;
/// use std::time::Duration;
///
/// let server = StreamServer::bind("127.0.0.1:0")
///     .cores(1)
///     .serve(|stream| async move {
///         let (mut reader, writer) = stream.split();
///         let line = reader.read_line().await?;
///         writer.write(&line)?;
///         Ok(())
///     })?;
/// let addr = server.local_addr().to_string();
///
/// let echoed = ringstream::run(async move {
///     let (mut reader, writer) = ringstream::connect(&addr).await?.split();
///     writer.write(b"hello\n")?;
///     reader.read_line().await.map_err(std::io::Error::from)
/// })??;
/// assert_eq!(&echoed[..], b"hello\n");
///
/// let report = server.shutdown(Duration::from_secs(5))?;
/// assert_eq!(report.aborted, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "start_server")]
#[doc(alias = "start_unix_server")]
#[doc(alias = "Server")]
#[doc(alias = "asyncio.Server")]
#[derive(Clone)]
pub struct StreamServer {
    inner: Arc<Inner>,
}

struct Inner {
    control: Arc<Control>,
    group: Mutex<Option<CoreGroup<()>>>,
    cpus: Vec<usize>,
    addrs: Vec<Addr>,
    unix_path: Mutex<Option<PathBuf>>,
    /// Sockets bound but not listening yet (`start_serving(false)`), until
    /// `start_serving` or close.
    deferred: Mutex<Option<DeferredListen>>,
}

/// What [`StreamServer::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open at the deadline, aborted.
    pub aborted: usize,
    /// Every handler ended (false only if aborted handlers did not end in time either).
    pub complete: bool,
}

/// One core's counters, from [`StreamServer::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreStats {
    /// The CPU the core runs on.
    pub cpu: usize,
    /// Connections this core accepted so far.
    pub accepted: u64,
    /// Connections whose handler is still running.
    pub active: usize,
    /// Handlers that returned an error or panicked.
    pub failures: u64,
}

impl StreamServer {
    /// A TCP server on `addr` (`"0.0.0.0:7878"`, `"[::1]:0"`, `"localhost:8080"`); port 0
    /// picks a free port, shared by every core.
    #[doc(alias = "start_server")]
    #[doc(alias = "asyncio.start_server")]
    pub fn bind(addr: &str) -> ServerBuilder {
        ServerBuilder::tcp(addr)
    }

    /// A Unix-socket server at a filesystem path (a stale socket file is replaced, the file
    /// is removed on close) or an `@abstract` name. There is one listening socket; every
    /// core arms its own accept on it, and the kernel gives each new connection to one of
    /// the waiting cores.
    #[doc(alias = "start_unix_server")]
    #[doc(alias = "asyncio.start_unix_server")]
    pub fn bind_unix(path: impl Into<PathBuf>) -> ServerBuilder {
        ServerBuilder::unix(path.into())
    }

    pub(crate) fn new(
        control: Arc<Control>,
        group: CoreGroup<()>,
        addrs: Vec<Addr>,
        unix_path: Option<PathBuf>,
        deferred: Option<DeferredListen>,
    ) -> StreamServer {
        StreamServer {
            inner: Arc::new(Inner {
                control,
                cpus: group.cpus(),
                group: Mutex::new(Some(group)),
                addrs,
                unix_path: Mutex::new(unix_path),
                deferred: Mutex::new(deferred),
            }),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> &Addr {
        &self.inner.addrs[0]
    }

    /// Every core's listening address, by core index (the same address for every core).
    #[doc(alias = "sockets")]
    #[doc(alias = "Server.sockets")]
    pub fn local_addrs(&self) -> &[Addr] {
        &self.inner.addrs
    }

    /// True while the server listens and its cores accept connections (after start and
    /// before close).
    #[doc(alias = "Server.is_serving")]
    pub fn is_serving(&self) -> bool {
        self.inner.control.is_serving()
    }

    /// Starts listening and accepting, for a server built with `start_serving(false)`
    /// (see [`ServerBuilder::start_serving`]). No effect when serving already or after
    /// close.
    ///
    /// # Errors
    /// `AddrInUse` when another socket started listening on the address since
    /// [`serve`](ServerBuilder::serve) checked it (see
    /// [`ServerBuilder::reuse_port`]), or `listen(2)` failing; the server then stays
    /// not serving, and a later call tries again.
    #[doc(alias = "Server.start_serving")]
    pub fn start_serving(&self) -> io::Result<()> {
        let mut deferred = self
            .inner
            .deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.inner.control.is_closed() {
            return Ok(());
        }
        if let Some(sockets) = deferred.as_ref() {
            sockets.listen()?;
        }
        // The shards own the sockets; these copies are no longer needed.
        *deferred = None;
        self.inner.control.broadcast(|c| c.serving = true);
        Ok(())
    }

    /// Stops accepting on every core and closes the listening sockets. Open connections
    /// go on; [`wait_closed`](StreamServer::wait_closed) waits for them. Idempotent.
    #[doc(alias = "Server.close")]
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes every open connection gracefully: what is queued is still sent, then FIN.
    #[doc(alias = "Server.close_clients")]
    pub fn close_clients(&self) {
        self.inner.control.broadcast(|c| c.close_clients += 1);
    }

    /// Aborts every open connection at once (RST; queued bytes are dropped).
    #[doc(alias = "Server.abort_clients")]
    pub fn abort_clients(&self) {
        self.inner.control.broadcast(|c| c.abort_clients += 1);
    }

    /// Resolves once the server is closed and every connection handler has finished.
    /// Works from any executor or thread.
    #[doc(alias = "Server.wait_closed")]
    pub fn wait_closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let control = self.inner.control.clone();
        poll_fn(move |cx| control.poll_finished(cx))
    }

    /// Closes, waits up to `timeout` for the handlers to finish, then aborts the
    /// connections that are left and waits for their handlers. Blocks the calling thread
    /// (call it from `main` or a signal thread, not from a ring thread).
    ///
    /// # Errors
    /// A core whose thread panicked.
    pub fn shutdown(&self, timeout: Duration) -> io::Result<ShutdownReport> {
        self.close();
        let mut report = ShutdownReport {
            aborted: 0,
            complete: true,
        };
        if !self
            .inner
            .control
            .wait_finished(Some(Instant::now() + timeout))
        {
            report.aborted = self.stats().iter().map(|c| c.active).sum();
            self.abort_clients();
            report.complete = self
                .inner
                .control
                .wait_finished(Some(Instant::now() + ABORT_GRACE));
        }
        if report.complete {
            self.inner.join()?;
        }
        Ok(report)
    }

    /// Blocks until the server is closed (by [`close`](StreamServer::close) or
    /// [`shutdown`](StreamServer::shutdown) from another thread or handle) and every
    /// handler has finished.
    ///
    /// # Errors
    /// A core whose thread panicked.
    #[doc(alias = "Server.serve_forever")]
    pub fn serve_forever(&self) -> io::Result<()> {
        self.inner.control.wait_finished(None);
        self.inner.join()
    }

    /// Per-core counters.
    pub fn stats(&self) -> Vec<CoreStats> {
        self.inner
            .control
            .cores
            .iter()
            .zip(&self.inner.cpus)
            .map(|(c, &cpu)| CoreStats {
                cpu,
                accepted: c.accepted.load(Ordering::Relaxed),
                active: c.active.load(Ordering::Relaxed),
                failures: c.failures.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Inner {
    fn close(&self) {
        self.control.broadcast(|c| c.closed = true);
        // Never listened: the shards' own descriptors are the last ones, and close with them.
        drop(
            self.deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if let Some(path) = self
            .unix_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Joins the core threads (once); a panicked core is an error.
    fn join(&self) -> io::Result<()> {
        let group = self.group.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(group) = group else { return Ok(()) };
        for result in group.join() {
            result.map_err(|e| io::Error::other(format!("server core failed: {e}")))?;
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: nobody can stop the server any more, so stop it now.
        self.close();
        self.control.broadcast(|c| c.abort_clients += 1);
    }
}

impl std::fmt::Debug for StreamServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamServer")
            .field("addrs", &self.inner.addrs)
            .field("cpus", &self.inner.cpus)
            .field("serving", &self.is_serving())
            .finish_non_exhaustive()
    }
}
