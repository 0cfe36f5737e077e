//! `IORING_OP_RECVMSG`, multishot, with buffer select: every datagram of a socket, each
//! into a buffer the kernel picks from the provided-buffer ring, with the sender's address
//! and flags in an `io_uring_recvmsg_out` header at the front of the buffer.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use io_uring::{opcode, squeue, types};

use super::OpCode;
use crate::driver::Completion;

/// Room for the sender's address in each buffer: an IPv6 address, the larger of the two.
const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();
/// Room for one `SO_RXQ_OVFL` control message (a `u32`), aligned like `CMSG_SPACE(4)`.
const CONTROL_LEN: usize = cmsg_align(std::mem::size_of::<libc::cmsghdr>()) + cmsg_align(4);

const fn cmsg_align(len: usize) -> usize {
    let align = std::mem::size_of::<usize>();
    (len + align - 1) & !(align - 1)
}

/// What each datagram costs in its buffer before the payload: the header, the address
/// field and the control field.
pub(crate) const HEADER_ROOM: usize = OUT_HEADER + NAME_LEN + CONTROL_LEN;

/// `struct io_uring_recvmsg_out`: namelen, controllen, payloadlen, flags (four `u32`).
const OUT_HEADER: usize = 4 * std::mem::size_of::<u32>();

/// Receives datagrams on socket `fd` into buffers of group `group` until cancelled or until
/// a completion without `IORING_CQE_F_MORE` (an error, `ENOBUFS`, or the kernel ending it).
#[derive(Debug)]
pub(crate) struct RecvMsgMulti {
    fd: i32,
    group: u16,
    /// Only its name and control lengths matter to the kernel (it reads them at submission).
    msg: Box<libc::msghdr>,
}

/// The `msghdr` the op submits and the parser reads the buffer layout from.
fn layout() -> libc::msghdr {
    // SAFETY: an all-zero `msghdr` is valid: null pointers and zero lengths.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_namelen = NAME_LEN as libc::socklen_t;
    msg.msg_controllen = CONTROL_LEN as _;
    msg
}

impl RecvMsgMulti {
    pub(crate) fn new(fd: i32, group: u16) -> RecvMsgMulti {
        RecvMsgMulti {
            fd,
            group,
            msg: Box::new(layout()),
        }
    }
}

// SAFETY: the SQE points at `msg`, boxed (so moving the op does not move it) and never
// changed; the kernel picks receive buffers from the ring, which the driver owns for the
// ring's whole life.
unsafe impl OpCode for RecvMsgMulti {
    fn sqe(&self) -> squeue::Entry {
        opcode::RecvMsgMulti::new(types::Fd(self.fd), &*self.msg, self.group).build()
    }
}

/// One datagram, parsed out of the ring buffer a completion filled.
#[derive(Debug)]
pub(crate) struct Datagram<'buf> {
    /// The sender (`None` if the kernel gave no address the parser knows).
    pub source: Option<SocketAddr>,
    pub payload: &'buf [u8],
    /// The datagram was longer than the buffer had room for (`MSG_TRUNC`): `payload` is
    /// only its start.
    pub truncated: bool,
    /// The socket's count of datagrams the kernel dropped for want of room, since it was
    /// created (`SO_RXQ_OVFL`), if the socket asked for it and a drop happened.
    pub kernel_drops: Option<u32>,
}

impl Datagram<'_> {
    /// Parses what a completion wrote into its buffer (`filled`: its first `res` bytes).
    pub(crate) fn parse(filled: &[u8]) -> io::Result<Datagram<'_>> {
        let out = types::RecvMsgOut::parse(filled, &layout()).map_err(|()| {
            io::Error::other("a datagram completion was shorter than its recvmsg header")
        })?;
        // The payload field starts right after the fixed name and control fields.
        let payload = filled
            .get(HEADER_ROOM..HEADER_ROOM + out.payload_data().len())
            .unwrap_or_default();
        Ok(Datagram {
            source: sockaddr(out.name_data()),
            payload,
            truncated: out.is_payload_truncated(),
            kernel_drops: rxq_overflow(out.control_data()),
        })
    }
}

/// What a multishot receive completion means.
#[derive(Debug)]
pub(crate) enum RecvMsgOutcome {
    /// A datagram in ring buffer `buffer`, `len` bytes used (header included).
    Data { buffer: u16, len: usize },
    /// The ring had no free buffer (`ENOBUFS`): the datagrams still wait in the socket.
    NoBuffer,
    /// Cancelled (close, a full queue, teardown).
    Cancelled,
    /// An error: a pending ICMP error on the socket (`ECONNREFUSED`, ...) or worse.
    Failed(io::Error),
    /// The kernel ended the multishot without an error or data.
    Ended,
}

impl RecvMsgOutcome {
    pub(crate) fn of(c: Completion) -> RecvMsgOutcome {
        match c.result {
            n if n > 0 => match c.buffer_id() {
                Some(buffer) => RecvMsgOutcome::Data {
                    buffer,
                    len: n as usize,
                },
                None => RecvMsgOutcome::Failed(io::Error::other(
                    "a datagram receive completed with data but without a ring buffer",
                )),
            },
            0 => RecvMsgOutcome::Ended,
            e if e == -libc::ENOBUFS => RecvMsgOutcome::NoBuffer,
            e if e == -libc::ECANCELED => RecvMsgOutcome::Cancelled,
            e => RecvMsgOutcome::Failed(io::Error::from_raw_os_error(-e)),
        }
    }
}

/// A `sockaddr_in` / `sockaddr_in6` as the kernel wrote it.
fn sockaddr(name: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(name.get(0..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(name.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flowinfo = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flowinfo,
                scope,
            )))
        }
        _ => None,
    }
}

/// The `SO_RXQ_OVFL` counter in a control field holding at most that one message.
fn rxq_overflow(control: &[u8]) -> Option<u32> {
    const WORD: usize = std::mem::size_of::<usize>();
    let header = cmsg_align(std::mem::size_of::<libc::cmsghdr>());
    let len = usize::from_ne_bytes(control.get(0..WORD)?.try_into().ok()?);
    let level = i32::from_ne_bytes(control.get(WORD..WORD + 4)?.try_into().ok()?);
    let kind = i32::from_ne_bytes(control.get(WORD + 4..WORD + 8)?.try_into().ok()?);
    if level != libc::SOL_SOCKET || kind != libc::SO_RXQ_OVFL || len < header + 4 {
        return None;
    }
    Some(u32::from_ne_bytes(
        control.get(header..header + 4)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_and_ipv6_sources() {
        let v4: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let sa = socket2::SockAddr::from(v4);
        // SAFETY (test): the storage holds `len` initialised bytes.
        let bytes =
            unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), sa.len() as usize) };
        assert_eq!(sockaddr(bytes), Some(v4));
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let sa = socket2::SockAddr::from(v6);
        // SAFETY (test): as above.
        let bytes =
            unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), sa.len() as usize) };
        assert_eq!(sockaddr(bytes), Some(v6));
        assert_eq!(sockaddr(&[0; 3]), None);
    }

    #[test]
    fn reads_the_overflow_counter_and_ignores_other_messages() {
        let mut control = vec![0u8; CONTROL_LEN];
        let header = cmsg_align(std::mem::size_of::<libc::cmsghdr>());
        control[..8].copy_from_slice(&(header + 4).to_ne_bytes());
        control[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        control[12..16].copy_from_slice(&libc::SO_RXQ_OVFL.to_ne_bytes());
        control[header..header + 4].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(rxq_overflow(&control), Some(7));
        control[12..16].copy_from_slice(&libc::SO_TIMESTAMP.to_ne_bytes());
        assert_eq!(rxq_overflow(&control), None);
        assert_eq!(rxq_overflow(&[]), None);
    }
}
