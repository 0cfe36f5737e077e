//! Page-aligned anonymous memory for the buffers the kernel reads and writes.

use std::io;
use std::ptr::NonNull;

/// An anonymous private mapping, unmapped on drop.
///
/// Buffers handed to io_uring live in a `Region` rather than a `Vec` so that they are
/// page-aligned (required for buffer rings) and never move.
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Region` owns its mapping outright and hands out only a raw pointer; every
// dereference of it is an `unsafe` block that argues its own aliasing. `munmap` may run on
// any thread, which is what lets a lent receive buffer (see `buf_ring::lend`) be freed by
// whichever thread drops the last `Bytes` over it.
unsafe impl Send for Region {}
// SAFETY: as above: `&Region` only exposes the pointer value and the length.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` zeroed bytes (rounded up to whole pages by the kernel).
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty buffer region",
            ));
        }
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // aliases no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("mmap of {len} bytes for io_uring buffers failed: {err}"),
            ));
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Region { ptr, len })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `new` with this length and is unmapped once.
        // The driver frees regions only after the ring has no op left that may touch them.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
