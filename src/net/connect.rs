//! Opening connections: TCP by host and port or socket address, Unix sockets by path.
//!
//! Name resolution and the connect itself run on a helper thread (see `offload`), so the
//! ring's thread never blocks on `getaddrinfo`; each resolved address is tried in turn.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::stream::{Stream, StreamOptions, StreamReader, StreamWriter};

use super::offload::offload;

/// Connects to a TCP address: `"host:port"`, `"[::1]:80"`, or anything that resolves.
/// `TCP_NODELAY` is set.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let stream = ringstream::connect("127.0.0.1:8888").await?;
/// stream.writer.write(b"hi")?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// Resolution failures (`NotFound` naming the host), or the last address's connect error,
/// with the address in the message.
#[doc(alias = "asyncio.open_connection")]
pub async fn connect(addr: &str) -> io::Result<Stream> {
    connect_with(addr, StreamOptions::default()).await
}

/// [`connect`] with options (reader limit, write-buffer limits).
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(addr: &str, options: StreamOptions) -> io::Result<Stream> {
    let target = addr.to_string();
    let socket = offload("connect", move || connect_blocking(&target)).await??;
    Stream::from_std_with(socket, options)
}

/// Connects to `host:port` and returns the two halves (asyncio's `open_connection`).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let (mut reader, writer) = ringstream::open_connection("localhost", 8888).await?;
/// writer.write(b"GET / HTTP/1.0\r\n\r\n")?;
/// let status = reader.read_line().await?;
/// # drop(status); Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`].
#[doc(alias = "asyncio.open_connection")]
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(connect(&addr).await?.split())
}

fn connect_blocking(target: &str) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("resolving {target:?} failed: {e}")))?
        .collect();
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{target:?} resolved to no address"),
    );
    for addr in addrs {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = io::Error::new(e.kind(), format!("connecting to {addr} failed: {e}")),
        }
    }
    Err(last)
}

/// Connects to a Unix stream socket at a filesystem path, or at a Linux abstract name
/// when the path starts with `@` (asyncio's `open_unix_connection`).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let stream = ringstream::connect_unix("/run/app.sock").await?;
/// # drop(stream); Ok(()) }
/// ```
///
/// # Errors
/// As `connect(2)`, with the path in the message.
#[doc(alias = "asyncio.open_unix_connection")]
pub async fn connect_unix(path: impl AsRef<Path>) -> io::Result<Stream> {
    let path = path.as_ref().to_path_buf();
    let socket = offload("connect", move || {
        let shown = path.display().to_string();
        let res = match shown.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .and_then(|a| UnixStream::connect_addr(&a))
            }
            None => UnixStream::connect(&path),
        };
        res.map_err(|e| io::Error::new(e.kind(), format!("connecting to {shown} failed: {e}")))
    })
    .await??;
    Stream::from_std(socket)
}
