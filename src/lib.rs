//! ringstream — Python asyncio's Streams model rebuilt on io_uring, one single-threaded
//! ring per core.
//!
//! A server (`asyncio.start_server`) and a client (`asyncio.open_connection`): each line
//! the client sends comes back.
//!
//! ```
//! use ringstream::StreamServer;
//!
//! fn main() -> std::io::Result<()> {
//!     // One listener, pinned thread and ring per core; each connection gets a task.
//!     let server = StreamServer::bind("127.0.0.1:0").cores(1).serve(|stream| async move {
//!         let (mut reader, writer) = stream.split();
//!         loop {
//!             let line = reader.read_line().await?;
//!             if line.is_empty() {
//!                 return Ok(()); // EOF
//!             }
//!             writer.write(&line)?; // queued; sent with the loop's next submission
//!             writer.drain().await?; // waits only above the high watermark
//!         }
//!     })?;
//!     let addr = server.local_addr().to_string();
//!
//!     // The client, on a runtime of its own on this thread.
//!     let reply = ringstream::run(async move {
//!         let (mut reader, writer) = ringstream::connect(&addr).await?.split();
//!         writer.write(b"hello\n")?;
//!         let reply = reader.read_line().await?;
//!         writer.close();
//!         writer.wait_closed().await?;
//!         std::io::Result::Ok(reply)
//!     })??;
//!     assert_eq!(&reply[..], b"hello\n");
//!     server.shutdown(std::time::Duration::from_secs(5))?;
//!     Ok(())
//! }
//! ```
//!
//! # Threading model
//!
//! - One [`Runtime`] is one thread and one io_uring; [`run`] makes one for the current thread.
//! - Tasks ([`spawn`]) are `!Send`: they stay on the thread that made them, so no locks.
//! - [`StreamServer`] runs one pinned thread and ring per core ([`PerCore`] for your own).
//! - A connection lives on the core that accepted it; the kernel spreads new ones.
//! - Blocking calls go to [`spawn_blocking`]'s thread pool; wakers work from any thread.
//!
//! # Requirements
//!
//! Linux 6.1 or later (6.0 at least) with io_uring enabled: the sysctl
//! `kernel.io_uring_disabled` must be 0 (or 1 with the user in `kernel.io_uring_group`),
//! and no seccomp filter may refuse `io_uring_setup`, `io_uring_enter` or
//! `io_uring_register`. Container runtimes' default profiles do refuse them (Docker's since
//! 25.0): run the container with a profile that allows the three calls. The runtime then
//! fails to start with an error that says so, never a panic:
//!
//! ```text
//! io_uring_setup failed: EPERM — io_uring is disabled by seccomp (e.g. a container's
//! default profile) or by the sysctl kernel.io_uring_disabled; allow
//! io_uring_setup/io_uring_enter/io_uring_register in the seccomp profile, ...
//! ```
//!
//! No pinned memory is registered, so `RLIMIT_MEMLOCK` does not matter.
//!
//! # Observability
//!
//! - [`Runtime::stats`] (or [`runtime::stats`] inside a runtime): ops submitted and
//!   completed, CQ overflows, receives that found the buffer ring empty (`ENOBUFS`),
//!   receives lent against copied, bytes in and out; [`StreamServer::stats`] per core.
//! - The [`log`](https://docs.rs/log) facade: failed handlers, accept back-off when out of
//!   descriptors, `max_connections` reached, a failed ring.
//! - With the `tracing` feature, also [`tracing`](https://docs.rs/tracing): each
//!   [`StreamServer`] handler runs in a `connection` span (fields `core`, `peer`); WARN
//!   events `accept back-off` (`core`, `error`, `delay_ms`) and `connection handler
//!   failed` (`core`, `peer`); a DEBUG event `receive-buffer ring exhausted` (`waits`).
//!   Protocol callbacks run outside any span. Without the feature none of it is built.
//!
//! # From asyncio
//!
//! | asyncio | ringstream |
//! |---|---|
//! | `asyncio.run(main())` | [`run`], [`Runtime::block_on`] |
//! | `asyncio.create_task`, `await task`, `Task.cancel()` | [`spawn`], [`JoinHandle`] (await it), [`JoinHandle::abort`] |
//! | `asyncio.sleep`, `wait_for`, `asyncio.timeout` | [`time::sleep`], [`time::timeout`] |
//! | `open_connection(host, port)` | [`open_connection`] (a reader and a writer), [`connect`] (a [`Stream`] to [`split`](Stream::split)) |
//! | `open_unix_connection(path)` | [`connect_unix`] |
//! | `start_server(cb, host, port)` | [`StreamServer::bind`]`(addr)`[`.serve(handler)`](ServerBuilder::serve) |
//! | `start_unix_server(cb, path)` | [`StreamServer::bind_unix`] |
//! | `Server.close`, `wait_closed`, `close_clients`, `abort_clients` | [`StreamServer::close`], [`wait_closed`](StreamServer::wait_closed), [`close_clients`](StreamServer::close_clients), [`abort_clients`](StreamServer::abort_clients), and [`shutdown(timeout)`](StreamServer::shutdown) for all of them |
//! | `Server.serve_forever`, `start_serving`, `is_serving`, `sockets` | [`StreamServer::serve_forever`], [`start_serving`](StreamServer::start_serving) (with [`ServerBuilder::start_serving`]`(false)`), [`is_serving`](StreamServer::is_serving), [`local_addrs`](StreamServer::local_addrs) |
//! | `reader.read(n)`, `read()`, `readline`, `readexactly`, `readuntil` | [`StreamReader::read`], [`read_to_end`](StreamReader::read_to_end), [`read_line`](StreamReader::read_line), [`read_exact`](StreamReader::read_exact), [`read_until`](StreamReader::read_until), [`read_until_any`](StreamReader::read_until_any) |
//! | `reader.at_eof`, `async for line in reader` | [`StreamReader::at_eof`], [`lines`](StreamReader::lines) |
//! | `feed_data`, `feed_eof`, `set_exception` | [`ReaderFeeder::feed_data`], [`feed_eof`](ReaderFeeder::feed_eof), [`set_exception`](ReaderFeeder::set_exception) |
//! | `writer.write`, `writelines`, `drain` | [`StreamWriter::write`], [`writelines`](StreamWriter::writelines), [`drain`](StreamWriter::drain), [`write_all`](StreamWriter::write_all) (both) |
//! | `writer.close`, `wait_closed`, `is_closing`, `write_eof`, `can_write_eof`, `transport.abort()` | [`StreamWriter::close`], [`wait_closed`](StreamWriter::wait_closed), [`is_closing`](StreamWriter::is_closing), [`write_eof`](StreamWriter::write_eof), [`can_write_eof`](StreamWriter::can_write_eof), [`abort`](StreamWriter::abort) |
//! | `get_extra_info('peername')`, `('sockname')` | [`StreamWriter::peer_addr`], [`local_addr`](StreamWriter::local_addr) |
//! | `set_write_buffer_limits`, `get_write_buffer_size` | the same names on [`StreamWriter`] and [`Transport`] |
//! | `IncompleteReadError`, `LimitOverrunError` | [`StreamError`] |
//! | `create_connection`, `create_server`, `Protocol`, `BufferedProtocol`, `Transport` | [`protocol::create_connection`], [`ServerBuilder::serve_protocol`], [`Protocol`], [`BufferedProtocol`], [`Transport`] |
//! | `create_datagram_endpoint`, `DatagramProtocol` | [`UdpSocket`], [`protocol::create_datagram_endpoint`] |
//! | `create_subprocess_exec`, `create_subprocess_shell`, `subprocess_exec` | [`process::Command`], [`protocol::subprocess_exec`] |
//! | `loop.add_signal_handler` | [`signal::signal`], [`signal::ctrl_c`] |
//! | `run_in_executor`, `asyncio.to_thread` | [`spawn_blocking`] |
//!
//! Searching these docs for an asyncio name (`start_server`, `readexactly`,
//! `get_extra_info`, ...) finds its counterpart.

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
#[cfg(feature = "tracing")]
mod trace;
pub(crate) mod transport;

/// Every Rust block in README.md, compiled and run by `cargo test --doc` from the README
/// itself, so the example users copy cannot drift from the library.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use error::StreamError;
pub use net::{connect, connect_unix, connect_unix_with, connect_with, open_connection};
pub use net::{ServerBuilder, StreamServer, UdpSocket};
pub use protocol::{BaseProtocol, BufferedProtocol, Protocol, Transport};
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
