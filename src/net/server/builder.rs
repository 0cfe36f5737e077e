//! [`ServerBuilder`]: where a [`StreamServer`] listens, on how many cores, and how its
//! connections are set up.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::net::{bind, ListenOptions, Listener};
use crate::runtime::{Builder, PerCore};
use crate::stream::Stream;
use crate::transport::Addr;

use super::control::Control;
use super::deferred::DeferredListen;
use super::failure::{FailureHook, HandlerFailure};
use super::server::StreamServer;
use super::shard::{self, Limits};
use super::watchdog::Timeouts;

#[derive(Debug, Clone)]
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

/// Configures a [`StreamServer`]; made by [`StreamServer::bind`] or
/// [`StreamServer::bind_unix`], finished by [`serve`](ServerBuilder::serve).
#[derive(Clone)]
pub struct ServerBuilder {
    target: Target,
    cores: Option<usize>,
    cpus: Option<Vec<usize>>,
    listen: ListenOptions,
    start_serving: bool,
    runtime: Builder,
    hook: Option<FailureHook>,
    max_connections: Option<usize>,
    timeouts: Timeouts,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
}

impl ServerBuilder {
    pub(crate) fn tcp(addr: &str) -> ServerBuilder {
        ServerBuilder::new(Target::Tcp(addr.to_string()))
    }

    pub(crate) fn unix(path: PathBuf) -> ServerBuilder {
        ServerBuilder::new(Target::Unix(path))
    }

    fn new(target: Target) -> ServerBuilder {
        ServerBuilder {
            target,
            cores: None,
            cpus: None,
            listen: ListenOptions::default(),
            start_serving: true,
            runtime: Builder::new(),
            hook: None,
            max_connections: None,
            timeouts: Timeouts::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// How many cores serve (the first `n` this process may run on); default: all of them.
    pub fn cores(mut self, n: usize) -> Self {
        self.cores = Some(n);
        self
    }

    /// Exactly these CPUs serve, one core each.
    pub fn cpus(mut self, cpus: Vec<usize>) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// `listen(2)` backlog of every listening socket; default 1024.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.listen.backlog = backlog;
        self
    }

    /// Every connection's reader limit (A1); default 64 KiB.
    pub fn limit(mut self, limit: usize) -> Self {
        self.listen.stream.limit = limit;
        self
    }

    /// Every connection's write-buffer watermarks (see
    /// [`StreamWriter::set_write_buffer_limits`](crate::StreamWriter::set_write_buffer_limits)).
    pub fn write_buffer_limits(mut self, high: Option<usize>, low: Option<usize>) -> Self {
        self.listen.stream.high = high;
        self.listen.stream.low = low;
        self
    }

    /// `TCP_NODELAY` on accepted connections; default on.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.listen.stream.nodelay = on;
        self
    }

    /// Whether this server may share its TCP address with other listening sockets
    /// (`SO_REUSEPORT`, the kernel spreading connections between them); default off.
    ///
    /// Off, [`serve`](ServerBuilder::serve) fails with `AddrInUse` when another socket
    /// listens on the address, even one with `SO_REUSEPORT`. The cores of this server
    /// share the port either way: with more than one core the shards set `SO_REUSEPORT`
    /// after checking that the address is free. The check and the shards' `listen()` are
    /// two steps, so a reuse-port server of the same user that starts listening in
    /// between can still join; with `start_serving(false)` the check is made again just
    /// before listening (when `reuse_address` is on, the default).
    ///
    /// On, no check is made: set it on every server meant to share the address (a
    /// rolling restart, say).
    ///
    /// ```
    /// use ringstream::net::StreamServer;
    ///
    /// let old = StreamServer::bind("127.0.0.1:0").cores(1).reuse_port(true)
    ///     .serve(|_stream| async { Ok(()) })?;
    /// let addr = old.local_addr().to_string();
    /// // Both listen; new connections go to either until the old one closes.
    /// let new = StreamServer::bind(&addr).cores(1).reuse_port(true)
    ///     .serve(|_stream| async { Ok(()) })?;
    /// old.shutdown(std::time::Duration::from_secs(5))?;
    /// # new.shutdown(std::time::Duration::from_secs(5))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.listen.reuse_port = on;
        self
    }

    /// `SO_REUSEADDR` on TCP listeners; default on.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.listen.reuse_address = on;
        self
    }

    /// Whether the server listens and accepts at once (default), or only after
    /// [`StreamServer::start_serving`]. Either way [`serve`](ServerBuilder::serve) binds
    /// (and reports a taken address); until serving starts the sockets do not listen, so
    /// clients are refused (`ECONNREFUSED`) rather than left in a backlog.
    ///
    /// ```
    /// use ringstream::net::StreamServer;
    ///
    /// let server = StreamServer::bind("127.0.0.1:0")
    ///     .cores(1)
    ///     .start_serving(false)
    ///     .serve(|_stream| async { Ok(()) })?;
    /// let addr = server.local_addr().to_string();
    /// assert!(std::net::TcpStream::connect(&addr).is_err(), "refused before start_serving");
    /// server.start_serving()?;
    /// assert!(server.is_serving());
    /// std::net::TcpStream::connect(&addr)?;
    /// # server.shutdown(std::time::Duration::from_secs(5))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_serving(mut self, on: bool) -> Self {
        self.start_serving = on;
        self
    }

    /// Closes a connection that has received no byte and sent none for `timeout` (as
    /// HAProxy's `timeout client`); default none. Whatever is queued is still sent, then
    /// FIN; a connection that has not closed a second later (its peer reads nothing) is
    /// aborted. The handler's reads then see EOF and its writes fail.
    ///
    /// The connections are looked at every eighth of the shortest timeout (at most every
    /// second) rather than with a timer per read, so one closes no sooner than `timeout`
    /// after its last activity and at most two such looks later.
    ///
    /// ```no_run
    /// use ringstream::net::StreamServer;
    /// use std::time::Duration;
    ///
    /// let server = StreamServer::bind("0.0.0.0:8080")
    ///     .idle_timeout(Duration::from_secs(75))
    ///     .serve(|stream| async move {
    ///         let (mut reader, writer) = stream.split();
    ///         loop {
    ///             let line = reader.read_line().await?;
    ///             if line.is_empty() {
    ///                 return Ok(()); // EOF, or closed for being idle
    ///             }
    ///             writer.write(&line)?;
    ///         }
    ///     })?;
    /// server.serve_forever()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = Some(timeout);
        self
    }

    /// Closes a connection whose handler waits for data that does not come: a read
    /// (`read`, `read_line`, `read_exact`, ...) that has been waiting for `timeout` since it
    /// began or since the last bytes arrived, whichever is later; default none. This is
    /// nginx's `client_body_timeout`: the time allowed between two successive receives, not
    /// for a whole request, so a client that sends one byte at a time more slowly than
    /// this (slowloris) is closed, and a handler busy elsewhere (not reading) is not
    /// timed. A protocol ([`serve_protocol`](ServerBuilder::serve_protocol)) waits for data
    /// whenever it is reading (not paused with `pause_reading`, not after EOF). Closed as
    /// for [`idle_timeout`](ServerBuilder::idle_timeout), and with the same precision.
    ///
    /// ```no_run
    /// use ringstream::net::StreamServer;
    /// use std::time::Duration;
    ///
    /// let server = StreamServer::bind("0.0.0.0:8080")
    ///     .read_timeout(Duration::from_secs(10))
    ///     .serve(|stream| async move {
    ///         let (mut reader, _writer) = stream.split();
    ///         // A client that dribbles its header in slower than 10 s a chunk is closed:
    ///         // this read then fails or ends early.
    ///         let _head = reader.read_until(b"\r\n\r\n").await?;
    ///         Ok(())
    ///     })?;
    /// server.serve_forever()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.read = Some(timeout);
        self
    }

    /// At most `max` connections open at once (handlers running), as nginx's
    /// `worker_connections`; default no limit. Each core takes its share,
    /// `max.div_ceil(cores)`, so the server as a whole may hold up to `cores - 1` more.
    /// At its share a core stops accepting: new clients wait in the listen backlog (and
    /// are refused or time out when that is full) until a connection ends. A warning is
    /// logged when a core stops and a line at `info` when it accepts again.
    ///
    /// ```
    /// use ringstream::net::StreamServer;
    ///
    /// let server = StreamServer::bind("127.0.0.1:0")
    ///     .cores(1)
    ///     .max_connections(10_000)
    ///     .serve(|_stream| async { Ok(()) })?;
    /// # server.shutdown(std::time::Duration::from_secs(5))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The settings of every core's runtime (ring size, buffers).
    pub fn runtime(mut self, builder: Builder) -> Self {
        self.runtime = builder;
        self
    }

    /// Called for every handler that returns an error or panics (on that core's thread).
    /// Without a hook they go to the `log` facade at `warn` level.
    pub fn on_handler_failure(
        mut self,
        hook: impl Fn(&HandlerFailure) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Serves TLS on every connection (asyncio's `start_server(..., ssl=ctx)`; feature
    /// `tls`): the handler gets the stream once the handshake is done, so
    /// [`tls_info`](crate::StreamWriter::tls_info) tells it the ALPN protocol and the
    /// client's SNI at once. A client whose handshake fails or times out (the acceptor's
    /// handshake timeout) is closed without calling the handler; it is logged at `debug`
    /// level, as asyncio logs failed handshakes only in debug mode. Protocols served with
    /// [`serve_protocol`](Self::serve_protocol) get TLS too.
    ///
    /// ```no_run
    /// use ringstream::tls::TlsAcceptor;
    ///
    /// let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// let server = ringstream::StreamServer::bind("0.0.0.0:8443")
    ///     .tls(acceptor)
    ///     .serve(|mut stream| async move {
    ///         let line = stream.reader.read_line().await?;
    ///         stream.writer.write(&line)?;
    ///         stream.writer.drain().await
    ///     })?;
    /// server.serve_forever()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    #[doc(alias = "ssl")]
    pub fn tls(mut self, acceptor: crate::tls::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Binds a listening socket for every core (TCP: one socket per core, all on the same
    /// port, with `SO_REUSEPORT` when there are several; Unix: one socket every core
    /// accepts from), starts one pinned
    /// thread and ring per core, and runs `handler` for every connection on the core that
    /// accepted it. `handler` is cloned onto each core, so its futures need not be `Send`.
    ///
    /// Binding happens before this returns, so a busy port or a bad path is reported here.
    /// Host names are resolved here too (blocking): call `serve` from an ordinary thread
    /// such as `main`, not from inside a runtime.
    ///
    /// # Errors
    /// Bad options (`InvalidInput`), resolution or binding failures (with the address;
    /// `AddrInUse` when another socket listens there, see
    /// [`reuse_port`](ServerBuilder::reuse_port)), or a core that could not start (its
    /// ring setup error).
    pub fn serve<H, Fut>(self, handler: H) -> io::Result<StreamServer>
    where
        H: Fn(Stream) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        #[cfg(feature = "tls")]
        if let Some(acceptor) = self.tls.clone() {
            return self.serve_streams(move |stream: Stream| {
                let handler = handler.clone();
                // At once, not in the task: the client's hello must not reach the reader
                // as plaintext before the session is there to take it.
                let started = acceptor
                    .session()
                    .and_then(|(session, setup)| stream.writer.conn().start_tls(session, setup));
                async move {
                    let handshake = match started {
                        Ok(()) => stream.writer.handshake().await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = handshake {
                        let peer = stream.writer.peer_addr().ok();
                        log::debug!("ringstream server: TLS handshake with {peer:?} failed: {e}");
                        return Ok(());
                    }
                    handler(stream).await
                }
            });
        }
        self.serve_streams(handler)
    }

    /// [`serve`](Self::serve) once TLS, if any, is part of `handler`.
    fn serve_streams<H, Fut>(self, handler: H) -> io::Result<StreamServer>
    where
        H: Fn(Stream) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.listen.stream.check()?;
        self.check_limits()?;
        let mut per_core = PerCore::new().runtime(self.runtime.clone());
        if let Some(cpus) = &self.cpus {
            per_core = per_core.cpus(cpus.clone());
        } else if let Some(n) = self.cores {
            per_core = per_core.cores(n);
        }
        let cpus = per_core.resolve_cpus()?;
        let Bound {
            sockets,
            addrs,
            unix_path,
            deferred,
        } = self.bind_all(cpus.len())?;
        let control = Control::new(cpus.len(), self.start_serving, self.hook.clone());
        let sockets = Arc::new(Mutex::new(sockets));
        let handler = Arc::new(Mutex::new(handler));
        let listen = self.listen;
        let limits = Limits {
            max_connections: self.max_connections.map(|max| max.div_ceil(cpus.len())),
            timeouts: self.timeouts,
        };
        let shard_control = control.clone();
        let group = per_core.launch(move |index| {
            let socket = sockets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(index)
                .and_then(Option::take);
            let handler = handler.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let control = shard_control.clone();
            async move {
                let listener = match socket {
                    Some(ShardSocket::Tcp(s)) => Listener::from_tcp(s, listen),
                    Some(ShardSocket::Unix(s)) => Listener::from_unix(s, listen),
                    None => {
                        control.shard_finished();
                        return;
                    }
                };
                let finished = FinishGuard(control.clone());
                shard::run(index, listener, handler, control, limits).await;
                drop(finished);
            }
        });
        let group = match group {
            Ok(group) => group,
            Err(e) => {
                if let Some(path) = &unix_path {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        };
        Ok(StreamServer::new(
            control, group, addrs, unix_path, deferred,
        ))
    }

    fn check_limits(&self) -> io::Result<()> {
        let invalid = |message: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        if self.max_connections == Some(0) {
            return invalid("max_connections must be at least 1 (leave it unset for no limit)");
        }
        if self.timeouts.idle == Some(Duration::ZERO) {
            return invalid("idle_timeout must be longer than zero (leave it unset for none)");
        }
        if self.timeouts.read == Some(Duration::ZERO) {
            return invalid("read_timeout must be longer than zero (leave it unset for none)");
        }
        Ok(())
    }

    fn bind_all(&self, cores: usize) -> io::Result<Bound> {
        match &self.target {
            Target::Tcp(addr) => {
                let first = resolve(addr)?;
                let shared = self.listen.reuse_port;
                let mut options = self.listen;
                // Several cores share the port through SO_REUSEPORT, which would let the
                // shards join any other reuse-port listener there: unless sharing was asked
                // for, check first that nobody listens. A single core needs no check (its
                // socket has no SO_REUSEPORT, so the kernel refuses a taken port), nor does
                // port 0 (the first shard gets a port nobody holds). Another server that
                // starts listening between the check and the shards' listen() still gets
                // in (there is no race-free way short of one shared listening socket);
                // it must have SO_REUSEPORT, same user, and have passed its own check
                // before the shards listened.
                options.reuse_port = shared || cores > 1;
                let check = !shared && cores > 1 && first.port() != 0;
                if check {
                    bind::check_free(first, options.reuse_address)?;
                }
                let mut sockets = Vec::with_capacity(cores);
                let mut addrs = Vec::with_capacity(cores);
                let mut later = Vec::new();
                let mut target = first;
                for _ in 0..cores {
                    let socket: TcpListener = bind::tcp_bound(target, &options)?;
                    let local = socket.local_addr()?;
                    // Port 0: the first bind picks the port, the others join it.
                    target = local;
                    if self.start_serving {
                        bind::listen(&socket, options.backlog, &local.to_string())?;
                    } else {
                        later.push(socket2::Socket::from(socket.try_clone()?));
                    }
                    addrs.push(Addr::Tcp(local));
                    sockets.push(Some(ShardSocket::Tcp(socket)));
                }
                // The check again at start_serving (on the port picked, for port 0): bound
                // sockets that do not listen keep out neither other reuse-port sockets nor,
                // with SO_REUSEADDR, other binds. The shards' own sockets let the probe
                // through only when they have SO_REUSEADDR.
                let recheck = (!shared && cores > 1 && options.reuse_address).then_some(target);
                let deferred = (!self.start_serving).then(|| {
                    DeferredListen::new(later, options.backlog, target.to_string(), recheck)
                });
                Ok(Bound {
                    sockets,
                    addrs,
                    unix_path: None,
                    deferred,
                })
            }
            Target::Unix(path) => {
                let (socket, owned) = if self.start_serving {
                    bind::unix(path, &self.listen)?
                } else {
                    bind::unix_bound(path, &self.listen)?
                };
                let made = Unmade(owned.clone());
                let local = socket.local_addr()?;
                let deferred = if self.start_serving {
                    None
                } else {
                    let copy = socket2::Socket::from(socket.try_clone()?);
                    let shown = path.display().to_string();
                    Some(DeferredListen::new(
                        vec![copy],
                        self.listen.backlog,
                        shown,
                        None,
                    ))
                };
                let mut sockets = Vec::with_capacity(cores);
                for _ in 1..cores {
                    let copy: UnixListener = socket.try_clone()?;
                    sockets.push(Some(ShardSocket::Unix(copy)));
                }
                sockets.push(Some(ShardSocket::Unix(socket)));
                made.keep();
                Ok(Bound {
                    sockets,
                    addrs: vec![Addr::Unix(local); cores],
                    unix_path: owned,
                    deferred,
                })
            }
        }
    }
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("target", &self.target)
            .field("cores", &self.cores)
            .field("cpus", &self.cpus)
            .field("listen", &self.listen)
            .field("start_serving", &self.start_serving)
            .field("max_connections", &self.max_connections)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// The listening sockets of every shard (taken by index as the cores start), what they
/// are bound to, and the Unix socket file to remove on close.
struct Bound {
    sockets: Vec<Option<ShardSocket>>,
    addrs: Vec<Addr>,
    unix_path: Option<PathBuf>,
    /// The sockets to start listening at `start_serving`, when built not serving.
    deferred: Option<DeferredListen>,
}

/// Removes a Unix socket file just made unless [`keep`](Unmade::keep) is called (a later
/// step of binding failed).
struct Unmade(Option<PathBuf>);

impl Unmade {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Unmade {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

enum ShardSocket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Counts the shard out however its future ends (return, panic, runtime teardown).
struct FinishGuard(Arc<Control>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.shard_finished();
    }
}

/// A literal address, or the first address a host name resolves to.
fn resolve(addr: &str) -> io::Result<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("resolving {addr:?} failed: {e}")))?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{addr:?} resolved to no address"),
            )
        })
}
