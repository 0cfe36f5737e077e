//! Test helpers: a waker that counts its wakes, a `WriteControl` that records its calls, and
//! a stand-in for the kernel's side of a send, so tests drive the writer by hand,
//! deterministically, without a runtime or a ring.

use std::cell::RefCell;

use super::{Outbound, SendBatch, WriteControl};

pub(crate) use crate::transport::probe::{ready, Probe};

/// A `WriteControl` that records "pause" / "resume" in call order.
#[derive(Default)]
pub(crate) struct Recorder {
    /// The calls so far.
    calls: RefCell<Vec<&'static str>>,
}

impl Recorder {
    /// The calls so far, in order.
    pub(crate) fn calls(&self) -> Vec<&'static str> {
        self.calls.borrow().clone()
    }
}

impl WriteControl for Recorder {
    fn pause_writing(&self) {
        self.calls.borrow_mut().push("pause");
    }

    fn resume_writing(&self) {
        self.calls.borrow_mut().push("resume");
    }
}

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
