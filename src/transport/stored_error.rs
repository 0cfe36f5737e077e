//! A connection error kept for later: `io::Error` is not `Clone`, so the reader (A6) and the
//! writer (F5, F9) keep what identifies the error and build a fresh `io::Error` for every
//! caller.

use std::io;

/// A stored error: the OS error code when there is one, else its kind and message.
#[derive(Debug)]
pub(crate) enum StoredError {
    /// An OS error, rebuilt with `io::Error::from_raw_os_error`.
    Os(i32),
    /// Any other error, rebuilt from its kind and message.
    Other {
        /// The error's kind.
        kind: io::ErrorKind,
        /// The error's message.
        message: String,
    },
}

impl StoredError {
    /// Keeps what identifies `error`.
    pub(crate) fn new(error: &io::Error) -> Self {
        match error.raw_os_error() {
            Some(code) => Self::Os(code),
            None => Self::Other {
                kind: error.kind(),
                message: error.to_string(),
            },
        }
    }

    /// A fresh `io::Error` equal to the stored one.
    pub(crate) fn to_io_error(&self) -> io::Error {
        match self {
            Self::Os(code) => io::Error::from_raw_os_error(*code),
            Self::Other { kind, message } => io::Error::new(*kind, message.clone()),
        }
    }
}
