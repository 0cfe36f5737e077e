//! Why a stream read failed: asyncio's `IncompleteReadError`, `LimitOverrunError` and
//! `OSError` in one enum.

use std::error::Error;
use std::fmt;
use std::io;

use bytes::Bytes;

/// Why a [`StreamReader`](crate::StreamReader) read failed.
///
/// Converts into [`io::Error`] (so `?` works in functions returning `io::Result`):
/// `IncompleteRead` becomes [`UnexpectedEof`](io::ErrorKind::UnexpectedEof), `LimitOverrun`
/// becomes [`InvalidData`](io::ErrorKind::InvalidData), `Io` is returned as it is.
///
/// ```
/// use ringstream::stream::{StreamError, StreamReader};
///
/// async fn next_record(reader: &mut StreamReader) -> Result<Option<bytes::Bytes>, StreamError> {
///     match reader.read_until(b"\r\n").await {
///         Ok(record) => Ok(Some(record)),
///         // A clean end: the peer closed between records.
///         Err(StreamError::IncompleteRead { partial, .. }) if partial.is_empty() => Ok(None),
///         // A truncated record, an overlong one (LimitOverrun) or a connection error.
///         Err(error) => Err(error),
///     }
/// }
/// ```
#[doc(alias = "IncompleteReadError", alias = "LimitOverrunError")]
#[derive(Debug)]
pub enum StreamError {
    /// The stream ended before the read could finish (asyncio's `IncompleteReadError`).
    /// What did arrive is in `partial` and is no longer buffered.
    #[doc(alias = "IncompleteReadError")]
    IncompleteRead {
        /// The bytes that arrived before EOF.
        #[doc(alias = "IncompleteReadError.partial")]
        partial: Bytes,
        /// `Some(n)` for `read_exact(n)`; `None` for `read_until`, which expects a separator.
        #[doc(alias = "IncompleteReadError.expected")]
        expected: Option<usize>,
    },
    /// The data before the separator is longer than the reader's limit, or no separator
    /// appeared within it (asyncio's `LimitOverrunError`). `read_until` leaves the data
    /// buffered: `read_exact(consumed)` takes the part known to precede the separator.
    /// `read_line` has already discarded the overlong line.
    #[doc(alias = "LimitOverrunError")]
    LimitOverrun {
        /// How many bytes to consume to get past the data checked so far.
        #[doc(alias = "LimitOverrunError.consumed")]
        consumed: usize,
    },
    /// The connection failed, an error was stored with `set_exception`, or an argument was
    /// invalid (`InvalidInput`).
    #[doc(alias = "OSError")]
    Io(io::Error),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IncompleteRead {
                partial,
                expected: Some(expected),
            } => write!(
                f,
                "stream ended after {} of {expected} expected bytes; \
                 the bytes that arrived are in `partial`",
                partial.len()
            ),
            Self::IncompleteRead {
                partial,
                expected: None,
            } => write!(
                f,
                "stream ended before the separator, after {} bytes; \
                 the bytes that arrived are in `partial`",
                partial.len()
            ),
            Self::LimitOverrun { consumed } => write!(
                f,
                "no separator within the stream limit ({consumed} bytes before it or \
                 scanned); raise the limit, or (after read_until, which leaves the data \
                 buffered) take the data with read_exact({consumed})"
            ),
            Self::Io(error) => write!(f, "stream I/O error: {error}"),
        }
    }
}

impl Error for StreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            Self::IncompleteRead { .. } | Self::LimitOverrun { .. } => None,
        }
    }
}

impl From<io::Error> for StreamError {
    /// Wraps an I/O error as [`StreamError::Io`].
    ///
    /// ```
    /// use ringstream::stream::StreamError;
    ///
    /// let error = StreamError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    /// assert!(matches!(error, StreamError::Io(_)));
    /// ```
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<StreamError> for io::Error {
    /// `IncompleteRead` -> `UnexpectedEof`, `LimitOverrun` -> `InvalidData` (the `StreamError`
    /// stays inside, reachable with `get_ref` and `downcast_ref`), `Io` -> the error itself.
    ///
    /// ```
    /// use ringstream::stream::StreamError;
    ///
    /// let error = std::io::Error::from(StreamError::LimitOverrun { consumed: 9 });
    /// assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    /// ```
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::Io(error) => error,
            StreamError::IncompleteRead { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, error)
            }
            StreamError::LimitOverrun { .. } => io::Error::new(io::ErrorKind::InvalidData, error),
        }
    }
}

/// The error of a call that needs a ringstream runtime on this thread and found none.
pub(crate) fn outside_runtime(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "{what} must run inside a ringstream runtime (Runtime::block_on or ringstream::run)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c3_incomplete_read_becomes_unexpected_eof_with_its_message() {
        let error = StreamError::IncompleteRead {
            partial: Bytes::from_static(b"abc"),
            expected: Some(5),
        };
        let message = error.to_string();
        assert!(message.contains("3 of 5"), "{message}");
        let io_error = io::Error::from(error);
        assert_eq!(io_error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(io_error.to_string(), message);
        let inner = io_error
            .get_ref()
            .and_then(|e| e.downcast_ref::<StreamError>());
        assert!(
            matches!(inner, Some(StreamError::IncompleteRead { partial, .. }) if partial == "abc")
        );
    }

    #[test]
    fn d4_limit_overrun_becomes_invalid_data_with_its_message() {
        let error = StreamError::LimitOverrun { consumed: 9 };
        let message = error.to_string();
        assert!(message.contains("read_exact(9)"), "{message}");
        let io_error = io::Error::from(error);
        assert_eq!(io_error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(io_error.to_string(), message);
    }

    #[test]
    fn a6_io_error_round_trips_and_is_the_source() {
        let error = StreamError::from(io::Error::new(io::ErrorKind::ConnectionReset, "gone"));
        assert_eq!(
            error.source().map(ToString::to_string),
            Some("gone".to_owned())
        );
        let io_error = io::Error::from(error);
        assert_eq!(io_error.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(io_error.to_string(), "gone");
    }
}
