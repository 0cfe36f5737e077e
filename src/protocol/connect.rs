//! Where a protocol gets its connection: connecting (TCP, Unix), adopting a connected
//! socket, and pipes. Serving is `ServerBuilder::serve_protocol` (`serve.rs`).

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::stream::{Stream, StreamOptions};

use super::link::{Ends, Link};
use super::traits::kind::Kind;
use super::{ProtocolKind, Transport};

fn attach<K: Kind>(ends: Ends, protocol: K) -> io::Result<Transport> {
    Ok(Transport::new(Link::attach(ends, protocol, false)?))
}

/// Connects to `addr` (`"host:port"`; names are resolved off the ring thread) and runs the
/// protocol `factory` makes on the connection (asyncio's `loop.create_connection`). The
/// protocol's `connection_made` has run when this returns; it returns the transport
/// (asyncio also returns the protocol: reach it with
/// [`Transport::with_protocol`], or share state through it).
///
/// ```no_run
/// use ringstream::protocol::{create_connection, BaseProtocol, Protocol};
///
/// struct Printer;
/// impl BaseProtocol for Printer {}
/// impl Protocol for Printer {
///     fn data_received(&mut self, data: bytes::Bytes) {
///         print!("{}", String::from_utf8_lossy(&data));
///     }
/// }
///
/// # async fn example() -> std::io::Result<()> {
/// let transport = create_connection(|| Printer, "127.0.0.1:8888").await?;
/// transport.write(b"hello\n")?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`](crate::connect): resolution, refused or unreachable (with the address),
/// outside a runtime.
#[doc(alias = "loop.create_connection")]
pub async fn create_connection<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    addr: &str,
) -> io::Result<Transport> {
    create_connection_with(factory, addr, StreamOptions::default()).await
}

/// [`create_connection`] with options: write-buffer watermarks (`high`, `low`),
/// `nodelay`, `local_addr`. The reader's `limit` is the most the transport buffers while
/// reading is paused before it stops receiving.
///
/// # Errors
/// As [`create_connection`]; `InvalidInput` for bad options.
pub async fn create_connection_with<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    addr: &str,
    options: StreamOptions,
) -> io::Result<Transport> {
    let stream = crate::connect_with(addr, options).await?;
    attach(Ends::Stream(stream), factory())
}

/// [`create_connection`] over TLS (asyncio's `loop.create_connection(..., ssl=ctx)`;
/// feature `tls`): connects to `addr`, completes the handshake, verifying the server's
/// certificate for the address's host, then runs the protocol, whose callbacks see
/// plaintext. `connection_made` runs after the handshake, so
/// [`Transport`] calls made from it are already encrypted; the peer's `close_notify` is
/// `eof_received`, and `close()` sends ours.
///
/// ```no_run
/// use ringstream::protocol::{create_connection_tls, BaseProtocol, Protocol};
///
/// struct Printer;
/// impl BaseProtocol for Printer {}
/// impl Protocol for Printer {
///     fn data_received(&mut self, data: bytes::Bytes) {
///         print!("{}", String::from_utf8_lossy(&data));
///     }
/// }
///
/// # async fn example() -> std::io::Result<()> {
/// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
/// let transport = create_connection_tls(|| Printer, "example.com:443", &connector).await?;
/// transport.write(b"HEAD / HTTP/1.0\r\nHost: example.com\r\n\r\n")?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`tls::connect`](crate::tls::connect).
#[cfg(feature = "tls")]
#[doc(alias = "ssl")]
pub async fn create_connection_tls<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    addr: &str,
    connector: &crate::tls::TlsConnector,
) -> io::Result<Transport> {
    let stream = crate::tls::connect(addr, connector).await?;
    attach(Ends::Stream(stream), factory())
}

/// Connects to the Unix socket at `path` (`@name`: Linux abstract namespace) and runs the
/// protocol `factory` makes (asyncio's `loop.create_unix_connection`).
///
/// # Errors
/// As [`connect_unix`](crate::connect_unix).
#[doc(alias = "loop.create_unix_connection")]
pub async fn create_unix_connection<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    path: impl AsRef<Path>,
) -> io::Result<Transport> {
    let stream = crate::connect_unix(path).await?;
    attach(Ends::Stream(stream), factory())
}

/// Runs the protocol `factory` makes on a socket connected elsewhere: a std `TcpStream`
/// or `UnixStream` (asyncio's `loop.connect_accepted_socket`). See [`Transport`] for an
/// example.
///
/// # Errors
/// When the socket cannot be made non-blocking, or outside a runtime.
#[doc(alias = "loop.connect_accepted_socket")]
pub fn connect_accepted_socket<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    socket: impl Into<crate::stream::StdSocket>,
) -> io::Result<Transport> {
    let stream = Stream::from_std(socket)?;
    attach(Ends::Stream(stream), factory())
}

/// Runs the protocol `factory` makes on the read end of a pipe, FIFO or character device
/// (asyncio's `loop.connect_read_pipe`): `data_received` with what is written into it,
/// `eof_received` when the writer closes, then `connection_lost(None)`. The transport
/// cannot write.
///
/// # Errors
/// `InvalidInput` for a regular file or directory; outside a runtime.
#[doc(alias = "loop.connect_read_pipe")]
pub fn connect_read_pipe<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    fd: impl Into<OwnedFd>,
) -> io::Result<Transport> {
    let reader = crate::read_pipe(fd)?;
    attach(Ends::Reader(reader), factory())
}

/// Runs the protocol `factory` makes on the write end of a pipe, FIFO or character device
/// (asyncio's `loop.connect_write_pipe`): write through the transport; `write_eof` or
/// `close` close the pipe once everything is written. `data_received` never runs.
///
/// # Errors
/// As [`connect_read_pipe`].
#[doc(alias = "loop.connect_write_pipe")]
pub fn connect_write_pipe<K: ProtocolKind>(
    factory: impl FnOnce() -> K,
    fd: impl Into<OwnedFd>,
) -> io::Result<Transport> {
    let writer = crate::write_pipe(fd)?;
    attach(Ends::Writer(writer), factory())
}
