//! `IORING_OP_CONNECT`: connecting a socket through the ring.

use std::io;
use std::os::fd::AsRawFd;

use io_uring::{opcode, types};
use socket2::SockAddr;

use crate::driver::op::Op;
use crate::runtime::current_core;

/// Connects `socket` to `addr` on the current runtime's ring and gives the socket back.
/// Dropping the future cancels the connect; the op keeps the address and the socket (so
/// its descriptor number cannot be reused under the queued SQE) until the kernel lets go.
pub(crate) async fn connect(
    socket: socket2::Socket,
    addr: SockAddr,
) -> io::Result<socket2::Socket> {
    let Some(core) = current_core() else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "connecting must happen inside a ringstream runtime (Runtime::block_on or ringstream::run)",
        ));
    };
    let addr = Box::new(addr);
    let sqe = opcode::Connect::new(
        types::Fd(socket.as_raw_fd()),
        addr.as_ptr().cast::<libc::sockaddr>(),
        addr.len(),
    )
    .build();
    let (completion, (_addr, socket)) = Op::submit(core.driver.clone(), sqe, (addr, socket)).await;
    completion.into_result().map(|_| socket)
}
