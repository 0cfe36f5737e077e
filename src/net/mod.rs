//! Networking: opening TCP and Unix connections.

mod connect;
mod offload;

pub use connect::{connect, connect_unix, connect_with, open_connection};
