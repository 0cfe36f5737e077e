//! Runtime micro-benchmarks: ringstream next to tokio (`current_thread`) and monoio
//! (io_uring driver), in the same run, under the same criterion settings.
//!
//! Every reported time is **per operation** (the benches use `iter_custom`, one
//! criterion iteration = one operation), and the throughput line is operations per second.
//! Each runtime is built once per group, outside the measured code; every sample runs
//! inside one `block_on`.
//!
//! - `spawn_join`: spawn a trivial task and await its `JoinHandle`. Tasks go in batches of
//!   1000: spawn the whole batch, then await every handle in order.
//!   - `tokio` uses `tokio::spawn` on the `current_thread` runtime (the trivial tasks are
//!     `Send`, and it is tokio's fastest path); `tokio_localset` uses `spawn_local` inside a
//!     `LocalSet`, the way tokio runs `!Send` tasks like ringstream's and monoio's.
//! - `wake`: one cross-task wake round trip. Task A sets B's flag and wakes B, then waits
//!   for its own flag; B does the same back. Both use [`Signal`] (an `Rc`-shared flag plus
//!   the waiter's `Waker`), the same code on every runtime, so only the runtime's
//!   wake -> schedule -> poll path differs. A pair of tasks ping-pongs 1000 times, then
//!   the next pair takes over. tokio needs a `LocalSet` here (`Signal` is `!Send`).
//! - `nop`: one trip through the runtime's event source.
//!   - `ringstream`: `ringstream::nop()`, an `IORING_OP_NOP` submitted and completed
//!     through the ring.
//!   - `tokio_yield_now`: tokio has no NOP; `tokio::task::yield_now()` is its nearest
//!     driver/scheduler round trip (it defers the wake until the driver has been polled).
//!   - `monoio_read_devzero`: monoio has no public NOP nor `yield_now`; its cheapest public
//!     ring op is a 1-byte `File::read_at` of `/dev/zero` (an `IORING_OP_READ` the kernel
//!     completes inline), so that is measured instead.
//!   - `ringstream_yield_now`: `ringstream::yield_now()`, to compare with tokio's yield on
//!     equal terms (it does not touch the ring).
//!
//! Run all of it (about 1.5 minutes):
//!
//! ```text
//! cargo bench --bench runtime
//! ```
//!
//! or one group / one runtime with a filter: `cargo bench --bench runtime -- wake/` or
//! `cargo bench --bench runtime -- /ringstream`.

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Tasks spawned before their handles are awaited, in `spawn_join`.
const SPAWN_BATCH: u64 = 1000;
/// Round trips one pair of tasks makes, in `wake`.
const PING_PONG_ROUNDS: u64 = 1000;

/// The runtime type `monoio::RuntimeBuilder::<IoUringDriver>::new().enable_timer()` builds.
type MonoioRuntime = monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>;

/// The ringstream runtime under test (default builder settings).
fn ringstream_rt() -> ringstream::Runtime {
    ringstream::Runtime::new().expect("ringstream runtime (is io_uring available?)")
}

/// tokio's single-threaded runtime, with the I/O and time drivers like a real server.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current_thread runtime")
}

/// monoio's io_uring runtime, with its timer enabled.
fn monoio_rt() -> MonoioRuntime {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("monoio io_uring runtime (is io_uring available?)")
}

/// Splits `total` operations into chunks of at most `chunk`.
fn chunks(total: u64, chunk: u64) -> impl Iterator<Item = u64> {
    let mut left = total;
    std::iter::from_fn(move || {
        let n = left.min(chunk);
        left -= n;
        (n > 0).then_some(n)
    })
}

/// Runs `run(iters)` and returns how long it took: the `iter_custom` body of every bench.
fn timed(iters: u64, run: impl FnOnce(u64)) -> Duration {
    let start = Instant::now();
    run(iters);
    start.elapsed()
}

/// A group with the settings shared by all three groups (one element = one operation).
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g
}

// ---------------------------------------------------------------------------------------
// spawn_join

/// The `spawn_join` group.
fn spawn_join(c: &mut Criterion) {
    let mut g = group(c, "spawn_join");

    let rt = ringstream_rt();
    let mut handles = Vec::with_capacity(SPAWN_BATCH as usize);
    g.bench_function("ringstream", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for n in chunks(iters, SPAWN_BATCH) {
                        handles
                            .extend((0..n).map(|i| ringstream::spawn(async move { black_box(i) })));
                        for h in handles.drain(..) {
                            black_box(h.await.expect("task finished"));
                        }
                    }
                })
            })
        })
    });
    drop(rt);

    let rt = tokio_rt();
    let mut handles = Vec::with_capacity(SPAWN_BATCH as usize);
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for n in chunks(iters, SPAWN_BATCH) {
                        handles.extend((0..n).map(|i| tokio::spawn(async move { black_box(i) })));
                        for h in handles.drain(..) {
                            black_box(h.await.expect("task finished"));
                        }
                    }
                })
            })
        })
    });
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::with_capacity(SPAWN_BATCH as usize);
    g.bench_function("tokio_localset", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                local.block_on(&rt, async {
                    for n in chunks(iters, SPAWN_BATCH) {
                        handles.extend(
                            (0..n).map(|i| tokio::task::spawn_local(async move { black_box(i) })),
                        );
                        for h in handles.drain(..) {
                            black_box(h.await.expect("task finished"));
                        }
                    }
                })
            })
        })
    });
    drop(local);
    drop(rt);

    let mut rt = monoio_rt();
    let mut handles = Vec::with_capacity(SPAWN_BATCH as usize);
    g.bench_function("monoio", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for n in chunks(iters, SPAWN_BATCH) {
                        handles.extend((0..n).map(|i| monoio::spawn(async move { black_box(i) })));
                        for h in handles.drain(..) {
                            black_box(h.await);
                        }
                    }
                })
            })
        })
    });
    drop(rt);

    g.finish();
}

// ---------------------------------------------------------------------------------------
// wake

/// `Signal`, `Pair`, `ping` and `pong`: the same code `ringstream bench --runtime` measures.
use ringstream_harness::wake::{ping, pong, Pair};

/// The `wake` group.
fn wake(c: &mut Criterion) {
    let mut g = group(c, "wake");

    let rt = ringstream_rt();
    g.bench_function("ringstream", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for n in chunks(iters, PING_PONG_ROUNDS) {
                        let pair = Rc::new(Pair::default());
                        let b = ringstream::spawn(pong(pair.clone(), n));
                        let a = ringstream::spawn(ping(pair, n));
                        a.await.expect("ping finished");
                        b.await.expect("pong finished");
                    }
                })
            })
        })
    });
    drop(rt);

    let rt = tokio_rt();
    let local = tokio::task::LocalSet::new();
    g.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                local.block_on(&rt, async {
                    for n in chunks(iters, PING_PONG_ROUNDS) {
                        let pair = Rc::new(Pair::default());
                        let b = tokio::task::spawn_local(pong(pair.clone(), n));
                        let a = tokio::task::spawn_local(ping(pair, n));
                        a.await.expect("ping finished");
                        b.await.expect("pong finished");
                    }
                })
            })
        })
    });
    drop(local);
    drop(rt);

    let mut rt = monoio_rt();
    g.bench_function("monoio", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for n in chunks(iters, PING_PONG_ROUNDS) {
                        let pair = Rc::new(Pair::default());
                        let b = monoio::spawn(pong(pair.clone(), n));
                        let a = monoio::spawn(ping(pair, n));
                        a.await;
                        b.await;
                    }
                })
            })
        })
    });
    drop(rt);

    g.finish();
}

// ---------------------------------------------------------------------------------------
// nop

/// The `nop` group.
fn nop(c: &mut Criterion) {
    let mut g = group(c, "nop");

    let rt = ringstream_rt();
    g.bench_function("ringstream", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for _ in 0..iters {
                        ringstream::nop().await.expect("the ring answers a NOP");
                    }
                })
            })
        })
    });
    g.bench_function("ringstream_yield_now", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for _ in 0..iters {
                        ringstream::yield_now().await;
                    }
                })
            })
        })
    });
    drop(rt);

    // tokio has no NOP: yield_now (woken only after the driver is polled) is its nearest
    // driver/scheduler round trip.
    let rt = tokio_rt();
    g.bench_function("tokio_yield_now", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    for _ in 0..iters {
                        tokio::task::yield_now().await;
                    }
                })
            })
        })
    });
    drop(rt);

    // monoio has no public NOP or yield_now: a 1-byte read of /dev/zero is its cheapest
    // public op that goes through the ring.
    let mut rt = monoio_rt();
    let zero = rt
        .block_on(monoio::fs::File::open("/dev/zero"))
        .expect("open /dev/zero");
    let mut buf = Some(Vec::with_capacity(1));
    g.bench_function("monoio_read_devzero", |b| {
        b.iter_custom(|iters| {
            timed(iters, |iters| {
                rt.block_on(async {
                    let mut b = buf.take().unwrap_or_default();
                    for _ in 0..iters {
                        b.clear();
                        let (res, back) = zero.read_at(b, 0).await;
                        res.expect("read /dev/zero");
                        b = back;
                    }
                    buf = Some(b);
                })
            })
        })
    });
    // Closed inside the runtime: monoio closes files through the ring.
    let _ = rt.block_on(zero.close());
    drop(rt);

    g.finish();
}

/// Short measurements, so the whole file runs in about 1.5 minutes.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = spawn_join, wake, nop
}
criterion_main!(benches);
