//! [`Addr`]: a connection's address, of either family.

use std::net::SocketAddr as TcpAddr;
use std::os::unix::net::SocketAddr as UnixAddr;

/// A socket address of either family, as [`crate::StreamWriter::peer_addr`] reports it.
#[derive(Debug, Clone)]
pub enum Addr {
    /// An IPv4 or IPv6 address.
    Tcp(TcpAddr),
    /// A Unix-domain address (possibly unnamed or abstract).
    Unix(UnixAddr),
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
