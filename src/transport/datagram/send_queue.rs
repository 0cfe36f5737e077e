//! Datagrams waiting to be sent, under the streams' watermark rules (F2-F4): the size is
//! queued plus in-flight payload bytes; writing pauses strictly over the high watermark
//! and resumes at or under the low one.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::transport::outbound::watermarks;

#[derive(Debug)]
pub(crate) struct SendQueue {
    queue: VecDeque<(Bytes, Option<SocketAddr>)>,
    queued: usize,
    in_flight: usize,
    high: usize,
    low: usize,
    paused: bool,
}

impl Default for SendQueue {
    fn default() -> Self {
        let (high, low) = watermarks(None, None).unwrap_or((64 * 1024, 16 * 1024));
        SendQueue {
            queue: VecDeque::new(),
            queued: 0,
            in_flight: 0,
            high,
            low,
            paused: false,
        }
    }
}

impl SendQueue {
    pub(crate) fn push(&mut self, data: Bytes, addr: Option<SocketAddr>) {
        self.queued += data.len();
        self.queue.push_back((data, addr));
        self.maybe_pause();
    }

    /// The next datagram to send; its bytes count as in flight until [`sent`](Self::sent).
    pub(crate) fn next(&mut self) -> Option<(Bytes, Option<SocketAddr>)> {
        let next = self.queue.pop_front()?;
        self.queued -= next.0.len();
        self.in_flight += next.0.len();
        Some(next)
    }

    /// A datagram of `len` bytes left (sent or failed). Returns whether writing resumed.
    pub(crate) fn sent(&mut self, len: usize) -> bool {
        self.in_flight -= len.min(self.in_flight);
        if self.paused && self.size() <= self.low {
            self.paused = false;
            return true;
        }
        false
    }

    /// Drops every queued datagram (abort). Returns whether writing resumed.
    pub(crate) fn clear(&mut self) -> bool {
        self.queue.clear();
        self.queued = 0;
        self.sent(0)
    }

    /// Queued plus in-flight bytes (F2).
    pub(crate) fn size(&self) -> usize {
        self.queued + self.in_flight
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// `(low, high)`.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }

    /// F3: may pause at once, never resumes.
    pub(crate) fn set_limits(&mut self, high: Option<usize>, low: Option<usize>) -> io::Result<()> {
        (self.high, self.low) = watermarks(high, low)?;
        self.maybe_pause();
        Ok(())
    }

    fn maybe_pause(&mut self) {
        if self.size() > self.high {
            self.paused = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f4_pauses_strictly_over_high_and_resumes_at_low() {
        let mut q = SendQueue::default();
        q.set_limits(Some(100), Some(40)).unwrap();
        q.push(Bytes::from(vec![0; 100]), None);
        assert!(!q.is_paused(), "exactly at high is not over it");
        q.push(Bytes::from(vec![0; 1]), None);
        assert!(q.is_paused());
        let (first, _) = q.next().unwrap();
        assert_eq!(q.size(), 101, "in flight still counts");
        assert!(
            q.sent(first.len()),
            "1 byte left is at or under low: resumed"
        );
        assert!(!q.is_paused());
    }

    #[test]
    fn f3_rejects_high_below_low_and_keeps_the_limits() {
        let mut q = SendQueue::default();
        assert!(q.set_limits(Some(1), Some(2)).is_err());
        assert_eq!(q.limits(), (16 * 1024, 64 * 1024));
    }
}
