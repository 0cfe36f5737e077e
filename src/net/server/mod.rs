//! [`StreamServer`]: a listener, pinned thread and ring per core (sharing the port with
//! `SO_REUSEPORT` when there are several), a handler task per connection on the core that
//! accepted it.
//!
//! - `builder`: `ServerBuilder`, where the server listens, on how many cores, with what options.
//! - `server`: `StreamServer` itself, the handle of the running server.
//! - `control`: what `StreamServer` and the shards share (commands, counters, waiting).
//! - `shard`: one core's accept loop, EMFILE back-off, handler tasks.
//! - `clients`: one core's open connections (close / abort them all, wait for them).
//! - `deferred`: bound sockets that listen only once serving starts.
//! - `watchdog`: the idle and read timeouts, checked a few times per timeout.
//! - `memory`: giving the allocator's free memory back after a burst.
//! - `failure`: how a failed handler is reported; `catch_unwind`: panics into values.

mod builder;
mod catch_unwind;
mod clients;
mod control;
mod deferred;
mod failure;
mod memory;
// The file is named after the one thing it holds, `StreamServer`; the lint would have it
// named unlike its folder.
#[allow(clippy::module_inception)]
mod server;
mod shard;
mod watchdog;

pub use builder::ServerBuilder;
pub use failure::{FailureCause, FailureHook, HandlerFailure};
pub use server::{CoreStats, ShutdownReport, StreamServer};
