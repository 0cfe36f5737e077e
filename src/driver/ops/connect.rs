//! `IORING_OP_CONNECT`: connect a socket.

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};
use socket2::{SockAddr, Socket};

use super::OpCode;
use crate::driver::op::Op;
use crate::driver::Driver;

/// Connects `socket` to `addr` on `driver`'s ring and gives the socket back. Dropping the
/// future cancels the connect; the op keeps the address and the socket until the kernel
/// lets go.
pub(crate) async fn connect(
    driver: Rc<Driver>,
    socket: Socket,
    addr: SockAddr,
) -> io::Result<Socket> {
    let (completion, op) = Op::submit(driver, Connect::new(socket, addr)).await;
    completion.into_result().map(|_| op.into_socket())
}

/// Connects `socket` to an address. The op owns both: the address is boxed (the kernel may
/// read it after submission), and the socket stays open, so its number is not reused under
/// a queued SQE, until the op ends.
#[derive(Debug)]
struct Connect {
    socket: Socket,
    addr: Box<SockAddr>,
}

impl Connect {
    fn new(socket: Socket, addr: SockAddr) -> Connect {
        Connect {
            socket,
            addr: Box::new(addr),
        }
    }

    fn into_socket(self) -> Socket {
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
