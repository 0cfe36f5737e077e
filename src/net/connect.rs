//! Opening connections: TCP by host and port or socket address, Unix sockets by path.
//!
//! Name resolution runs on the blocking pool (`runtime::spawn_blocking`), so the ring's
//! thread never blocks on `getaddrinfo`; literal addresses skip it. The connect itself is an
//! `IORING_OP_CONNECT` on the ring; each resolved address is tried in turn.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use socket2::{Domain, Protocol, SockAddr, Type};

use crate::stream::{Stream, StreamOptions, StreamReader, StreamWriter};
use crate::transport;
use crate::transport::endpoint::Endpoint;

use crate::runtime::spawn_blocking;

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
/// Resolution failures (naming the host), or the last address's connect error, with the
/// address in the message.
#[doc(alias = "asyncio.open_connection")]
pub async fn connect(addr: &str) -> io::Result<Stream> {
    connect_with(addr, StreamOptions::default()).await
}

/// [`connect`] with options: reader limit, write-buffer limits, `TCP_NODELAY`, a local
/// address to bind.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let options = ringstream::StreamOptions {
///     limit: 1 << 20,
///     local_addr: Some("127.0.0.1:0".parse().unwrap()),
///     ..Default::default()
/// };
/// let stream = ringstream::connect_with("127.0.0.1:8888", options).await?;
/// # drop(stream); Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`]; `InvalidInput` for bad options (zero limit, high < low) before any
/// socket is made; binding `local_addr` fails with the address in the message.
pub async fn connect_with(addr: &str, options: StreamOptions) -> io::Result<Stream> {
    options.check()?;
    let addrs = resolve(addr).await?;
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{addr:?} resolved to no address"),
    );
    for target in addrs {
        match connect_tcp(target, &options).await {
            Ok(socket) => return Stream::from_endpoint(Endpoint::Tcp(socket.into()), options),
            Err(e) => last = e,
        }
    }
    Err(last)
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

/// Literal addresses at once; names through `getaddrinfo` on the blocking pool.
async fn resolve(target: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let name = target.to_string();
    spawn_blocking(move || {
        name.to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| io::Error::new(e.kind(), format!("resolving {name:?} failed: {e}")))
    })
    .await
    .map_err(|e| {
        io::Error::other(format!(
            "resolving {target:?} on the blocking pool failed: {e}"
        ))
    })?
}

async fn connect_tcp(target: SocketAddr, options: &StreamOptions) -> io::Result<socket2::Socket> {
    let with_target =
        |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what} {target} failed: {e}"));
    let socket = socket2::Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(|e| with_target("creating a socket for", e))?;
    if options.nodelay {
        socket
            .set_tcp_nodelay(true)
            .map_err(|e| with_target("setting TCP_NODELAY for", e))?;
    }
    if let Some(local) = options.local_addr {
        socket.bind(&local.into()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding {local} before connecting to {target} failed: {e}"),
            )
        })?;
    }
    transport::connector::connect(socket, SockAddr::from(target))
        .await
        .map_err(|e| with_target("connecting to", e))
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
#[doc(alias = "open_unix_connection")]
pub async fn connect_unix(path: impl AsRef<Path>) -> io::Result<Stream> {
    connect_unix_with(path, StreamOptions::default()).await
}

/// [`connect_unix`] with options (reader limit, write-buffer limits; `nodelay` and
/// `local_addr` do not apply to Unix sockets and are ignored).
///
/// # Errors
/// As [`connect_unix`]; `InvalidInput` for bad options.
pub async fn connect_unix_with(
    path: impl AsRef<Path>,
    options: StreamOptions,
) -> io::Result<Stream> {
    options.check()?;
    let path = path.as_ref();
    let shown = path.display().to_string();
    let failed =
        |e: io::Error| io::Error::new(e.kind(), format!("connecting to {shown} failed: {e}"));
    let addr = unix_sockaddr(path).map_err(failed)?;
    let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None).map_err(failed)?;
    let socket = transport::connector::connect(socket, addr)
        .await
        .map_err(failed)?;
    Stream::from_endpoint(Endpoint::Unix(socket.into()), options)
}

/// A filesystem path, or a Linux abstract name written `@name`.
pub(crate) fn unix_sockaddr(path: &Path) -> io::Result<SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            let mut abstract_name = Vec::with_capacity(name.len() + 1);
            abstract_name.push(0);
            abstract_name.extend_from_slice(name);
            SockAddr::unix(std::ffi::OsStr::from_bytes(&abstract_name))
        }
        None => SockAddr::unix(path),
    }
}
