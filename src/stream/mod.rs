//! The stream front-end: [`StreamReader`] (asyncio's Streams). It never touches SQEs: it
//! reads the per-connection state the transport's completion handlers fill.

mod lines;
mod read_future;
mod reader;

pub use crate::error::StreamError;
pub use lines::Lines;
pub use reader::{ReaderFeeder, StreamReader};
