//! The bytes not yet handed to the kernel, in write order, and the batches they leave in.
//!
//! Small writes are copied into one growing tail so that many of them go out as one piece of
//! one send (F1); large `Bytes` are queued as they are, without a copy. A batch leaves the
//! queue whole; what a short send did not take goes back to the front, sliced, not copied.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::transport::KEPT_CAPACITY;

/// A `Bytes` shorter than this is copied into the tail rather than queued as its own piece.
///
/// Measured with `benches/coalesce.rs` (64 KiB per vectored write on a Unix socketpair, one
/// iovec per piece vs. copied into one buffer): copying wins 1.3-2x for pieces of 64-256
/// bytes, and stops winning between 512 bytes and 1 KiB, where it only adds a copy.
pub(crate) const COALESCE_BELOW: usize = 512;

/// Pieces the queue keeps room for once empty (a burst of large writes grows it beyond).
const KEPT_PIECES: usize = 16;

/// The bytes queued for sending: whole pieces first, then the tail that small writes grow.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    /// Pieces in send order, before `tail`.
    pieces: VecDeque<Bytes>,
    /// Where small writes are copied; logically the last piece.
    tail: BytesMut,
    /// Bytes in `pieces` and `tail`.
    len: usize,
}

/// The pieces of one vectored send, taken off the queue by
/// [`Outbound::next_send`](super::Outbound::next_send). The transport keeps it alive until
/// the send completes (the kernel reads from it) and gives it back to
/// [`Outbound::complete_send`](super::Outbound::complete_send).
#[derive(Debug)]
pub(crate) struct SendBatch {
    /// The pieces, in send order; none is empty.
    pieces: Vec<Bytes>,
    /// Their total length; never 0.
    len: usize,
}

impl SendBatch {
    /// The pieces to send, in order: one iovec each.
    #[cfg(test)]
    pub(crate) fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The total number of bytes in the batch (never 0).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The pieces, for the send op that carries them to the kernel.
    pub(crate) fn into_pieces(self) -> Vec<Bytes> {
        self.pieces
    }

    /// The batch again, from the pieces its send op gave back.
    pub(crate) fn from_pieces(pieces: Vec<Bytes>) -> SendBatch {
        let len = pieces.iter().map(Bytes::len).sum();
        SendBatch { pieces, len }
    }
}

impl SendQueue {
    /// The number of bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues `data`: a small one (an empty one adds nothing) is copied into the tail, a large
    /// one is queued as it is.
    pub(crate) fn push(&mut self, data: Bytes) {
        if data.len() < COALESCE_BELOW {
            self.push_slice(&data);
            return;
        }
        self.seal_tail();
        self.len += data.len();
        self.pieces.push_back(data);
    }

    /// Copies `data` into the tail. It has to be copied anyway, and one contiguous copy makes
    /// fewer iovecs than a piece per write.
    pub(crate) fn push_slice(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Takes the next send off the front: at most `max_pieces` pieces and `max_bytes` bytes
    /// (a piece that does not fit is split, without a copy). `None` if nothing is queued or
    /// either limit is 0. The batch's piece list is `spare` (taken only when there is a
    /// batch), so a caller that hands back what [`requeue_unsent`](Self::requeue_unsent)
    /// returns makes sends allocate nothing here.
    pub(crate) fn take(
        &mut self,
        max_pieces: usize,
        max_bytes: usize,
        spare: &mut Vec<Bytes>,
    ) -> Option<SendBatch> {
        if self.len == 0 || max_pieces == 0 || max_bytes == 0 {
            return None;
        }
        self.seal_tail();
        let mut pieces = std::mem::take(spare);
        pieces.clear();
        let mut len = 0;
        while pieces.len() < max_pieces && len < max_bytes {
            let Some(mut piece) = self.pieces.pop_front() else {
                break;
            };
            let room = max_bytes - len;
            if piece.len() > room {
                self.pieces.push_front(piece.split_off(room));
            }
            len += piece.len();
            pieces.push(piece);
        }
        self.len -= len;
        Some(SendBatch { pieces, len })
    }

    /// Puts back what a send of `batch` did not take (all but its first `sent` bytes) at the
    /// front, in order, so nothing is lost or reordered. Returns the batch's emptied piece
    /// list for the next [`take`](Self::take).
    ///
    /// When that leaves the queue empty (everything written is sent), memory a burst grew
    /// is released: a tail buffer over `KEPT_CAPACITY` and a piece list over
    /// `KEPT_PIECES`. Smaller ones are kept, so steady small writes reuse them.
    pub(crate) fn requeue_unsent(&mut self, mut batch: SendBatch, sent: usize) -> Vec<Bytes> {
        let mut unsent = batch.len.saturating_sub(sent);
        self.len += unsent;
        for piece in batch.pieces.drain(..).rev() {
            if unsent == 0 {
                break;
            }
            let keep = piece.len().min(unsent);
            self.pieces.push_front(piece.slice(piece.len() - keep..));
            unsent -= keep;
        }
        batch.pieces.clear();
        if self.len == 0 {
            self.release_spare();
        }
        batch.pieces
    }

    /// Frees what an empty queue holds beyond its keep sizes. The batch's pieces are gone,
    /// so the tail is the only handle on its allocation: `try_reclaim` reports, without
    /// allocating or copying anything (the tail is empty), whether that allocation holds
    /// more than `KEPT_CAPACITY` bytes — the capacity an empty, split `BytesMut` reports
    /// leaves out what was split off it.
    fn release_spare(&mut self) {
        if self.tail.try_reclaim(KEPT_CAPACITY + 1) {
            self.tail = BytesMut::new();
        }
        if self.pieces.capacity() > KEPT_PIECES {
            self.pieces = VecDeque::new();
        }
    }

    /// Whether the tail's allocation takes `n` more bytes without allocating: the test of
    /// what the queue holds after a burst, exact once the sent batches are dropped.
    #[cfg(test)]
    pub(crate) fn tail_has_room_for(&mut self, n: usize) -> bool {
        self.tail.try_reclaim(n)
    }

    /// Drops everything queued and frees the tail's memory.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Moves the tail to the end of `pieces`, so later writes go after it.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.pieces.push_back(self.tail.split().freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch's pieces as slices, to compare.
    fn pieces(batch: &SendBatch) -> Vec<&[u8]> {
        batch.pieces().iter().map(|piece| &piece[..]).collect()
    }

    #[test]
    fn f1_small_writes_share_one_piece() {
        let mut queue = SendQueue::default();
        queue.push_slice(b"ab");
        queue.push(Bytes::from_static(b"cd"));
        queue.push(Bytes::from(vec![b'e'; COALESCE_BELOW - 1]));
        let batch = queue.take(8, usize::MAX, &mut Vec::new()).unwrap();
        assert_eq!(batch.pieces().len(), 1);
        assert_eq!(batch.len(), 4 + COALESCE_BELOW - 1);
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn f1_large_bytes_are_queued_without_a_copy() {
        let mut queue = SendQueue::default();
        let large = Bytes::from(vec![7; COALESCE_BELOW]);
        queue.push_slice(b"head");
        queue.push(large.clone());
        queue.push_slice(b"tail");
        let batch = queue.take(8, usize::MAX, &mut Vec::new()).unwrap();
        assert_eq!(pieces(&batch), [&b"head"[..], &large[..], b"tail"]);
        assert_eq!(batch.pieces()[1].as_ptr(), large.as_ptr());
    }

    #[test]
    fn f1_take_splits_at_max_bytes_without_a_copy() {
        let mut queue = SendQueue::default();
        let large = Bytes::from((0..=255).cycle().take(10_000).collect::<Vec<u8>>());
        queue.push(large.clone());
        let first = queue.take(8, 4_000, &mut Vec::new()).unwrap();
        let second = queue.take(8, 4_000, &mut Vec::new()).unwrap();
        assert_eq!(
            (first.len(), second.len(), queue.len()),
            (4_000, 4_000, 2_000)
        );
        assert_eq!(second.pieces()[0].as_ptr(), large[4_000..].as_ptr());
        assert_eq!(&second.pieces()[0][..], &large[4_000..8_000]);
    }

    #[test]
    fn f1_take_stops_at_max_pieces() {
        let mut queue = SendQueue::default();
        for fill in 1..=3 {
            queue.push(Bytes::from(vec![fill; COALESCE_BELOW]));
        }
        let batch = queue.take(2, usize::MAX, &mut Vec::new()).unwrap();
        assert_eq!(batch.pieces().len(), 2);
        assert_eq!(queue.len(), COALESCE_BELOW);
        assert!(queue.take(0, usize::MAX, &mut Vec::new()).is_none());
        assert!(queue.take(8, 0, &mut Vec::new()).is_none());
        assert_eq!(queue.len(), COALESCE_BELOW);
    }

    /// A burst of small writes grows the tail, and a burst of large ones the piece list;
    /// once everything is sent both are released.
    #[test]
    fn burst_memory_is_released_once_sent() {
        let mut queue = SendQueue::default();
        for _ in 0..1000 {
            queue.push_slice(&[1; 100]);
        }
        let batch = queue.take(8, usize::MAX, &mut Vec::new()).unwrap();
        assert_eq!(batch.len(), 100_000);
        let _ = queue.requeue_unsent(batch, 100_000);
        assert!(
            !queue.tail_has_room_for(KEPT_CAPACITY + 1),
            "the empty queue kept the burst's tail buffer"
        );
        let large = Bytes::from(vec![2; COALESCE_BELOW]);
        for _ in 0..100 {
            queue.push(large.clone());
        }
        assert!(queue.pieces.capacity() > KEPT_PIECES, "no burst to release");
        while let Some(batch) = queue.take(8, usize::MAX, &mut Vec::new()) {
            let len = batch.len();
            let _ = queue.requeue_unsent(batch, len);
        }
        assert!(
            queue.pieces.capacity() <= KEPT_PIECES,
            "the piece list was kept"
        );
    }

    /// Below the keep sizes an emptied queue keeps its memory: the next small write fits
    /// the tail without allocating.
    #[test]
    fn steady_small_writes_keep_the_tail() {
        let mut queue = SendQueue::default();
        for _ in 0..3 {
            queue.push_slice(&[7; 64]);
            let batch = queue.take(8, usize::MAX, &mut Vec::new()).unwrap();
            let _ = queue.requeue_unsent(batch, 64);
            assert!(
                queue.tail_has_room_for(64),
                "the small tail was released: the next write allocates"
            );
        }
    }

    #[test]
    fn short_send_requeues_the_rest_of_a_split_piece_in_order() {
        let mut queue = SendQueue::default();
        let large = Bytes::from(vec![1; COALESCE_BELOW]);
        queue.push_slice(b"abc");
        queue.push(large.clone());
        queue.push_slice(b"xyz");
        let batch = queue.take(8, usize::MAX, &mut Vec::new()).unwrap();
        queue.push_slice(b"later");
        let _ = queue.requeue_unsent(batch, 5);
        assert_eq!(queue.len(), COALESCE_BELOW - 2 + 3 + 5);
        let batch = queue.take(8, usize::MAX, &mut Vec::new()).unwrap();
        assert_eq!(pieces(&batch), [&large[2..], b"xyz", b"later"]);
        // The rest of the large piece is a slice of it, not a copy.
        assert_eq!(batch.pieces()[0].as_ptr(), large[2..].as_ptr());
    }
}
