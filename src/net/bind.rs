//! Making listening sockets: TCP (optionally `SO_REUSEPORT`, one per core) and Unix.
//! The results are plain std listeners, so a server can bind every shard on the calling
//! thread (and report errors there) before handing each to its core.
//!
//! Binding and listening are separate steps (`*_bound`, then [`listen`]): a server built
//! with `start_serving(false)` holds its address without completing any handshake until
//! it starts serving, as asyncio does.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, Type};

use super::connect::unix_sockaddr;
use super::ListenOptions;

/// A listening TCP socket bound to `addr`.
pub(crate) fn tcp(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
    let socket = tcp_bound(addr, options)?;
    listen(&socket, options.backlog, &addr.to_string())?;
    Ok(socket)
}

/// A TCP socket bound to `addr`, not listening yet: connecting to it is refused until
/// [`listen`].
pub(crate) fn tcp_bound(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
    options.stream.check()?;
    let shown = addr.to_string();
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| failed("creating a socket for", &shown, e))?;
    if options.reuse_address {
        socket
            .set_reuse_address(true)
            .map_err(|e| failed("setting SO_REUSEADDR on", &shown, e))?;
    }
    if options.reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(|e| failed("setting SO_REUSEPORT on", &shown, e))?;
    }
    socket
        .bind(&addr.into())
        .map_err(|e| failed("binding", &shown, e))?;
    Ok(socket.into())
}

/// Fails with `AddrInUse` when another socket listens on `addr`, however it was made.
///
/// Sockets that all set `SO_REUSEPORT` (and belong to one user) may bind the same address,
/// so the shards of a multi-core server, which must set it, would silently share a port
/// with any other such server. A probe bound without `SO_REUSEPORT` is refused by every
/// listener there, reuse-port or not; with `SO_REUSEADDR` (as the shards have it) it still
/// binds over connections left in `TIME_WAIT` and over bound sockets that do not listen
/// (the server's own, before it starts serving). The probe is closed at once.
pub(crate) fn check_free(addr: SocketAddr, reuse_address: bool) -> io::Result<()> {
    let shown = addr.to_string();
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| failed("creating a socket for", &shown, e))?;
    if reuse_address {
        socket
            .set_reuse_address(true)
            .map_err(|e| failed("setting SO_REUSEADDR on", &shown, e))?;
    }
    match socket.bind(&addr.into()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{shown} is in use: another socket listens there (another process, or another \
                 server in this one); pick another port, or share it on purpose with \
                 reuse_port(true) on every server bound to it"
            ),
        )),
        Err(e) => Err(failed("checking that nobody listens on", &shown, e)),
    }
}

/// `listen(2)` on a bound socket (`shown` names it in errors). Listening again only
/// changes the backlog.
pub(crate) fn listen(socket: &impl AsFd, backlog: i32, shown: &str) -> io::Result<()> {
    socket2::SockRef::from(socket)
        .listen(backlog)
        .map_err(|e| failed("listening on", shown, e))
}

/// A listening Unix socket at `path` (or `@abstract`), and the filesystem path to remove
/// when done (`None` for abstract names).
pub(crate) fn unix(
    path: &Path,
    options: &ListenOptions,
) -> io::Result<(UnixListener, Option<PathBuf>)> {
    let (socket, owned) = unix_bound(path, options)?;
    if let Err(e) = listen(&socket, options.backlog, &path.display().to_string()) {
        if let Some(owned) = &owned {
            let _ = std::fs::remove_file(owned);
        }
        return Err(e);
    }
    Ok((socket, owned))
}

/// A Unix socket bound at `path` (or `@abstract`), not listening yet, and the filesystem
/// path to remove when done (`None` for abstract names).
pub(crate) fn unix_bound(
    path: &Path,
    options: &ListenOptions,
) -> io::Result<(UnixListener, Option<PathBuf>)> {
    options.stream.check()?;
    let shown = path.display().to_string();
    let is_abstract = shown.starts_with('@');
    if !is_abstract {
        remove_stale_socket(path)?;
    }
    let addr = unix_sockaddr(path).map_err(|e| failed("binding", &shown, e))?;
    let socket = socket2::Socket::new(Domain::UNIX, Type::STREAM, None)
        .map_err(|e| failed("creating a socket for", &shown, e))?;
    socket
        .bind(&addr)
        .map_err(|e| failed("binding", &shown, e))?;
    Ok((socket.into(), (!is_abstract).then(|| path.to_path_buf())))
}

/// `what` on `shown` failed, with what to do when the address is taken.
fn failed(what: &str, shown: &str, e: io::Error) -> io::Error {
    let hint = if e.raw_os_error() == Some(libc::EADDRINUSE) {
        " (another socket is bound there; pick another port, or set reuse_port on every listener that shares it)"
    } else {
        ""
    };
    io::Error::new(e.kind(), format!("{what} {shown} failed: {e}{hint}"))
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
