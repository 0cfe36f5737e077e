//! Per-connection state the io_uring completion handlers write into directly: the inbound
//! buffer (reader side), the outbound queue and watermarks (writer side), and the
//! connection core that owns the socket and its recv/send ops.

pub(crate) mod conn;
pub(crate) mod inbound;
pub(crate) mod outbound;
#[cfg(test)]
pub(crate) mod probe;
pub(crate) mod socket;
mod stored_error;

pub use socket::Addr;
