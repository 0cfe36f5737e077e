//! Connecting a socket through the current runtime's ring, before it becomes a connection.

use std::io;

use socket2::{SockAddr, Socket};

/// Connects `socket` to `addr` with an `IORING_OP_CONNECT` on this thread's runtime and
/// gives the socket back. Dropping the future cancels the connect.
pub(crate) async fn connect(socket: Socket, addr: SockAddr) -> io::Result<Socket> {
    let Some(core) = crate::runtime::current_core() else {
        return Err(crate::error::outside_runtime("connecting"));
    };
    crate::driver::ops::connect(core.driver.clone(), socket, addr).await
}
