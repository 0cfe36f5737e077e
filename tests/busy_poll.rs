//! The busy-poll window (`Builder::busy_poll`): the loop spins for work before blocking, so
//! replies, cross-thread wakes and timers within the window are handled without parking.

mod support;

use std::future::Future;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringstream::{Runtime, Stream};

use support::echo::std_echo;

/// 200 ping-pongs with a std echo thread; returns (parks, busy-poll hits) they took.
fn ping_pongs(rt: &Runtime) -> (u64, u64) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    let echo = std_echo(theirs);
    let counts = rt.block_on(async move {
        let stream = Stream::from_std(ours).expect("stream");
        let (mut reader, writer) = stream.split();
        ringstream::nop().await.expect("settle");
        let before = ringstream::runtime::stats().expect("stats");
        for i in 0..200u32 {
            let ping = [(i % 251) as u8; 32];
            writer.write(&ping).expect("write");
            let back = reader.read_exact(32).await.expect("echo");
            assert_eq!(back[..], ping[..], "ping {i}");
        }
        let after = ringstream::runtime::stats().expect("stats");
        writer.close();
        writer.wait_closed().await.expect("closed");
        (
            after.parks - before.parks,
            after.busy_poll_hits - before.busy_poll_hits,
        )
    });
    echo.join().expect("echo thread");
    counts
}

#[test]
fn busy_poll_handles_replies_without_parking() {
    let spinning = Runtime::builder()
        .busy_poll(Duration::from_millis(500))
        .build()
        .expect("runtime");
    let (parks, hits) = ping_pongs(&spinning);
    assert!(
        parks <= 10,
        "{parks} parks in 200 ping-pongs with a 500 ms window"
    );
    assert!(hits >= 200, "only {hits} busy-poll hits in 200 ping-pongs");

    // The same without the window: the loop parks while each reply is on its way.
    let blocking = Runtime::new().expect("runtime");
    let (parks, hits) = ping_pongs(&blocking);
    assert!(parks >= 100, "only {parks} parks without busy polling");
    assert_eq!(hits, 0);
}

#[test]
fn busy_poll_ends_at_a_timer_deadline() {
    let rt = Runtime::builder()
        .busy_poll(Duration::from_secs(5))
        .build()
        .expect("runtime");
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        ringstream::time::sleep(Duration::from_millis(20)).await;
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(20));
    assert!(
        elapsed < Duration::from_secs(2),
        "the sleep took {elapsed:?}"
    );
}

/// Completed by another thread after a delay.
struct Remote {
    done: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for Remote {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker.lock().expect("lock") = Some(cx.waker().clone());
        if self.done.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn busy_poll_sees_wakes_from_other_threads() {
    let rt = Runtime::builder()
        .busy_poll(Duration::from_secs(5))
        .build()
        .expect("runtime");
    let done = Arc::new(AtomicBool::new(false));
    let waker: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
    let (d, w) = (done.clone(), waker.clone());
    let (elapsed, parks) = rt.block_on(async move {
        let before = ringstream::runtime::stats().expect("stats").parks;
        let start = Instant::now();
        let waker_thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            d.store(true, Ordering::Release);
            if let Some(waker) = w.lock().expect("lock").take() {
                waker.wake();
            }
        });
        Remote { done, waker }.await;
        let elapsed = start.elapsed();
        waker_thread.join().expect("waker thread");
        let parks = ringstream::runtime::stats().expect("stats").parks - before;
        (elapsed, parks)
    });
    assert!(
        elapsed < Duration::from_secs(2),
        "the wake took {elapsed:?}"
    );
    assert_eq!(
        parks, 0,
        "the loop blocked although the window was still open"
    );
}
