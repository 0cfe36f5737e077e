//! Lending a filled receive buffer as a `Bytes`, without a copy.
//!
//! The buffers live in a [`Memory`] shared (`Arc`) between the [`BufRing`] and every lent
//! `Bytes`. Dropping the last `Bytes` over a buffer may happen on any thread, so it never
//! touches the ring: it pushes the buffer id onto `Memory::returned` and decrements
//! `Memory::out`. The ring's thread later moves the returned ids back into the ring
//! ([`BufRing::reclaim`], run by `Driver::enter` every loop turn).
//!
//! Why the kernel never writes memory a `Bytes` can see: the kernel writes a buffer only
//! while it is in the ring (between our publishing it and a CQE naming it). A lent buffer is
//! published again only by `reclaim`, after the id came back from `Lent::drop`, i.e. after
//! the last `Bytes` over it is gone. And the memory is unmapped only when the last `Arc` —
//! the ring's or a lent buffer's — is dropped: the ring's goes after the ring has no op left
//! (or never, when `Driver::drop` leaks it because an op did not finish).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use super::BufRing;
use crate::driver::region::Region;

/// The buffer memory and the way lent buffers come back to the ring's thread.
pub(super) struct Memory {
    region: Region,
    /// Buffer count - 1 (the count is a power of two).
    mask: u16,
    buf_size: usize,
    /// Ids of lent buffers whose last `Bytes` was dropped, waiting for `reclaim`.
    /// Capacity `count` (a buffer is lent at most once at a time), so a push never
    /// allocates; uncontended, the lock is one atomic swap each way.
    returned: Mutex<Vec<u16>>,
    /// Lent buffers whose last `Bytes` is still alive. `reclaim` compares it with the
    /// ring's own count of lent buffers: equal means nothing came back (one load).
    out: AtomicUsize,
}

impl Memory {
    /// Maps `count` buffers of `buf_size` bytes.
    pub(super) fn new(count: u16, buf_size: u32) -> io::Result<Memory> {
        let buf_size = buf_size as usize;
        Ok(Memory {
            region: Region::new(usize::from(count) * buf_size)?,
            mask: count.wrapping_sub(1),
            buf_size,
            returned: Mutex::new(Vec::with_capacity(usize::from(count))),
            out: AtomicUsize::new(0),
        })
    }

    /// The first byte of buffer 0.
    pub(super) fn base(&self) -> *mut u8 {
        self.region.as_ptr()
    }

    /// The first `len` bytes of buffer `bid` (masked to the buffer count; `len` clamped to
    /// the buffer size): what a recv completion wrote there.
    pub(super) fn filled(&self, bid: u16, len: usize) -> &[u8] {
        let offset = usize::from(bid & self.mask) * self.buf_size;
        let len = len.min(self.buf_size);
        // SAFETY: the masked `bid` and clamped `len` keep the slice inside the region, which
        // lives as long as `self`. Nothing writes it while the slice is borrowed: the kernel
        // handed this buffer to us in a CQE and writes it again only after it is
        // republished in the ring — by `recycle` after the copy-out borrow ends, or by
        // `reclaim` after the last lent `Bytes` is dropped; our code never writes buffer
        // contents.
        unsafe { std::slice::from_raw_parts(self.base().add(offset), len) }
    }
}

/// The owner behind a lent `Bytes`: keeps the memory mapped and gives the buffer back when
/// `Bytes` drops it (after its last clone or slice).
struct Lent {
    memory: Arc<Memory>,
    bid: u16,
    len: u32,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        // `self.memory` keeps the region mapped for as long as this borrow can live.
        self.memory.filled(self.bid, self.len as usize)
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // Any thread: touch only the shared queue and counter, never the ring.
        self.memory
            .returned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.bid);
        // After the push: `reclaim` that sees the decrement finds the id under the lock.
        // Release (and the unlock before it) orders this thread's reads of the buffer
        // before the ring thread republishes it to the kernel.
        self.memory.out.fetch_sub(1, Ordering::Release);
    }
}

impl BufRing {
    /// Lends the first `len` bytes of buffer `bid` (what a recv completion wrote) as a
    /// `Bytes`, without copying them. `bid` and `len` are masked and clamped like
    /// [`BufRing::slice`].
    ///
    /// The buffer stays out of the ring until the returned `Bytes` and every clone and
    /// slice of it are dropped (on any thread); the next [`BufRing::reclaim`] on the ring's
    /// thread then gives it back to the kernel. Do not [`recycle`](BufRing::recycle) a lent
    /// buffer, and lend each completion's buffer at most once.
    ///
    /// Every lent buffer is one fewer for the kernel: with all of them out, multishot
    /// receives on every connection using this ring end with `ENOBUFS`. Cap lending with
    /// [`lent`](BufRing::lent) and [`count`](BufRing::count) and copy (`slice` +
    /// `recycle`) beyond the cap.
    pub(crate) fn lend(&mut self, bid: u16, len: usize) -> Bytes {
        let bid = bid & self.mask;
        let len = len.min(self.buf_size as usize) as u32;
        self.lent += 1;
        // Relaxed: only this thread increments; other threads only decrement.
        self.memory.out.fetch_add(1, Ordering::Relaxed);
        Bytes::from_owner(Lent {
            memory: Arc::clone(&self.memory),
            bid,
            len,
        })
    }

    /// Buffers lent by [`lend`](BufRing::lend) and not yet back in the ring. A dropped
    /// `Bytes` still counts until the next [`reclaim`](BufRing::reclaim).
    pub(crate) fn lent(&self) -> usize {
        self.lent
    }

    /// Gives every lent buffer whose last `Bytes` was dropped back to the kernel (one tail
    /// publish for all of them). One atomic load when none was.
    pub(crate) fn reclaim(&mut self) {
        if self.memory.out.load(Ordering::Acquire) == self.lent {
            return;
        }
        let mut ids = std::mem::take(&mut self.spare);
        std::mem::swap(
            &mut *self
                .memory
                .returned
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            &mut ids,
        );
        // Empty when a dropper has decremented `out` but another's push was swapped out
        // by an earlier call; the counts agree again once it decrements.
        if !ids.is_empty() {
            self.lent -= ids.len();
            for &bid in &ids {
                self.write_entry(bid);
            }
            // The lock taken above synchronises with each dropper's unlock, so their reads
            // of these buffers happen before this release store hands them to the kernel.
            self.publish_tail();
            ids.clear();
        }
        self.spare = ids;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use bytes::Bytes;

    use crate::driver::op::Op;
    use crate::driver::ops::Recv;
    use crate::driver::{Completion, Driver};
    use crate::runtime::current_core;
    use crate::{yield_now, Builder, Runtime};

    /// A runtime with 4 receive buffers of 8 bytes.
    fn runtime() -> Runtime {
        let mut builder = Builder::new();
        builder.recv_buffers(4, 8);
        builder.build().expect("runtime")
    }

    fn driver() -> Rc<Driver> {
        current_core().expect("runtime").driver.clone()
    }

    /// One receive on `sock` into a buffer from the ring.
    async fn recv_on(driver: &Rc<Driver>, sock: &UnixStream) -> Completion {
        let group = driver
            .with_recv_buffers(|r| r.group())
            .expect("buffer ring");
        Op::submit(driver.clone(), Recv::new(sock.as_raw_fd(), group))
            .await
            .0
    }

    /// Sends `data` (one buffer's worth at most) from `peer`, waits for its receive and
    /// lends the buffer it landed in.
    async fn receive_and_lend(
        driver: &Rc<Driver>,
        sock: &UnixStream,
        peer: &mut UnixStream,
        data: &[u8],
    ) -> (u16, Bytes) {
        peer.write_all(data).expect("write");
        let c = recv_on(driver, sock).await;
        let n = c.into_result().expect("recv ok") as usize;
        assert_eq!(n, data.len());
        let bid = c.buffer_id().expect("a provided buffer");
        let bytes = driver
            .with_recv_buffers(|r| r.lend(bid, n))
            .expect("buffer ring");
        (bid, bytes)
    }

    fn lent(driver: &Driver) -> usize {
        driver.with_recv_buffers(|r| r.lent()).expect("buffer ring")
    }

    #[test]
    fn a_lent_buffer_is_not_copied_and_stays_out_of_the_ring_until_dropped() {
        let rt = runtime();
        rt.block_on(async {
            let driver = driver();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let mut held = Vec::new();
            for i in 0..4u8 {
                let data = [b'a' + i; 8];
                let (bid, bytes) = receive_and_lend(&driver, &a, &mut b, &data).await;
                assert_eq!(bytes, data[..]);
                let in_ring = driver
                    .with_recv_buffers(|r| r.slice(bid, 8).as_ptr())
                    .expect("buffer ring");
                assert_eq!(bytes.as_ptr(), in_ring, "lent, not copied");
                held.push((bid, bytes));
            }
            assert_eq!(
                driver.with_recv_buffers(|r| (r.lent(), r.count())),
                Some((4, 4))
            );
            // Every buffer is lent: the kernel has none for the next receive.
            b.write_all(b"EEEEEEEE").expect("write");
            let c = recv_on(&driver, &a).await;
            assert_eq!(c.result, -libc::ENOBUFS);
            // Turns pass, nothing was dropped: nothing comes back, nothing was overwritten.
            yield_now().await;
            assert_eq!(lent(&driver), 4);
            for (i, (_, bytes)) in held.iter().enumerate() {
                assert_eq!(bytes, &[b'a' + i as u8; 8][..]);
            }
            // Drop one: the next turn puts it back in the ring, and receiving continues in
            // exactly that buffer.
            let (freed, bytes) = held.remove(1);
            drop(bytes);
            yield_now().await;
            assert_eq!(lent(&driver), 3);
            let c = recv_on(&driver, &a).await;
            assert_eq!(c.into_result().expect("recv ok"), 8);
            assert_eq!(c.buffer_id(), Some(freed));
            driver.with_recv_buffers(|r| {
                assert_eq!(r.slice(freed, 8), b"EEEEEEEE");
                r.recycle(freed);
            });
            drop(held);
            yield_now().await;
            assert_eq!(lent(&driver), 0);
        });
        assert_eq!(rt.stats().ops_in_flight, 0);
    }

    #[test]
    fn a_buffer_dropped_on_another_thread_comes_back_to_the_ring() {
        let rt = runtime();
        rt.block_on(async {
            let driver = driver();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            // Three rounds of all four buffers: a round completes only if every buffer
            // dropped on the other thread in the round before went back to the kernel.
            for round in 0..3u8 {
                let mut batch = Vec::new();
                for i in 0..4u8 {
                    let data = [round * 4 + i; 8];
                    batch.push(receive_and_lend(&driver, &a, &mut b, &data).await.1);
                }
                assert_eq!(lent(&driver), 4);
                std::thread::spawn(move || {
                    for (i, bytes) in batch.into_iter().enumerate() {
                        assert_eq!(bytes, &[round * 4 + i as u8; 8][..]);
                    }
                })
                .join()
                .expect("the other thread");
                let alive = driver
                    .with_recv_buffers(|r| r.memory.out.load(Ordering::Acquire))
                    .expect("buffer ring");
                assert_eq!(alive, 0);
                yield_now().await;
                assert_eq!(lent(&driver), 0);
            }
        });
        assert_eq!(rt.stats().ops_in_flight, 0);
    }

    #[test]
    fn clones_and_slices_keep_the_buffer_until_the_last_one_is_dropped() {
        let rt = runtime();
        rt.block_on(async {
            let driver = driver();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let (bid, bytes) = receive_and_lend(&driver, &a, &mut b, b"01234567").await;
            let clone = bytes.clone();
            let mut tail = bytes.slice(2..);
            let head = tail.split_to(3);
            for part in [bytes, clone, head] {
                drop(part);
                yield_now().await;
                assert_eq!(lent(&driver), 1);
            }
            assert_eq!(tail, &b"567"[..]);
            drop(tail);
            yield_now().await;
            assert_eq!(lent(&driver), 0);
            // Back in the ring: four more receives use all four buffers, this one included.
            let mut again = Vec::new();
            for i in 0..4u8 {
                again.push(receive_and_lend(&driver, &a, &mut b, &[i; 8]).await.0);
            }
            assert!(again.contains(&bid));
        });
        assert_eq!(rt.stats().ops_in_flight, 0);
    }

    #[test]
    fn a_lent_buffer_outlives_the_runtime_and_is_freed_with_its_last_bytes() {
        let rt = runtime();
        let (bytes, memory) = rt.block_on(async {
            let driver = driver();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let (_, bytes) = receive_and_lend(&driver, &a, &mut b, b"survives").await;
            let memory = driver
                .with_recv_buffers(|r| Arc::downgrade(&r.memory))
                .expect("buffer ring");
            (bytes, memory)
        });
        assert_eq!(rt.stats().ops_in_flight, 0);
        drop(rt);
        // Ring, driver and runtime are gone (the ring's share of the memory with them, not
        // leaked): the lent buffer alone keeps the memory mapped, data intact.
        assert_eq!(memory.strong_count(), 1);
        assert_eq!(bytes, &b"survives"[..]);
        let part = bytes.slice(4..);
        drop(bytes);
        assert_eq!(memory.strong_count(), 1);
        assert_eq!(part, &b"ives"[..]);
        // The last one unmaps it: no leak.
        drop(part);
        assert_eq!(memory.strong_count(), 0);
    }
}
