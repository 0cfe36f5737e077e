//! `IORING_OP_RECV` with a buffer picked from the provided-buffer ring.

use io_uring::{opcode, squeue, types};

use super::OpCode;

/// One receive on a socket into a buffer the kernel picks from buffer group `group`; the
/// completion names the buffer (`Completion::buffer_id`). Length 0: as much as that buffer
/// holds (see `docs/decisions.md`, "Receive size").
#[derive(Debug)]
pub(crate) struct Recv {
    fd: i32,
    group: u16,
}

impl Recv {
    pub(crate) fn new(fd: i32, group: u16) -> Recv {
        Recv { fd, group }
    }
}

// SAFETY: the SQE points at no memory: the kernel picks a buffer from the ring, which the
// driver owns for the ring's whole life.
unsafe impl OpCode for Recv {
    fn sqe(&self) -> squeue::Entry {
        opcode::Recv::new(types::Fd(self.fd), std::ptr::null_mut(), 0)
            .buf_group(self.group)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
    }
}
