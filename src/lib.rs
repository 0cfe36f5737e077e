//! ringstream — Python asyncio's Streams model rebuilt on io_uring, one single-threaded
//! ring per core.
//!
//! ```
//! let answer = ringstream::run(async {
//!     let task = ringstream::spawn(async { 21 * 2 });
//!     ringstream::time::sleep(std::time::Duration::from_millis(1)).await;
//!     task.await.unwrap()
//! })
//! .expect("io_uring is available");
//! assert_eq!(answer, 42);
//! ```

pub(crate) mod driver;
mod error;
pub mod net;
pub mod process;
pub mod protocol;
pub mod runtime;
pub mod signal;
pub mod stream;
mod sys;
pub(crate) mod transport;

/// Every Rust block in README.md, compiled and run by `cargo test --doc` from the README
/// itself, so the example users copy cannot drift from the library.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use error::StreamError;
pub use net::{connect, connect_unix, connect_unix_with, connect_with, open_connection};
pub use stream::{
    read_pipe, read_pipe_with, write_pipe, write_pipe_with, Lines, ReaderFeeder, Stream,
    StreamOptions, StreamReader, StreamWriter,
};

pub use runtime::time;
pub use runtime::{
    nop, run, spawn, yield_now, Builder, JoinError, JoinHandle, PerCore, RingMode, Runtime,
    RuntimeStats,
};
pub use runtime::{spawn_blocking, BlockingHandle};
