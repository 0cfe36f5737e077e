//! Networking: opening TCP and Unix connections, and listening for them.

mod connect;
mod connect_op;
mod listener;
mod offload;

pub use connect::{connect, connect_unix, connect_unix_with, connect_with, open_connection};
pub use listener::{ListenOptions, Listener, MAX_QUEUED};
