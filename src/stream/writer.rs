//! [`StreamWriter`]: asyncio's `StreamWriter` over a transport core.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::task::{ready, Context, Poll};

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
///
/// The poll-level API ([`poll_write`](Self::poll_write),
/// [`poll_write_vectored`](Self::poll_write_vectored), [`poll_drain`](Self::poll_drain),
/// [`poll_flush`](Self::poll_flush), [`poll_write_eof`](Self::poll_write_eof),
/// [`poll_close`](Self::poll_close)) is for code that implements its own futures or I/O
/// traits; the features `tokio-io` and `futures-io` build tokio's and futures' `AsyncWrite`
/// on it. Backpressure there: a write is accepted whole while the buffer is not over the
/// high watermark, and waits (`Pending`) for it to drain to the low one otherwise.
#[doc(alias = "asyncio.StreamWriter")]
pub struct StreamWriter {
    conn: Rc<Conn>,
    /// Where the poll-level API parks: one waiter, for whichever it waits on last. Boxed
    /// on first use, so that writers that never use it stay 24 bytes smaller.
    parked: Option<Box<Parked>>,
}

impl StreamWriter {
    pub(crate) fn new(conn: Rc<Conn>) -> StreamWriter {
        StreamWriter { conn, parked: None }
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

    /// Poll form of [`drain`](Self::drain), with the writer's own waiter: `Pending` while
    /// the buffer is over the high watermark and not yet back at the low one.
    ///
    /// # Errors
    /// As [`drain`](Self::drain).
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// # async fn example(writer: &mut ringstream::StreamWriter) -> std::io::Result<()> {
    /// writer.write(b"chunk")?;
    /// poll_fn(|cx| writer.poll_drain(cx)).await?;
    /// # Ok(()) }
    /// ```
    pub fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let waiter = park(&mut self.parked, &self.conn, Wait::Drain);
        self.conn.poll_drain(cx, waiter)
    }

    /// Queues `data` once the buffer has room (`AsyncWrite::poll_write`): while it is not
    /// over the high watermark, `data` is queued whole (one copy, as
    /// [`write`](Self::write)) and this returns its length; over it, this waits as
    /// [`poll_drain`](Self::poll_drain) until the buffer is down at the low watermark.
    /// Queued bytes are sent at the ring's next submission without a flush; see
    /// [`poll_flush`](Self::poll_flush) to wait until they are.
    ///
    /// # Errors
    /// As [`write`](Self::write) and [`drain`](Self::drain).
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// # async fn example(writer: &mut ringstream::StreamWriter) -> std::io::Result<()> {
    /// let n = poll_fn(|cx| writer.poll_write(cx, b"hello\n")).await?;
    /// assert_eq!(n, 6);
    /// # Ok(()) }
    /// ```
    pub fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        self.write(data)?;
        Poll::Ready(Ok(data.len()))
    }

    /// [`poll_write`](Self::poll_write) for several buffers: all are queued, in order, and
    /// coalesced like small writes, so a caller gathering a head and a body needs no buffer
    /// of its own.
    ///
    /// # Errors
    /// As [`writelines`](Self::writelines) and [`drain`](Self::drain).
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// use std::io::IoSlice;
    /// # async fn example(writer: &mut ringstream::StreamWriter) -> std::io::Result<()> {
    /// let parts = [IoSlice::new(b"HTTP/1.1 204 No Content\r\n"), IoSlice::new(b"\r\n")];
    /// poll_fn(|cx| writer.poll_write_vectored(cx, &parts)).await?;
    /// # Ok(()) }
    /// ```
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        self.writelines(bufs.iter().map(|buf| &buf[..]))?;
        Poll::Ready(Ok(bufs.iter().map(|buf| buf.len()).sum()))
    }

    /// Waits until everything written so far, and a FIN that
    /// [`write_eof`](Self::write_eof) asked for, is handed to the kernel (nothing queued,
    /// no send in flight): after it, stopping the program or the runtime loses none of it.
    /// Unlike [`drain`](Self::drain) it ignores the watermarks. Not needed for the data to
    /// go out: queued bytes are sent anyway, at the ring's next submission.
    ///
    /// # Errors
    /// The connection's error if it was lost; `ConnectionReset` after `abort()`.
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// # async fn example(writer: &mut ringstream::StreamWriter) -> std::io::Result<()> {
    /// writer.write(b"last words\n")?;
    /// poll_fn(|cx| writer.poll_flush(cx)).await?;
    /// # Ok(()) }
    /// ```
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let waiter = park(&mut self.parked, &self.conn, Wait::Flush);
        self.conn.poll_flush(cx, waiter)
    }

    /// Half-closes and waits until the FIN is sent, after everything queued
    /// ([`write_eof`](Self::write_eof), then [`poll_flush`](Self::poll_flush)): what
    /// `AsyncWrite::poll_shutdown` does, as tokio's `TcpStream`. Reading goes on; dropping
    /// the writer closes the socket. Calling it again returns at once. On TLS, which has no
    /// half-close, it is [`poll_close`](Self::poll_close): `close_notify`, then the close.
    ///
    /// # Errors
    /// As [`poll_flush`](Self::poll_flush).
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// # async fn example(writer: &mut ringstream::StreamWriter) -> std::io::Result<()> {
    /// writer.write(b"bye\n")?;
    /// poll_fn(|cx| writer.poll_write_eof(cx)).await?;
    /// # Ok(()) }
    /// ```
    pub fn poll_write_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.can_write_eof() {
            // TLS has no half-close: its shutdown is `close_notify` and the close (as
            // tokio-rustls sends `close_notify` on shutdown).
            return self.poll_close(cx);
        }
        self.write_eof()?;
        self.poll_flush(cx)
    }

    /// Poll form of [`close`](Self::close) then [`wait_closed`](Self::wait_closed): closes
    /// (everything queued is still sent) and waits until the socket is closed.
    ///
    /// # Errors
    /// As [`wait_closed`](Self::wait_closed).
    ///
    /// ```no_run
    /// use std::future::poll_fn;
    /// # async fn example(writer: &mut ringstream::StreamWriter) -> std::io::Result<()> {
    /// poll_fn(|cx| writer.poll_close(cx)).await?;
    /// assert!(writer.is_closing());
    /// # Ok(()) }
    /// ```
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        let waiter = park(&mut self.parked, &self.conn, Wait::Closed);
        self.conn.poll_closed(cx, waiter)
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

    /// Whether [`StreamWriter::write_eof`] is supported: true on sockets and pipes (on a
    /// pipe it closes the pipe once everything queued is written), false on TLS.
    #[doc(alias = "StreamWriter.can_write_eof")]
    pub fn can_write_eof(&self) -> bool {
        self.conn.can_write_eof()
    }

    /// Half-closes: sends FIN once everything queued is sent. Reading goes on; later writes
    /// are errors.
    ///
    /// # Errors
    /// `Unsupported` on a TLS stream: TLS has no half-close ([`close`](Self::close) sends
    /// `close_notify`).
    #[doc(alias = "StreamWriter.write_eof")]
    pub fn write_eof(&self) -> io::Result<()> {
        self.conn.write_eof()
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
        if let Some(parked) = &mut self.parked {
            parked.cancel(&self.conn);
        }
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

/// Which list of the connection's outbound state a waiter parks in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Drain,
    Flush,
    Closed,
}

/// The poll-level API's waiter, made on first use, ready to park in `kind`'s list.
fn park<'a>(parked: &'a mut Option<Box<Parked>>, conn: &Conn, kind: Wait) -> &'a mut Waiter {
    parked
        .get_or_insert_with(|| Box::new(Parked::new(kind)))
        .waiter(conn, kind)
}

/// A waiter and the list it may be parked in.
struct Parked {
    waiter: Waiter,
    kind: Wait,
}

impl Parked {
    fn new(kind: Wait) -> Self {
        Parked {
            waiter: Waiter::default(),
            kind,
        }
    }

    /// The waiter, for parking in `kind`'s list: leaves the list it was parked in, if
    /// another.
    fn waiter(&mut self, conn: &Conn, kind: Wait) -> &mut Waiter {
        if self.kind != kind {
            self.cancel(conn);
            self.kind = kind;
        }
        &mut self.waiter
    }

    /// Leaves the list, if parked.
    fn cancel(&mut self, conn: &Conn) {
        match self.kind {
            Wait::Drain => conn.cancel_drain(&mut self.waiter),
            Wait::Flush => conn.cancel_flush(&mut self.waiter),
            Wait::Closed => conn.cancel_closed(&mut self.waiter),
        }
    }
}

/// A drain or wait_closed waiter that unregisters itself when its future is dropped.
struct WaiterGuard<'a> {
    conn: &'a Conn,
    parked: Parked,
}

impl<'a> WaiterGuard<'a> {
    fn new(conn: &'a Rc<Conn>, kind: Wait) -> Self {
        WaiterGuard {
            conn,
            parked: Parked::new(kind),
        }
    }

    fn parts(&mut self) -> (&'a Conn, &mut Waiter) {
        (self.conn, &mut self.parked.waiter)
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.parked.cancel(self.conn);
    }
}
