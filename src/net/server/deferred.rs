//! A server built with `start_serving(false)`: its sockets are bound (the address is
//! taken, errors were reported by `serve`) but do not listen, so connecting is refused and
//! no handshake completes until [`StreamServer::start_serving`](super::StreamServer::start_serving)
//! makes them listen, as asyncio binds without listening until `start_serving()`.

use std::io;
use std::net::SocketAddr;

use crate::net::bind;

/// A second descriptor of every shard's bound socket, so that the handle can start them
/// listening from its own thread while the shards own the sockets.
pub(crate) struct DeferredListen {
    sockets: Vec<socket2::Socket>,
    backlog: i32,
    /// The address, for error messages.
    shown: String,
    /// Where to check again, just before listening, that nobody else has started
    /// listening since `serve` checked (see `bind::check_free`).
    recheck: Option<SocketAddr>,
}

impl DeferredListen {
    pub(crate) fn new(
        sockets: Vec<socket2::Socket>,
        backlog: i32,
        shown: String,
        recheck: Option<SocketAddr>,
    ) -> DeferredListen {
        DeferredListen {
            sockets,
            backlog,
            shown,
            recheck,
        }
    }

    /// Checks the address again if needed, then makes every socket listen. Safe to call
    /// again after a failure: listening twice only sets the backlog again.
    pub(crate) fn listen(&self) -> io::Result<()> {
        if let Some(addr) = self.recheck {
            bind::check_free(addr, true)?;
        }
        for socket in &self.sockets {
            bind::listen(socket, self.backlog, &self.shown)?;
        }
        Ok(())
    }
}
