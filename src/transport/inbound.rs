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
    eof: bool,
    /// Flow control is on (a transport reads into this buffer, see the module doc).
    flow_control: bool,
    /// Over the threshold: the transport must not arm another receive.
    paused: bool,
    /// A read brought a paused buffer back down; the transport re-arms when it takes this.
    resumed: bool,
    /// `buf` grew past `KEPT_CAPACITY`: it is released when a read empties it. A flag, as
    /// the capacity an empty `BytesMut` reports leaves out what was read from it, which
    /// still belongs to its allocation.
    grown: bool,
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
            eof: false,
            flow_control: false,
            paused: false,
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
        !self.paused && !self.is_over()
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
        self.check_error()?;
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
            Some(stored) => Err(StreamError::Io(stored.to_io_error())),
            None => Ok(()),
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
mod tests {
    use super::*;
    use crate::transport::test_support::{ready, WakeCounter};

    fn inbound(limit: usize) -> Inbound {
        Inbound::new(limit).unwrap()
    }

    fn fed(limit: usize, data: &[u8]) -> Inbound {
        let mut inbound = inbound(limit);
        inbound.feed_data(data).unwrap();
        inbound
    }

    fn controlled(limit: usize) -> (Inbound, Flow) {
        let mut inbound = inbound(limit);
        inbound.enable_flow_control();
        (inbound, Flow::default())
    }

    /// What the transport sees of flow control, looked at after each step: "pause" when
    /// the buffer turned paused, "resume" when a read resumed it.
    #[derive(Default)]
    struct Flow {
        paused: std::cell::Cell<bool>,
        calls: std::cell::RefCell<Vec<&'static str>>,
    }

    impl Flow {
        fn calls(&self, inbound: &mut Inbound) -> Vec<&'static str> {
            let mut calls = self.calls.borrow_mut();
            if inbound.take_resumed() {
                calls.push("resume");
            }
            if inbound.paused && !self.paused.get() {
                calls.push("pause");
            }
            self.paused.set(inbound.paused);
            calls.clone()
        }
    }

    fn reset() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionReset, "peer reset")
    }

    fn assert_io(result: Result<Bytes, StreamError>, kind: io::ErrorKind) {
        match result {
            Err(StreamError::Io(error)) => assert_eq!(error.kind(), kind),
            other => panic!("expected an {kind:?} error, got {other:?}"),
        }
    }

    fn assert_overrun(result: Result<Bytes, StreamError>, expected: usize) {
        match result {
            Err(StreamError::LimitOverrun { consumed }) => assert_eq!(consumed, expected),
            other => panic!("expected LimitOverrun {{ consumed: {expected} }}, got {other:?}"),
        }
    }

    fn assert_incomplete(result: Result<Bytes, StreamError>, data: &[u8], n: Option<usize>) {
        match result {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(&partial[..], data);
                assert_eq!(expected, n);
            }
            other => panic!("expected IncompleteRead, got {other:?}"),
        }
    }

    /// Reads everything left, to see exactly what a previous read left behind.
    fn rest(inbound: &mut Inbound) -> Bytes {
        inbound.feed_eof();
        ready(inbound.poll_read_to_end(&mut WakeCounter::new().cx())).unwrap()
    }

    /// A lent receive buffer is handed out by `read(n)` as the same memory (no copy), in
    /// order with data fed before and after it.
    #[test]
    fn a3_lent_bytes_are_read_without_a_copy_and_in_order() {
        let p = WakeCounter::new();
        let mut inbound = inbound(64);
        let lent = Bytes::from(b"0123456789".to_vec());
        let address = lent.as_ptr();
        inbound.feed_lent(lent).unwrap();
        assert_eq!(inbound.buffered_len(), 10);
        let first = ready(inbound.poll_read(&mut p.cx(), 4)).unwrap();
        assert_eq!(&first[..], b"0123");
        assert_eq!(first.as_ptr(), address, "read(n) copied the lent bytes");
        // Fed behind lent bytes: copied after them.
        inbound.feed_lent(Bytes::from_static(b"xy")).unwrap();
        assert_eq!(inbound.buffered_len(), 8);
        assert_eq!(
            &ready(inbound.poll_read(&mut p.cx(), 8)).unwrap()[..],
            b"456789xy"
        );
        inbound.feed_lent(Bytes::from(b"456789".to_vec())).unwrap();
        inbound.feed_data(b"ab").unwrap();
        inbound.feed_lent(Bytes::from_static(b"cd")).unwrap();
        assert_eq!(inbound.buffered_len(), 10);
        let all = ready(inbound.poll_read(&mut p.cx(), 100)).unwrap();
        assert_eq!(&all[..], b"456789abcd");
        assert!(inbound.is_empty());
    }

    /// Separator and exact reads see lent bytes as part of one contiguous buffer.
    #[test]
    fn d1_c1_reads_across_lent_and_copied_bytes() {
        let p = WakeCounter::new();
        let mut inbound = inbound(64);
        inbound
            .feed_lent(Bytes::from_static(b"GET / HTTP/1.1\r\nHo"))
            .unwrap();
        assert!(inbound
            .poll_read_until(&mut p.cx(), b"\r\n\r\n")
            .is_pending());
        inbound
            .feed_lent(Bytes::from_static(b"st: x\r\n\r\nline\nab"))
            .unwrap();
        let head = ready(inbound.poll_read_until(&mut p.cx(), b"\r\n\r\n")).unwrap();
        assert_eq!(&head[..], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
            b"line\n"
        );
        inbound.feed_lent(Bytes::from_static(b"cd")).unwrap();
        assert_eq!(
            &ready(inbound.poll_read_exact(&mut p.cx(), 4)).unwrap()[..],
            b"abcd"
        );
        inbound.feed_lent(Bytes::from_static(b"tail")).unwrap();
        assert_eq!(&rest(&mut inbound)[..], b"tail");
    }

    /// E4 counts lent bytes: pausing above 2 x limit, resuming once read down to the limit.
    #[test]
    fn e4_lent_bytes_count_towards_pausing_and_resuming() {
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(4);
        inbound
            .feed_lent(Bytes::from_static(b"0123456789"))
            .unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause"]);
        ready(inbound.poll_read(&mut p.cx(), 5)).unwrap();
        assert_eq!(
            control.calls(&mut inbound),
            ["pause"],
            "resumed above the limit"
        );
        ready(inbound.poll_read(&mut p.cx(), 1)).unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    }

    #[test]
    fn a1_zero_limit_is_invalid_input() {
        let error = Inbound::new(0).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(inbound(1).limit(), 1);
    }

    #[test]
    fn a2_read_zero_returns_empty_at_once() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(ready(inbound.poll_read(&mut p.cx(), 0)).unwrap().is_empty());
        inbound.feed_data(b"abc").unwrap();
        assert!(ready(inbound.poll_read(&mut p.cx(), 0)).unwrap().is_empty());
        assert_eq!(inbound.buffered_len(), 3);
    }

    #[test]
    fn a2_read_zero_raises_stored_error_first() {
        let mut inbound = fed(8, b"abc");
        inbound.set_exception(reset());
        let result = ready(inbound.poll_read(&mut WakeCounter::new().cx(), 0));
        assert_io(result, io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn a3_read_returns_what_is_buffered_without_waiting() {
        let mut inbound = fed(8, b"abc");
        let data = ready(inbound.poll_read(&mut WakeCounter::new().cx(), 100)).unwrap();
        assert_eq!(&data[..], b"abc");
    }

    #[test]
    fn a3_read_waits_for_the_first_byte_only() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(inbound.poll_read(&mut p.cx(), 5).is_pending());
        inbound.feed_data(b"x").unwrap();
        assert_eq!(p.wakes(), 1);
        assert_eq!(&ready(inbound.poll_read(&mut p.cx(), 5)).unwrap()[..], b"x");
    }

    #[test]
    fn a3_read_returns_at_most_n_and_keeps_the_rest() {
        let mut inbound = fed(8, b"abcdef");
        let data = ready(inbound.poll_read(&mut WakeCounter::new().cx(), 4)).unwrap();
        assert_eq!(&data[..], b"abcd");
        assert_eq!(&rest(&mut inbound)[..], b"ef");
    }

    #[test]
    fn a4_read_at_eof_with_empty_buffer_is_empty() {
        let mut inbound = inbound(8);
        inbound.feed_eof();
        assert!(ready(inbound.poll_read(&mut WakeCounter::new().cx(), 5))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a4_read_at_eof_returns_the_rest_up_to_n() {
        let p = WakeCounter::new();
        let mut inbound = fed(8, b"abcdef");
        inbound.feed_eof();
        assert_eq!(
            &ready(inbound.poll_read(&mut p.cx(), 4)).unwrap()[..],
            b"abcd"
        );
        assert_eq!(
            &ready(inbound.poll_read(&mut p.cx(), 4)).unwrap()[..],
            b"ef"
        );
        assert!(ready(inbound.poll_read(&mut p.cx(), 4)).unwrap().is_empty());
    }

    #[test]
    fn a5_read_to_end_is_not_capped_by_limit() {
        let p = WakeCounter::new();
        let mut inbound = inbound(4);
        for _ in 0..25 {
            inbound.feed_data(b"0123").unwrap();
            assert!(inbound.poll_read_to_end(&mut p.cx()).is_pending());
        }
        inbound.feed_eof();
        assert_eq!(
            ready(inbound.poll_read_to_end(&mut p.cx())).unwrap().len(),
            100
        );
        assert!(inbound.at_eof());
    }

    #[test]
    fn a6_stored_error_beats_buffered_data() {
        let p = WakeCounter::new();
        let mut inbound = fed(8, b"line\nmore");
        inbound.set_exception(reset());
        let kind = io::ErrorKind::ConnectionReset;
        assert_io(ready(inbound.poll_read(&mut p.cx(), 4)), kind);
        assert_io(ready(inbound.poll_read_to_end(&mut p.cx())), kind);
        assert_io(ready(inbound.poll_read_exact(&mut p.cx(), 2)), kind);
        assert_io(ready(inbound.poll_read_until(&mut p.cx(), b"\n")), kind);
        assert_io(ready(inbound.poll_read_line(&mut p.cx())), kind);
        assert_eq!(inbound.buffered_len(), 9);
    }

    #[test]
    fn a6_stored_error_is_rebuilt_for_every_read() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        inbound.set_exception(reset());
        for _ in 0..2 {
            match ready(inbound.poll_read(&mut p.cx(), 1)) {
                Err(StreamError::Io(error)) => {
                    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
                    assert_eq!(error.to_string(), "peer reset");
                }
                other => panic!("expected the stored error, got {other:?}"),
            }
        }
        inbound.set_exception(io::Error::from_raw_os_error(104));
        match ready(inbound.poll_read(&mut p.cx(), 1)) {
            Err(StreamError::Io(error)) => assert_eq!(error.raw_os_error(), Some(104)),
            other => panic!("expected the OS error, got {other:?}"),
        }
    }

    #[test]
    fn a7_waiting_reads_consume_nothing() {
        let p = WakeCounter::new();
        let mut inbound = fed(16, b"abc");
        assert!(inbound.poll_read_exact(&mut p.cx(), 5).is_pending());
        assert!(inbound.poll_read_until(&mut p.cx(), b"\n").is_pending());
        assert!(inbound
            .poll_read_until_any(&mut p.cx(), &[b"\r\n", b"x"])
            .is_pending());
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
        assert!(inbound.poll_read_to_end(&mut p.cx()).is_pending());
        inbound.cancel_read();
        assert_eq!(&rest(&mut inbound)[..], b"abc");
    }

    #[test]
    fn b1_read_line_includes_newline() {
        let p = WakeCounter::new();
        let mut inbound = fed(16, b"one\ntwo\n");
        assert_eq!(
            &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
            b"one\n"
        );
        assert_eq!(
            &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
            b"two\n"
        );
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
    }

    #[test]
    fn b1_read_line_at_eof_returns_partial_then_empty() {
        let p = WakeCounter::new();
        let mut inbound = fed(16, b"tail");
        inbound.feed_eof();
        assert_eq!(
            &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
            b"tail"
        );
        assert!(ready(inbound.poll_read_line(&mut p.cx()))
            .unwrap()
            .is_empty());
        assert!(ready(inbound.poll_read_line(&mut p.cx()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn b2_line_of_exactly_limit_is_ok() {
        let mut inbound = fed(7, b"1234567\n");
        let line = ready(inbound.poll_read_line(&mut WakeCounter::new().cx())).unwrap();
        assert_eq!(&line[..], b"1234567\n");
    }

    #[test]
    fn b2_line_over_limit_is_overrun() {
        let mut inbound = fed(7, b"12345678\n");
        assert_overrun(
            ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
            8,
        );
    }

    #[test]
    fn b3_overrun_discards_through_newline_keeps_later_data() {
        let mut inbound = fed(4, b"toolong\nnext\n");
        assert_overrun(
            ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
            7,
        );
        assert_eq!(&rest(&mut inbound)[..], b"next\n");
    }

    #[test]
    fn b4_overrun_without_newline_clears_buffer() {
        let mut inbound = fed(4, b"0123456789");
        assert_overrun(
            ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
            10,
        );
        assert_eq!(inbound.buffered_len(), 0);
        inbound.feed_data(b"ok\n").unwrap();
        let line = ready(inbound.poll_read_line(&mut WakeCounter::new().cx())).unwrap();
        assert_eq!(&line[..], b"ok\n");
    }

    #[test]
    fn b5_line_overrun_wins_over_eof() {
        let mut inbound = fed(4, b"0123456789");
        inbound.feed_eof();
        assert_overrun(
            ready(inbound.poll_read_line(&mut WakeCounter::new().cx())),
            10,
        );
        assert!(inbound.at_eof());
    }

    #[test]
    fn c1_read_exact_zero_is_empty_after_error_check() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(ready(inbound.poll_read_exact(&mut p.cx(), 0))
            .unwrap()
            .is_empty());
        inbound.set_exception(reset());
        assert_io(
            ready(inbound.poll_read_exact(&mut p.cx(), 0)),
            io::ErrorKind::ConnectionReset,
        );
    }

    #[test]
    fn c2_read_exact_returns_n_and_leaves_the_rest() {
        let p = WakeCounter::new();
        let mut inbound = fed(2, b"abcdefgh");
        assert_eq!(
            &ready(inbound.poll_read_exact(&mut p.cx(), 5)).unwrap()[..],
            b"abcde"
        );
        assert_eq!(&rest(&mut inbound)[..], b"fgh");
    }

    #[test]
    fn c2_read_exact_beyond_twice_limit_keeps_reading() {
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(4);
        assert!(inbound.poll_read_exact(&mut p.cx(), 20).is_pending());
        for _ in 0..5 {
            inbound.feed_data(b"0123").unwrap();
        }
        assert!(
            control.calls(&mut inbound).is_empty(),
            "paused while read_exact waits"
        );
        assert_eq!(
            ready(inbound.poll_read_exact(&mut p.cx(), 20))
                .unwrap()
                .len(),
            20
        );
    }

    #[test]
    fn c2_read_exact_resumes_paused_reading() {
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(4);
        inbound.feed_data(b"0123456789").unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause"]);
        assert!(inbound.poll_read_exact(&mut p.cx(), 30).is_pending());
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
        inbound.feed_data(&[b'x'; 20]).unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
        assert_eq!(
            ready(inbound.poll_read_exact(&mut p.cx(), 30))
                .unwrap()
                .len(),
            30
        );
    }

    #[test]
    fn c3_eof_before_n_is_incomplete_read_and_clears() {
        let mut inbound = fed(8, b"abc");
        inbound.feed_eof();
        let result = ready(inbound.poll_read_exact(&mut WakeCounter::new().cx(), 5));
        assert_incomplete(result, b"abc", Some(5));
        assert!(inbound.at_eof());
    }

    #[test]
    fn c4_read_exact_consumes_nothing_until_n_bytes() {
        let p = WakeCounter::new();
        let mut inbound = fed(8, b"abc");
        assert!(inbound.poll_read_exact(&mut p.cx(), 5).is_pending());
        assert_eq!(inbound.buffered_len(), 3);
        inbound.feed_data(b"de").unwrap();
        assert_eq!(
            &ready(inbound.poll_read_exact(&mut p.cx(), 5)).unwrap()[..],
            b"abcde"
        );
    }

    #[test]
    fn d1_empty_separator_is_invalid_input() {
        let p = WakeCounter::new();
        let mut inbound = fed(8, b"abc");
        let kind = io::ErrorKind::InvalidInput;
        assert_io(ready(inbound.poll_read_until(&mut p.cx(), b"")), kind);
        assert_io(
            ready(inbound.poll_read_until_any(&mut p.cx(), &[b"\n", b""])),
            kind,
        );
        assert_eq!(inbound.buffered_len(), 3);
    }

    #[test]
    fn d1_empty_separator_list_is_invalid_input() {
        let mut inbound = fed(8, b"abc");
        let result = ready(inbound.poll_read_until_any(&mut WakeCounter::new().cx(), &[]));
        assert_io(result, io::ErrorKind::InvalidInput);
    }

    #[test]
    fn d2_read_until_returns_data_and_separator() {
        let mut inbound = fed(16, b"key: value\r\nrest");
        let data = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n")).unwrap();
        assert_eq!(&data[..], b"key: value\r\n");
        assert_eq!(&rest(&mut inbound)[..], b"rest");
    }

    #[test]
    fn d3_eof_without_match_is_incomplete_read() {
        let mut inbound = fed(16, b"abc\r");
        inbound.feed_eof();
        let result = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n"));
        assert_incomplete(result, b"abc\r", None);
        assert!(inbound.at_eof());
    }

    #[test]
    fn d3_match_completed_by_the_last_chunk_succeeds() {
        let p = WakeCounter::new();
        let mut inbound = fed(16, b"abc\r");
        assert!(inbound.poll_read_until(&mut p.cx(), b"\r\n").is_pending());
        inbound.feed_data(b"\n").unwrap();
        inbound.feed_eof();
        let data = ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")).unwrap();
        assert_eq!(&data[..], b"abc\r\n");
    }

    #[test]
    fn d4_separator_after_limit_is_overrun() {
        let mut inbound = fed(4, b"abcdef\r\n");
        let result = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n"));
        assert_overrun(result, 6);
        assert_eq!(inbound.buffered_len(), 8);
    }

    #[test]
    fn d4_separator_starting_at_limit_is_ok() {
        let mut inbound = fed(4, b"abcd\r\n");
        let data = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"\r\n")).unwrap();
        assert_eq!(&data[..], b"abcd\r\n");
    }

    #[test]
    fn d5_no_separator_past_limit_is_overrun() {
        // limit 4, longest separator 3: overrun once the buffer holds more than 6 bytes.
        let p = WakeCounter::new();
        let mut inbound = fed(4, b"abcdef");
        let separators: &[&[u8]] = &[b"\r\n", b"END"];
        assert!(inbound
            .poll_read_until_any(&mut p.cx(), separators)
            .is_pending());
        inbound.feed_data(b"gh").unwrap();
        let result = ready(inbound.poll_read_until_any(&mut p.cx(), separators));
        assert_overrun(result, 8 + 1 - 3);
    }

    #[test]
    fn d6_overrun_consumes_nothing_and_wins_over_eof() {
        let p = WakeCounter::new();
        let mut inbound = fed(4, b"abcdefgh");
        inbound.feed_eof();
        assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\n")), 8);
        assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\n")), 8);
        assert_eq!(inbound.buffered_len(), 8);
        assert_eq!(
            &ready(inbound.poll_read_exact(&mut p.cx(), 8)).unwrap()[..],
            b"abcdefgh"
        );
    }

    #[test]
    fn d7_separator_split_across_chunks_is_found() {
        let separator = b"<END>";
        for split in 1..separator.len() {
            let p = WakeCounter::new();
            let mut inbound = fed(64, b"payload");
            inbound.feed_data(&separator[..split]).unwrap();
            assert!(inbound.poll_read_until(&mut p.cx(), separator).is_pending());
            inbound.feed_data(&separator[split..]).unwrap();
            let data = ready(inbound.poll_read_until(&mut p.cx(), separator)).unwrap();
            assert_eq!(&data[..], b"payload<END>", "split at {split}");
        }
    }

    #[test]
    fn d7_other_reads_between_searches_keep_results_right() {
        let p = WakeCounter::new();
        let mut inbound = fed(64, b"abcdef");
        assert!(inbound.poll_read_until(&mut p.cx(), b"\n").is_pending());
        assert_eq!(
            &ready(inbound.poll_read(&mut p.cx(), 2)).unwrap()[..],
            b"ab"
        );
        inbound.feed_data(b"\n").unwrap();
        let data = ready(inbound.poll_read_until(&mut p.cx(), b"\n")).unwrap();
        assert_eq!(&data[..], b"cdef\n");
    }

    #[test]
    fn d8_earliest_ending_match_wins() {
        let mut inbound = fed(16, b"ABCDEFG");
        let separators: &[&[u8]] = &[b"DEF", b"BCDE"];
        let data = ready(inbound.poll_read_until_any(&mut WakeCounter::new().cx(), separators));
        assert_eq!(&data.unwrap()[..], b"ABCDE");
        assert_eq!(&rest(&mut inbound)[..], b"FG");
    }

    #[test]
    fn e1_at_eof_needs_eof_and_empty_buffer() {
        let mut inbound = fed(8, b"a");
        assert!(!inbound.at_eof());
        inbound.feed_eof();
        assert!(!inbound.at_eof());
        ready(inbound.poll_read(&mut WakeCounter::new().cx(), 1)).unwrap();
        assert!(inbound.at_eof());
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "feed_data after feed_eof"))]
    fn e2_feed_after_eof_is_rejected() {
        let mut inbound = fed(8, b"a");
        inbound.feed_eof();
        assert!(inbound.feed_bytes(Bytes::from_static(b"b")).is_err());
        assert!(inbound.feed_data(b"c").is_err());
        assert_eq!(inbound.buffered_len(), 1);
    }

    #[test]
    fn e3_feed_data_wakes_pending_read() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
        inbound.feed_data(b"").unwrap();
        assert_eq!(p.wakes(), 0, "empty data woke the reader");
        inbound.feed_data(b"a").unwrap();
        assert_eq!(p.wakes(), 1);
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
        inbound.feed_bytes(Bytes::from_static(b"\n")).unwrap();
        assert_eq!(p.wakes(), 2);
        assert_eq!(
            &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
            b"a\n"
        );
    }

    #[test]
    fn e3_feed_eof_wakes_pending_read() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(inbound.poll_read_exact(&mut p.cx(), 2).is_pending());
        inbound.feed_eof();
        assert_eq!(p.wakes(), 1);
        assert_incomplete(ready(inbound.poll_read_exact(&mut p.cx(), 2)), b"", Some(2));
    }

    #[test]
    fn e3_set_exception_wakes_pending_read() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(inbound.poll_read(&mut p.cx(), 2).is_pending());
        inbound.set_exception(reset());
        assert_eq!(p.wakes(), 1);
        assert_io(
            ready(inbound.poll_read(&mut p.cx(), 2)),
            io::ErrorKind::ConnectionReset,
        );
    }

    #[test]
    fn e3_error_after_wake_by_data_does_not_hang() {
        let p = WakeCounter::new();
        let mut inbound = inbound(8);
        assert!(inbound.poll_read_exact(&mut p.cx(), 4).is_pending());
        inbound.feed_data(b"ab").unwrap();
        inbound.set_exception(reset());
        assert_eq!(p.wakes(), 1);
        let result = ready(inbound.poll_read_exact(&mut p.cx(), 4));
        assert_io(result, io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn e4_pauses_once_above_twice_limit() {
        let (mut inbound, control) = controlled(4);
        inbound.feed_data(b"01234567").unwrap();
        assert!(
            control.calls(&mut inbound).is_empty(),
            "paused at exactly 2 x limit"
        );
        inbound.feed_data(b"8").unwrap();
        inbound.feed_data(b"9").unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause"]);
    }

    #[test]
    fn e4_resumes_once_drained_to_limit() {
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(4);
        inbound.feed_data(b"0123456789").unwrap();
        ready(inbound.poll_read(&mut p.cx(), 5)).unwrap();
        assert_eq!(
            control.calls(&mut inbound),
            ["pause"],
            "resumed above the limit"
        );
        ready(inbound.poll_read(&mut p.cx(), 1)).unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
        ready(inbound.poll_read(&mut p.cx(), 1)).unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
    }

    #[test]
    fn e4_dropped_read_to_end_lets_reading_pause_again() {
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(4);
        assert!(inbound.poll_read_to_end(&mut p.cx()).is_pending());
        inbound.feed_data(&[b'x'; 20]).unwrap();
        assert!(control.calls(&mut inbound).is_empty());
        inbound.cancel_read();
        inbound.feed_data(b"y").unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause"]);
    }

    #[test]
    fn e4_waiting_read_until_with_long_separator_resumes_reading() {
        // A separator longer than the limit: pausing at 2 x limit must not strand the read.
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(2);
        inbound.feed_data(b"abcde").unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause"]);
        let separator = b"--boundary--";
        assert!(inbound.poll_read_until(&mut p.cx(), separator).is_pending());
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
        inbound.feed_data(separator).unwrap();
        assert_eq!(control.calls(&mut inbound), ["pause", "resume", "pause"]);
        assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), separator)), 5);
    }

    #[test]
    fn feed_bytes_adopts_a_unique_buffer_without_copying() {
        let data = Bytes::from(b"hello\n".to_vec());
        let address = data.as_ptr();
        let mut inbound = inbound(8);
        inbound.feed_bytes(data).unwrap();
        let line = ready(inbound.poll_read_line(&mut WakeCounter::new().cx())).unwrap();
        assert_eq!(line.as_ptr(), address);
    }

    /// Feeds `chunks` one at a time, polling `read` after each; returns the first result.
    fn read_fed(
        inbound: &mut Inbound,
        chunks: &[&[u8]],
        mut read: impl FnMut(&mut Inbound, &mut Context<'_>) -> Poll<Result<Bytes, StreamError>>,
    ) -> Result<Bytes, StreamError> {
        let p = WakeCounter::new();
        for chunk in chunks {
            inbound.feed_data(chunk).unwrap();
            if let Poll::Ready(result) = read(inbound, &mut p.cx()) {
                return result;
            }
        }
        panic!("still pending after every chunk");
    }

    #[test]
    fn b1_read_line_newline_in_a_later_feed() {
        let mut inbound = inbound(64);
        let chunks: &[&[u8]] = &[b"ab", b"cd", b"", b"e\nf"];
        let line = read_fed(&mut inbound, chunks, |i, cx| i.poll_read_line(cx));
        assert_eq!(&line.unwrap()[..], b"abcde\n");
        assert_eq!(&rest(&mut inbound)[..], b"f");
    }

    #[test]
    fn d7_single_byte_separator_split_across_feeds() {
        let mut inbound = inbound(64);
        let chunks: &[&[u8]] = &[b"ab", b"c", b"|de|"];
        let data = read_fed(&mut inbound, chunks, |i, cx| i.poll_read_until(cx, b"|"));
        assert_eq!(&data.unwrap()[..], b"abc|");
        let data = ready(inbound.poll_read_until(&mut WakeCounter::new().cx(), b"|"));
        assert_eq!(&data.unwrap()[..], b"de|");
    }

    #[test]
    fn d7_two_byte_separator_first_byte_ends_a_feed() {
        // False hits first: a lone `\r`, a lone `\n`, then `\r` | `\n` across two feeds.
        let mut inbound = inbound(64);
        let chunks: &[&[u8]] = &[b"a\rb\nc\r", b"\nnext"];
        let data = read_fed(&mut inbound, chunks, |i, cx| i.poll_read_until(cx, b"\r\n"));
        assert_eq!(&data.unwrap()[..], b"a\rb\nc\r\n");
        assert_eq!(&rest(&mut inbound)[..], b"next");
    }

    #[test]
    fn d7_short_separators_split_at_every_byte() {
        for separator in [&b"\r\n"[..], b"END", b"\r\n\r\n", b"12345678", b"123456789"] {
            for split in 1..separator.len() {
                let mut inbound = inbound(64);
                let (head, tail) = separator.split_at(split);
                let first = [&b"x"[..], head].concat();
                let chunks: &[&[u8]] = &[&first, tail, b"y"];
                let data = read_fed(&mut inbound, chunks, |i, cx| {
                    i.poll_read_until(cx, separator)
                });
                assert_eq!(&data.unwrap()[1..], separator, "split at {split}");
                assert_eq!(inbound.buffered_len(), 0);
            }
        }
    }

    #[test]
    fn a7_dropped_read_line_then_other_reads_then_more_data() {
        // The dropped read_line left its resume point at the end of "abcdef"; a read in
        // between moves the buffer's front, and the next read_line must still see everything.
        let p = WakeCounter::new();
        let mut inbound = fed(64, b"abcdef");
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
        inbound.cancel_read();
        assert_eq!(
            &ready(inbound.poll_read(&mut p.cx(), 2)).unwrap()[..],
            b"ab"
        );
        inbound.feed_data(b"gh\nij\n").unwrap();
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"cdefgh\n");
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"ij\n");
    }

    #[test]
    fn a7_dropped_read_until_then_a_read_with_another_separator() {
        // A resume point computed for one separator is not used for another: "X" was
        // searched up to the end, but the `\n` and `\r\n` before it must still be found.
        let p = WakeCounter::new();
        let mut inbound = fed(64, b"ab\r\ncd\nef");
        assert!(inbound.poll_read_until(&mut p.cx(), b"X").is_pending());
        inbound.cancel_read();
        let data = ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")).unwrap();
        assert_eq!(&data[..], b"ab\r\n");
        assert!(inbound.poll_read_until(&mut p.cx(), b"XY").is_pending());
        inbound.cancel_read();
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"cd\n");
        assert!(inbound
            .poll_read_until_any(&mut p.cx(), &[b"X", b"YZ"])
            .is_pending());
        inbound.cancel_read();
        inbound.feed_data(b"\n").unwrap();
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"ef\n");
    }

    #[test]
    fn d8_mixed_one_and_three_byte_separators() {
        let separators: &[&[u8]] = &[b"|", b"END"];
        let mut inbound = inbound(64);
        let chunks: &[&[u8]] = &[b"abEN", b"D|x"];
        let data = read_fed(&mut inbound, chunks, |i, cx| {
            i.poll_read_until_any(cx, separators)
        });
        assert_eq!(&data.unwrap()[..], b"abEND");
        let data = ready(inbound.poll_read_until_any(&mut WakeCounter::new().cx(), separators));
        assert_eq!(&data.unwrap()[..], b"|");
        let chunks: &[&[u8]] = &[b"E", b"N", b"D|"];
        let data = read_fed(&mut inbound, chunks, |i, cx| {
            i.poll_read_until_any(cx, separators)
        });
        assert_eq!(&data.unwrap()[..], b"xEND");
        assert_eq!(&rest(&mut inbound)[..], b"|");
    }

    #[test]
    fn d4_d5_limits_with_a_resumed_two_byte_search() {
        // limit 4: the search resumes across feeds; a separator found at 5 > 4 is an overrun
        // that consumes nothing.
        let p = WakeCounter::new();
        let mut inbound = fed(4, b"abc");
        assert!(inbound.poll_read_until(&mut p.cx(), b"\r\n").is_pending());
        inbound.feed_data(b"de\r\n").unwrap();
        assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")), 5);
        assert_eq!(inbound.buffered_len(), 7);
        // D5: no separator and more than limit + 1 bytes: consumed = len + 1 - 2.
        let mut inbound = fed(4, b"abcd\r");
        assert!(inbound.poll_read_until(&mut p.cx(), b"\r\n").is_pending());
        inbound.feed_data(b"e").unwrap();
        assert_overrun(ready(inbound.poll_read_until(&mut p.cx(), b"\r\n")), 5);
    }

    #[test]
    fn b2_b3_overrun_found_by_a_resumed_line_search() {
        let p = WakeCounter::new();
        let mut inbound = fed(4, b"abcd");
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
        inbound.feed_data(b"e\nok\n").unwrap();
        assert_overrun(ready(inbound.poll_read_line(&mut p.cx())), 5);
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"ok\n");
    }

    #[test]
    fn read_line_fast_path_releases_the_waker_and_resumes_reading() {
        // A read that waited, then finished on the fast path, leaves no waker behind, and the
        // fast path resumes paused reading once the buffer is down to the limit (E4).
        let p = WakeCounter::new();
        let (mut inbound, control) = controlled(4);
        assert!(inbound.poll_read_line(&mut p.cx()).is_pending());
        inbound.feed_data(b"ab\ncd\nefgh").unwrap();
        assert_eq!((p.wakes(), control.calls(&mut inbound)), (1, vec!["pause"]));
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"ab\n");
        assert_eq!(
            control.calls(&mut inbound),
            ["pause"],
            "resumed above the limit"
        );
        let line = ready(inbound.poll_read_line(&mut p.cx())).unwrap();
        assert_eq!(&line[..], b"cd\n");
        assert_eq!(control.calls(&mut inbound), ["pause", "resume"]);
        inbound.feed_data(b"\n").unwrap();
        assert_eq!(p.wakes(), 1, "a finished read was woken");
    }

    /// A burst grows the buffer past `KEPT_CAPACITY`; once it is read empty its allocation
    /// is released, so the next small message starts a small buffer rather than reclaiming
    /// the burst's.
    #[test]
    fn burst_buffer_is_released_once_read_empty() {
        let p = WakeCounter::new();
        let mut inbound = inbound(1 << 20);
        for _ in 0..100 {
            inbound.feed_data(&[b'x'; 1000]).unwrap();
        }
        assert!(
            inbound.buf.capacity() > KEPT_CAPACITY,
            "no burst to release"
        );
        while !inbound.is_empty() {
            drop(ready(inbound.poll_read(&mut p.cx(), 30_000)).unwrap());
        }
        inbound.feed_data(b"next\n").unwrap();
        assert!(
            !inbound.has_room_for(KEPT_CAPACITY + 1),
            "the empty buffer kept the burst's allocation"
        );
        assert_eq!(
            &ready(inbound.poll_read_line(&mut p.cx())).unwrap()[..],
            b"next\n"
        );
    }

    /// Below `KEPT_CAPACITY` an emptied buffer is kept: small messages reuse its memory.
    #[test]
    fn small_buffer_is_kept_and_reused_once_read_empty() {
        let p = WakeCounter::new();
        let mut inbound = inbound(1024);
        inbound.feed_data(&[1; 64]).unwrap();
        drop(ready(inbound.poll_read_exact(&mut p.cx(), 64)).unwrap());
        assert!(
            inbound.has_room_for(64),
            "the small buffer was released: the next message allocates"
        );
    }

    #[test]
    fn idle_inbound_stays_small() {
        // benches/idle_memory.rs: the inbound state is one allocation per connection.
        assert!(
            std::mem::size_of::<Inbound>() <= 128,
            "{}",
            std::mem::size_of::<Inbound>()
        );
    }
}
