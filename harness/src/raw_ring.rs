//! The practical ceiling: an echo loop written straight on io_uring, with no runtime —
//! a multishot accept, then per connection one recv into its own buffer and one send of
//! what arrived (resumed on short sends), then the next recv. DEFER_TASKRUN +
//! SINGLE_ISSUER, completions handled in batches.
//!
//! [`crate::servers`] runs it as the `raw-ring` server of the yardstick, the echo and the
//! greedy bench.
//!
//! This is benchmark code: the `unsafe` here (pushing SQEs that point at our buffers) is
//! the one place outside ringstream's driver that needs it, and each block says why the
//! kernel cannot touch freed memory.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;

use crate::servers::READ_SIZE;

/// Completion-queue size: above the largest number of connections served at once (2,000).
const CQ_ENTRIES: u32 = 4096;

const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;

struct Conn {
    fd: OwnedFd,
    buf: Box<[u8]>,
    len: usize,
    sent: usize,
}

fn data(kind: u64, key: usize) -> u64 {
    (kind << 56) | key as u64
}

/// Serves `listener` forever on the calling thread.
pub fn serve(listener: TcpListener) {
    // Every connection has one op in flight, so the completion queue is sized for the
    // yardstick's 2,000-connection rows with room to spare: a fuller queue would still not
    // lose completions (the kernel keeps the overflow) but would cost a flush per turn.
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(CQ_ENTRIES)
        .build(1024)
        .expect("io_uring (DEFER_TASKRUN needs Linux 6.1+)");
    let mut conns: Slab<Conn> = Slab::new();
    let mut pending: Vec<squeue::Entry> = Vec::new();
    let accept = |fd| {
        opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(data(ACCEPT, 0))
    };
    pending.push(accept(listener.as_raw_fd()));
    let mut batch: Vec<(u64, i32, u32)> = Vec::with_capacity(256);
    loop {
        let mut next = 0;
        while next < pending.len() {
            let mut sq = ring.submission();
            while next < pending.len() {
                // SAFETY: every SQE points at a buffer owned by a `Conn` in the slab (or at
                // nothing, for accept); a `Conn` is removed only when the completion of its
                // single op in flight has arrived, so the kernel never touches freed memory.
                if unsafe { sq.push(&pending[next]) }.is_err() {
                    break;
                }
                next += 1;
            }
            drop(sq);
            if next < pending.len() {
                ring.submit().expect("submit");
            }
        }
        pending.clear();
        ring.submit_and_wait(1).expect("io_uring_enter");
        batch.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for (ud, res, flags) in batch.drain(..) {
            let kind = ud >> 56;
            let key = (ud & 0x00ff_ffff_ffff_ffff) as usize;
            match kind {
                ACCEPT => {
                    if res >= 0 {
                        // SAFETY: the kernel just created this descriptor for us.
                        let fd = unsafe { OwnedFd::from_raw_fd(res) };
                        let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
                        let entry = conns.vacant_entry();
                        let k = entry.key();
                        let conn = entry.insert(Conn {
                            fd,
                            buf: vec![0u8; READ_SIZE].into_boxed_slice(),
                            len: 0,
                            sent: 0,
                        });
                        pending.push(recv(conn, k));
                    }
                    if !io_uring::cqueue::more(flags) {
                        pending.push(accept(listener.as_raw_fd()));
                    }
                }
                RECV => {
                    if res <= 0 {
                        conns.remove(key);
                        continue;
                    }
                    let conn = &mut conns[key];
                    conn.len = res as usize;
                    conn.sent = 0;
                    pending.push(send(conn, key));
                }
                SEND => {
                    if res < 0 {
                        conns.remove(key);
                        continue;
                    }
                    let conn = &mut conns[key];
                    conn.sent += res as usize;
                    if conn.sent < conn.len {
                        pending.push(send(conn, key));
                    } else {
                        pending.push(recv(conn, key));
                    }
                }
                _ => {}
            }
        }
    }
}

fn recv(conn: &mut Conn, key: usize) -> squeue::Entry {
    opcode::Recv::new(
        types::Fd(conn.fd.as_raw_fd()),
        conn.buf.as_mut_ptr(),
        conn.buf.len() as u32,
    )
    .build()
    .user_data(data(RECV, key))
}

fn send(conn: &mut Conn, key: usize) -> squeue::Entry {
    let rest = &conn.buf[conn.sent..conn.len];
    opcode::Send::new(
        types::Fd(conn.fd.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data(data(SEND, key))
}
