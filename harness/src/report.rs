//! The error type the examples' `main` returns, in `ringstream_harness::report`.

use std::error::Error;

/// An error that `main` prints with its message (`Error: connecting to ... failed: ...`)
/// instead of its `Debug` form.
pub struct Report(Box<dyn Error>);

impl<E: Into<Box<dyn Error>>> From<E> for Report {
    fn from(error: E) -> Self {
        Report(error.into())
    }
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}
