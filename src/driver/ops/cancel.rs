//! `IORING_OP_ASYNC_CANCEL`: ask the kernel to end ops early.

use io_uring::{opcode, squeue, types};

use super::OpCode;

/// Cancels the op submitted with `user_data`; it ends with `-ECANCELED` (or its real
/// result, if it finished first).
#[derive(Debug)]
pub(crate) struct Cancel {
    user_data: u64,
}

impl Cancel {
    pub(crate) fn new(user_data: u64) -> Cancel {
        Cancel { user_data }
    }
}

// SAFETY: the SQE points at no memory (`user_data` is a number the kernel matches).
unsafe impl OpCode for Cancel {
    fn sqe(&self) -> squeue::Entry {
        opcode::AsyncCancel::new(self.user_data).build()
    }
}

/// Cancels every op in flight (the driver's teardown).
#[derive(Debug)]
pub(crate) struct CancelAll;

// SAFETY: the SQE points at no memory.
unsafe impl OpCode for CancelAll {
    fn sqe(&self) -> squeue::Entry {
        opcode::AsyncCancel2::new(types::CancelBuilder::any()).build()
    }
}
