//! [`Stream`]: a connection's reader and writer in one value.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;

use crate::transport::conn::{Conn, Direction, Limits};
use crate::transport::endpoint::Endpoint;

use super::{StreamReader, StreamWriter};

/// Options for a new stream: start from `StreamOptions::default()` and change fields.
///
/// ```
/// let options = ringstream::StreamOptions {
///     limit: 1 << 20,
///     high: Some(256 * 1024),
///     local_addr: Some("127.0.0.1:0".parse().unwrap()),
///     ..Default::default()
/// };
/// # drop(options);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// The reader's limit (A1); default 64 KiB. Zero is rejected (`InvalidInput`).
    pub limit: usize,
    /// Write-buffer high watermark; default 64 KiB (or 4 x `low` when only `low` is set).
    pub high: Option<usize>,
    /// Write-buffer low watermark; default high / 4. `high < low` is rejected.
    pub low: Option<usize>,
    /// `TCP_NODELAY` on TCP connections made by [`connect_with`](crate::connect_with);
    /// default on (writes are coalesced by the writer already, Nagle would only add delay).
    pub nodelay: bool,
    /// A local address to bind before connecting (TCP only); default none (the kernel
    /// picks). Port 0 picks a free port on that address.
    pub local_addr: Option<SocketAddr>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            limit: StreamReader::DEFAULT_LIMIT,
            high: None,
            low: None,
            nodelay: true,
            local_addr: None,
        }
    }
}

impl StreamOptions {
    /// Rejects what a stream could not use (zero limit, high < low), before any socket
    /// exists.
    pub(crate) fn check(&self) -> io::Result<()> {
        self.limits().check()
    }

    /// What the connection core is given.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            read: self.limit,
            write_high: self.high,
            write_low: self.low,
        }
    }
}

/// A connected stream: its [`StreamReader`] and [`StreamWriter`] together.
///
/// ```
/// ringstream::run(async {
///     let (a, b) = ringstream::Stream::pair().expect("socketpair");
///     let (_ra, wa) = a.split();
///     let (mut rb, _wb) = b.split();
///     wa.write(b"ping\n").unwrap();
///     assert_eq!(&rb.read_line().await.unwrap()[..], b"ping\n");
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Stream {
    /// The receiving half.
    pub reader: StreamReader,
    /// The sending half.
    pub writer: StreamWriter,
}

impl Stream {
    pub(crate) fn from_endpoint(endpoint: Endpoint, options: StreamOptions) -> io::Result<Stream> {
        options.check()?;
        let conn = Conn::open(
            endpoint,
            options.limits(),
            Direction::Both,
            "creating a stream",
        )?;
        Ok(Stream {
            reader: StreamReader::from_conn(conn.clone()),
            writer: StreamWriter::new(conn),
        })
    }

    /// A connected pair of Unix stream sockets (`socketpair(2)`), as two streams.
    ///
    /// # Errors
    /// As `socketpair(2)`, or outside a runtime.
    pub fn pair() -> io::Result<(Stream, Stream)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Stream::from_std(a)?, Stream::from_std(b)?))
    }

    /// Adopts an already connected std `TcpStream` or `UnixStream`
    /// (asyncio's `connect(sock=...)`).
    ///
    /// # Errors
    /// When the socket cannot be switched to non-blocking mode, or outside a runtime.
    pub fn from_std(socket: impl Into<StdSocket>) -> io::Result<Stream> {
        Stream::from_std_with(socket, StreamOptions::default())
    }

    /// [`Stream::from_std`] with options.
    ///
    /// # Errors
    /// As [`Stream::from_std`]; `InvalidInput` for a zero limit or high < low.
    pub fn from_std_with(
        socket: impl Into<StdSocket>,
        options: StreamOptions,
    ) -> io::Result<Stream> {
        let socket = match socket.into() {
            StdSocket::Tcp(s) => {
                s.set_nonblocking(true)?;
                Endpoint::Tcp(s)
            }
            StdSocket::Unix(s) => {
                s.set_nonblocking(true)?;
                Endpoint::Unix(s)
            }
        };
        Stream::from_endpoint(socket, options)
    }

    /// Splits into the two halves.
    pub fn split(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }
}

/// A std socket [`Stream::from_std`] accepts.
#[derive(Debug)]
pub enum StdSocket {
    /// A connected TCP socket.
    Tcp(TcpStream),
    /// A connected Unix stream socket.
    Unix(UnixStream),
}

impl From<TcpStream> for StdSocket {
    fn from(s: TcpStream) -> Self {
        StdSocket::Tcp(s)
    }
}

impl From<UnixStream> for StdSocket {
    fn from(s: UnixStream) -> Self {
        StdSocket::Unix(s)
    }
}
