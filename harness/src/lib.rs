//! What the `ringstream` command, the benches and the examples share, once each: the echo
//! servers compared in every measurement, the checked load generator, CPU accounting,
//! CPU pinning, the descriptor limit, tables, and the HTTP example servers.
//!
//! - [`servers`]: echo servers on one pinned thread each — ringstream (streams, and the
//!   echo as a protocol: [`protocol_echo`]), ringstream with a busy-poll window, tokio,
//!   monoio and a hand-written io_uring loop ([`raw_ring`]) — and [`servers::serve_echo`],
//!   the ringstream echo `ringstream echo --api` serves.
//! - [`load`]: the load generator (ping-pong or streaming, every echoed byte checked,
//!   stalls detected, latency histograms); [`tokio_stream`] is a streaming client that is
//!   not ringstream.
//! - [`cpu`] (a thread's CPU time, `/proc/<pid>/stat` times) and [`cpu_busy`] (whole CPUs'
//!   busy time from `/proc/stat`); [`pin`] (which CPUs, pinning to one).
//! - [`fd_limit`]: reading, checking and raising `RLIMIT_NOFILE`.
//! - [`table`], [`units`], [`stats`]: tables, number and size formatting, medians and
//!   percentiles.
//! - [`wake`]: the cross-task wake round trip `ringstream bench --runtime` and
//!   `benches/runtime.rs` measure.
//! - [`http`]: the `http_hello` servers (ringstream and tokio), their request rules and
//!   conformance checks, used by the examples and `benches/http.rs`; [`report`] is the
//!   error type the examples' `main` returns.
//! - [`seccomp`]: running a program with its io_uring calls refused, for the tests of a
//!   refused ring (the library's and the command's).
//!
//! This is benchmark and test code (`publish = false`): a failure to set up a measurement
//! panics with the reason, as a bench should.

pub mod child;
pub mod cpu;
pub mod cpu_busy;
pub mod fd_limit;
pub mod http;
pub mod load;
pub mod pin;
pub mod protocol_echo;
pub mod raw_ring;
pub mod report;
pub mod seccomp;
pub mod servers;
pub mod stats;
pub mod table;
pub mod tokio_stream;
pub mod units;
pub mod wake;
