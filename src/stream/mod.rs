//! The stream front-end: [`StreamReader`], [`StreamWriter`] and [`Stream`] (asyncio's
//! Streams). It never touches SQEs: it reads and fills the per-connection state that the
//! transport's completion handlers work on.

#[cfg(feature = "futures-io")]
mod futures_io;
mod lines;
mod pipe;
mod read_future;
mod reader;
#[allow(clippy::module_inception)]
mod stream;
#[cfg(feature = "tokio-io")]
mod tokio_io;
mod writer;

pub use crate::error::StreamError;
pub use crate::transport::Addr;
pub use lines::Lines;
pub use pipe::{read_pipe, read_pipe_with, write_pipe, write_pipe_with};
pub use reader::{ReaderFeeder, StreamReader};
pub use stream::{StdSocket, Stream, StreamOptions};
pub use writer::StreamWriter;
