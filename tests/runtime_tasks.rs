//! Executor behaviour: spawning, joining, aborting, yielding, cross-thread wake-ups.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringstream::{spawn, yield_now, Runtime};
use support::DropFlag;

#[test]
fn hundred_thousand_tasks_yield_and_return_their_values() {
    let rt = Runtime::new().expect("runtime");
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..100_000u64)
            .map(|i| {
                spawn(async move {
                    for _ in 0..(i % 4) {
                        yield_now().await;
                    }
                    i * 3
                })
            })
            .collect();
        let mut sum = 0u64;
        for (i, h) in handles.into_iter().enumerate() {
            let v = h.await.expect("task result");
            assert_eq!(v, i as u64 * 3, "task {i} returned the wrong value");
            sum += v;
        }
        sum
    });
    assert_eq!(sum, 3 * (100_000u64 * 99_999 / 2));
    assert_eq!(rt.stats().tasks, 0, "every joined task is freed");
}

#[test]
fn abort_drops_the_future_and_join_reports_cancelled() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (flag, dropped) = DropFlag::new();
        let handle = spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        yield_now().await; // let it start
        assert!(!handle.is_finished());
        handle.abort();
        let err = handle.await.expect_err("aborted task has no value");
        assert!(err.is_cancelled());
        assert!(dropped.get(), "the aborted future was dropped");
    });
}

#[test]
fn a_panicking_task_gives_a_join_error_and_the_runtime_goes_on() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let bad = spawn(async { panic!("boom in a task") });
        let good = spawn(async { 5 });
        let err = bad.await.expect_err("panicked");
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("boom in a task"));
        assert_eq!(good.await.expect("other task"), 5);
    });
}

#[test]
fn detached_tasks_keep_running_and_are_freed() {
    let rt = Runtime::new().expect("runtime");
    let done = Rc::new(Cell::new(0));
    rt.block_on({
        let done = done.clone();
        async move {
            for _ in 0..100 {
                let done = done.clone();
                drop(spawn(async move {
                    yield_now().await;
                    done.set(done.get() + 1);
                }));
            }
            for _ in 0..10 {
                yield_now().await;
            }
        }
    });
    assert_eq!(done.get(), 100);
    assert_eq!(rt.stats().tasks, 0);
}

#[test]
fn yield_now_lets_other_tasks_run_in_fifo_order() {
    let rt = Runtime::new().expect("runtime");
    let log = Rc::new(RefCell::new(Vec::new()));
    rt.block_on({
        let log = log.clone();
        async move {
            let mut handles = Vec::new();
            for id in 0..3 {
                let log = log.clone();
                handles.push(spawn(async move {
                    for round in 0..2 {
                        log.borrow_mut().push((round, id));
                        yield_now().await;
                    }
                }));
            }
            for h in handles {
                h.await.expect("task");
            }
        }
    });
    assert_eq!(
        *log.borrow(),
        vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    );
}

/// A future that completes once `flag` is set, registering its waker in `slot`.
struct Flagged {
    flag: Arc<AtomicBool>,
    slot: Arc<std::sync::Mutex<Option<Waker>>>,
}

impl Future for Flagged {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[test]
fn a_waker_used_on_another_thread_wakes_a_ring_blocked_in_io_uring_enter() {
    let rt = Runtime::new().expect("runtime");
    let flag = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(std::sync::Mutex::new(None::<Waker>));
    let waker_thread = {
        let flag = flag.clone();
        let slot = slot.clone();
        std::thread::spawn(move || {
            // Wait (bounded) until the runtime has parked with our future's waker.
            let deadline = Instant::now() + Duration::from_secs(10);
            let waker = loop {
                if let Some(w) = slot.lock().unwrap().take() {
                    break w;
                }
                assert!(
                    Instant::now() < deadline,
                    "the task never registered its waker"
                );
                std::thread::sleep(Duration::from_millis(1));
            };
            std::thread::sleep(Duration::from_millis(100)); // the ring is in io_uring_enter now
            flag.store(true, Ordering::Release);
            waker.wake();
        })
    };
    let parks_before = rt.stats().parks;
    let start = Instant::now();
    // The only timer is a 5 s safety net, so the loop blocks in io_uring_enter until then:
    // only the cross-thread wake can end that wait early.
    let woke = rt.block_on(async {
        let handle = spawn(Flagged {
            flag: flag.clone(),
            slot: slot.clone(),
        });
        ringstream::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("woken by the other thread before the 5 s safety net")
            .expect("task");
        Instant::now()
    });
    waker_thread.join().expect("waker thread");
    assert!(
        rt.stats().parks > parks_before,
        "the loop parked in io_uring_enter"
    );
    assert!(woke.duration_since(start) >= Duration::from_millis(100));
    assert!(woke.duration_since(start) < Duration::from_secs(4));
}

#[test]
#[should_panic(expected = "outside a ringstream runtime")]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    drop(spawn(async {}));
}

#[test]
fn nop_round_trips_through_the_ring_and_frees_its_slot() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        for _ in 0..1000 {
            ringstream::nop().await.expect("nop");
        }
    });
    let stats = rt.stats();
    assert!(stats.completions >= 1000);
    assert_eq!(stats.ops_in_flight, 0);
}
