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
//!
//! Where things are:
//!
//! | asyncio | ringstream |
//! |---|---|
//! | Streams: `open_connection`, `StreamReader`, `StreamWriter` | [`connect`], [`open_connection`], [`StreamReader`], [`StreamWriter`] |
//! | `start_server`, `Server` | [`net::StreamServer`] (one pinned thread and ring per core) |
//! | Transports and protocols: `create_connection`, `create_server`, `Protocol`, `BufferedProtocol` | [`protocol`], [`net::ServerBuilder::serve_protocol`] |
//! | UDP: `create_datagram_endpoint`, `DatagramProtocol` | [`net::UdpSocket`], [`protocol::create_datagram_endpoint`] |
//! | Subprocesses: `create_subprocess_exec`, `subprocess_exec` | [`process::Command`], [`protocol::subprocess_exec`] |
//! | `loop.add_signal_handler` | [`signal::signal`], [`signal::ctrl_c`] |
//! | `run_in_executor`, `asyncio.to_thread` | [`spawn_blocking`] |
//! | `asyncio.run`, tasks, `sleep`, `wait_for` | [`run`], [`spawn`], [`time`] |

#[cfg(not(target_os = "linux"))]
compile_error!(
    "ringstream runs on Linux only: it is built on io_uring (Linux 6.0 or later; 6.1+ \
     recommended). On other systems use tokio or async-io."
);

pub(crate) mod driver;
mod error;
pub mod net;
pub mod process;
pub mod protocol;
pub mod runtime;
pub mod signal;
pub mod stream;
mod sys;
#[cfg(feature = "tls")]
pub mod tls;
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
