//! Making listening sockets: TCP (optionally `SO_REUSEPORT`, one per core) and Unix.
//! The results are plain std listeners, so a server can bind every shard on the calling
//! thread (and report errors there) before handing each to its core.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, Protocol, Type};

use super::connect::unix_sockaddr;
use super::ListenOptions;

/// A listening TCP socket bound to `addr`.
pub(crate) fn tcp(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
    options.stream.check()?;
    let failed = |what: &str, e: io::Error| {
        let hint = if e.raw_os_error() == Some(libc::EADDRINUSE) {
            " (another socket is bound there; pick another port, or set reuse_port on every listener that shares it)"
        } else {
            ""
        };
        io::Error::new(e.kind(), format!("{what} {addr} failed: {e}{hint}"))
    };
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
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
    Ok(socket.into())
}

/// A listening Unix socket at `path` (or `@abstract`), and the filesystem path to remove
/// when done (`None` for abstract names).
pub(crate) fn unix(
    path: &Path,
    options: &ListenOptions,
) -> io::Result<(UnixListener, Option<PathBuf>)> {
    options.stream.check()?;
    let shown = path.display().to_string();
    let failed =
        |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what} {shown} failed: {e}"));
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
    Ok((socket.into(), (!is_abstract).then(|| path.to_path_buf())))
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
