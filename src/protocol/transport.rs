//! [`Transport`]: a protocol's handle on its connection.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use bytes::Bytes;

use crate::transport::conn::Direction;
use crate::transport::Addr;

use super::link::Handle;

/// A protocol's handle on its connection (asyncio's `Transport`): write, close, pause and
/// resume reading, watermarks, addresses. A cheap `Clone` (a reference count); like
/// everything on a core it is `!Send`. The protocol gets it in
/// [`connection_made`](super::BaseProtocol::connection_made); the connection functions
/// return one too.
///
/// Writes never wait: they queue, and everything queued in one loop turn goes out in one
/// send. Watch the buffer with [`pause_writing`](super::BaseProtocol::pause_writing) /
/// [`resume_writing`](super::BaseProtocol::resume_writing) or
/// [`get_write_buffer_size`](Self::get_write_buffer_size).
///
/// ```
/// use ringstream::protocol::{connect_accepted_socket, BaseProtocol, Protocol, Transport};
///
/// struct Echo(Option<Transport>);
/// impl BaseProtocol for Echo {
///     fn connection_made(&mut self, transport: Transport) {
///         self.0 = Some(transport);
///     }
/// }
/// impl Protocol for Echo {
///     fn data_received(&mut self, data: bytes::Bytes) {
///         if let Some(t) = &self.0 {
///             let _ = t.write_bytes(data);
///         }
///     }
/// }
///
/// ringstream::run(async {
///     let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
///     let transport = connect_accepted_socket(|| Echo(None), ours)?;
///     let mut peer = ringstream::Stream::from_std(theirs)?;
///     peer.writer.write(b"ping\n")?;
///     assert_eq!(&peer.reader.read_line().await?[..], b"ping\n");
///     transport.close();
///     assert!(peer.reader.read_line().await?.is_empty()); // EOF
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "asyncio.Transport")]
#[derive(Clone)]
pub struct Transport {
    link: Rc<dyn Handle>,
}

impl Transport {
    pub(crate) fn new(link: Rc<dyn Handle>) -> Transport {
        Transport { link }
    }

    fn writable(&self) -> io::Result<()> {
        if self.link.direction() == Direction::Read {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this transport reads a pipe (connect_read_pipe); it cannot write",
            ));
        }
        Ok(())
    }

    /// Queues a copy of `data`; never waits. An empty slice is a no-op. When this takes
    /// the buffer strictly over the high watermark the protocol's `pause_writing` runs
    /// (inside this call, or right after the callback that called it).
    ///
    /// # Errors
    /// After `close()`, `abort()` or `write_eof()` (`BrokenPipe`: nothing was queued, as
    /// SEMANTICS F9), once the connection was lost (its error), or on a read pipe
    /// (`Unsupported`).
    #[doc(alias = "Transport.write")]
    #[doc(alias = "WriteTransport.write")]
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        self.writable()?;
        self.link.conn().write(data)?;
        self.link.changed();
        Ok(())
    }

    /// Queues `data` without copying a large one.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    #[doc(alias = "Transport.write")]
    pub fn write_bytes(&self, data: Bytes) -> io::Result<()> {
        self.writable()?;
        self.link.conn().write_bytes(data)?;
        self.link.changed();
        Ok(())
    }

    /// Queues copies of every item, in order.
    ///
    /// # Errors
    /// As [`write`](Self::write); what was queued before the error is still sent.
    #[doc(alias = "Transport.writelines")]
    #[doc(alias = "WriteTransport.writelines")]
    pub fn writelines<I, B>(&self, lines: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        self.writable()?;
        let result = self.link.conn().write_lines(lines);
        self.link.changed();
        result
    }

    /// Half-closes once everything queued is sent: the peer reads EOF, and this side can
    /// still receive. On a write pipe: closes it once everything is written.
    ///
    /// # Errors
    /// On a read pipe (`Unsupported`).
    #[doc(alias = "Transport.write_eof")]
    #[doc(alias = "WriteTransport.write_eof")]
    pub fn write_eof(&self) -> io::Result<()> {
        self.writable()?;
        self.link.conn().write_eof()?;
        self.link.changed();
        Ok(())
    }

    /// Whether [`write_eof`](Self::write_eof) works: true for sockets and write pipes.
    #[doc(alias = "Transport.can_write_eof")]
    #[doc(alias = "WriteTransport.can_write_eof")]
    pub fn can_write_eof(&self) -> bool {
        self.link.direction() != Direction::Read
    }

    /// Closes: no more writes or `data_received`; what is queued is still sent, then the
    /// socket closes and the protocol's `connection_lost(None)` runs. Idempotent.
    #[doc(alias = "BaseTransport.close")]
    pub fn close(&self) {
        self.link.conn().close();
        self.link.changed();
    }

    /// Closes at once: the queue is dropped and the peer gets a reset (TCP); then
    /// `connection_lost(None)`.
    #[doc(alias = "Transport.abort")]
    #[doc(alias = "WriteTransport.abort")]
    pub fn abort(&self) {
        self.link.conn().abort();
        self.link.changed();
    }

    /// True from `close()`, `abort()` or the connection's failure on.
    #[doc(alias = "BaseTransport.is_closing")]
    pub fn is_closing(&self) -> bool {
        self.link.conn().is_closing()
    }

    /// Stops `data_received` until [`resume_reading`](Self::resume_reading) (G4): no more
    /// receives are asked of the kernel, so a peer that goes on sending fills the kernel's
    /// socket buffer and then waits (TCP flow control), and this side buffers at most the
    /// one receive already in flight. Idempotent.
    #[doc(alias = "ReadTransport.pause_reading")]
    pub fn pause_reading(&self) {
        self.link.conn().hold_reading(true);
    }

    /// Receives again after [`pause_reading`](Self::pause_reading); what arrived in
    /// between is delivered in the next loop turn (not inside this call). Idempotent.
    #[doc(alias = "ReadTransport.resume_reading")]
    pub fn resume_reading(&self) {
        self.link.conn().hold_reading(false);
    }

    /// Whether data is being received: not paused, not closing.
    #[doc(alias = "ReadTransport.is_reading")]
    pub fn is_reading(&self) -> bool {
        let conn = self.link.conn();
        self.link.direction() != Direction::Write && !conn.reading_held() && !conn.is_closing()
    }

    /// Sets the write buffer's watermarks (asyncio's rules, SEMANTICS F3): high only ->
    /// low = high / 4; low only -> high = 4 x low; neither -> 64 KiB and 16 KiB. May call
    /// `pause_writing` at once if the buffer is now over high; never `resume_writing`.
    ///
    /// # Errors
    /// `InvalidInput` when high < low; the limits stay as they were.
    #[doc(alias = "WriteTransport.set_write_buffer_limits")]
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.link.conn().set_write_buffer_limits(high, low)?;
        self.link.changed();
        Ok(())
    }

    /// Bytes queued or in flight.
    #[doc(alias = "WriteTransport.get_write_buffer_size")]
    pub fn get_write_buffer_size(&self) -> usize {
        self.link.conn().write_buffer_size()
    }

    /// The watermarks as `(low, high)`, as asyncio returns them.
    #[doc(alias = "WriteTransport.get_write_buffer_limits")]
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.link.conn().write_buffer_limits()
    }

    /// The peer's address (`get_extra_info("peername")`).
    ///
    /// # Errors
    /// Once the socket is closed (`NotConnected`), or for a pipe.
    #[doc(alias = "peername")]
    #[doc(alias = "get_extra_info")]
    pub fn peer_addr(&self) -> io::Result<Addr> {
        self.link.conn().peer_addr()
    }

    /// This side's address (`get_extra_info("sockname")`).
    ///
    /// # Errors
    /// As [`peer_addr`](Self::peer_addr).
    #[doc(alias = "sockname")]
    pub fn local_addr(&self) -> io::Result<Addr> {
        self.link.conn().local_addr()
    }

    /// Runs `f` on the connection's protocol (asyncio's `get_protocol`), if it is a `P`
    /// and not busy: `None` from inside one of its own callbacks (it is borrowed there;
    /// use `self`), after `connection_lost`, or for another type. For a
    /// [`Buffered`](super::Buffered) protocol, `P` is the protocol inside.
    #[doc(alias = "BaseTransport.get_protocol")]
    pub fn with_protocol<P: 'static, R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut result = None;
        self.link.with_user(&mut |user| {
            if let (Some(protocol), Some(f)) = (user.downcast_mut::<P>(), f.take()) {
                result = Some(f(protocol));
            }
        });
        result
    }
}

/// The socket's descriptor (`get_extra_info("socket")`), or -1 once it is closed. Do not
/// close it or read from it: the transport owns it.
impl AsRawFd for Transport {
    fn as_raw_fd(&self) -> RawFd {
        self.link.conn().raw_fd()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("fd", &self.as_raw_fd())
            .field("closing", &self.is_closing())
            .field("write_buffer", &self.get_write_buffer_size())
            .finish()
    }
}
