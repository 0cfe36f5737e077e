//! When the provided-buffer ring runs dry, starved connections wait their turn for a
//! receive buffer in order instead of spinning through recvs that fail with ENOBUFS.

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use ringstream::{Builder, Stream};

const CONNS: usize = 40;
const PER_CONN: usize = 64 * 1024;
/// Receive buffer size: below the lending threshold, so every receive is copied and its
/// buffer goes straight back to the ring.
const BUF: u32 = 1024;

/// 40 connections with 64 KiB waiting each share a ring of 2 x 1 KiB buffers. With a
/// fair hand-out every connection progresses at the same pace: when the first one has all
/// its bytes, the slowest has at least half of its own. A starved recv waits its turn
/// instead of being retried every loop turn, so the completions stay under 4 per
/// buffer's worth of data.
#[test]
fn starved_receivers_are_served_in_turn_without_spinning() {
    let mut builder = Builder::new();
    builder.recv_buffers(2, BUF);
    let rt = builder.build().expect("runtime");
    let mut peers = Vec::with_capacity(CONNS);
    let mut streams = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        // Room for everything, so the peers write it all before the runtime reads.
        socket2::SockRef::from(&theirs)
            .set_send_buffer_size(4 * PER_CONN)
            .expect("SO_SNDBUF");
        streams.push(ours);
        peers.push(theirs);
    }
    let payload: Vec<u8> = (0..PER_CONN).map(|i| (i % 251) as u8).collect();
    for peer in &mut peers {
        peer.write_all(&payload).expect("peer write");
    }

    let (received_when_first_done, data_recvs) = rt.block_on(async move {
        let received = Rc::new(RefCell::new(vec![0usize; CONNS]));
        let first_done: Rc<RefCell<Option<Vec<usize>>>> = Rc::new(RefCell::new(None));
        let mut tasks = Vec::new();
        for (i, std_stream) in streams.into_iter().enumerate() {
            let stream = Stream::from_std(std_stream).expect("stream");
            let received = received.clone();
            let first_done = first_done.clone();
            let expected = payload.clone();
            tasks.push(ringstream::spawn(async move {
                let (mut reader, _writer) = stream.split();
                let mut got = Vec::with_capacity(PER_CONN);
                let mut reads = 0usize;
                while got.len() < PER_CONN {
                    let chunk = reader.read(PER_CONN).await.expect("read");
                    assert!(!chunk.is_empty(), "early EOF on connection {i}");
                    got.extend_from_slice(&chunk);
                    received.borrow_mut()[i] = got.len();
                    reads += 1;
                }
                assert!(got == expected, "connection {i}: bytes differ");
                first_done
                    .borrow_mut()
                    .get_or_insert_with(|| received.borrow().clone());
                reads
            }));
        }
        let all = async {
            let mut reads = 0;
            for task in tasks {
                reads += task.await.expect("reader task");
            }
            reads
        };
        let reads = ringstream::time::timeout(Duration::from_secs(30), all)
            .await
            .expect("every connection got its bytes within 30 s");
        let snapshot = first_done.borrow().clone().expect("one finished first");
        (snapshot, reads)
    });

    let stats = rt.stats();
    let slowest = received_when_first_done.iter().min().copied().unwrap_or(0);
    assert!(
        slowest >= PER_CONN / 2,
        "unfair: when the first connection had its {PER_CONN} bytes the slowest had {slowest} \
         ({received_when_first_done:?})"
    );
    assert!(
        stats.recv_buffer_waits > 0,
        "the ring never ran dry: the test proves nothing"
    );
    // Every data-carrying recv may fail once or twice before its turn, not every turn.
    let bound = 4 * (CONNS * PER_CONN / BUF as usize) as u64;
    assert!(
        stats.completions < bound,
        "{} completions for {data_recvs} reads of at most {BUF} B: starved recvs spin",
        stats.completions
    );
}
