//! `IORING_OP_SENDMSG` of one datagram, to an address or to the connected peer.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use io_uring::{opcode, squeue, types};
use socket2::SockAddr;

use super::OpCode;
use crate::driver::Completion;

/// What the kernel reads: the header, the one iovec and the address it points at. Boxed,
/// so the pointers between them stay valid when the op moves.
struct Message {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: Option<SockAddr>,
}

impl Message {
    fn empty() -> Box<Message> {
        Box::new(Message {
            // SAFETY: an all-zero `msghdr` is valid: null pointers and zero lengths.
            hdr: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr: None,
        })
    }
}

/// A datagram send's header memory (`msghdr`, iovec, address), given back by a finished
/// send so that the next one allocates nothing.
pub(crate) struct SendHeader(Box<Message>);

/// Sends `data` as one datagram on socket `fd`, to `addr` or (without one) to the peer the
/// socket is connected to. The op owns the bytes, so they stay put until the completion.
pub(crate) struct SendTo {
    fd: i32,
    msg: Box<Message>,
    data: Bytes,
}

impl std::fmt::Debug for SendTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTo")
            .field("fd", &self.fd)
            .field("len", &self.data.len())
            .field(
                "addr",
                &self.msg.addr.as_ref().and_then(SockAddr::as_socket),
            )
            .finish()
    }
}

impl SendTo {
    /// A send of `data` to `addr` (or the connected peer), in `header` if a finished send
    /// gave one back.
    pub(crate) fn new(
        fd: i32,
        data: Bytes,
        addr: Option<SocketAddr>,
        header: Option<SendHeader>,
    ) -> SendTo {
        let mut msg = header.map_or_else(Message::empty, |header| header.0);
        msg.iov = libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        msg.addr = addr.map(SockAddr::from);
        msg.hdr.msg_iov = &mut msg.iov;
        msg.hdr.msg_iovlen = 1;
        match &msg.addr {
            Some(addr) => {
                msg.hdr.msg_name = addr.as_ptr().cast_mut().cast();
                msg.hdr.msg_namelen = addr.len();
            }
            None => {
                msg.hdr.msg_name = std::ptr::null_mut();
                msg.hdr.msg_namelen = 0;
            }
        }
        SendTo { fd, msg, data }
    }

    /// The header memory back, for the next send (after the last completion).
    pub(crate) fn into_header(self) -> SendHeader {
        SendHeader(self.msg)
    }

    /// The datagram's length.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The ring failed while the kernel may still read this op's memory: keep it for good.
    pub(crate) fn leak_buffers(&mut self) {
        std::mem::forget(std::mem::take(&mut self.data));
        let msg = std::mem::replace(&mut self.msg, Message::empty());
        std::mem::forget(msg);
    }

    /// What a completion means: the bytes sent, or the error.
    pub(crate) fn sent(c: Completion) -> io::Result<usize> {
        c.into_result().map(|n| n as usize)
    }
}

// SAFETY: the SQE points at `msg.hdr`, which points at `msg.iov` and `msg.addr` (all in
// one box, so moving the op moves none of them) and at `data`'s bytes (a `Bytes` never
// moves its bytes); none of them changes while the op exists.
unsafe impl OpCode for SendTo {
    fn sqe(&self) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(self.fd), &self.msg.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }
}
