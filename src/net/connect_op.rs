//! `IORING_OP_CONNECT`: connecting a socket through the ring.

use socket2::SockAddr;
use std::io;

use crate::driver::op::Op;
use crate::driver::ops::Connect;
use crate::runtime::current_core;

/// Connects `socket` to `addr` on the current runtime's ring and gives the socket back.
/// Dropping the future cancels the connect; the op keeps the address and the socket (so
/// its descriptor number cannot be reused under the queued SQE) until the kernel lets go.
pub(crate) async fn connect(
    socket: socket2::Socket,
    addr: SockAddr,
) -> io::Result<socket2::Socket> {
    let Some(core) = current_core() else {
        return Err(crate::error::outside_runtime("connecting"));
    };
    let (completion, op) = Op::submit(core.driver.clone(), Connect::new(socket, addr)).await;
    completion.into_result().map(|_| op.into_socket())
}
