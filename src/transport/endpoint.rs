//! The descriptor a transport owns: a TCP or Unix stream socket, or one end of a pipe.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use std::time::Duration;

use socket2::SockRef;

use super::addr::Addr;

/// What a connection reads and writes: a connected stream socket or a pipe end. Closed
/// when dropped.
#[derive(Debug)]
pub(crate) enum Endpoint {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A pipe, FIFO or character device, used in one direction: it takes read/write ops
    /// instead of recv/send, and has no address and no half-close.
    Pipe(OwnedFd),
}

impl Endpoint {
    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Endpoint::Tcp(s) => s.as_raw_fd(),
            Endpoint::Unix(s) => s.as_raw_fd(),
            Endpoint::Pipe(fd) => fd.as_raw_fd(),
        }
    }

    pub(crate) fn is_pipe(&self) -> bool {
        matches!(self, Endpoint::Pipe(_))
    }

    /// Half-closes a socket. Not called for pipes: their `write_eof` closes them.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Endpoint::Tcp(s) => s.shutdown(Shutdown::Write),
            Endpoint::Unix(s) => s.shutdown(Shutdown::Write),
            Endpoint::Pipe(_) => Ok(()),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Endpoint::Tcp(s) => s.peer_addr().map(Addr::Tcp),
            Endpoint::Unix(s) => s.peer_addr().map(Addr::Unix),
            Endpoint::Pipe(_) => Err(no_address()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Endpoint::Tcp(s) => s.local_addr().map(Addr::Tcp),
            Endpoint::Unix(s) => s.local_addr().map(Addr::Unix),
            Endpoint::Pipe(_) => Err(no_address()),
        }
    }

    /// Makes the coming close send RST (abort).
    pub(crate) fn reset_on_close(&self) {
        // Best effort: if it fails the close is a FIN, which still closes the connection.
        let _ = match self {
            Endpoint::Tcp(s) => SockRef::from(s).set_linger(Some(Duration::ZERO)),
            Endpoint::Unix(s) => SockRef::from(s).set_linger(Some(Duration::ZERO)),
            Endpoint::Pipe(_) => Ok(()),
        };
    }
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "a pipe has no address")
}
