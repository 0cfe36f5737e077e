//! Transports and protocols: asyncio's low-level API, with the callbacks run straight from
//! the ring's completions.
//!
//! A protocol is a value with callbacks ([`BaseProtocol`], and [`Protocol`] or
//! [`BufferedProtocol`]); the library calls them as things happen on its connection, and
//! the protocol acts through its [`Transport`]. There is no task per connection and no
//! wake-up between a receive completing and `data_received` running, which makes this the
//! cheapest way to serve many connections; the streams (`StreamReader` / `StreamWriter`)
//! are the convenient one. Both run on the same connection core and can share a runtime.
//!
//! Where a protocol gets its connection:
//!
//! | asyncio | ringstream |
//! |---|---|
//! | `loop.create_connection` | [`create_connection`], [`create_connection_with`]; with `ssl=`: `create_connection_tls` (feature `tls`) |
//! | `loop.create_unix_connection` | [`create_unix_connection`] |
//! | `loop.connect_accepted_socket` | [`connect_accepted_socket`] |
//! | `loop.connect_read_pipe` / `connect_write_pipe` | [`connect_read_pipe`], [`connect_write_pipe`] |
//! | `loop.create_server` / `create_unix_server` | [`ServerBuilder::serve_protocol`](crate::net::ServerBuilder::serve_protocol) |
//! | `loop.subprocess_exec` / `subprocess_shell` | [`subprocess_exec`] ([`SubprocessProtocol`]) |
//!
//! A [`BufferedProtocol`] is wrapped in [`Buffered`] where a protocol is expected.
//!
//! The callbacks' order and rules (SEMANTICS G1–G4) are on [`BaseProtocol`].

mod connect;
mod datagram;
pub(crate) mod link;
mod serve;
mod subprocess;
mod subprocess_transport;
mod traits;
mod transport;

#[cfg(feature = "tls")]
pub use connect::create_connection_tls;
pub use connect::{
    connect_accepted_socket, connect_read_pipe, connect_write_pipe, create_connection,
    create_connection_with, create_unix_connection,
};
pub use datagram::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
pub use traits::{BaseProtocol, Buffered, BufferedProtocol, Protocol, ProtocolKind};
pub use transport::Transport;

pub use subprocess::{subprocess_exec, SubprocessProtocol};
pub use subprocess_transport::SubprocessTransport;
