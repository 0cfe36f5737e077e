//! The registered (fixed) buffer pool: buffers pinned once with `IORING_REGISTER_BUFFERS`
//! so send-side ops can skip the per-op page pinning (`WriteFixed`, `SendZc` with a fixed
//! buffer).

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use io_uring::IoUring;

use super::region::Region;
use super::sys::errno_name;

struct PoolInner {
    region: Region,
    buf_size: usize,
    free: Vec<u16>,
}

/// A pool of `count` registered buffers of `buf_size` bytes each.
#[derive(Clone)]
pub(crate) struct FixedPool {
    inner: Rc<RefCell<PoolInner>>,
}

impl FixedPool {
    /// Allocates and registers the pool. ENOMEM from the kernel almost always means
    /// RLIMIT_MEMLOCK is lower than the pool: the error says so, with the numbers.
    pub(crate) fn register(ring: &IoUring, count: u16, buf_size: usize) -> io::Result<Self> {
        if count == 0 || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a fixed-buffer pool needs at least one buffer of at least one byte",
            ));
        }
        if buf_size > 1 << 30 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fixed buffers are limited to 1 GiB each by the kernel, got {buf_size} bytes"
                ),
            ));
        }
        let total = usize::from(count).checked_mul(buf_size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "fixed-buffer pool size overflows",
            )
        })?;
        let region = Region::new(total)?;
        let iovecs: Vec<libc::iovec> = (0..usize::from(count))
            .map(|i| libc::iovec {
                // Pointer arithmetic only (no dereference): `i * buf_size` is below `total`.
                iov_base: region.as_ptr().wrapping_add(i * buf_size).cast(),
                iov_len: buf_size,
            })
            .collect();
        // SAFETY: every iovec points into `region`, which the pool keeps alive for as long as
        // the ring exists (the driver drops the pool after the ring). The kernel pins the
        // pages at registration, so it never writes through our virtual addresses later.
        let res = unsafe { ring.submitter().register_buffers(&iovecs) };
        if let Err(e) = res {
            return Err(memlock_error(e, count, buf_size, total));
        }
        Ok(FixedPool {
            inner: Rc::new(RefCell::new(PoolInner {
                region,
                buf_size,
                free: (0..count).rev().collect(),
            })),
        })
    }

    /// Takes a free buffer, or `None` when all are in use.
    pub(crate) fn acquire(&self) -> Option<FixedBuf> {
        let mut inner = self.inner.borrow_mut();
        let index = inner.free.pop()?;
        let ptr = inner
            .region
            .as_ptr()
            .wrapping_add(usize::from(index) * inner.buf_size);
        Some(FixedBuf {
            pool: self.clone(),
            index,
            ptr,
            cap: inner.buf_size,
            len: 0,
        })
    }

    /// Buffers currently free.
    pub(crate) fn available(&self) -> usize {
        self.inner.borrow().free.len()
    }
}

fn memlock_error(e: io::Error, count: u16, buf_size: usize, total: usize) -> io::Error {
    let errno = e.raw_os_error().unwrap_or(0);
    let why = match errno {
        libc::ENOMEM => {
            let limit = memlock_limit()
                .map(|l| format!("{} KiB", l / 1024))
                .unwrap_or_else(|| "unknown".into());
            format!(
                "RLIMIT_MEMLOCK ({limit}) is lower than the {} KiB the pool pins; raise it \
                 (ulimit -l, LimitMEMLOCK= in systemd, or grant CAP_IPC_LOCK) or ask for a \
                 smaller pool with Builder::fixed_buffers",
                total / 1024
            )
        }
        libc::EFAULT => "the buffer memory could not be pinned".to_string(),
        libc::EINVAL => {
            "the kernel rejected the buffer sizes (at most 16384 buffers of 1 GiB)".into()
        }
        _ => "unexpected failure".into(),
    };
    io::Error::new(
        e.kind(),
        format!(
            "registering the fixed-buffer pool ({count} x {buf_size} B) failed: {} — {why}",
            errno_name(errno)
        ),
    )
}

/// The soft RLIMIT_MEMLOCK in bytes, if it is finite.
fn memlock_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max locked memory"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One buffer of the pool, owned exclusively until dropped (then it returns to the pool).
///
/// An op that hands the buffer to the kernel keeps the `FixedBuf` among its resources, so
/// the buffer cannot be reused before the op's last completion.
pub(crate) struct FixedBuf {
    pool: FixedPool,
    index: u16,
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

impl FixedBuf {
    /// The registered buffer index (`buf_index` in the SQE).
    pub(crate) fn index(&self) -> u16 {
        self.index
    }

    /// Start of the buffer.
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Bytes filled so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Capacity of the buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends as much of `data` as fits; returns how many bytes were taken.
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.cap - self.len);
        // SAFETY: this FixedBuf exclusively owns buffer `index` (taken from the free list),
        // `len + n <= cap` keeps the copy inside it, and no op is using it while we hold
        // `&mut self` (an op takes the FixedBuf by value).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(self.len), n) };
        self.len += n;
        n
    }

    /// The filled bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were initialised by `extend_from_slice` (the region
        // is zero-filled anyway) and we own the buffer exclusively.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.pool.inner.borrow_mut().free.push(self.index);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use io_uring::{opcode, types};

    use crate::driver::op::Op;
    use crate::runtime::current_core;
    use crate::Builder;

    #[test]
    fn a_fixed_buffer_is_written_by_index_and_returns_to_the_pool() {
        let mut builder = Builder::new();
        builder.fixed_buffers(2, 4096);
        let rt = builder.build().expect("runtime");
        rt.block_on(async {
            let driver = current_core().expect("runtime").driver.clone();
            let pool = driver.fixed_pool().expect("fixed pool").clone();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let mut buf = pool.acquire().expect("a free buffer");
            assert_eq!(buf.capacity(), 4096);
            assert_eq!(buf.extend_from_slice(b"registered "), 11);
            buf.extend_from_slice(b"bytes");
            assert_eq!(buf.as_slice(), b"registered bytes");
            let _second = pool.acquire().expect("second buffer");
            assert!(pool.acquire().is_none(), "only two buffers");
            let sqe = opcode::WriteFixed::new(
                types::Fd(a.as_raw_fd()),
                buf.as_ptr(),
                buf.len() as u32,
                buf.index(),
            )
            .build();
            let (c, buf) = Op::submit(driver.clone(), sqe, buf).await;
            assert_eq!(c.into_result().expect("write_fixed"), 16);
            drop(buf);
            assert_eq!(pool.available(), 1, "the buffer went back to the pool");
            let mut got = [0u8; 16];
            b.read_exact(&mut got).expect("read");
            assert_eq!(&got, b"registered bytes");
        });
    }

    #[test]
    fn an_oversized_pool_is_rejected_with_a_clear_error() {
        let mut builder = Builder::new();
        builder.fixed_buffers(0, 4096).recv_buffers(0, 0);
        // count 0 disables the pool: not an error.
        assert!(builder.build().is_ok());
        builder.fixed_buffers(1, (1 << 30) + 1);
        let err = builder.build().err().expect("over 1 GiB per buffer");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("1 GiB"), "{err}");
    }
}
