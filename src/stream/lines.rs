//! Line iteration over a reader: asyncio's `async for line in reader`.

use std::task::{Context, Poll};

use bytes::Bytes;

use super::{StreamError, StreamReader};

/// The lines of a [`StreamReader`], from [`StreamReader::lines`].
///
/// Each line keeps its `\n`; an unterminated last line is returned as it is. Errors are
/// yielded, not swallowed: after a [`LimitOverrun`](StreamError::LimitOverrun) the overlong
/// line is gone and iteration can go on; a connection error is yielded on every call, as in
/// asyncio, so stop at the first `Err` you can't handle.
///
/// With the `futures-io` feature it is a `futures_core::Stream` of the same items.
///
/// ```
/// use ringstream::stream::{StreamError, StreamReader};
///
/// async fn longest_line(reader: &mut StreamReader) -> Result<usize, StreamError> {
///     let mut lines = reader.lines();
///     let mut longest = 0;
///     while let Some(line) = lines.next_line().await {
///         longest = longest.max(line?.len());
///     }
///     Ok(longest)
/// }
/// ```
#[doc(alias = "__aiter__")]
#[derive(Debug)]
pub struct Lines<'a> {
    reader: &'a mut StreamReader,
}

impl<'a> Lines<'a> {
    pub(super) fn new(reader: &'a mut StreamReader) -> Self {
        Self { reader }
    }
}

impl Lines<'_> {
    /// The next line, or `None` once the stream has ended and every byte was read.
    /// Cancel-safe like [`StreamReader::read_line`].
    ///
    /// ```
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn first_line(reader: &mut StreamReader) -> Option<Result<bytes::Bytes, StreamError>> {
    ///     reader.lines().next_line().await
    /// }
    /// ```
    #[doc(alias = "__anext__")]
    pub async fn next_line(&mut self) -> Option<Result<Bytes, StreamError>> {
        match self.reader.read_line().await {
            Ok(line) if line.is_empty() => None,
            result => Some(result),
        }
    }

    /// Poll form of [`next_line`](Self::next_line), for hand-written futures and streams.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use ringstream::stream::{StreamError, StreamReader};
    ///
    /// async fn first_line(reader: &mut StreamReader) -> Option<Result<bytes::Bytes, StreamError>> {
    ///     let mut lines = reader.lines();
    ///     poll_fn(|cx| lines.poll_next_line(cx)).await
    /// }
    /// ```
    pub fn poll_next_line(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, StreamError>>> {
        self.reader.poll_read_line(cx).map(|result| match result {
            Ok(line) if line.is_empty() => None,
            result => Some(result),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::transport::test_support::{ready, WakeCounter};

    #[test]
    fn b1_lines_yield_each_line_then_end() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = StreamReader::with_feeder(16).unwrap();
        feeder.feed_data(b"a\nb\nc").unwrap();
        feeder.feed_eof();
        let mut lines = reader.lines();
        for expected in [&b"a\n"[..], b"b\n", b"c"] {
            let line = ready(p.poll(pin!(lines.next_line()))).unwrap().unwrap();
            assert_eq!(&line[..], expected);
        }
        assert!(ready(p.poll(pin!(lines.next_line()))).is_none());
    }

    #[test]
    fn b3_lines_go_on_after_an_overlong_line() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = StreamReader::with_feeder(4).unwrap();
        feeder.feed_data(b"much too long\nok\n").unwrap();
        let mut lines = reader.lines();
        let overrun = ready(p.poll(pin!(lines.next_line())));
        assert!(matches!(
            overrun,
            Some(Err(StreamError::LimitOverrun { consumed: 13 }))
        ));
        let line = ready(p.poll(pin!(lines.next_line()))).unwrap().unwrap();
        assert_eq!(&line[..], b"ok\n");
    }

    #[test]
    fn e3_waiting_next_line_is_woken_by_data() {
        let p = WakeCounter::new();
        let (mut reader, feeder) = StreamReader::with_feeder(16).unwrap();
        let mut lines = reader.lines();
        let mut next = pin!(lines.next_line());
        assert!(p.poll(next.as_mut()).is_pending());
        feeder.feed_data(b"hi\n").unwrap();
        assert_eq!(p.wakes(), 1);
        assert_eq!(&ready(p.poll(next.as_mut())).unwrap().unwrap()[..], b"hi\n");
    }
}
