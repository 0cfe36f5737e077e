//! `IORING_OP_CONNECT`: connect a socket.

use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, Socket};

use super::OpCode;

/// Connects `socket` to an address. The op owns both: the address is boxed (the kernel may
/// read it after submission), and the socket stays open, so its number is not reused under
/// a queued SQE, until the op ends; [`Connect::into_socket`] gives it back.
#[derive(Debug)]
pub(crate) struct Connect {
    socket: Socket,
    addr: Box<SockAddr>,
}

impl Connect {
    pub(crate) fn new(socket: Socket, addr: SockAddr) -> Connect {
        Connect {
            socket,
            addr: Box::new(addr),
        }
    }

    pub(crate) fn into_socket(self) -> Socket {
        self.socket
    }
}

// SAFETY: the SQE points at the boxed address, which the op owns and never changes.
unsafe impl OpCode for Connect {
    fn sqe(&self) -> squeue::Entry {
        opcode::Connect::new(
            types::Fd(self.socket.as_raw_fd()),
            self.addr.as_ptr().cast::<libc::sockaddr>(),
            self.addr.len(),
        )
        .build()
    }
}
