//! Per-connection state the io_uring completion handlers write into directly: the inbound
//! buffer (reader side), the outbound queue and watermarks (writer side), and the
//! connection core that owns the socket and its recv/send ops.

pub(crate) mod acceptor;
mod addr;
pub(crate) mod conn;
pub(crate) mod connector;
pub(crate) mod datagram;
pub(crate) mod endpoint;
pub(crate) mod inbound;
pub(crate) mod outbound;
pub(crate) mod read_side;
mod stored_error;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(feature = "tls")]
pub(crate) mod tls;

pub use addr::Addr;

/// The most buffer memory the reader's buffer and the writer's queue each keep once they are
/// empty again; a bigger buffer, grown by a burst, is released then (and its memory is freed
/// when the last `Bytes` read from or written through it drops).
///
/// Why 16 KiB: `BytesMut` grows by doubling, so request/response traffic of messages up to
/// 8 KiB stays within it and keeps reusing one buffer without allocating
/// (tests/allocations.rs); receives of 4 KiB or more into an empty reader are lent, not
/// copied (`conn/recv.rs`), so the reader's buffer grows past that only when data piles up
/// behind unread data — a burst. Past 16 KiB the allocation a burst then costs (~0.1 us) is
/// small against copying the burst into the buffer (~0.3 us per 16 KiB). So 16 KiB per
/// direction is the most an idle connection keeps.
pub(crate) const KEPT_CAPACITY: usize = 16 * 1024;
