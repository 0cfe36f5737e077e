//! `IORING_OP_WRITEV`: one vectored write of a batch to a pipe.

use io_uring::{opcode, squeue, types};

use super::send::SendBuffers;
use super::OpCode;

/// One write of a batch to a pipe (or FIFO, or character device), at "the current
/// position" (offset -1). `rw_flags` are `pwritev2` flags (`RWF_NOWAIT` in tests).
#[derive(Debug)]
pub(crate) struct Writev {
    fd: i32,
    /// `None` only after [`leak_buffers`](Writev::leak_buffers).
    buffers: Option<Box<SendBuffers>>,
    rw_flags: i32,
}

impl Writev {
    pub(crate) fn new(fd: i32, mut buffers: Box<SendBuffers>, rw_flags: i32) -> Writev {
        buffers.prepare();
        Writev {
            fd,
            buffers: Some(buffers),
            rw_flags,
        }
    }

    /// The buffers, once the op has ended (`None` if they were leaked).
    pub(crate) fn into_buffers(self) -> Option<Box<SendBuffers>> {
        self.buffers
    }

    pub(crate) fn leak_buffers(&mut self) {
        if let Some(buffers) = self.buffers.take() {
            std::mem::forget(buffers);
        }
    }
}

// SAFETY: the SQE points at `buffers`' iovec array, which `new` rebuilt from the chunks
// `buffers` owns, and at those chunks; the op owns them all, and they can only change
// through `&mut`, never given out while it exists.
unsafe impl OpCode for Writev {
    fn sqe(&self) -> squeue::Entry {
        let (iov, len) = match self.buffers.as_deref() {
            Some(buffers) => buffers.iovecs(),
            None => (std::ptr::null(), 0),
        };
        opcode::Writev::new(types::Fd(self.fd), iov, len as u32)
            .offset(u64::MAX)
            .rw_flags(self.rw_flags)
            .build()
    }
}
