//! Timers: sleep, timeout, interval.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringstream::time::{interval, sleep, sleep_until, timeout};
use ringstream::{spawn, Runtime};
use support::DropFlag;

#[test]
fn timers_fire_in_deadline_order() {
    let rt = Runtime::new().expect("runtime");
    let order = Rc::new(RefCell::new(Vec::new()));
    rt.block_on({
        let order = order.clone();
        async move {
            let base = Instant::now() + Duration::from_millis(20);
            // Registered out of order; two share a deadline (creation order breaks the tie).
            let plan = [
                (5u64, 'e'),
                (1, 'a'),
                (3, 'c'),
                (2, 'b'),
                (3, 'd'),
                (0, 'z'),
            ];
            let handles: Vec<_> = plan
                .iter()
                .map(|&(ms, name)| {
                    let order = order.clone();
                    spawn(async move {
                        sleep_until(base + Duration::from_millis(ms * 5)).await;
                        order.borrow_mut().push(name);
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("timer task");
            }
        }
    });
    assert_eq!(*order.borrow(), vec!['z', 'a', 'b', 'c', 'd', 'e']);
}

#[test]
fn sleep_waits_at_least_its_duration() {
    let rt = Runtime::new().expect("runtime");
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        sleep(Duration::from_millis(30)).await;
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(30), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn timeout_returns_elapsed_and_drops_the_inner_future() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (flag, dropped) = DropFlag::new();
        let mut fut = std::pin::pin!(timeout(Duration::from_millis(10), async move {
            let _flag = flag;
            sleep(Duration::from_secs(3600)).await;
        }));
        let result = (&mut fut).await;
        let err = result.expect_err("the inner future is far slower");
        // Dropped when the deadline passed, not only when the Timeout itself goes away.
        assert!(dropped.get(), "inner future dropped at the deadline");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);

        let ok = timeout(Duration::from_secs(3600), async { 9 }).await;
        assert_eq!(ok, Ok(9));
    });
}

#[test]
fn sleep_zero_yields_to_other_tasks() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let ran = Rc::new(Cell::new(false));
        let other = spawn({
            let ran = ran.clone();
            async move { ran.set(true) }
        });
        assert!(!ran.get());
        sleep(Duration::ZERO).await;
        assert!(ran.get(), "sleep(0) let the other task run");
        other.await.expect("other");
    });
}

#[test]
fn dropped_sleeps_unregister_their_timer() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        for _ in 0..1000 {
            let r = timeout(Duration::from_millis(0), sleep(Duration::from_secs(3600))).await;
            assert!(r.is_err());
        }
        let stats = ringstream::runtime::stats().expect("inside the runtime");
        assert_eq!(
            stats.pending_timers, 0,
            "the 1000 dropped hour-long sleeps left no timer"
        );
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn interval_ticks_at_its_period_and_skips_missed_ticks() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let period = Duration::from_millis(10);
        let mut every = interval(period);
        let start = Instant::now();
        let first = every.tick().await;
        assert!(first <= Instant::now());
        let second = every.tick().await;
        let third = every.tick().await;
        assert!(third.duration_since(second) >= period - Duration::from_millis(1));
        assert!(start.elapsed() >= 2 * period - Duration::from_millis(1));
        // Fall behind by several periods: the next tick is not a burst of stale ticks.
        std::thread::sleep(period * 5);
        let late = every.tick().await;
        let next = every.tick().await;
        assert!(next.duration_since(late) >= period - Duration::from_millis(1));
        assert!(next > Instant::now() - period, "missed ticks were skipped");
    });
}
