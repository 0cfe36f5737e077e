//! Heap allocations on the hot path, counted (deterministic where CPU time on this machine
//! is not): a 64-byte ping-pong over a socketpair, both ends in one runtime.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringstream::{Runtime, Stream};

/// The system allocator, counting allocations per thread: the round trips run on the
/// test's own thread (one runtime, both ends), so what other threads of the test binary
/// allocate meanwhile (the harness, other tests) is not counted.
struct Counting;

thread_local! {
    // `const`-initialised and without a destructor: using it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // A thread being torn down has no counter any more; nothing to count then.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// a thread-local cell.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as for `dealloc`; the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// At most this many allocations in 1,000 round trips after the warm-up: a rare amortized
/// growth (a slab, a queue) may happen; anything per message would be 1,000 or more.
const MOST_PER_1000: u64 = 10;

/// Allocations in 1,000 round trips after 100 of warm-up (buffers and slabs reach their
/// size).
async fn measure(mut round_trip: impl AsyncFnMut(u32)) -> u64 {
    for i in 0..100 {
        round_trip(i).await;
    }
    let before = allocations();
    for i in 0..1000 {
        round_trip(i).await;
    }
    allocations() - before
}

fn check(allocations: u64) {
    check_at_most(allocations, MOST_PER_1000);
}

fn check_at_most(allocations: u64, most: u64) {
    println!("{allocations} allocations in 1,000 round trips");
    assert!(
        allocations <= most,
        "{allocations} allocations in 1,000 round trips (at most {most})"
    );
}

/// F1 / A3 on the hot path: one round trip is two writes, two sends, two receives and two
/// reads. Once warm, none allocates: a send reuses its connection's send buffers and piece
/// list, the reader's and the writer's `BytesMut` are reclaimed in place once the `Bytes`
/// taken from them drop, and the flush hooks' list keeps its allocation.
#[test]
fn a_ping_pong_round_trip_allocates_nothing() {
    let rt = Runtime::new().expect("runtime");
    let allocations = rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (mut ra, wa) = a.split();
        let (mut rb, wb) = b.split();
        let round_trip = async |i: u32| {
            let ping = [(i % 251) as u8; 64];
            wa.write(&ping).expect("ping");
            let got = rb.read_exact(64).await.expect("ping arrives");
            wb.write(&got).expect("pong");
            let back = ra.read_exact(64).await.expect("pong arrives");
            assert_eq!(back[..], ping[..], "round trip {i}");
        };
        measure(round_trip).await
    });
    check(allocations);
}

/// The same round trip with a `Protocol` echoing on one end (its `data_received` writes
/// the `Bytes` it is given back): the callback path allocates nothing either.
#[test]
fn a_protocol_echo_round_trip_allocates_nothing() {
    use ringstream::protocol::{connect_accepted_socket, BaseProtocol, Protocol, Transport};

    struct Echo(Option<Transport>);
    impl BaseProtocol for Echo {
        fn connection_made(&mut self, transport: Transport) {
            self.0 = Some(transport);
        }
    }
    impl Protocol for Echo {
        fn data_received(&mut self, data: bytes::Bytes) {
            if let Some(t) = &self.0 {
                t.write_bytes(data).expect("echo");
            }
        }
    }

    let rt = Runtime::new().expect("runtime");
    let allocations = rt.block_on(async {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        let (mut ra, wa) = Stream::from_std(ours).expect("stream").split();
        let _echo = connect_accepted_socket(|| Echo(None), theirs).expect("protocol");
        let round_trip = async |i: u32| {
            let ping = [(i % 251) as u8; 64];
            wa.write(&ping).expect("ping");
            let back = ra.read_exact(64).await.expect("pong arrives");
            assert_eq!(back[..], ping[..], "round trip {i}");
        };
        measure(round_trip).await
    });
    check(allocations);
}

/// A 64 B datagram round trip between two `UdpSocket`s on one runtime (two `send_to`, two
/// `recv_from`): a send reuses a finished send's header memory and every copy (received
/// datagrams, sent slices) is carved out of its socket's 16 KiB arena, so once warm only
/// a new arena chunk allocates. At worst one per 256 copies when the old chunk is still
/// shared: 1,000 round trips make 3,000 copies, so at most 12 (24 with margin), where
/// anything per datagram would be thousands.
#[test]
fn a_udp_round_trip_allocates_nothing() {
    let rt = Runtime::new().expect("runtime");
    let allocations = rt.block_on(async {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let a = ringstream::net::UdpSocket::bind(local).expect("bind");
        let b = ringstream::net::UdpSocket::bind(local).expect("bind");
        let to_b = b.local_addr().expect("address");
        let round_trip = async |i: u32| {
            let ping = [(i % 251) as u8; 64];
            a.send_to(&ping, to_b).await.expect("ping");
            let (got, from) = b.recv_from().await.expect("ping arrives");
            b.send_to_bytes(got, from).await.expect("pong");
            let (back, _) = a.recv_from().await.expect("pong arrives");
            assert_eq!(back[..], ping[..], "round trip {i}");
        };
        measure(round_trip).await
    });
    check_at_most(allocations, 24);
}

/// The ping-pong round trip through tokio's `AsyncWrite` (write, then flush: wait until
/// the send is handed to the kernel) and `AsyncRead` (`read_exact` into a stack buffer):
/// the trait path adds no allocation to the native one above — a read copies the
/// connection's bytes into the caller's buffer, a write queues as `write` does, a flush
/// parks in a list that keeps its allocation.
#[cfg(feature = "tokio-io")]
#[test]
fn a_round_trip_through_the_tokio_io_traits_allocates_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = Runtime::new().expect("runtime");
    let allocations = rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (mut ra, mut wa) = a.split();
        let (mut rb, mut wb) = b.split();
        let mut round_trip = async |i: u32| {
            let ping = [(i % 251) as u8; 64];
            let mut got = [0u8; 64];
            AsyncWriteExt::write_all(&mut wa, &ping)
                .await
                .expect("ping");
            AsyncWriteExt::flush(&mut wa).await.expect("ping sent");
            AsyncReadExt::read_exact(&mut rb, &mut got)
                .await
                .expect("ping arrives");
            AsyncWriteExt::write_all(&mut wb, &got).await.expect("pong");
            AsyncWriteExt::flush(&mut wb).await.expect("pong sent");
            let mut back = [0u8; 64];
            AsyncReadExt::read_exact(&mut ra, &mut back)
                .await
                .expect("pong arrives");
            assert_eq!(back, ping, "round trip {i}");
        };
        measure(&mut round_trip).await
    });
    check(allocations);
}
