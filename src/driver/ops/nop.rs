//! `IORING_OP_NOP`: a round trip through the ring.

use io_uring::{opcode, squeue};

use super::OpCode;

/// Completes at once with 0.
#[derive(Debug)]
pub(crate) struct Nop;

// SAFETY: the SQE points at no memory.
unsafe impl OpCode for Nop {
    fn sqe(&self) -> squeue::Entry {
        opcode::Nop::new().build()
    }
}
