//! Networking: opening TCP and Unix connections, listening for them, and serving them on
//! every core.

mod bind;
mod connect;
pub(crate) mod listener;
mod server;
mod udp;

pub use connect::{connect, connect_unix, connect_unix_with, connect_with, open_connection};
pub use listener::{ListenOptions, Listener, MAX_QUEUED};
pub use server::{
    CoreStats, FailureCause, FailureHook, HandlerFailure, ServerBuilder, ShutdownReport,
    StreamServer,
};
pub use udp::{UdpOptions, UdpSocket};
