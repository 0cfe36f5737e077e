//! `IORING_OP_ACCEPT`, multishot: every incoming connection of a listening socket.

use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types};

use super::OpCode;
use crate::driver::Completion;

/// Accepts connections on listening socket `fd` until cancelled, one completion each; the
/// new descriptors are close-on-exec. The peer's address is not asked for (it is read
/// from the socket when wanted).
#[derive(Debug)]
pub(crate) struct AcceptMulti {
    fd: i32,
}

impl AcceptMulti {
    pub(crate) fn new(fd: i32) -> AcceptMulti {
        AcceptMulti { fd }
    }

    /// The accepted connection a completion carries, or its error.
    pub(crate) fn accepted(c: Completion) -> std::io::Result<OwnedFd> {
        let fd = c.into_result()?;
        // SAFETY: a successful accept completion's result is a descriptor the kernel has
        // just created for this completion; nothing else in the process knows it, so this
        // `OwnedFd` is its only owner.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

// SAFETY: the SQE points at no memory (no address buffer is passed).
unsafe impl OpCode for AcceptMulti {
    fn sqe(&self) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }
}
