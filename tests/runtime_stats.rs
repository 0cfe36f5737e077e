//! `RuntimeStats`' traffic counters: bytes in and out of connections and pipes, and
//! receives lent to the reader against receives copied into it, each moved by exactly what
//! the test sends.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use ringstream::{read_pipe, runtime, write_pipe, RuntimeStats, Stream};

const BOUND: Duration = Duration::from_secs(20);

fn now() -> RuntimeStats {
    runtime::stats().expect("inside a runtime")
}

/// Both directions of one connection whose peer is a plain socket (on its own thread):
/// what the ring sends is counted as sent, what it receives as received, each once.
#[test]
fn stats_count_bytes_sent_and_received() {
    let (mut peer, ours) = UnixStream::pair().expect("socketpair");
    let peer = thread::spawn(move || {
        let mut got = [0; 1000];
        peer.read_exact(&mut got).expect("the ring's 1000 bytes");
        peer.write_all(&[2; 300]).expect("write");
    });
    support::run_bounded(BOUND, async move {
        let (mut reader, writer) = Stream::from_std(ours)?.split();
        let before = now();
        writer.write_all(&[1; 1000]).await?;
        reader.read_exact(300).await?;
        let after = now();
        assert_eq!(after.bytes_sent - before.bytes_sent, 1000);
        assert_eq!(after.bytes_received - before.bytes_received, 300);
        Ok(())
    });
    peer.join().expect("peer thread");
}

/// Pipes go through reads and vectored writes rather than recv and send: counted the same
/// (the other end of each pipe is a plain descriptor, on its own thread).
#[test]
fn stats_count_pipe_bytes() {
    let (in_r, mut in_w) = std::io::pipe().expect("pipe");
    let (mut out_r, out_w) = std::io::pipe().expect("pipe");
    let peer = thread::spawn(move || {
        let mut got = [0; 18];
        out_r.read_exact(&mut got).expect("the ring's 18 bytes");
        assert_eq!(&got, b"out through a pipe");
        in_w.write_all(b"in").expect("write");
    });
    support::run_bounded(BOUND, async move {
        let mut reader = read_pipe(in_r)?;
        let writer = write_pipe(out_w)?;
        let before = now();
        writer.write(b"out through a pipe")?;
        assert_eq!(&reader.read_exact(2).await?[..], b"in");
        let after = now();
        assert_eq!(after.bytes_sent - before.bytes_sent, 18);
        assert_eq!(after.bytes_received - before.bytes_received, 2);
        Ok(())
    });
    peer.join().expect("peer thread");
}

/// A receive of at least 4 KiB into an empty reader is lent (zero copy); a small one is
/// copied. Neither is counted as the other.
#[test]
fn stats_count_lent_and_copied_receives() {
    let (mut peer, ours) = UnixStream::pair().expect("socketpair");
    // Written before the ring's first receive, so that receive takes all 16 KiB at once.
    peer.write_all(&[7; 16 * 1024]).expect("write");
    support::run_bounded(BOUND, async move {
        let before = now();
        let (mut reader, _writer) = Stream::from_std(ours)?.split();
        let big = reader.read(64 * 1024).await?;
        assert_eq!(big.len(), 16 * 1024);
        let lent = now();
        assert_eq!(lent.recvs_lent - before.recvs_lent, 1);
        assert_eq!(lent.recvs_copied, before.recvs_copied);

        peer.write_all(b"small")?;
        let small = reader.read_exact(5).await?;
        assert_eq!(&small[..], b"small");
        let copied = now();
        assert_eq!(copied.recvs_copied - lent.recvs_copied, 1);
        assert_eq!(copied.recvs_lent, lent.recvs_lent);
        assert_eq!(copied.bytes_received - before.bytes_received, 16 * 1024 + 5);
        Ok(())
    });
}
