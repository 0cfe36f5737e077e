//! Where small writes should be copied into one piece rather than sent as one iovec each
//! (`COALESCE_BELOW` in `src/transport/outbound/queue.rs`).
//!
//! For each piece size: 64 KiB per call, either written as one iovec per piece
//! (`write_vectored`, the same kernel path as a vectored `sendmsg`) or copied into one
//! `BytesMut` first and written as one iovec. A thread drains the other end of a Unix
//! socketpair. Prints the median of several runs in ns per 64 KiB.
//!
//! Run: `cargo bench --bench coalesce`

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

/// Bytes per call.
const BATCH: usize = 64 * 1024;
/// Calls per run.
const ROUNDS: u32 = 5_000;
/// Runs per measurement; the median is printed.
const RUNS: usize = 7;

/// Writes all of `pieces`, one iovec each.
fn write_pieces(socket: &mut UnixStream, pieces: &[Bytes]) -> io::Result<()> {
    let (mut first, mut offset) = (0, 0);
    while first < pieces.len() {
        let slices: Vec<IoSlice> = pieces[first..]
            .iter()
            .enumerate()
            .map(|(i, piece)| IoSlice::new(if i == 0 { &piece[offset..] } else { piece }))
            .collect();
        let mut written = socket.write_vectored(&slices)? + offset;
        while first < pieces.len() && written >= pieces[first].len() {
            written -= pieces[first].len();
            first += 1;
        }
        offset = written;
    }
    Ok(())
}

/// Copies `pieces` into one buffer and writes it.
fn write_copied(socket: &mut UnixStream, pieces: &[Bytes]) -> io::Result<()> {
    let mut tail = BytesMut::new();
    for piece in pieces {
        tail.extend_from_slice(piece);
    }
    socket.write_all(&tail.freeze())
}

/// Median ns per call of `write` over [`RUNS`] runs.
fn measure(
    socket: &mut UnixStream,
    pieces: &[Bytes],
    write: fn(&mut UnixStream, &[Bytes]) -> io::Result<()>,
) -> io::Result<u128> {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        for _ in 0..ROUNDS {
            write(socket, pieces)?;
        }
        runs.push(start.elapsed().as_nanos() / u128::from(ROUNDS));
    }
    runs.sort_unstable();
    Ok(runs[RUNS / 2])
}

fn main() -> io::Result<()> {
    let (mut socket, mut peer) = UnixStream::pair()?;
    std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 20];
        while matches!(peer.read(&mut buf), Ok(n) if n > 0) {}
    });
    println!("piece bytes  pieces  one iovec each  copied into one  (ns per 64 KiB, median)");
    for size in [64, 128, 256, 512, 1024, 2048, 4096, 8192] {
        let pieces: Vec<Bytes> = (0..BATCH / size)
            .map(|i| Bytes::from(vec![i as u8; size]))
            .collect();
        let separate = measure(&mut socket, &pieces, write_pieces)?;
        let copied = measure(&mut socket, &pieces, write_copied)?;
        println!(
            "{size:>11}  {:>6}  {separate:>14}  {copied:>15}",
            pieces.len()
        );
    }
    Ok(())
}
