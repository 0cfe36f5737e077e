//! `IORING_OP_RECV` with a buffer picked from the provided-buffer ring.

use std::io;

use io_uring::{opcode, squeue, types};

use super::OpCode;
use crate::driver::Completion;

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

/// What a receive (or a pipe read, see `Read`) completion means.
#[derive(Debug)]
pub(crate) enum Received {
    /// `len` bytes landed in ring buffer `buffer`; it is the receiver's until it gives it
    /// back (recycle) or lends it.
    Data { buffer: u16, len: usize },
    /// `len` bytes landed in the receiver's own buffer (`RecvInto`).
    Filled { len: usize },
    /// The peer closed its side (a pipe: its writer closed).
    Eof,
    /// The ring had no free buffer (`ENOBUFS`): the data still waits in the socket.
    NoBuffer,
    /// Cancelled (close, a failure, teardown).
    Cancelled,
    /// Nothing to read yet (`EAGAIN`: a non-blocking pipe).
    WouldBlock,
    /// The receive failed.
    Failed(io::Error),
}

impl Received {
    /// What a receive into a ring buffer (`Recv`, `Read`) reports.
    pub(crate) fn of(c: Completion) -> Received {
        match c.result {
            n if n > 0 => match c.buffer_id() {
                Some(buffer) => Received::Data {
                    buffer,
                    len: n as usize,
                },
                None => Received::Failed(io::Error::other(
                    "a receive completed with data but without a ring buffer",
                )),
            },
            e => Received::no_data(e),
        }
    }

    /// What a receive into the receiver's own buffer (`RecvInto`) reports.
    pub(crate) fn of_own_buffer(c: Completion) -> Received {
        match c.result {
            n if n > 0 => Received::Filled { len: n as usize },
            e => Received::no_data(e),
        }
    }

    fn no_data(result: i32) -> Received {
        match result {
            0 => Received::Eof,
            e if e == -libc::ENOBUFS => Received::NoBuffer,
            e if e == -libc::ECANCELED => Received::Cancelled,
            e if e == -libc::EAGAIN => Received::WouldBlock,
            e => Received::Failed(io::Error::from_raw_os_error(-e)),
        }
    }
}
