//! The descriptor a transport owns: a TCP or Unix stream socket, or one end of a pipe.

use std::io;
use std::net::{Shutdown, SocketAddr as TcpAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixStream};

use crate::driver::sys;

/// A connected stream socket or a pipe end. Closed when dropped.
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A pipe, FIFO or character device, used in one direction: it takes read/write ops
    /// instead of recv/send, and has no address and no half-close.
    Pipe(OwnedFd),
}

/// A socket address of either family, as [`crate::StreamWriter::peer_addr`] reports it.
#[derive(Debug, Clone)]
pub enum Addr {
    /// An IPv4 or IPv6 address.
    Tcp(TcpAddr),
    /// A Unix-domain address (possibly unnamed or abstract).
    Unix(UnixAddr),
}

impl Socket {
    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
            Socket::Pipe(fd) => fd.as_raw_fd(),
        }
    }

    pub(crate) fn is_pipe(&self) -> bool {
        matches!(self, Socket::Pipe(_))
    }

    /// Half-closes a socket. Not called for pipes: their `write_eof` closes them.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Write),
            Socket::Unix(s) => s.shutdown(Shutdown::Write),
            Socket::Pipe(_) => Ok(()),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Socket::Tcp(s) => s.peer_addr().map(Addr::Tcp),
            Socket::Unix(s) => s.peer_addr().map(Addr::Unix),
            Socket::Pipe(_) => Err(no_address()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Socket::Tcp(s) => s.local_addr().map(Addr::Tcp),
            Socket::Unix(s) => s.local_addr().map(Addr::Unix),
            Socket::Pipe(_) => Err(no_address()),
        }
    }

    /// Makes the coming close send RST (abort).
    pub(crate) fn reset_on_close(&self) {
        // Best effort: if it fails the close is a FIN, which still closes the connection.
        let _ = match self {
            Socket::Tcp(s) => sys::set_linger_zero(s),
            Socket::Unix(s) => sys::set_linger_zero(s),
            Socket::Pipe(_) => Ok(()),
        };
    }
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "a pipe has no address")
}

impl std::fmt::Display for Addr {
    /// `127.0.0.1:80`, `[::1]:80`, a socket path, `@name` for an abstract name, or
    /// `(unnamed)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::os::linux::net::SocketAddrExt;
        match self {
            Addr::Tcp(a) => a.fmt(f),
            Addr::Unix(a) => match (a.as_pathname(), a.as_abstract_name()) {
                (Some(path), _) => path.display().fmt(f),
                (None, Some(name)) => write!(f, "@{}", String::from_utf8_lossy(name)),
                (None, None) => f.write_str("(unnamed)"),
            },
        }
    }
}
