//! The datagrams a socket received and nobody has taken yet, with bounded memory.
//!
//! The queue is full at `limit` bytes (each datagram charged its payload plus
//! [`OVERHEAD`]); a full queue stops the receive (the kernel keeps the next datagrams in
//! the socket buffer, and drops what does not fit there), and the receive is armed again
//! once a reader takes the queue back under the limit. The kernel's drops are counted
//! (`SO_RXQ_OVFL`), so a flood is reported rather than silently thinned.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;

/// What a queued datagram costs besides its payload (the entry, the `Bytes` header): an
/// empty datagram still takes room, so a flood of them is bounded too.
pub(crate) const OVERHEAD: usize = 64;

/// Default limit: 256 KiB, a default Linux `SO_RCVBUF`'s worth again in user space.
pub(crate) const DEFAULT_LIMIT: usize = 256 * 1024;

/// One entry: a datagram and its sender, or an error to report in order (an ICMP error,
/// a truncated datagram).
pub(crate) type Entry = io::Result<(Bytes, SocketAddr)>;

#[derive(Debug)]
pub(crate) struct RecvQueue {
    entries: VecDeque<Entry>,
    bytes: usize,
    limit: usize,
    /// The kernel's drop counter as last reported (cumulative for the socket).
    kernel_drops: u64,
}

impl Default for RecvQueue {
    fn default() -> Self {
        RecvQueue {
            entries: VecDeque::new(),
            bytes: 0,
            limit: DEFAULT_LIMIT,
            kernel_drops: 0,
        }
    }
}

fn cost(entry: &Entry) -> usize {
    OVERHEAD + entry.as_ref().map_or(0, |(data, _)| data.len())
}

impl RecvQueue {
    /// Queues a datagram or an error.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.bytes += cost(&entry);
        self.entries.push_back(entry);
    }

    /// The oldest entry.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        self.bytes -= cost(&entry);
        Some(entry)
    }

    /// Whether the receive should stop: the queue holds `limit` bytes or more.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes >= self.limit
    }

    /// Sets the limit (at least one datagram's overhead, so an empty queue is never full).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(OVERHEAD + 1);
    }

    /// The kernel reported its cumulative drop counter (a `u32` that wraps).
    pub(crate) fn kernel_dropped(&mut self, counter: u32) {
        let last = self.kernel_drops as u32;
        self.kernel_drops += u64::from(counter.wrapping_sub(last));
    }

    /// Datagrams the kernel dropped for want of room in the socket buffer, as far as it
    /// has told (it tells with the next datagram it delivers).
    pub(crate) fn drops(&self) -> u64 {
        self.kernel_drops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(len: usize) -> Entry {
        Ok((Bytes::from(vec![0; len]), "127.0.0.1:1".parse().unwrap()))
    }

    #[test]
    fn full_at_the_limit_and_not_after_a_pop() {
        let mut q = RecvQueue::default();
        q.set_limit(2 * (OVERHEAD + 100));
        q.push(datagram(100));
        assert!(!q.is_full());
        q.push(datagram(100));
        assert!(q.is_full());
        assert!(q.pop().is_some());
        assert!(!q.is_full());
    }

    #[test]
    fn errors_keep_their_place_and_empty_datagrams_count() {
        let mut q = RecvQueue::default();
        q.set_limit(0);
        q.push(Err(io::Error::from_raw_os_error(libc::ECONNREFUSED)));
        assert!(
            !q.is_full(),
            "an empty queue's limit holds at least one entry"
        );
        q.push(datagram(0));
        assert!(q.is_full(), "entries with no payload still take room");
        let first = q.pop().unwrap();
        assert_eq!(first.unwrap_err().raw_os_error(), Some(libc::ECONNREFUSED));
        assert!(q.pop().unwrap().is_ok());
        assert!(q.pop().is_none());
    }

    #[test]
    fn kernel_drop_counter_accumulates_across_wraps() {
        let mut q = RecvQueue::default();
        q.kernel_dropped(5);
        q.kernel_dropped(5);
        assert_eq!(q.drops(), 5);
        q.kernel_dropped(u32::MAX);
        q.kernel_dropped(2);
        assert_eq!(q.drops(), u64::from(u32::MAX) + 3);
    }
}
