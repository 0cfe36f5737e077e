//! Every SQE the crate builds, one small file per op, under one contract ([`OpCode`]).
//!
//! An op is a value that owns what its SQE points at. Submitting it moves it into the
//! driver, which keeps it until the op's last completion: in the op's slot (an op whose
//! completions go to a [`CompletionHandler`](super::CompletionHandler), see [`HandlerOp`])
//! or in the [`Op`](super::op::Op) future, which hands it to the slot if it is dropped
//! first. The op comes back to its owner with the last completion (a send's buffers are
//! reused by the next send), so nothing the kernel may read or write is freed or changed
//! while the op is in flight, and no other code in the crate builds SQEs or touches raw
//! pointers.
//!
//! Descriptors are plain numbers in an SQE (see `docs/decisions.md`, "Plain descriptors"):
//! whoever submits an op keeps its descriptor open until the last completion (the
//! connection closes its socket only once no op holds it; the listener's handler holds the
//! listening socket), so a number is never reused under a queued SQE.

mod accept;
mod cancel;
mod connect;
mod nop;
mod poll;
mod read;
mod recv;
mod recv_into;
mod recv_msg;
mod send;
mod send_to;
mod writev;

use io_uring::squeue;

pub(crate) use accept::AcceptMulti;
pub(crate) use cancel::{Cancel, CancelAll};
pub(crate) use connect::connect;
pub(crate) use nop::Nop;
pub(crate) use poll::Poll;
pub(crate) use read::Read;
pub(crate) use recv::{Received, Recv};
pub(crate) use recv_into::RecvInto;
pub(crate) use recv_msg::{Datagram, RecvMsgMulti, RecvMsgOutcome, HEADER_ROOM};
pub(crate) use send::{Send, SendBuffers, Sent};
pub(crate) use send_to::{SendHeader, SendTo};
pub(crate) use writev::Writev;

/// An op the driver can submit: it builds its SQE from what it owns.
///
/// # Safety
///
/// Every pointer in the entry [`sqe`](OpCode::sqe) returns must point at memory that the
/// value owns on the heap (so moving the value does not move it), or at nothing (a provided
/// buffer ring picks receive buffers; the kernel owns those), and that memory must stay
/// valid and unchanged for as long as the value exists, with nothing but the kernel
/// reading or writing it. The driver keeps the value, untouched, from the submission until
/// the op's last completion (or forever, if the ring fails with the op in the kernel), so
/// that is the whole time the kernel may use the memory.
pub(crate) unsafe trait OpCode: 'static {
    /// The SQE (without `user_data`, which the driver sets).
    fn sqe(&self) -> squeue::Entry;
}

/// An op whose completions go to a handler; it waits in its slot and comes back with the
/// last completion, so the handler knows which of its ops ended and gets its memory back.
#[derive(Debug)]
pub(crate) enum HandlerOp {
    Recv(Recv),
    RecvInto(RecvInto),
    Read(Read),
    Send(Send),
    Writev(Writev),
    Poll(Poll),
    AcceptMulti(AcceptMulti),
    RecvMsgMulti(RecvMsgMulti),
    SendTo(SendTo),
}

impl HandlerOp {
    /// The op's SQE.
    pub(crate) fn sqe(&self) -> squeue::Entry {
        match self {
            HandlerOp::Recv(op) => op.sqe(),
            HandlerOp::RecvInto(op) => op.sqe(),
            HandlerOp::Read(op) => op.sqe(),
            HandlerOp::Send(op) => op.sqe(),
            HandlerOp::Writev(op) => op.sqe(),
            HandlerOp::Poll(op) => op.sqe(),
            HandlerOp::AcceptMulti(op) => op.sqe(),
            HandlerOp::RecvMsgMulti(op) => op.sqe(),
            HandlerOp::SendTo(op) => op.sqe(),
        }
    }

    /// The ring failed while the kernel may still hold this op: what it points at is
    /// leaked (never freed, never reused) and the op comes back without it.
    pub(crate) fn leak_memory(&mut self) {
        match self {
            HandlerOp::Send(op) => op.leak_buffers(),
            HandlerOp::Writev(op) => op.leak_buffers(),
            HandlerOp::RecvInto(op) => op.leak_buffer(),
            HandlerOp::SendTo(op) => op.leak_buffers(),
            HandlerOp::Recv(_)
            | HandlerOp::Read(_)
            | HandlerOp::Poll(_)
            | HandlerOp::AcceptMulti(_)
            | HandlerOp::RecvMsgMulti(_) => {}
        }
    }
}

macro_rules! into_handler_op {
    ($($op:ident),*) => {$(
        impl From<$op> for HandlerOp {
            fn from(op: $op) -> HandlerOp {
                HandlerOp::$op(op)
            }
        }
    )*};
}
into_handler_op!(Recv, RecvInto, Read, Send, Writev, Poll, AcceptMulti);
into_handler_op!(RecvMsgMulti, SendTo);
