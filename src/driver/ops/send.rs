//! `IORING_OP_SEND` / `IORING_OP_SENDMSG`: one send of a batch of byte chunks.
//!
//! From ordinary memory, not registered buffers (see `docs/decisions.md`, "Sends").

use std::io;

use bytes::Bytes;
use io_uring::{opcode, squeue, types};

use super::OpCode;
use crate::driver::Completion;

/// What a send (or a pipe write, see `Writev`) completion means.
#[derive(Debug)]
pub(crate) enum Sent {
    /// This many bytes went out (maybe fewer than the batch).
    Bytes(usize),
    /// Nothing went out: the pipe is full (`EAGAIN`: a non-blocking pipe).
    WouldBlock,
    /// The send failed (or was cancelled by a teardown: `ECANCELED`).
    Failed(io::Error),
}

impl Sent {
    pub(crate) fn of(c: Completion) -> Sent {
        match c.result {
            e if e == -libc::EAGAIN => Sent::WouldBlock,
            e if e < 0 => Sent::Failed(io::Error::from_raw_os_error(-e)),
            n => Sent::Bytes(n as usize),
        }
    }
}

/// What one send points the kernel at: the chunks, one iovec each, and the `msghdr` of a
/// vectored send. A connection keeps one and hands it to every send (boxed, so moving it
/// between the connection and the op's slot does not move what the kernel reads).
#[derive(Debug, Default)]
pub(crate) struct SendBuffers {
    pieces: Vec<Bytes>,
    iovecs: Vec<libc::iovec>,
    /// The vectored send's header, pointing into `iovecs`.
    msg: MsgHdr,
}

impl SendBuffers {
    /// Loads the chunks of the next send (the previous ones must have been taken).
    pub(crate) fn load(&mut self, pieces: Vec<Bytes>) {
        debug_assert!(
            self.pieces.is_empty(),
            "a send's pieces were not taken back"
        );
        self.pieces = pieces;
    }

    /// Takes the chunks back after the send (or the empty list kept for the next one).
    pub(crate) fn unload(&mut self) -> Vec<Bytes> {
        self.iovecs.clear();
        std::mem::take(&mut self.pieces)
    }

    /// Points the iovecs and the header at the chunks held now. Done by the op that takes
    /// the buffers, so what its SQE points at is always what it owns, whatever was loaded
    /// or taken before.
    pub(super) fn prepare(&mut self) {
        self.iovecs.clear();
        self.iovecs
            .extend(self.pieces.iter().map(|piece| libc::iovec {
                iov_base: piece.as_ptr() as *mut libc::c_void,
                iov_len: piece.len(),
            }));
        self.msg.0.msg_iov = self.iovecs.as_mut_ptr();
        self.msg.0.msg_iovlen = self.iovecs.len();
    }

    /// Keeps `spare` (an emptied chunk list) for the next send, unless a large send grew
    /// it past `keep` entries; the iovec array likewise: an idle connection should not keep
    /// a burst's lists.
    pub(crate) fn recycle(&mut self, spare: Vec<Bytes>, keep: usize) {
        debug_assert!(spare.is_empty(), "a send's pieces were recycled unsent");
        if spare.capacity() <= keep {
            self.pieces = spare;
        }
        if self.iovecs.capacity() > keep {
            self.iovecs = Vec::new();
        }
    }

    pub(super) fn iovecs(&self) -> (*const libc::iovec, usize) {
        (self.iovecs.as_ptr(), self.iovecs.len())
    }
}

/// One send of a batch on a socket: a plain `send` for one chunk, a vectored `sendmsg` for
/// several; `MSG_NOSIGNAL` (a reset peer is an error, not a SIGPIPE).
#[derive(Debug)]
pub(crate) struct Send {
    fd: i32,
    /// `None` only after [`leak_buffers`](Send::leak_buffers).
    buffers: Option<Box<SendBuffers>>,
}

/// A `msghdr` for a plain vectored send (no address, no control data).
#[derive(Debug)]
struct MsgHdr(libc::msghdr);

impl Default for MsgHdr {
    fn default() -> Self {
        MsgHdr(libc::msghdr {
            msg_name: std::ptr::null_mut(),
            msg_namelen: 0,
            msg_iov: std::ptr::null_mut(),
            msg_iovlen: 0,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
        })
    }
}

impl Send {
    /// A send of what `buffers` holds (loaded with at least one non-empty chunk).
    pub(crate) fn new(fd: i32, mut buffers: Box<SendBuffers>) -> Send {
        buffers.prepare();
        Send {
            fd,
            buffers: Some(buffers),
        }
    }

    /// The buffers, once the op has ended (`None` if they were leaked).
    pub(crate) fn into_buffers(self) -> Option<Box<SendBuffers>> {
        self.buffers
    }

    pub(crate) fn leak_buffers(&mut self) {
        if let Some(buffers) = self.buffers.take() {
            std::mem::forget(buffers);
        }
    }
}

// SAFETY: the SQE points at the chunks (owned by `buffers`, `Bytes` whose memory does not
// move), or at `buffers`' boxed `msghdr` and the iovec array it points to, which `new`
// rebuilt from exactly those chunks; the op owns them all, and `SendBuffers` can only be
// changed through `&mut`, which the op never gives out while it exists.
unsafe impl OpCode for Send {
    fn sqe(&self) -> squeue::Entry {
        let fd = types::Fd(self.fd);
        let Some(buffers) = self.buffers.as_deref() else {
            // Never submitted without buffers: a send of nothing.
            return opcode::Send::new(fd, std::ptr::null(), 0).build();
        };
        match buffers.pieces.as_slice() {
            [piece] => opcode::Send::new(fd, piece.as_ptr(), piece.len() as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build(),
            _ => opcode::SendMsg::new(fd, &buffers.msg.0)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an op's SQE points at is rebuilt from the chunks the buffers hold when the op
    /// takes them, so chunks taken back earlier leave nothing stale behind.
    #[test]
    fn a_send_points_only_at_the_chunks_it_owns() {
        let a = Bytes::from_static(b"first");
        let b = Bytes::from(vec![7u8; 100]);
        let mut buffers = Box::<SendBuffers>::default();
        buffers.load(vec![a.clone(), b.clone()]);
        let send = Send::new(3, buffers);
        let mut buffers = send.into_buffers().expect("buffers");
        let (iov, len) = buffers.iovecs();
        assert_eq!(len, 2);
        // SAFETY (test): `iov` points at the two iovecs the buffers hold.
        let iovecs = unsafe { std::slice::from_raw_parts(iov, len) };
        assert_eq!(iovecs[0].iov_base as *const u8, a.as_ptr());
        assert_eq!(iovecs[1].iov_len, 100);
        assert_eq!(buffers.msg.0.msg_iov as *const libc::iovec, iov);
        assert_eq!(buffers.unload().len(), 2);
        // Nothing loaded: the next op's SQE points at no iovec, not at the old ones.
        let send = Send::new(3, buffers);
        let buffers = send.into_buffers().expect("buffers");
        assert_eq!(buffers.iovecs().1, 0);
        assert_eq!(buffers.msg.0.msg_iovlen, 0);
    }
}
