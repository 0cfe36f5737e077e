//! Test helpers: a stand-in for the kernel's side of a send (plus the shared waker probe), so tests drive the writer by hand, deterministically, without a
//! runtime or a ring.

use super::{Outbound, SendBatch};

pub(crate) use crate::transport::test_support::{ready, WakeCounter};

/// Plays the kernel: appends the first `sent` bytes of `batch` to `wire` and reports the
/// send to `outbound`. Returns how many bytes went out (`sent`, capped at the batch length).
pub(crate) fn transmit(
    outbound: &mut Outbound,
    batch: SendBatch,
    sent: usize,
    wire: &mut Vec<u8>,
) -> usize {
    let sent = sent.min(batch.len());
    let mut left = sent;
    for piece in batch.pieces() {
        let n = piece.len().min(left);
        wire.extend_from_slice(&piece[..n]);
        left -= n;
    }
    outbound.complete_send(batch, sent);
    sent
}

/// Sends everything queued in full sends, appending it to `wire`. Returns the number of sends.
pub(crate) fn flush(outbound: &mut Outbound, wire: &mut Vec<u8>) -> usize {
    let mut sends = 0;
    while let Some(batch) = outbound.next_send(usize::MAX, usize::MAX) {
        transmit(outbound, batch, usize::MAX, wire);
        sends += 1;
    }
    sends
}
