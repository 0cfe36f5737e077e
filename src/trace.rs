//! The `tracing` feature's spans and events, kept here so each site in the library is one
//! `#[cfg(feature = "tracing")]` call; without the feature this module is not compiled and
//! the sites vanish, so it costs nothing.
//!
//! The `log` records the library emits stay as they are: these come in addition, for
//! applications that collect `tracing` spans (which `log` has no notion of).

use std::io;
use std::time::Duration;

use tracing::Span;

use crate::net::HandlerFailure;
use crate::stream::Addr;

/// The span a server connection's handler runs in (`tracing::Instrument`): the core and the
/// peer, so whatever the handler traces is tied to the connection it serves.
pub(crate) fn connection_span(core: usize, peer: Option<&Addr>) -> Span {
    let peer = peer.map(tracing::field::display);
    tracing::info_span!("connection", core, peer)
}

/// A server core stopped accepting for `delay` because the process or the system is out
/// of descriptors or memory.
pub(crate) fn accept_backoff(core: usize, error: &io::Error, delay: Duration) {
    tracing::warn!(
        core,
        error = %error,
        delay_ms = delay.as_millis() as u64,
        "accept back-off: out of resources, accepts paused"
    );
}

/// A connection handler returned an error or panicked (reported whether or not the
/// server has a failure hook).
pub(crate) fn handler_failure(failure: &HandlerFailure) {
    tracing::warn!(
        core = failure.core,
        peer = failure.peer.as_ref().map(tracing::field::display),
        "connection handler failed: {failure}"
    );
}

/// A receive found the provided-buffer ring empty (`ENOBUFS`) and waits for a buffer.
/// At debug level: under a burst it happens once per starved receive.
pub(crate) fn recv_buffers_exhausted(waits_so_far: u64) {
    tracing::debug!(
        waits = waits_so_far,
        "receive-buffer ring exhausted: the receive waits for a buffer"
    );
}
