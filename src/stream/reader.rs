//! The read half of a stream: asyncio's `StreamReader`, and `ReaderFeeder` for feeding a
//! reader by hand.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};

use super::read_future::ReadFuture;
use super::{Lines, StreamError};
use crate::transport::conn::Conn;
use crate::transport::inbound::Inbound;
use crate::transport::read_side::ReadSide;

/// Reads from a connection: lines, separator-terminated records, exact sizes, or whatever has
/// arrived.
///
/// Every read is cancel-safe: dropping a read future at any point (a timeout, a `select`)
/// loses no bytes, and the next read sees them. Reads take `&mut self`, so one read runs at a
/// time. A `StreamReader` is `!Send`: it lives on its connection's core.
///
/// Besides the async reads there is a poll-level API for code that implements its own
/// futures or I/O traits: [`poll_read`](Self::poll_read),
/// [`poll_read_chunk`](Self::poll_read_chunk), [`poll_fill_buf`](Self::poll_fill_buf) /
/// [`consume`](Self::consume) and [`poll_read_line`](Self::poll_read_line). The features
/// `tokio-io` and `futures-io` build tokio's and futures' `AsyncRead` / `AsyncBufRead` on
/// it.
///
/// ```
/// use ringstream::stream::{StreamError, StreamReader};
///
/// async fn echo_lines(reader: &mut StreamReader) -> Result<(), StreamError> {
///     while !reader.at_eof() {
///         let line = reader.read_line().await?;
///         println!("{}", String::from_utf8_lossy(&line));
///     }
///     Ok(())
/// }
/// ```
#[doc(alias = "asyncio.StreamReader")]
#[derive(Debug)]
pub struct StreamReader {
    /// The connection this reader reads from (keeps it alive), or the fed buffer.
    source: ReadSide,
    /// The reader is the connection's only handle (a read pipe): dropping it closes.
    closes_on_drop: bool,
    /// What [`poll_fill_buf`](Self::poll_fill_buf) took off the buffer and
    /// [`consume`](Self::consume) has not consumed yet: the first bytes of the stream. The
    /// other reads put it back first (`source`).
    front: Bytes,
}

impl StreamReader {
    /// The default limit, 64 KiB: the longest line or record `read_line` and `read_until`
    /// accept (separator excluded); reading pauses when more than twice this is buffered.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// assert_eq!(StreamReader::DEFAULT_LIMIT, 65_536);
    /// ```
    #[doc(alias = "_DEFAULT_LIMIT")]
    pub const DEFAULT_LIMIT: usize = 64 * 1024;

    /// A reader that is not attached to a connection, and the [`ReaderFeeder`] that supplies
    /// its data, EOF and errors. A `limit` of 0 is an [`InvalidInput`](io::ErrorKind) error.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// feeder.feed_data(b"hello\n")?;
    /// feeder.feed_eof();
    /// assert!(!reader.at_eof()); // "hello\n" is still to be read
    /// assert!(StreamReader::with_feeder(0).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "StreamReader.__init__")]
    pub fn with_feeder(limit: usize) -> io::Result<(StreamReader, ReaderFeeder)> {
        let inbound = Rc::new(RefCell::new(Inbound::new(limit)?));
        let reader = StreamReader::from_inbound(Rc::clone(&inbound));
        Ok((reader, ReaderFeeder { inbound }))
    }

    /// A reader over a transport's inbound state.
    pub(crate) fn from_inbound(inbound: Rc<RefCell<Inbound>>) -> StreamReader {
        StreamReader {
            source: ReadSide::fed(inbound),
            closes_on_drop: false,
            front: Bytes::new(),
        }
    }

    /// A reader over a connection's inbound buffer.
    pub(crate) fn from_conn(conn: Rc<Conn>) -> StreamReader {
        StreamReader {
            source: ReadSide::conn(conn),
            closes_on_drop: false,
            front: Bytes::new(),
        }
    }

    /// The connection this reader reads from, if any.
    pub(crate) fn connection(&self) -> Option<&Rc<Conn>> {
        self.source.connection()
    }

    /// A reader that alone owns its connection (a read pipe) and closes it when dropped.
    pub(crate) fn owning(conn: Rc<Conn>) -> StreamReader {
        StreamReader {
            source: ReadSide::conn(conn),
            closes_on_drop: true,
            front: Bytes::new(),
        }
    }

    /// Bytes received and not yet read. Reading pauses above 2 x limit (or what a waiting
    /// read needs, E4), so this stays at most that plus one receive (a receive buffer of the
    /// runtime, 64 KiB by default).
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (reader, feeder) = StreamReader::with_feeder(16)?;
    /// feeder.feed_data(b"abc")?;
    /// assert_eq!(reader.buffered_len(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn buffered_len(&self) -> usize {
        self.front.len() + self.source.look(Inbound::buffered_len)
    }

    /// Reads up to `n` bytes: returns as soon as at least one byte is buffered, without
    /// waiting for more. At EOF returns what is left, then empty `Bytes`. `read(0)` returns
    /// empty at once. A stored connection error is returned even when data is buffered.
    ///
    /// Zero copy for large receives: when a receive of 4 KiB or more arrives with nothing
    /// else buffered, the returned `Bytes` is the runtime's receive buffer itself, which goes
    /// back to the kernel when the last `Bytes` over it is dropped (on any thread). Holding
    /// many such `Bytes` for long does not starve receiving — past half the receive buffers
    /// the runtime copies instead — but keeps up to half of them pinned; copy data you keep
    /// (`Bytes::copy_from_slice`) if it should not pin a whole receive buffer.
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn copy_chunks(reader: &mut StreamReader, out: &mut Vec<u8>) -> Result<(), StreamError> {
    ///     loop {
    ///         let chunk = reader.read(4096).await?;
    ///         if chunk.is_empty() {
    ///             return Ok(()); // EOF
    ///         }
    ///         out.extend_from_slice(&chunk);
    ///     }
    /// }
    /// ```
    #[doc(alias = "StreamReader.read")]
    pub fn read(&mut self, n: usize) -> impl Future<Output = Result<Bytes, StreamError>> + '_ {
        ReadFuture::new(self.source(), move |inbound: &mut Inbound, cx: &mut _| {
            inbound.poll_read(cx, n)
        })
    }

    /// Reads everything until EOF, however long (the limit does not apply; reading is not
    /// paused while this waits).
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn body(reader: &mut StreamReader) -> Result<bytes::Bytes, StreamError> {
    ///     reader.read_to_end().await
    /// }
    /// ```
    #[doc(alias = "read(-1)")]
    pub fn read_to_end(&mut self) -> impl Future<Output = Result<Bytes, StreamError>> + '_ {
        ReadFuture::new(self.source(), |inbound: &mut Inbound, cx: &mut _| {
            inbound.poll_read_to_end(cx)
        })
    }

    /// Reads one line, `\n` included. At EOF returns the unterminated rest, then empty
    /// `Bytes`.
    ///
    /// A line longer than the limit (not counting `\n`) is
    /// [`LimitOverrun`](StreamError::LimitOverrun), and it is discarded: through its `\n` if
    /// one is buffered, else the whole buffer. The next call starts after it.
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn request_line(reader: &mut StreamReader) -> Result<String, StreamError> {
    ///     let line = reader.read_line().await?;
    ///     Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    /// }
    /// ```
    #[doc(alias = "readline")]
    pub fn read_line(&mut self) -> impl Future<Output = Result<Bytes, StreamError>> + '_ {
        ReadFuture::new(self.source(), |inbound: &mut Inbound, cx: &mut _| {
            inbound.poll_read_line(cx)
        })
    }

    /// Reads exactly `n` bytes, waiting for all of them; nothing is consumed until they are
    /// there. The limit does not apply. EOF first is
    /// [`IncompleteRead`](StreamError::IncompleteRead) with everything that was buffered.
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn frame(reader: &mut StreamReader) -> Result<bytes::Bytes, StreamError> {
    ///     let header = reader.read_exact(4).await?;
    ///     let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    ///     reader.read_exact(len as usize).await
    /// }
    /// ```
    #[doc(alias = "readexactly")]
    pub fn read_exact(
        &mut self,
        n: usize,
    ) -> impl Future<Output = Result<Bytes, StreamError>> + '_ {
        ReadFuture::new(self.source(), move |inbound: &mut Inbound, cx: &mut _| {
            inbound.poll_read_exact(cx, n)
        })
    }

    /// Reads up to and including `separator`.
    ///
    /// If the separator starts past the limit, or none appears within it, the result is
    /// [`LimitOverrun`](StreamError::LimitOverrun) and the data stays buffered. EOF without a
    /// separator is [`IncompleteRead`](StreamError::IncompleteRead) with the whole buffer. An
    /// empty separator is an [`InvalidInput`](io::ErrorKind) error.
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn http_header(reader: &mut StreamReader) -> Result<bytes::Bytes, StreamError> {
    ///     reader.read_until(b"\r\n").await
    /// }
    /// ```
    #[doc(alias = "readuntil")]
    pub fn read_until<'a>(
        &'a mut self,
        separator: &'a [u8],
    ) -> impl Future<Output = Result<Bytes, StreamError>> + 'a {
        ReadFuture::new(self.source(), move |inbound: &mut Inbound, cx: &mut _| {
            inbound.poll_read_until(cx, separator)
        })
    }

    /// Like [`read_until`](Self::read_until) with several separators: the match that ends
    /// earliest wins. An empty list or an empty separator is an
    /// [`InvalidInput`](io::ErrorKind) error.
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn any_line(reader: &mut StreamReader) -> Result<bytes::Bytes, StreamError> {
    ///     reader.read_until_any(&[b"\r\n", b"\n"]).await
    /// }
    /// ```
    #[doc(alias = "readuntil")]
    pub fn read_until_any<'a>(
        &'a mut self,
        separators: &'a [&'a [u8]],
    ) -> impl Future<Output = Result<Bytes, StreamError>> + 'a {
        ReadFuture::new(self.source(), move |inbound: &mut Inbound, cx: &mut _| {
            inbound.poll_read_until_any(cx, separators)
        })
    }

    /// True once EOF was received and everything buffered has been read.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// assert!(!reader.at_eof());
    /// feeder.feed_eof();
    /// assert!(reader.at_eof());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "StreamReader.at_eof")]
    pub fn at_eof(&self) -> bool {
        self.front.is_empty() && self.source.look(Inbound::at_eof)
    }

    /// The limit this reader was built with.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (reader, _feeder) = StreamReader::with_feeder(1024)?;
    /// assert_eq!(reader.limit(), 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "_limit")]
    pub fn limit(&self) -> usize {
        self.source.look(Inbound::limit)
    }

    /// Poll form of [`read(n)`](Self::read): up to `n` bytes as soon as at least one is
    /// buffered, without a copy (the same `Bytes` `read` returns); empty at EOF. `Pending`
    /// registers `cx`'s waker, which the next data, EOF or error wakes. Bytes that
    /// [`poll_fill_buf`](Self::poll_fill_buf) exposed and nothing consumed come first.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn next_chunk(reader: &mut StreamReader) -> Result<bytes::Bytes, StreamError> {
    ///     poll_fn(|cx| reader.poll_read_chunk(cx, 16 * 1024)).await
    /// }
    /// ```
    pub fn poll_read_chunk(
        &mut self,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<Bytes, StreamError>> {
        if !self.front.is_empty() {
            let n = n.min(self.front.len());
            return Poll::Ready(Ok(self.front.split_to(n)));
        }
        let poll = self
            .source
            .step(|inbound: &mut Inbound| inbound.poll_read(cx, n));
        // Taking bytes may bring a paused buffer back down: receive again (E4).
        self.source.after_step();
        poll
    }

    /// Reads into `buf` as soon as at least one byte is buffered: how many bytes were
    /// copied, 0 at EOF (or for an empty `buf`). One copy, from the connection's buffer into
    /// `buf`; [`poll_read_chunk`](Self::poll_read_chunk) makes none.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn read_some(reader: &mut StreamReader, buf: &mut [u8]) -> Result<usize, StreamError> {
    ///     poll_fn(|cx| reader.poll_read(cx, buf)).await
    /// }
    /// ```
    pub fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, StreamError>> {
        let chunk = ready!(self.poll_read_chunk(cx, buf.len()))?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        Poll::Ready(Ok(chunk.len()))
    }

    /// Everything buffered, to look at without consuming it (`AsyncBufRead`'s
    /// `poll_fill_buf`): waits until at least one byte is there; empty at EOF. Mark what was
    /// used with [`consume`](Self::consume); the rest is read again by the next call or any
    /// other read.
    ///
    /// No copy: the bytes are taken off the connection's buffer as they are, so reading
    /// (E4) goes on while they are looked at. A read other than `poll_read`,
    /// `poll_read_chunk` and `poll_fill_buf` puts what was not consumed back in front of
    /// what arrived since, which copies both once.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// /// Skips leading spaces without reading past them.
    /// async fn skip_spaces(reader: &mut StreamReader) -> Result<(), StreamError> {
    ///     loop {
    ///         let buf = poll_fn(|cx| reader.poll_fill_buf(cx).map_ok(|b| b.to_vec())).await?;
    ///         let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    ///         reader.consume(spaces);
    ///         if buf.is_empty() || spaces < buf.len() {
    ///             return Ok(());
    ///         }
    ///     }
    /// }
    /// ```
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<Result<&[u8], StreamError>> {
        if self.front.is_empty() {
            self.front = ready!(self.poll_read_chunk(cx, usize::MAX))?;
        }
        Poll::Ready(Ok(&self.front))
    }

    /// Marks the first `n` bytes [`poll_fill_buf`](Self::poll_fill_buf) returned as read
    /// (at most what it returned).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringstream::stream::StreamReader;
    ///
    /// # ringstream::run(async {
    /// let (mut reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// feeder.feed_data(b"key=value\n")?;
    /// let head = poll_fn(|cx| reader.poll_fill_buf(cx).map_ok(|b| b[..4].to_vec())).await?;
    /// assert_eq!(head, b"key=");
    /// reader.consume(4);
    /// assert_eq!(&reader.read_line().await?[..], b"value\n");
    /// # Ok::<(), ringstream::stream::StreamError>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn consume(&mut self, n: usize) {
        self.front.advance(n.min(self.front.len()));
    }

    /// Poll form of [`read_line`](Self::read_line), for hand-written futures and streams
    /// ([`Lines`] is one).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn line(reader: &mut StreamReader) -> Result<bytes::Bytes, StreamError> {
    ///     poll_fn(|cx| reader.poll_read_line(cx)).await
    /// }
    /// ```
    pub fn poll_read_line(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, StreamError>> {
        let poll = self
            .source()
            .step(|inbound: &mut Inbound| inbound.poll_read_line(cx));
        self.source.after_step();
        poll
    }

    /// The connection's buffer, for a read that works on it: first the bytes a
    /// [`poll_fill_buf`](Self::poll_fill_buf) took and did not consume go back in front.
    #[inline(always)]
    fn source(&mut self) -> &ReadSide {
        if !self.front.is_empty() {
            self.unread_front();
        }
        &self.source
    }

    #[cold]
    fn unread_front(&mut self) {
        let front = std::mem::take(&mut self.front);
        self.source.step(|inbound| inbound.unread(front));
    }

    /// Iterates over lines, as asyncio's `async for line in reader`: see [`Lines`].
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn count_lines(reader: &mut StreamReader) -> Result<usize, StreamError> {
    ///     let mut lines = reader.lines();
    ///     let mut count = 0;
    ///     while let Some(line) = lines.next_line().await {
    ///         line?;
    ///         count += 1;
    ///     }
    ///     Ok(count)
    /// }
    /// ```
    #[doc(alias = "__aiter__")]
    pub fn lines(&mut self) -> Lines<'_> {
        Lines::new(self)
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        if self.closes_on_drop {
            if let Some(conn) = self.source.connection() {
                conn.close();
            }
        }
    }
}

/// Supplies a [`StreamReader`] made by [`StreamReader::with_feeder`] with data, EOF and
/// errors — the role asyncio's `StreamReaderProtocol` plays for a connection.
///
/// ```
/// use ringstream::stream::StreamReader;
///
/// let (reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
/// feeder.feed_bytes(bytes::Bytes::from_static(b"ping\n"))?;
/// feeder.feed_eof();
/// assert!(!reader.at_eof()); // "ping\n" is buffered until a read takes it
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "StreamReaderProtocol")]
#[derive(Debug)]
pub struct ReaderFeeder {
    inbound: Rc<RefCell<Inbound>>,
}

impl ReaderFeeder {
    /// Appends `data` to the reader's buffer and wakes a waiting read. Empty data does
    /// nothing. After [`feed_eof`](Self::feed_eof) this is a bug: it panics in debug builds
    /// and returns an [`InvalidInput`](io::ErrorKind) error (dropping the data) in release.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (_reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// feeder.feed_data(b"GET / HTTP/1.1\r\n")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "StreamReader.feed_data")]
    pub fn feed_data(&self, data: &[u8]) -> io::Result<()> {
        self.inbound.borrow_mut().feed_data(data)
    }

    /// Like [`feed_data`](Self::feed_data) for `Bytes`; a uniquely owned buffer fed to an
    /// empty reader is taken over without a copy.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (_reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// feeder.feed_bytes(bytes::Bytes::from(vec![b'x'; 100]))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "feed_data")]
    pub fn feed_bytes(&self, data: Bytes) -> io::Result<()> {
        self.inbound.borrow_mut().feed_bytes(data)
    }

    /// Marks the end of the stream and wakes a waiting read.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// feeder.feed_eof();
    /// assert!(reader.at_eof());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "StreamReader.feed_eof")]
    pub fn feed_eof(&self) {
        self.inbound.borrow_mut().feed_eof();
    }

    /// Stores `error`: every later read returns it, even with data buffered, and a waiting
    /// read wakes up to return it.
    ///
    /// ```
    /// use ringstream::stream::StreamReader;
    ///
    /// let (_reader, feeder) = StreamReader::with_feeder(StreamReader::DEFAULT_LIMIT)?;
    /// feeder.set_exception(std::io::Error::other("upstream went away"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "StreamReader.set_exception")]
    pub fn set_exception(&self, error: io::Error) {
        self.inbound.borrow_mut().set_exception(error);
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Poll;

    use super::*;
    use crate::transport::test_support::{ready, WakeCounter};

    fn reader(limit: usize) -> (StreamReader, ReaderFeeder) {
        StreamReader::with_feeder(limit).unwrap()
    }

    #[test]
    fn a1_default_limit_is_64_kib() {
        let (reader, _feeder) = reader(StreamReader::DEFAULT_LIMIT);
        assert_eq!(reader.limit(), 64 * 1024);
    }

    #[test]
    fn a1_zero_limit_is_an_error_at_construction() {
        let error = StreamReader::with_feeder(0).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a3_read_future_waits_then_returns_what_arrived() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        let mut read = pin!(reader.read(10));
        assert!(p.poll(read.as_mut()).is_pending());
        feeder.feed_data(b"abc").unwrap();
        assert_eq!(p.wakes(), 1);
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"abc");
    }

    #[test]
    fn a5_read_to_end_future_collects_everything() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(2);
        let mut read = pin!(reader.read_to_end());
        for chunk in [&b"abc"[..], b"def", b"ghi"] {
            feeder.feed_data(chunk).unwrap();
            assert!(p.poll(read.as_mut()).is_pending());
        }
        feeder.feed_eof();
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"abcdefghi");
    }

    #[test]
    fn a7_dropped_read_line_loses_no_bytes() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"par").unwrap();
        {
            let mut read = pin!(reader.read_line());
            assert!(p.poll(read.as_mut()).is_pending());
        }
        feeder.feed_data(b"tial\n").unwrap();
        let mut read = pin!(reader.read_line());
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"partial\n");
    }

    #[test]
    fn a7_dropped_read_exact_loses_no_bytes() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"abc").unwrap();
        {
            let mut read = pin!(reader.read_exact(5));
            assert!(p.poll(read.as_mut()).is_pending());
        }
        let mut read = pin!(reader.read(16));
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"abc");
    }

    #[test]
    fn a7_dropped_read_until_any_and_read_to_end_lose_no_bytes() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"a\r").unwrap();
        {
            let mut read = pin!(reader.read_until_any(&[b"\r\n", b"|"]));
            assert!(p.poll(read.as_mut()).is_pending());
        }
        {
            let mut read = pin!(reader.read_to_end());
            assert!(p.poll(read.as_mut()).is_pending());
        }
        feeder.feed_data(b"\nb").unwrap();
        let mut read = pin!(reader.read_until(b"\r\n"));
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"a\r\n");
    }

    #[test]
    fn a7_dropped_read_until_resumes_safely_for_the_next_read() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(64);
        feeder.feed_data(b"one\ntwo\r").unwrap();
        {
            // Searched to the end for "\r\n" (and "\r" is a false hit so far), then dropped.
            let mut read = pin!(reader.read_until(b"\r\n"));
            assert!(p.poll(read.as_mut()).is_pending());
        }
        let line = ready(p.poll(pin!(reader.read_line())));
        assert_eq!(&line.unwrap()[..], b"one\n");
        feeder.feed_data(b"\nthree|").unwrap();
        let record = ready(p.poll(pin!(reader.read_until(b"\r\n"))));
        assert_eq!(&record.unwrap()[..], b"two\r\n");
        let record = ready(p.poll(pin!(reader.read_until_any(&[b"|", b"END"]))));
        assert_eq!(&record.unwrap()[..], b"three|");
    }

    #[test]
    fn a7_completed_future_polled_again_consumes_nothing() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"abcd").unwrap();
        {
            let mut read = pin!(reader.read(2));
            assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"ab");
            assert!(matches!(
                p.poll(read.as_mut()),
                Poll::Ready(Err(StreamError::Io(_)))
            ));
        }
        let mut read = pin!(reader.read(16));
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"cd");
    }

    #[test]
    fn b1_read_line_future_returns_line_then_partial_then_empty() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"one\ntwo").unwrap();
        feeder.feed_eof();
        for expected in [&b"one\n"[..], b"two", b""] {
            let mut read = pin!(reader.read_line());
            assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], expected);
        }
    }

    #[test]
    fn c3_read_exact_future_reports_incomplete_read() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        let mut read = pin!(reader.read_exact(4));
        assert!(p.poll(read.as_mut()).is_pending());
        feeder.feed_data(b"ab").unwrap();
        assert!(p.poll(read.as_mut()).is_pending());
        feeder.feed_eof();
        assert_eq!(p.wakes(), 2);
        match ready(p.poll(read.as_mut())) {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(&partial[..], b"ab");
                assert_eq!(expected, Some(4));
            }
            other => panic!("expected IncompleteRead, got {other:?}"),
        }
    }

    #[test]
    fn d1_read_until_rejects_empty_separator() {
        let p = WakeCounter::new();
        let (mut reader, _feeder) = reader(16);
        let mut read = pin!(reader.read_until(b""));
        match ready(p.poll(read.as_mut())) {
            Err(StreamError::Io(error)) => assert_eq!(error.kind(), io::ErrorKind::InvalidInput),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn d8_read_until_any_future_takes_earliest_ending_match() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"ABCDEFG").unwrap();
        let mut read = pin!(reader.read_until_any(&[b"DEF", b"BCDE"]));
        assert_eq!(&ready(p.poll(read.as_mut())).unwrap()[..], b"ABCDE");
    }

    #[test]
    fn e1_at_eof_after_the_last_byte_is_read() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        feeder.feed_data(b"x").unwrap();
        feeder.feed_eof();
        assert!(!reader.at_eof());
        {
            let mut read = pin!(reader.read(1));
            ready(p.poll(read.as_mut())).unwrap();
        }
        assert!(reader.at_eof());
    }

    #[test]
    fn e3_set_exception_fails_the_waiting_future() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        let mut read = pin!(reader.read_line());
        assert!(p.poll(read.as_mut()).is_pending());
        feeder.set_exception(io::ErrorKind::ConnectionReset.into());
        assert_eq!(p.wakes(), 1);
        match ready(p.poll(read.as_mut())) {
            Err(StreamError::Io(error)) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected the stored error, got {other:?}"),
        }
    }

    /// A reader with flow control on (as on a connection) and its feeder.
    fn controlled(limit: usize) -> (StreamReader, ReaderFeeder) {
        let mut inbound = Inbound::new(limit).unwrap();
        inbound.enable_flow_control();
        let inbound = Rc::new(RefCell::new(inbound));
        let reader = StreamReader::from_inbound(Rc::clone(&inbound));
        (reader, ReaderFeeder { inbound })
    }

    #[test]
    fn a3_poll_read_waits_then_copies_what_arrived() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        let mut buf = [0u8; 4];
        assert!(reader.poll_read(&mut p.cx(), &mut buf).is_pending());
        feeder.feed_data(b"abcdef").unwrap();
        assert_eq!(p.wakes(), 1);
        assert_eq!(ready(reader.poll_read(&mut p.cx(), &mut buf)).unwrap(), 4);
        assert_eq!(&buf, b"abcd");
        assert_eq!(ready(reader.poll_read(&mut p.cx(), &mut buf)).unwrap(), 2);
        assert_eq!(&buf[..2], b"ef");
        feeder.feed_eof();
        assert_eq!(ready(reader.poll_read(&mut p.cx(), &mut buf)).unwrap(), 0);
    }

    #[test]
    fn a7_unconsumed_fill_buf_bytes_come_first_for_every_read() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(64);
        assert!(reader.poll_fill_buf(&mut p.cx()).is_pending());
        feeder.feed_data(b"one\ntw").unwrap();
        assert_eq!(
            ready(reader.poll_fill_buf(&mut p.cx())).unwrap(),
            b"one\ntw"
        );
        reader.consume(1);
        // More arrives behind the bytes the reader holds: a line read sees them in order.
        feeder.feed_data(b"o\nthree").unwrap();
        assert_eq!(reader.buffered_len(), 12);
        let line = ready(p.poll(pin!(reader.read_line())));
        assert_eq!(&line.unwrap()[..], b"ne\n");
        assert_eq!(
            ready(reader.poll_fill_buf(&mut p.cx())).unwrap(),
            b"two\nthree"
        );
        reader.consume(4);
        let mut buf = [0u8; 3];
        assert_eq!(ready(reader.poll_read(&mut p.cx(), &mut buf)).unwrap(), 3);
        assert_eq!(&buf, b"thr");
        feeder.feed_eof();
        assert!(!reader.at_eof(), "\"ee\" is still held");
        let rest = ready(p.poll(pin!(reader.read_to_end())));
        assert_eq!(&rest.unwrap()[..], b"ee");
        assert!(reader.at_eof());
        assert!(ready(reader.poll_fill_buf(&mut p.cx())).unwrap().is_empty());
    }

    #[test]
    fn e4_poll_reads_resume_a_paused_buffer() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = controlled(4);
        feeder.feed_data(&[b'x'; 20]).unwrap();
        assert!(!feeder.inbound.borrow().wants_data(), "did not pause");
        let chunk = ready(reader.poll_read_chunk(&mut p.cx(), 16)).unwrap();
        assert_eq!(chunk.len(), 16);
        assert!(
            feeder.inbound.borrow().wants_data(),
            "not resumed at the limit"
        );
        assert!(feeder.inbound.borrow_mut().take_resumed());
        feeder.feed_data(&[b'y'; 20]).unwrap();
        assert!(!feeder.inbound.borrow().wants_data(), "did not pause again");
        assert_eq!(ready(reader.poll_fill_buf(&mut p.cx())).unwrap().len(), 24);
        assert!(
            feeder.inbound.borrow().wants_data(),
            "fill_buf did not resume"
        );
    }

    #[test]
    fn b1_poll_read_line_and_lines_poll_next_line() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = reader(16);
        assert!(reader.poll_read_line(&mut p.cx()).is_pending());
        feeder.feed_data(b"a\nb").unwrap();
        assert_eq!(p.wakes(), 1);
        let line = ready(reader.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"a\n");
        feeder.feed_eof();
        let mut lines = reader.lines();
        let last = ready(lines.poll_next_line(&mut p.cx())).unwrap().unwrap();
        assert_eq!(&last[..], b"b");
        assert!(ready(lines.poll_next_line(&mut p.cx())).is_none());
    }

    #[test]
    fn e4_dropped_read_to_end_future_lets_reading_pause_again() {
        let p = WakeCounter::new();
        let mut inbound = Inbound::new(4).unwrap();
        inbound.enable_flow_control();
        let inbound = Rc::new(RefCell::new(inbound));
        let mut reader = StreamReader::from_inbound(Rc::clone(&inbound));
        let feeder = ReaderFeeder { inbound };
        {
            let mut read = pin!(reader.read_to_end());
            assert!(p.poll(read.as_mut()).is_pending());
            feeder.feed_data(&[b'x'; 20]).unwrap();
            assert!(
                feeder.inbound.borrow().wants_data(),
                "paused while read_to_end waits"
            );
        }
        feeder.feed_data(b"y").unwrap();
        assert!(!feeder.inbound.borrow().wants_data(), "did not pause");
    }
}
