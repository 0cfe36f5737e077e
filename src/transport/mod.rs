//! Per-connection state the io_uring completion handlers write into directly.

pub(crate) mod inbound;
