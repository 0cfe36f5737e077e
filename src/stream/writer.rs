//! [`StreamWriter`]: asyncio's `StreamWriter` over a transport core.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use bytes::Bytes;

use crate::transport::conn::Conn;
use crate::transport::outbound::Waiter;
use crate::transport::Addr;

/// The sending half of a connection.
///
/// `write` queues and returns at once (it never waits); `drain().await` waits while the
/// buffer (queued + in-flight bytes) is over the high watermark. Dropping the writer closes
/// the connection after everything queued is sent (F10).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let (mut reader, writer) = ringstream::open_connection("127.0.0.1", 8888).await?;
/// writer.write(b"hello\n")?;
/// writer.drain().await?;
/// let reply = reader.read_line().await?;
/// writer.close();
/// writer.wait_closed().await?;
/// # drop(reply); Ok(()) }
/// ```
#[doc(alias = "asyncio.StreamWriter")]
pub struct StreamWriter {
    conn: Rc<Conn>,
}

impl StreamWriter {
    pub(crate) fn new(conn: Rc<Conn>) -> StreamWriter {
        StreamWriter { conn }
    }

    /// The transport core (for a server's list of open connections).
    pub(crate) fn conn(&self) -> &Rc<Conn> {
        &self.conn
    }

    /// Queues `data` for sending; never blocks. Small writes are coalesced. An empty slice
    /// is a no-op.
    ///
    /// # Errors
    /// After `close()`, `abort()` or `write_eof()` (`BrokenPipe`: nothing was queued), or
    /// once the connection was lost (its error).
    #[doc(alias = "StreamWriter.write")]
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        self.conn.write(data)
    }

    /// Queues `data` without copying it (large payloads go to the kernel as they are).
    ///
    /// # Errors
    /// As [`StreamWriter::write`].
    pub fn write_bytes(&self, data: Bytes) -> io::Result<()> {
        self.conn.write_bytes(data)
    }

    /// Queues every buffer of `lines`, in order.
    ///
    /// # Errors
    /// As [`StreamWriter::write`]; buffers before the failing one stay queued.
    #[doc(alias = "StreamWriter.writelines")]
    pub fn writelines<I, B>(&self, lines: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        self.conn.write_lines(lines)
    }

    /// `write(data)` then `drain().await`.
    ///
    /// # Errors
    /// As [`StreamWriter::write`] and [`StreamWriter::drain`].
    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        self.write(data)?;
        self.drain().await
    }

    /// Waits until the write buffer is at or below the low watermark, if it went over the
    /// high one; returns at once otherwise. Any number of drains may wait together. A drain
    /// that waits while `close()` flushes returns `Ok` once the flush brings the buffer down,
    /// even if the socket is closed by the time it runs.
    ///
    /// Cancel-safe: dropping the future loses no queued byte.
    ///
    /// # Errors
    /// The connection's error if it was lost; `ConnectionReset` when called after close with
    /// nothing left to flush, or when `abort()` releases it.
    #[doc(alias = "StreamWriter.drain")]
    pub fn drain(&self) -> impl Future<Output = io::Result<()>> + '_ {
        let mut waiter = WaiterGuard::new(&self.conn, Wait::Drain);
        poll_fn(move |cx| {
            let (conn, waiter) = waiter.parts();
            conn.poll_drain(cx, waiter)
        })
    }

    /// Sets the high and low watermarks (asyncio's rules: high only -> low = high / 4; low
    /// only -> high = 4 x low; neither -> 64 KiB / 16 KiB).
    ///
    /// # Errors
    /// `InvalidInput` when high < low; the old limits stay.
    #[doc(alias = "WriteTransport.set_write_buffer_limits")]
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.conn.set_write_buffer_limits(high, low)
    }

    /// The `(low, high)` watermarks.
    #[doc(alias = "WriteTransport.get_write_buffer_limits")]
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        self.conn.write_buffer_limits()
    }

    /// Bytes queued plus bytes handed to the kernel and not yet confirmed sent.
    #[doc(alias = "WriteTransport.get_write_buffer_size")]
    pub fn get_write_buffer_size(&self) -> usize {
        self.conn.write_buffer_size()
    }

    /// Whether [`StreamWriter::write_eof`] is supported: true (on a pipe it closes the
    /// pipe once everything queued is written).
    #[doc(alias = "StreamWriter.can_write_eof")]
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Half-closes: sends FIN once everything queued is sent. Reading goes on; later writes
    /// are errors.
    #[doc(alias = "StreamWriter.write_eof")]
    pub fn write_eof(&self) {
        self.conn.write_eof();
    }

    /// Closes: stops reading, sends what is queued, then closes the socket. Idempotent;
    /// [`StreamWriter::is_closing`] is true at once.
    #[doc(alias = "StreamWriter.close")]
    pub fn close(&self) {
        self.conn.close();
    }

    /// Waits until the socket is closed (everything queued sent).
    ///
    /// # Errors
    /// The error that ended the connection, if one did.
    #[doc(alias = "StreamWriter.wait_closed")]
    pub fn wait_closed(&self) -> impl Future<Output = io::Result<()>> + '_ {
        let mut waiter = WaiterGuard::new(&self.conn, Wait::Closed);
        poll_fn(move |cx| {
            let (conn, waiter) = waiter.parts();
            conn.poll_closed(cx, waiter)
        })
    }

    /// True from `close()`, `abort()` or a connection failure on.
    #[doc(alias = "StreamWriter.is_closing")]
    pub fn is_closing(&self) -> bool {
        self.conn.is_closing()
    }

    /// Drops whatever is queued and closes now (RST on TCP).
    #[doc(alias = "WriteTransport.abort")]
    pub fn abort(&self) {
        self.conn.abort();
    }

    /// The peer's address (`get_extra_info('peername')`).
    ///
    /// # Errors
    /// After close, or as `getpeername(2)` fails.
    #[doc(alias = "peername")]
    #[doc(alias = "get_extra_info")]
    pub fn peer_addr(&self) -> io::Result<Addr> {
        self.conn.peer_addr()
    }

    /// The local address (`get_extra_info('sockname')`).
    ///
    /// # Errors
    /// After close, or as `getsockname(2)` fails.
    #[doc(alias = "sockname")]
    pub fn local_addr(&self) -> io::Result<Addr> {
        self.conn.local_addr()
    }
}

impl AsRawFd for StreamWriter {
    /// The socket's descriptor (`get_extra_info('socket')`); do not close it yourself.
    fn as_raw_fd(&self) -> RawFd {
        self.conn.raw_fd()
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        // F10: what is queued is still sent, then the socket closes.
        self.conn.close();
    }
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("fd", &self.conn.raw_fd())
            .field("buffered", &self.get_write_buffer_size())
            .finish()
    }
}

#[derive(Clone, Copy)]
enum Wait {
    Drain,
    Closed,
}

/// A drain or wait_closed waiter that unregisters itself when its future is dropped.
struct WaiterGuard<'a> {
    conn: &'a Conn,
    waiter: Waiter,
    kind: Wait,
}

impl<'a> WaiterGuard<'a> {
    fn new(conn: &'a Rc<Conn>, kind: Wait) -> Self {
        WaiterGuard {
            conn,
            waiter: Waiter::default(),
            kind,
        }
    }

    fn parts(&mut self) -> (&'a Conn, &mut Waiter) {
        (self.conn, &mut self.waiter)
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        match self.kind {
            Wait::Drain => self.conn.cancel_drain(&mut self.waiter),
            Wait::Closed => self.conn.cancel_closed(&mut self.waiter),
        }
    }
}
