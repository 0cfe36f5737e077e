//! Per-connection inbound state: the buffer the recv completion handler appends to, EOF and
//! the stored error, the pending reader's waker, and inbound flow control (SEMANTICS A–E).
//!
//! Every read is a `poll_*` function that either finishes at once, consuming exactly what it
//! returns, or registers the reader's waker and consumes nothing. Data never lives in a read
//! future, which is what makes every read cancel-safe (A7).
//!
//! `read_line` and `read_until` have a fast path for the common case (no stored error, a
//! separator within the limit is buffered): search, split off the record, done, without
//! building a `Step` or matching on an error. Everything else (waiting, overrun, EOF, errors,
//! invalid separators) goes through the general `Step` -> `settle` path, out of line (see
//! `docs/decisions.md`, "Reader fast paths").
//!
//! Flow control (E4) is pulled, like the outbound side's: a feed that takes the buffer over
//! the threshold marks it paused, and the transport asks [`Inbound::wants_data`] before it
//! arms a receive; a read that brings it back down marks it resumed, and the reader's door
//! (`ReadSide::after_step`) takes that with [`Inbound::take_resumed`] and re-arms. A
//! reader fed by hand (`ReaderFeeder`) has no flow control.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use crate::error::StreamError;

mod search;

use search::{Match, SeparatorSearch};

use super::stored_error::StoredError;
use super::KEPT_CAPACITY;

/// The inbound half of one connection.
///
/// One reader at a time: a second concurrent read (impossible through `StreamReader`, whose
/// reads take `&mut self`) is a misuse; it replaces the first read's waker, and the first
/// read then only makes progress when something else polls it.
pub(crate) struct Inbound {
    buf: BytesMut,
    /// Received bytes taken over without a copy (a lent receive buffer, see `feed_lent`).
    /// When it is not empty, `buf` is: it is then all the buffered data. Boxed (and the box
    /// kept once made) so that connections that never lend stay 24 bytes smaller.
    lent: Option<Box<Bytes>>,
    limit: usize,
    /// Bytes the pending read needs before it can finish; 0 when no read is pending. Reading
    /// only pauses above `max(2 x limit, wanted)`, so a big `read_exact` or `read_to_end`
    /// cannot deadlock (C2).
    wanted: usize,
    search: SeparatorSearch,
    /// Waker of the pending read.
    reader: Option<Waker>,
    /// The connection's error (shared with its outbound state: one error per
    /// connection), or the one a `ReaderFeeder` set.
    error: Option<Rc<StoredError>>,
    /// `error` comes after the buffered data (a TLS stream cut short): reads return what is
    /// buffered first, then the error.
    error_after_data: bool,
    eof: bool,
    /// Flow control is on (a transport reads into this buffer, see the module doc).
    flow_control: bool,
    /// Over the threshold: the transport must not arm another receive.
    paused: bool,
    /// Its owner paused reading (a protocol's `pause_reading`, G4): no receive either.
    held: bool,
    /// A read brought a paused buffer back down; the transport re-arms when it takes this.
    resumed: bool,
    /// `buf` grew past `KEPT_CAPACITY`: it is released when a read empties it. A flag, as
    /// the capacity an empty `BytesMut` reports leaves out what was read from it, which
    /// still belongs to its allocation.
    grown: bool,
}

/// What [`Inbound::pull`] found.
#[derive(Debug)]
pub(crate) enum Pulled {
    Nothing,
    Data(Bytes),
    Eof,
}

/// What a read decided: done with these bytes, or wait until `wanted` bytes are buffered.
enum Step {
    Done(Bytes),
    Wait { wanted: usize },
}

fn invalid_input(message: &'static str) -> StreamError {
    StreamError::Io(io::Error::new(io::ErrorKind::InvalidInput, message))
}

impl Inbound {
    /// An empty inbound buffer. A `limit` of 0 is an `InvalidInput` error (A1).
    pub(crate) fn new(limit: usize) -> io::Result<Self> {
        if limit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the stream limit must be at least 1 byte (the default is 64 KiB)",
            ));
        }
        Ok(Self {
            buf: BytesMut::new(),
            lent: None,
            limit,
            wanted: 0,
            search: SeparatorSearch::default(),
            reader: None,
            error: None,
            error_after_data: false,
            eof: false,
            flow_control: false,
            paused: false,
            held: false,
            resumed: false,
            grown: false,
        })
    }

    /// A transport reads into this buffer: pause above the threshold (E4).
    pub(crate) fn enable_flow_control(&mut self) {
        self.flow_control = true;
        self.maybe_pause();
    }

    /// Whether the transport should receive: not paused, and neither EOF nor an error
    /// ended the stream.
    #[inline]
    pub(crate) fn wants_data(&self) -> bool {
        !self.paused && !self.held && !self.is_over()
    }

    /// Pauses (`true`) or resumes receiving for the buffer's owner (G4), whatever is
    /// buffered. Returns whether that changed anything; on a resume the transport then arms
    /// its receive.
    pub(crate) fn hold(&mut self, held: bool) -> bool {
        std::mem::replace(&mut self.held, held) != held
    }

    /// Whether the owner paused receiving (see [`hold`](Self::hold)).
    pub(crate) fn is_held(&self) -> bool {
        self.held
    }

    /// What a protocol is told next, in one look: nothing while its owner paused reading
    /// (G4); else everything buffered, at once (a lent receive buffer handed on as it is);
    /// else whether the stream ended with EOF (not an error) and nothing is left.
    pub(crate) fn pull(&mut self) -> Pulled {
        if self.held {
            return Pulled::Nothing;
        }
        if let Some(lent) = self.lent.as_mut().filter(|lent| !lent.is_empty()) {
            let data = std::mem::take(&mut **lent);
            self.consumed();
            return Pulled::Data(data);
        }
        if !self.buf.is_empty() {
            return Pulled::Data(self.consume_all());
        }
        if self.eof && self.error.is_none() {
            return Pulled::Eof;
        }
        Pulled::Nothing
    }

    /// EOF was fed or an error set: nothing more is received.
    #[inline]
    pub(crate) fn is_over(&self) -> bool {
        self.eof || self.error.is_some()
    }

    /// Whether a read resumed a paused buffer since the last [`take_resumed`]
    /// (Self::take_resumed).
    #[inline(always)]
    pub(crate) fn resumed(&self) -> bool {
        self.resumed
    }

    /// Whether a read resumed a paused buffer since the last call (the transport then
    /// re-arms its receive).
    pub(crate) fn take_resumed(&mut self) -> bool {
        std::mem::take(&mut self.resumed)
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn buffered_len(&self) -> usize {
        self.buf.len() + self.lent_len()
    }

    #[inline(always)]
    fn lent_len(&self) -> usize {
        self.lent.as_ref().map_or(0, |lent| lent.len())
    }

    /// A read is waiting for data (parked, not finished or dropped yet).
    pub(crate) fn read_pending(&self) -> bool {
        self.wanted > 0
    }

    /// EOF seen and nothing left to read (E1).
    pub(crate) fn at_eof(&self) -> bool {
        self.eof && self.is_empty()
    }

    /// Nothing is buffered, so [`feed_lent`](Self::feed_lent) would keep its `Bytes` as it
    /// is rather than copy it behind earlier data.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.lent_len() == 0
    }

    /// Takes received bytes without copying them when nothing is buffered (a receive buffer
    /// lent by the transport); behind earlier data they are copied like
    /// [`feed_data`](Self::feed_data). Only `read(n)` hands the bytes on without a copy:
    /// the separator and exact-length reads first move them into the contiguous buffer.
    pub(crate) fn feed_lent(&mut self, data: Bytes) -> io::Result<()> {
        self.check_feed()?;
        if data.is_empty() {
            return Ok(());
        }
        if self.is_empty() {
            match &mut self.lent {
                Some(lent) => **lent = data,
                None => self.lent = Some(Box::new(data)),
            }
        } else {
            self.flatten();
            self.buf.extend_from_slice(&data);
        }
        self.data_arrived();
        Ok(())
    }

    /// Moves lent bytes into `buf` (empty whenever `lent` is not), so that every read but
    /// `read(n)` works on one contiguous buffer. The search state needs no change: it
    /// describes `buf`, which was empty.
    #[cold]
    fn flatten(&mut self) {
        if let Some(lent) = self.lent.as_mut().filter(|lent| !lent.is_empty()) {
            debug_assert!(self.buf.is_empty());
            self.buf.extend_from_slice(lent);
            **lent = Bytes::new();
            self.note_growth();
        }
    }

    /// Appends received bytes and wakes the reader. After EOF this is a bug (E2): a debug
    /// assertion, and in release builds an error with the data dropped.
    pub(crate) fn feed_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.check_feed()?;
        if !data.is_empty() {
            if self.lent_len() != 0 {
                self.flatten();
            }
            self.buf.extend_from_slice(data);
            self.data_arrived();
        }
        Ok(())
    }

    /// Like [`feed_data`](Self::feed_data); a uniquely owned `Bytes` fed into an empty buffer
    /// is adopted without a copy.
    pub(crate) fn feed_bytes(&mut self, data: Bytes) -> io::Result<()> {
        self.check_feed()?;
        if !data.is_empty() {
            if self.lent_len() != 0 {
                self.flatten();
            }
            match data.try_into_mut() {
                Ok(owned) => self.buf.unsplit(owned),
                Err(shared) => self.buf.extend_from_slice(&shared),
            }
            self.data_arrived();
        }
        Ok(())
    }

    /// Puts `data` back in front of everything buffered: what a reader took to look at
    /// (`StreamReader::poll_fill_buf`) and did not consume, before a read that works on the
    /// buffer. Into an empty buffer it goes back as it is, without a copy; in front of data
    /// that arrived since, both are copied into one buffer. Allowed after EOF (the bytes
    /// were received before it). May pause reading (E4).
    pub(crate) fn unread(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if self.is_empty() {
            match &mut self.lent {
                Some(lent) => **lent = data,
                None => self.lent = Some(Box::new(data)),
            }
        } else {
            self.flatten();
            let mut buf = BytesMut::with_capacity(data.len() + self.buf.len());
            buf.extend_from_slice(&data);
            buf.extend_from_slice(&self.buf);
            self.buf = buf;
            // The search's resume points described the old buffer.
            self.search = SeparatorSearch::default();
            self.note_growth();
        }
        self.maybe_pause();
    }

    /// The peer will send nothing more; wakes the reader.
    pub(crate) fn feed_eof(&mut self) {
        self.eof = true;
        self.wake();
    }

    /// Stores `error`: every later read returns it (A6). Wakes the reader (E3).
    pub(crate) fn set_exception(&mut self, error: io::Error) {
        self.fail(Rc::new(StoredError::new(&error)));
    }

    /// The connection failed with `error` (the one its outbound state keeps too).
    pub(crate) fn fail(&mut self, error: Rc<StoredError>) {
        self.error = Some(error);
        self.wake();
    }

    #[cfg(feature = "tls")]
    /// The stream ended abnormally after the data buffered so far (a TLS peer that closed
    /// without `close_notify`): reads return that data, then `error` where they would have
    /// seen EOF. `read_to_end` returns the error at once, as its result would hide the cut.
    pub(crate) fn fail_after_data(&mut self, error: Rc<StoredError>) {
        self.error = Some(error);
        self.error_after_data = true;
        self.eof = true;
        self.wake();
    }

    /// Makes room for `n` more bytes in one allocation, for data about to arrive in pieces
    /// (a TLS receive's plaintext, record by record), so the buffer does not grow, copying
    /// what it holds, once per piece.
    #[cfg(feature = "tls")]
    pub(crate) fn reserve(&mut self, n: usize) {
        if self.lent_len() != 0 {
            self.flatten();
        }
        self.buf.reserve(n);
        self.note_growth();
    }

    #[cfg(feature = "tls")]
    /// The stored error, if the stream has one.
    pub(crate) fn stored_error(&self) -> Option<io::Error> {
        self.error.as_deref().map(StoredError::to_io_error)
    }

    /// Up to `n` bytes as soon as at least one is buffered (A2–A4).
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<Bytes, StreamError>> {
        let step = self.read_step(n);
        self.settle(cx, step)
    }

    /// Everything up to EOF, not capped by the limit (A5).
    pub(crate) fn poll_read_to_end(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Bytes, StreamError>> {
        let step = self.read_to_end_step();
        self.settle(cx, step)
    }

    /// Exactly `n` bytes (C1–C4).
    pub(crate) fn poll_read_exact(
        &mut self,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<Bytes, StreamError>> {
        let step = self.read_exact_step(n);
        self.settle(cx, step)
    }

    /// Data up to and including `separator` (D1–D7).
    ///
    /// Fast path: no stored error and a match within the limit. Separators of up to 8 bytes
    /// are searched without an allocation and without a `memcmp` per call (see `search`).
    #[inline]
    pub(crate) fn poll_read_until(
        &mut self,
        cx: &mut Context<'_>,
        separator: &[u8],
    ) -> Poll<Result<Bytes, StreamError>> {
        if separator.is_empty() || self.error.is_some() {
            return self.poll_read_until_any(cx, &[separator]);
        }
        if self.lent_len() != 0 {
            self.flatten();
        }
        let found = self.search.find_one(&self.buf, separator);
        match found {
            Some(found) if found.start <= self.limit => Poll::Ready(Ok(self.finish(found.end))),
            _ => self.until_slow_path(cx, found, separator.len()),
        }
    }

    /// Data up to and including the earliest-ending of `separators` (D1–D8).
    pub(crate) fn poll_read_until_any(
        &mut self,
        cx: &mut Context<'_>,
        separators: &[&[u8]],
    ) -> Poll<Result<Bytes, StreamError>> {
        let step = self.read_until_step(separators);
        self.settle(cx, step)
    }

    /// One line, `\n` included, with CPython's `readline` recovery on overrun (B1–B5).
    ///
    /// Fast path: no stored error and a `\n` within the limit: a `memchr` from where the last
    /// search stopped, then the line is split off. Anything else is `read_line_slow_path`, out of
    /// line. (Figures in the module comment.)
    #[inline]
    pub(crate) fn poll_read_line(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Bytes, StreamError>> {
        if self.error.is_some() {
            return self.read_line_slow_path(cx, None);
        }
        if self.lent_len() != 0 {
            self.flatten();
        }
        let found = self.search.find_byte(&self.buf, b'\n');
        match found {
            Some(start) if start <= self.limit => Poll::Ready(Ok(self.finish(start + 1))),
            _ => self.read_line_slow_path(cx, found),
        }
    }

    /// The pending read was dropped: forget its waker and its wanted-bytes hint. The search's
    /// resume point stays: it only depends on the buffer, which a dropped read leaves as it
    /// was.
    #[inline]
    pub(crate) fn cancel_read(&mut self) {
        self.reader = None;
        self.wanted = 0;
    }

    fn read_step(&mut self, n: usize) -> Result<Step, StreamError> {
        self.check_error()?;
        if let Some(lent) = self.lent.as_mut().filter(|lent| !lent.is_empty()) {
            // Zero-copy: the lent receive buffer (or its first `n` bytes) itself.
            let data = if n >= lent.len() {
                std::mem::take(&mut **lent)
            } else {
                lent.split_to(n)
            };
            self.consumed();
            return Ok(Step::Done(data));
        }
        if n == 0 || self.eof || !self.buf.is_empty() {
            let n = n.min(self.buf.len());
            return Ok(Step::Done(self.consume(n)));
        }
        Ok(Step::Wait { wanted: 1 })
    }

    fn read_to_end_step(&mut self) -> Result<Step, StreamError> {
        if let Some(stored) = &self.error {
            return Err(StreamError::Io(stored.to_io_error()));
        }
        self.flatten();
        if self.eof {
            return Ok(Step::Done(self.consume_all()));
        }
        Ok(Step::Wait { wanted: usize::MAX })
    }

    fn read_exact_step(&mut self, n: usize) -> Result<Step, StreamError> {
        self.check_error()?;
        self.flatten();
        if self.buf.len() >= n {
            return Ok(Step::Done(self.consume(n)));
        }
        if self.eof {
            return Err(StreamError::IncompleteRead {
                partial: self.consume_all(),
                expected: Some(n),
            });
        }
        Ok(Step::Wait { wanted: n })
    }

    fn read_until_step(&mut self, separators: &[&[u8]]) -> Result<Step, StreamError> {
        let Some(longest) = separators.iter().map(|sep| sep.len()).max() else {
            return Err(invalid_input("read_until_any needs at least one separator"));
        };
        if separators.iter().any(|sep| sep.is_empty()) {
            return Err(invalid_input("a read_until separator must not be empty"));
        }
        self.check_error()?;
        self.flatten();
        let found = self.search.find(&self.buf, separators);
        self.until_step(found, longest)
    }

    /// `read_until` once the search has run: `found` is its result, `longest` the longest
    /// separator (D3–D6).
    fn until_step(&mut self, found: Option<Match>, longest: usize) -> Result<Step, StreamError> {
        if let Some(found) = found {
            if found.start > self.limit {
                return Err(StreamError::LimitOverrun {
                    consumed: found.start,
                });
            }
            return Ok(Step::Done(self.consume(found.end)));
        }
        let scanned = (self.buf.len() + 1).saturating_sub(longest);
        if scanned > self.limit {
            return Err(StreamError::LimitOverrun { consumed: scanned });
        }
        if self.eof {
            return Err(StreamError::IncompleteRead {
                partial: self.consume_all(),
                expected: None,
            });
        }
        // With this much buffered the read is decided either way.
        Ok(Step::Wait {
            wanted: self.limit.saturating_add(longest),
        })
    }

    /// The rest of [`poll_read_until`](Self::poll_read_until) after its fast path.
    #[inline(never)]
    fn until_slow_path(
        &mut self,
        cx: &mut Context<'_>,
        found: Option<Match>,
        longest: usize,
    ) -> Poll<Result<Bytes, StreamError>> {
        let step = self.until_step(found, longest);
        self.settle(cx, step)
    }

    /// The rest of [`poll_read_line`](Self::poll_read_line) after its fast path: the stored
    /// error, an overlong line (B2–B5), EOF (B1) or waiting. `found` is where the search saw
    /// a `\n` (past the limit), if it did.
    #[inline(never)]
    fn read_line_slow_path(
        &mut self,
        cx: &mut Context<'_>,
        found: Option<usize>,
    ) -> Poll<Result<Bytes, StreamError>> {
        self.flatten();
        let step = match self.check_error() {
            Err(error) => Err(error),
            // B3: the line is discarded through its newline; later data stays.
            Ok(()) => match found {
                Some(start) if start > self.limit => {
                    self.consume(start + 1);
                    Err(StreamError::LimitOverrun { consumed: start })
                }
                Some(start) => Ok(Step::Done(self.consume(start + 1))),
                // B4, B5: no newline and more than the limit buffered: discard it all, even
                // at EOF. (D5 with a 1-byte separator: scanned = buffer length.)
                None if self.buf.len() > self.limit => {
                    let consumed = self.buf.len();
                    self.consume_all();
                    Err(StreamError::LimitOverrun { consumed })
                }
                // B1: the unterminated rest, or empty at EOF.
                None if self.eof => Ok(Step::Done(self.consume_all())),
                None => Ok(Step::Wait {
                    wanted: self.limit.saturating_add(1),
                }),
            },
        };
        self.settle(cx, step)
    }

    /// Finishes a read, or parks it: register the waker, publish what it needs, and resume
    /// reading if paused, since a waiting read always needs more than is buffered (C2).
    fn settle(
        &mut self,
        cx: &mut Context<'_>,
        step: Result<Step, StreamError>,
    ) -> Poll<Result<Bytes, StreamError>> {
        match step {
            Ok(Step::Wait { wanted }) => {
                match &self.reader {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => self.reader = Some(cx.waker().clone()),
                }
                self.wanted = wanted;
                self.resume();
                Poll::Pending
            }
            Ok(Step::Done(data)) => {
                self.cancel_read();
                Poll::Ready(Ok(data))
            }
            Err(error) => {
                self.cancel_read();
                Poll::Ready(Err(error))
            }
        }
    }

    fn check_error(&self) -> Result<(), StreamError> {
        match &self.error {
            Some(stored) if !self.error_after_data || self.is_empty() => {
                Err(StreamError::Io(stored.to_io_error()))
            }
            _ => Ok(()),
        }
    }

    fn check_feed(&self) -> io::Result<()> {
        debug_assert!(!self.eof, "feed_data after feed_eof");
        if self.eof {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "feed_data after feed_eof: the stream has ended, the data was dropped",
            ));
        }
        Ok(())
    }

    /// A read finished with the first `n` bytes.
    ///
    /// `inline(always)`, like `consume`: left to the compiler, `finish` stayed out of line
    /// and returned the `Bytes` through memory, and the caller's 16-byte reload of it stalled
    /// on store forwarding (40% of `ReadFuture::poll`'s self time sat on that one load in
    /// perf; see `docs/decisions.md`, "Reader fast paths").
    #[inline(always)]
    fn finish(&mut self, n: usize) -> Bytes {
        self.cancel_read();
        self.consume(n)
    }

    #[inline(always)]
    fn consume(&mut self, n: usize) -> Bytes {
        let data = self.buf.split_to(n).freeze();
        self.search.consume(n);
        self.consumed();
        data
    }

    /// E4: reading resumes once a read has brought the buffer down to the limit. A buffer
    /// that a burst grew is released once empty (see `KEPT_CAPACITY`).
    #[inline(always)]
    fn consumed(&mut self) {
        if self.paused && self.buffered_len() <= self.limit {
            self.resume();
        }
        if self.grown && self.buf.is_empty() {
            self.release_buffer();
        }
    }

    /// Whether the buffer's allocation takes `n` more bytes without allocating: the test of
    /// what a buffer holds after a burst, exact once the `Bytes` read from it are dropped.
    #[cfg(test)]
    pub(crate) fn has_room_for(&mut self, n: usize) -> bool {
        self.buf.try_reclaim(n)
    }

    /// Drops the empty buffer's allocation (freed once the `Bytes` read from it drop); the
    /// next data starts a small one.
    #[cold]
    fn release_buffer(&mut self) {
        self.buf = BytesMut::new();
        self.grown = false;
    }

    /// Remembers that `buf` grew past what it keeps once empty. Its capacity right after
    /// growing spans the whole allocation (a new or reclaimed one starts at the data).
    #[inline(always)]
    fn note_growth(&mut self) {
        if self.buf.capacity() > KEPT_CAPACITY {
            self.grown = true;
        }
    }

    fn consume_all(&mut self) -> Bytes {
        self.consume(self.buf.len())
    }

    fn data_arrived(&mut self) {
        self.note_growth();
        self.wake();
        self.maybe_pause();
    }

    fn wake(&mut self) {
        if let Some(waker) = self.reader.take() {
            waker.wake();
        }
    }

    fn maybe_pause(&mut self) {
        let threshold = self.limit.saturating_mul(2).max(self.wanted);
        if self.flow_control && !self.paused && self.buffered_len() > threshold {
            self.paused = true;
        }
    }

    fn resume(&mut self) {
        if self.paused {
            self.paused = false;
            self.resumed = true;
        }
    }
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("buffered", &self.buffered_len())
            .field("eof", &self.eof)
            .field(
                "error",
                &self.error.as_deref().map(StoredError::to_io_error),
            )
            .field("limit", &self.limit)
            .field("read_pending", &self.reader.is_some())
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
