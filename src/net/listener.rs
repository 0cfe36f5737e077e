//! [`Listener`]: a listening TCP or Unix socket whose connections arrive through one
//! multishot `IORING_OP_ACCEPT`.
//!
//! The accept completions push the new descriptors into a queue the listener owns, so
//! a connection accepted while nobody is awaiting [`Listener::accept`] is kept, not lost,
//! and one accepted after the listener is dropped is closed when the op ends. The queue
//! is bounded: past [`MAX_QUEUED`] waiting connections the multishot accept is cancelled
//! (new connections wait in the kernel's backlog) and re-armed once the queue drains.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use io_uring::{opcode, types};
use socket2::{Domain, Protocol, Type};

use crate::driver::{sys, Completion, CompletionHandler, Driver};
use crate::runtime::current_core;
use crate::stream::{Stream, StreamOptions};
use crate::transport::socket::Socket;
use crate::transport::Addr;

use super::connect::unix_sockaddr;

/// Accepted connections held for `accept()` before the multishot accept is paused.
pub const MAX_QUEUED: usize = 64;

/// How a [`Listener`] is set up.
///
/// ```
/// let options = ringstream::net::ListenOptions {
///     backlog: 4096,
///     reuse_port: true,
///     ..Default::default()
/// };
/// # drop(options);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// `listen(2)` backlog; default 1024.
    pub backlog: i32,
    /// `SO_REUSEADDR` (TCP); default on, so a restarted server can bind at once.
    pub reuse_address: bool,
    /// `SO_REUSEPORT` (TCP): several listeners on one address, the kernel spreads
    /// connections between them; default off.
    pub reuse_port: bool,
    /// Options of every accepted stream (limit, watermarks, `TCP_NODELAY`).
    pub stream: StreamOptions,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            stream: StreamOptions::default(),
        }
    }
}

#[derive(Debug)]
enum Inner {
    Tcp(TcpListener),
    /// The path is unlinked on drop (filesystem sockets only).
    Unix(UnixListener, Option<PathBuf>),
}

/// A listening socket; [`accept`](Listener::accept) yields connected [`Stream`]s.
///
/// Bind it anywhere; accept on the runtime thread that will own the connections.
///
/// ```
/// ringstream::run(async {
///     let listener = ringstream::net::Listener::bind("127.0.0.1:0".parse().unwrap())?;
///     let addr = listener.local_addr()?.to_string();
///     let client = ringstream::spawn(async move {
///         let (mut reader, writer) = ringstream::connect(&addr).await?.split();
///         writer.write(b"ping\n")?;
///         reader.read_line().await.map_err(std::io::Error::from)
///     });
///     let (mut reader, writer) = listener.accept().await?.split();
///     let line = reader.read_line().await?;
///     writer.write(&line)?;
///     assert_eq!(&client.await.unwrap()?[..], b"ping\n");
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    options: ListenOptions,
    state: Rc<RefCell<AcceptState>>,
}

#[derive(Default)]
struct AcceptState {
    ready: VecDeque<OwnedFd>,
    error: Option<io::Error>,
    /// Key of the multishot accept in flight.
    armed: Option<usize>,
    /// Weak: the driver's op table holds the handler, which holds this state.
    driver: Option<Weak<Driver>>,
    waker: Option<Waker>,
}

impl std::fmt::Debug for AcceptState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptState")
            .field("ready", &self.ready.len())
            .field("armed", &self.armed.is_some())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds a TCP listener with [`ListenOptions::default`]. Port 0 picks a free port
    /// ([`local_addr`](Listener::local_addr) tells which).
    ///
    /// # Errors
    /// As `socket(2)`, `bind(2)`, `listen(2)`, with the address in the message.
    pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
        Listener::bind_with(addr, ListenOptions::default())
    }

    /// Binds a TCP listener with `options`.
    ///
    /// # Errors
    /// As [`Listener::bind`]; `InvalidInput` for bad stream options.
    pub fn bind_with(addr: SocketAddr, options: ListenOptions) -> io::Result<Listener> {
        options.stream.check()?;
        let failed = |what: &str, e: io::Error| {
            let hint = if e.raw_os_error() == Some(libc::EADDRINUSE) {
                " (another socket is bound there; pick another port, or set reuse_port on every listener that shares it)"
            } else {
                ""
            };
            io::Error::new(e.kind(), format!("{what} {addr} failed: {e}{hint}"))
        };
        let socket =
            socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
                .map_err(|e| failed("creating a socket for", e))?;
        if options.reuse_address {
            socket
                .set_reuse_address(true)
                .map_err(|e| failed("setting SO_REUSEADDR on", e))?;
        }
        if options.reuse_port {
            socket
                .set_reuse_port(true)
                .map_err(|e| failed("setting SO_REUSEPORT on", e))?;
        }
        socket
            .bind(&addr.into())
            .map_err(|e| failed("binding", e))?;
        socket
            .listen(options.backlog)
            .map_err(|e| failed("listening on", e))?;
        Ok(Listener::new(Inner::Tcp(socket.into()), options))
    }

    /// Binds a Unix stream listener at a filesystem path, or at a Linux abstract name
    /// written `@name`. A stale socket file at `path` is replaced (as asyncio does); any
    /// other file there is an error. The socket file is removed when the listener drops.
    ///
    /// # Errors
    /// As `bind(2)` / `listen(2)`, with the path in the message; `AlreadyExists` when a
    /// non-socket file is in the way.
    pub fn bind_unix(path: impl AsRef<Path>, options: ListenOptions) -> io::Result<Listener> {
        options.stream.check()?;
        let path = path.as_ref();
        let shown = path.display().to_string();
        let failed = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("{what} {shown} failed: {e}"))
        };
        let is_abstract = shown.starts_with('@');
        if !is_abstract {
            remove_stale_socket(path)?;
        }
        let addr = unix_sockaddr(path).map_err(|e| failed("binding", e))?;
        let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None)
            .map_err(|e| failed("creating a socket for", e))?;
        socket.bind(&addr).map_err(|e| failed("binding", e))?;
        socket
            .listen(options.backlog)
            .map_err(|e| failed("listening on", e))?;
        let owned_path = (!is_abstract).then(|| path.to_path_buf());
        Ok(Listener::new(
            Inner::Unix(socket.into(), owned_path),
            options,
        ))
    }

    fn new(inner: Inner, options: ListenOptions) -> Listener {
        Listener {
            inner,
            options,
            state: Rc::new(RefCell::new(AcceptState::default())),
        }
    }

    /// The bound address (the real port when bound to port 0).
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<Addr> {
        match &self.inner {
            Inner::Tcp(l) => l.local_addr().map(Addr::Tcp),
            Inner::Unix(l, _) => l.local_addr().map(Addr::Unix),
        }
    }

    /// The options the listener was made with.
    pub fn options(&self) -> &ListenOptions {
        &self.options
    }

    /// Waits for the next connection. Cancel-safe: a connection accepted while this
    /// future was pending but dropped stays queued for the next call.
    ///
    /// # Errors
    /// `Unsupported` outside a runtime; the accept error otherwise (the listener goes on:
    /// call `accept` again). `EMFILE` / `ENFILE` say that the process or system is out
    /// of descriptors; the connection waits in the backlog until one is free.
    pub async fn accept(&self) -> io::Result<Stream> {
        let fd = poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if let Some(fd) = state.ready.pop_front() {
                return Poll::Ready(Ok(fd));
            }
            if let Some(e) = state.error.take() {
                return Poll::Ready(Err(accept_error(e)));
            }
            if state.armed.is_none() {
                drop(state);
                self.arm()?;
                state = self.state.borrow_mut();
            }
            match &state.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => state.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await?;
        self.stream_from(fd)
    }

    fn stream_from(&self, fd: OwnedFd) -> io::Result<Stream> {
        let socket = match self.inner {
            Inner::Tcp(_) => {
                let s = TcpStream::from(fd);
                if self.options.stream.nodelay {
                    s.set_nodelay(true)?;
                }
                Socket::Tcp(s)
            }
            Inner::Unix(..) => Socket::Unix(UnixStream::from(fd)),
        };
        Stream::from_socket(socket, self.options.stream)
    }

    fn arm(&self) -> io::Result<()> {
        let Some(core) = current_core() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Listener::accept must run inside a ringstream runtime (Runtime::block_on or ringstream::run)",
            ));
        };
        let fd = match &self.inner {
            Inner::Tcp(l) => l.as_raw_fd(),
            Inner::Unix(l, _) => l.as_raw_fd(),
        };
        let sqe = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        let handler = Rc::new(AcceptHandler(self.state.clone()));
        let key = core.driver.submit_handler(sqe, handler);
        let mut state = self.state.borrow_mut();
        state.armed = Some(key);
        state.driver = Some(Rc::downgrade(&core.driver));
        Ok(())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        let driver = state.driver.take().and_then(|d| d.upgrade());
        if let (Some(key), Some(driver)) = (state.armed.take(), driver) {
            // Connections the op still delivers land in the queue, which the handler owns
            // until its last completion and then closes.
            driver.cancel(key);
        }
        state.ready.clear();
        drop(state);
        if let Inner::Unix(_, Some(path)) = &self.inner {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The multishot accept's completions.
struct AcceptHandler(Rc<RefCell<AcceptState>>);

impl CompletionHandler for AcceptHandler {
    fn on_completion(&self, driver: &Driver, c: Completion) {
        let mut state = self.0.borrow_mut();
        if c.result >= 0 {
            state.ready.push_back(sys::adopt_fd(c.result));
        } else if c.result != -libc::ECANCELED {
            state.error = Some(io::Error::from_raw_os_error(-c.result));
        }
        if !c.more() {
            state.armed = None;
        } else if state.ready.len() >= MAX_QUEUED {
            // Nobody is taking connections: leave the rest in the kernel's backlog.
            if let Some(key) = state.armed {
                driver.cancel(key);
            }
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

fn accept_error(e: io::Error) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EMFILE) => {
            " — this process is out of file descriptors: raise RLIMIT_NOFILE (ulimit -n) or close connections; accept again later"
        }
        Some(libc::ENFILE) => {
            " — the system is out of file descriptors (fs.file-max); accept again later"
        }
        _ => "",
    };
    io::Error::new(e.kind(), format!("accept failed: {e}{hint}"))
}

/// Removes a socket file left by an earlier run; refuses to touch anything else.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; pick another path or remove it",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
