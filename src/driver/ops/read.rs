//! `IORING_OP_READ` from a pipe with a buffer picked from the provided-buffer ring.

use io_uring::{opcode, squeue, types};

use super::OpCode;

/// One read from a pipe (or FIFO, or character device) into a buffer the kernel picks from
/// buffer group `group`, at "the current position" (offset -1: the only meaning a pipe
/// has). `rw_flags` are `preadv2` flags (`RWF_NOWAIT` in tests, to force the `EAGAIN` path).
#[derive(Debug)]
pub(crate) struct Read {
    fd: i32,
    group: u16,
    rw_flags: i32,
}

impl Read {
    pub(crate) fn new(fd: i32, group: u16, rw_flags: i32) -> Read {
        Read {
            fd,
            group,
            rw_flags,
        }
    }
}

// SAFETY: the SQE points at no memory: the kernel picks a buffer from the ring, which the
// driver owns for the ring's whole life.
unsafe impl OpCode for Read {
    fn sqe(&self) -> squeue::Entry {
        opcode::Read::new(types::Fd(self.fd), std::ptr::null_mut(), 0)
            .offset(u64::MAX)
            .rw_flags(self.rw_flags)
            .buf_group(self.group)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
    }
}
