//! [`Listener`]: a listening TCP or Unix socket whose connections arrive through the
//! transport's acceptor (one multishot accept and a queue of at most [`MAX_QUEUED`]
//! connections; a connection accepted while nobody is awaiting [`Listener::accept`] is
//! kept, not lost).

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::stream::{Stream, StreamOptions};
use crate::transport::acceptor::Acceptor;
use crate::transport::endpoint::Endpoint;
use crate::transport::Addr;

use super::bind;

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
    /// Shared with the armed accept's handler: the descriptor stays open (and its number
    /// taken) until the kernel is done with the op, even after the listener drops.
    inner: Rc<Inner>,
    options: ListenOptions,
    acceptor: Acceptor,
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
        let socket = bind::tcp(addr, &options)?;
        Ok(Listener::from_tcp(socket, options))
    }

    /// Binds a Unix stream listener at a filesystem path, or at a Linux abstract name
    /// written `@name`. A stale socket file at `path` is replaced (as asyncio does); any
    /// other file there is an error. The socket file is removed when the listener drops.
    ///
    /// # Errors
    /// As `bind(2)` / `listen(2)`, with the path in the message; `AlreadyExists` when a
    /// non-socket file is in the way.
    pub fn bind_unix(path: impl AsRef<Path>, options: ListenOptions) -> io::Result<Listener> {
        let (socket, owned_path) = bind::unix(path.as_ref(), &options)?;
        Ok(Listener::new(Inner::Unix(socket, owned_path), options))
    }

    /// Wraps a bound, listening TCP socket (one shard of a server).
    pub(crate) fn from_tcp(socket: TcpListener, options: ListenOptions) -> Listener {
        Listener::new(Inner::Tcp(socket), options)
    }

    /// Wraps a listening Unix socket whose path someone else removes.
    pub(crate) fn from_unix(socket: UnixListener, options: ListenOptions) -> Listener {
        Listener::new(Inner::Unix(socket, None), options)
    }

    fn new(inner: Inner, options: ListenOptions) -> Listener {
        Listener {
            inner: Rc::new(inner),
            options,
            acceptor: Acceptor::new(MAX_QUEUED),
        }
    }

    /// The bound address (the real port when bound to port 0).
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<Addr> {
        match &*self.inner {
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
        poll_fn(|cx| self.poll_accept(cx))
            .await
            .map_err(accept_error)
    }

    /// [`accept`](Listener::accept) as a poll function; accept errors keep their raw
    /// OS error (no hint added) so callers can match on the errno.
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Stream>> {
        let fd = match &*self.inner {
            Inner::Tcp(l) => l.as_raw_fd(),
            Inner::Unix(l, _) => l.as_raw_fd(),
        };
        let socket: Rc<dyn std::any::Any> = self.inner.clone();
        match self.acceptor.poll_accept(cx, fd, socket) {
            Poll::Ready(Ok(fd)) => Poll::Ready(self.stream_from(fd)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Stops accepting until the next `accept()` (connections wait in the backlog).
    pub(crate) fn pause(&self) {
        self.acceptor.pause();
    }

    fn stream_from(&self, fd: OwnedFd) -> io::Result<Stream> {
        let socket = match *self.inner {
            Inner::Tcp(_) => {
                let s = TcpStream::from(fd);
                if self.options.stream.nodelay {
                    s.set_nodelay(true)?;
                }
                Endpoint::Tcp(s)
            }
            Inner::Unix(..) => Endpoint::Unix(UnixStream::from(fd)),
        };
        Stream::from_endpoint(socket, self.options.stream)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.acceptor.is_armed() {
            // Stop listening now (new connections are refused, the port can be bound
            // again with SO_REUSEADDR) even though the op, queued or in the kernel, keeps
            // the descriptor open until its last completion. Connections it still
            // delivers land in the acceptor's queue, which the op's handler owns and then
            // closes.
            let _ = match &*self.inner {
                Inner::Tcp(l) => socket2::SockRef::from(l).shutdown(Shutdown::Both),
                Inner::Unix(l, _) => socket2::SockRef::from(l).shutdown(Shutdown::Both),
            };
        }
        self.acceptor.stop();
        if let Inner::Unix(_, Some(path)) = &*self.inner {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An accept error with what it means and what to do, for people.
pub(crate) fn accept_error(e: io::Error) -> io::Error {
    if e.raw_os_error().is_none() {
        return e; // already explained (e.g. the outside-a-runtime error)
    }
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
