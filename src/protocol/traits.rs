//! The callbacks a protocol implements: [`BaseProtocol`] (the connection's life and the
//! write side's flow control), and what receives data: [`Protocol`] (bytes as they come)
//! or [`BufferedProtocol`] (the kernel receives into the protocol's own buffer).

use std::any::Any;
use std::io;

use bytes::{Bytes, BytesMut};

use super::Transport;

/// The callbacks every protocol has: the connection's start and end, and the write side's
/// flow control (asyncio's `BaseProtocol`). Every method has an empty default.
///
/// Callbacks run on the connection's core, straight from the completion that caused them,
/// in this order (SEMANTICS G1): `connection_made`, then any number of `data_received` (or
/// `buffer_updated`), at most one `eof_received`, and `connection_lost` exactly once, last.
/// `pause_writing` and `resume_writing` come in pairs between `connection_made` and
/// `connection_lost` (G3).
///
/// A callback may call anything on its own transport (`write`, `close`, `abort`,
/// `pause_reading`, ...) or on another connection's. What that causes for its own protocol
/// (a `pause_writing` when a `write` goes over the high watermark, say) runs right after the
/// current callback returns, since the protocol is busy until then; from outside a callback
/// it runs inside the call, as in asyncio.
///
/// A callback that panics ends only its own connection: it is aborted, the panic is
/// reported (the server's failure hook, or the log), and `connection_lost` gets the panic
/// as its error.
///
/// ```
/// use ringstream::protocol::{BaseProtocol, Protocol, Transport};
///
/// /// Counts the bytes it received; says goodbye at the peer's EOF.
/// #[derive(Default)]
/// struct Counter {
///     transport: Option<Transport>,
///     received: usize,
/// }
///
/// impl BaseProtocol for Counter {
///     fn connection_made(&mut self, transport: Transport) {
///         self.transport = Some(transport);
///     }
///     fn connection_lost(&mut self, err: Option<std::io::Error>) {
///         println!("{} bytes, then {err:?}", self.received);
///     }
/// }
///
/// impl Protocol for Counter {
///     fn data_received(&mut self, data: bytes::Bytes) {
///         self.received += data.len();
///     }
///     fn eof_received(&mut self) -> bool {
///         if let Some(t) = &self.transport {
///             let _ = t.write(b"bye\n");
///         }
///         false // close our side too (after "bye" is sent)
///     }
/// }
/// ```
#[doc(alias = "asyncio.BaseProtocol")]
pub trait BaseProtocol: 'static {
    /// The connection is made; `transport` is its handle (keep a clone to write later).
    /// Always the first callback.
    #[doc(alias = "BaseProtocol.connection_made")]
    fn connection_made(&mut self, transport: Transport) {
        let _ = transport;
    }

    /// The connection is lost or closed: `None` after `close()` (once everything queued was
    /// sent), `abort()`, or the peer's EOF that closed it; the error otherwise (a reset, a
    /// send that failed, the runtime shut down with it open, a callback that panicked).
    /// Always the last callback, exactly once.
    #[doc(alias = "BaseProtocol.connection_lost")]
    fn connection_lost(&mut self, err: Option<io::Error>) {
        let _ = err;
    }

    /// The transport's write buffer went strictly over the high watermark: stop writing
    /// until [`resume_writing`](Self::resume_writing) (G3). Once per crossing.
    #[doc(alias = "BaseProtocol.pause_writing")]
    fn pause_writing(&mut self) {}

    /// The write buffer drained to the low watermark or below after a `pause_writing`
    /// (G3). Once per crossing.
    #[doc(alias = "BaseProtocol.resume_writing")]
    fn resume_writing(&mut self) {}
}

/// A protocol that receives data as [`Bytes`] (asyncio's `Protocol`).
///
/// Large receives reach `data_received` without a copy (the receive buffer itself is lent
/// as `Bytes`; it goes back to the ring when the last `Bytes` over it drops), small ones
/// are copied out of it.
///
/// See [`BaseProtocol`] for the callback order and an example.
#[doc(alias = "asyncio.Protocol")]
pub trait Protocol: BaseProtocol {
    /// Bytes arrived; never empty. How the peer's writes are cut into calls is up to the
    /// network: a message may arrive in pieces, or several in one call.
    #[doc(alias = "Protocol.data_received")]
    fn data_received(&mut self, data: Bytes) {
        let _ = data;
    }

    /// The peer sent EOF (it will send nothing more). Return `true` to keep the transport
    /// open for writing (close it yourself later), `false` to close it (G2), which is the
    /// default.
    #[doc(alias = "Protocol.eof_received")]
    fn eof_received(&mut self) -> bool {
        false
    }
}

/// A protocol the kernel receives into directly (asyncio's `BufferedProtocol`): no copy at
/// all between the socket and the protocol's own memory.
///
/// Rust-shaped where asyncio's cannot be: the buffer is handed over, not borrowed.
/// `get_buffer` gives the transport a [`BytesMut`]; the kernel receives into its spare
/// capacity (`capacity() - len()` bytes, at least 1) while the protocol goes on with other
/// callbacks; `buffer_updated` gives it back with the received bytes appended (`len()` grew
/// by `nbytes`). Keeping the buffer between calls (`split_to` what was parsed, return the
/// rest with room reserved) receives with no allocation and no copy.
///
/// Wrap it in [`Buffered`] to connect or serve it.
///
/// ```
/// use bytes::BytesMut;
/// use ringstream::protocol::{BaseProtocol, BufferedProtocol};
///
/// /// Counts newline-terminated records without copying them anywhere.
/// #[derive(Default)]
/// struct Records {
///     buffer: BytesMut,
///     records: usize,
/// }
///
/// impl BaseProtocol for Records {}
///
/// impl BufferedProtocol for Records {
///     fn get_buffer(&mut self, size_hint: usize) -> BytesMut {
///         let mut buffer = std::mem::take(&mut self.buffer);
///         buffer.reserve(size_hint);
///         buffer
///     }
///     fn buffer_updated(&mut self, mut buffer: BytesMut, _nbytes: usize) {
///         while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
///             let _record = buffer.split_to(end + 1);
///             self.records += 1;
///         }
///         self.buffer = buffer;
///     }
/// }
/// ```
#[doc(alias = "asyncio.BufferedProtocol")]
pub trait BufferedProtocol: BaseProtocol {
    /// A buffer to receive into: the kernel writes at most `capacity() - len()` bytes after
    /// its current contents. `size_hint` is how much the transport would like room for
    /// (asyncio passes -1 for "any"; here it is the receive size the runtime's buffer ring
    /// uses). A buffer with no spare capacity fails the connection with `InvalidInput`.
    #[doc(alias = "BufferedProtocol.get_buffer")]
    fn get_buffer(&mut self, size_hint: usize) -> BytesMut;

    /// `buffer` (the one `get_buffer` returned) comes back with `nbytes` received bytes
    /// appended. `nbytes` is 0 only when the receive ended without data (the peer's EOF, an
    /// error, the connection closing): the buffer still comes back, so nothing the
    /// protocol kept in it is lost.
    #[doc(alias = "BufferedProtocol.buffer_updated")]
    fn buffer_updated(&mut self, buffer: BytesMut, nbytes: usize);

    /// As [`Protocol::eof_received`].
    #[doc(alias = "BufferedProtocol.eof_received")]
    fn eof_received(&mut self) -> bool {
        false
    }
}

/// A [`BufferedProtocol`], as the connection functions and the server take it:
/// `create_connection(|| Buffered(MyProtocol::default()), addr)`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Buffered<P>(pub P);

/// What the connection functions and the server take: any [`Protocol`], or a
/// [`BufferedProtocol`] wrapped in [`Buffered`]. Sealed: it cannot be implemented outside
/// this crate.
pub trait ProtocolKind: kind::Kind {}

impl<K: kind::Kind> ProtocolKind for K {}

pub(crate) mod kind {
    use super::*;

    /// The callbacks the connection's dispatcher calls, whatever the protocol's kind.
    pub trait Kind: 'static {
        /// Receives go straight into the protocol's buffers (`get_buffer`).
        const OWN_BUFFERS: bool;
        fn base(&mut self) -> &mut dyn BaseProtocol;
        /// Bytes the transport buffered. A buffered protocol gets them copied into its
        /// buffers; `Err` when it gave a buffer with no room.
        fn data(&mut self, data: Bytes) -> io::Result<()>;
        fn eof(&mut self) -> bool;
        /// The protocol that hands over its receive buffers, if it is one.
        fn buffered(&mut self) -> Option<&mut dyn BufferedProtocol>;
        /// The user's protocol, for `Transport::with_protocol`.
        fn user(&mut self) -> &mut dyn Any;
    }
}

impl<P: Protocol> kind::Kind for P {
    const OWN_BUFFERS: bool = false;

    fn base(&mut self) -> &mut dyn BaseProtocol {
        self
    }

    fn data(&mut self, data: Bytes) -> io::Result<()> {
        self.data_received(data);
        Ok(())
    }

    fn eof(&mut self) -> bool {
        self.eof_received()
    }

    fn buffered(&mut self) -> Option<&mut dyn BufferedProtocol> {
        None
    }

    fn user(&mut self) -> &mut dyn Any {
        self
    }
}

impl<P: BufferedProtocol> kind::Kind for Buffered<P> {
    const OWN_BUFFERS: bool = true;

    fn base(&mut self) -> &mut dyn BaseProtocol {
        &mut self.0
    }

    /// Bytes the transport buffered before the protocol took the connection over (an
    /// accepted connection whose first receive was already armed): copied into the
    /// protocol's buffers, as asyncio does for a transport that cannot receive into them.
    fn data(&mut self, mut data: Bytes) -> io::Result<()> {
        while !data.is_empty() {
            let mut buffer = self.0.get_buffer(data.len());
            let n = (buffer.capacity() - buffer.len()).min(data.len());
            if n == 0 {
                return Err(super::link::no_room());
            }
            buffer.extend_from_slice(&data.split_to(n));
            self.0.buffer_updated(buffer, n);
        }
        Ok(())
    }

    fn eof(&mut self) -> bool {
        self.0.eof_received()
    }

    fn buffered(&mut self) -> Option<&mut dyn BufferedProtocol> {
        Some(&mut self.0)
    }

    fn user(&mut self) -> &mut dyn Any {
        &mut self.0
    }
}
