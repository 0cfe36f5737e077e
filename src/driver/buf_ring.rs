//! The provided-buffer ring (`IORING_REGISTER_PBUF_RING`): a pool of equal receive buffers
//! that the kernel picks from when a recv has data, so receive memory follows the data in
//! flight rather than the number of connections.
//!
//! A filled buffer is either copied out ([`BufRing::slice`] then [`BufRing::recycle`]) or
//! lent as a `Bytes` without a copy ([`BufRing::lend`], see the `lend` module).

mod lend;
pub(crate) mod waiters;

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

use super::region::Region;
use crate::sys::errno_name;
use lend::Memory;

/// One registered buffer group.
pub(crate) struct BufRing {
    bgid: u16,
    mask: u16,
    buf_size: u32,
    /// Our copy of the tail; published to the kernel with a release store.
    tail: u16,
    entries: Region,
    /// The buffers themselves, shared with every `Bytes` lent out of them so that the
    /// memory outlives this ring while one is alive (see [`BufRing::lend`]).
    memory: Arc<Memory>,
    /// Buffers lent and not yet back in the ring (dropped ones count until `reclaim`).
    lent: usize,
    /// Swapped with the queue of returned ids by `reclaim`; capacity `count`, so neither
    /// side ever allocates.
    spare: Vec<u16>,
}

impl BufRing {
    /// Allocates `count` buffers of `buf_size` bytes, hands all of them to the kernel and
    /// registers the ring as buffer group `bgid`.
    pub(crate) fn new(ring: &IoUring, bgid: u16, count: u16, buf_size: u32) -> io::Result<Self> {
        if count == 0 || !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the receive buffer count must be a power of two up to 32768, got {count}"),
            ));
        }
        if buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the receive buffer size must be at least 1 byte",
            ));
        }
        let entries = Region::new(usize::from(count) * std::mem::size_of::<BufRingEntry>())?;
        let memory = Arc::new(Memory::new(count, buf_size)?);
        let mut this = BufRing {
            bgid,
            mask: count - 1,
            buf_size,
            tail: 0,
            entries,
            memory,
            lent: 0,
            spare: Vec::with_capacity(usize::from(count)),
        };
        for bid in 0..count {
            this.write_entry(bid);
        }
        this.publish_tail();
        // SAFETY: the entry array lives in `this.entries`, which is kept until the driver
        // has unregistered the group or closed the ring (see Driver::drop).
        let res = unsafe {
            ring.submitter().register_buf_ring_with_flags(
                this.entries.as_ptr() as u64,
                count,
                bgid,
                0,
            )
        };
        res.map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            io::Error::new(
                e.kind(),
                format!(
                    "registering the receive buffer ring ({count} x {buf_size} B) failed: {} — {}",
                    errno_name(errno),
                    match errno {
                        libc::EINVAL => "the kernel is older than 5.19 (no provided-buffer rings)",
                        libc::ENOMEM =>
                            "RLIMIT_MEMLOCK is too low to pin the ring; raise it (ulimit -l)",
                        libc::EEXIST => "this buffer group id is already registered on the ring",
                        _ => "unexpected failure",
                    }
                ),
            )
        })?;
        Ok(this)
    }

    /// The buffer group id to put in recv SQEs.
    pub(crate) fn group(&self) -> u16 {
        self.bgid
    }

    /// How many buffers the ring has (lent or not).
    pub(crate) fn count(&self) -> usize {
        usize::from(self.mask) + 1
    }

    /// How many buffers are in the kernel's hands (not lent out) at the start of a loop
    /// turn: copied-out buffers are recycled as their completion is handled, so only lent
    /// ones are missing.
    pub(crate) fn available(&self) -> usize {
        self.count() - self.lent()
    }

    /// The first `len` bytes of buffer `bid` (what a recv completion wrote).
    pub(crate) fn slice(&self, bid: u16, len: usize) -> &[u8] {
        self.memory.filled(bid, len)
    }

    /// Gives buffer `bid` back to the kernel. Never for a lent buffer: that one comes back
    /// by itself when its last `Bytes` is dropped (see [`BufRing::lend`]).
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.write_entry(bid & self.mask);
        self.publish_tail();
    }

    fn write_entry(&mut self, bid: u16) {
        let index = usize::from(self.tail & self.mask);
        let base = self.entries.as_ptr().cast::<BufRingEntry>();
        // SAFETY: `index` is below the entry count the region was sized for. The kernel only
        // reads entries between its head and our published tail; this one is past the tail.
        let entry = unsafe { &mut *base.add(index) };
        entry.set_addr(self.memory.base() as u64 + u64::from(bid) * u64::from(self.buf_size));
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish_tail(&self) {
        let base = self.entries.as_ptr().cast::<BufRingEntry>();
        // SAFETY: the tail field overlays the first entry's `resv` field inside the region;
        // the kernel reads it with an acquire load, so a release store publishes the
        // entries written before it.
        unsafe {
            let tail = BufRingEntry::tail(base).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use crate::driver::op::Op;
    use crate::driver::ops::Recv;
    use crate::runtime::current_core;
    use crate::Builder;

    #[test]
    fn receives_fill_provided_buffers_that_are_recycled() {
        let mut builder = Builder::new();
        builder.recv_buffers(4, 8);
        let rt = builder.build().expect("runtime");
        rt.block_on(async {
            let driver = current_core().expect("runtime").driver.clone();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let group = driver
                .with_recv_buffers(|r| r.group())
                .expect("buffer ring");
            // 4 buffers of 8 bytes: 100 bytes need every buffer many times over, so this
            // only completes if each buffer is given back after use.
            let payload: Vec<u8> = (0..100u8).collect();
            let mut got = Vec::new();
            for chunk in payload.chunks(5) {
                b.write_all(chunk).expect("write");
                let target = got.len() + chunk.len();
                while got.len() < target {
                    let (c, _) = Op::submit(driver.clone(), Recv::new(a.as_raw_fd(), group)).await;
                    let n = c.into_result().expect("recv ok") as usize;
                    let bid = c.buffer_id().expect("a provided buffer");
                    driver.with_recv_buffers(|r| {
                        got.extend_from_slice(r.slice(bid, n));
                        r.recycle(bid);
                    });
                }
            }
            assert_eq!(got, payload);
        });
        assert_eq!(rt.stats().ops_in_flight, 0);
    }
}
