//! Heap allocations on the hot path, counted (deterministic where CPU time on this machine
//! is not): a 64-byte ping-pong over a socketpair, both ends in one runtime.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ringstream::{Runtime, Stream};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// F1 / A3 on the hot path: one round trip is two writes, two sends, two receives and two
/// reads. A send reuses its connection's send side and piece list, so what allocates is
/// the reader's and the writer's buffers: at most 2.
#[test]
fn a_ping_pong_round_trip_allocates_at_most_twice() {
    let rt = Runtime::new().expect("runtime");
    let per_round_trip = rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (mut ra, wa) = a.split();
        let (mut rb, wb) = b.split();
        let mut round_trip = async |i: u32| {
            let ping = [(i % 251) as u8; 64];
            wa.write(&ping).expect("ping");
            let got = rb.read_exact(64).await.expect("ping arrives");
            wb.write(&got).expect("pong");
            let back = ra.read_exact(64).await.expect("pong arrives");
            assert_eq!(back[..], ping[..], "round trip {i}");
        };
        for i in 0..100 {
            round_trip(i).await; // warm-up: buffers and slabs reach their size
        }
        const ROUND_TRIPS: u32 = 1000;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for i in 0..ROUND_TRIPS {
            round_trip(i).await;
        }
        (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / f64::from(ROUND_TRIPS)
    });
    println!("{per_round_trip:.2} allocations per round trip");
    assert!(
        per_round_trip <= 2.0,
        "{per_round_trip:.2} allocations per round trip"
    );
}
