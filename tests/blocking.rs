//! `spawn_blocking` (asyncio's `run_in_executor`): results and panics come back through the
//! handle while the ring goes on serving, more jobs than the pool has threads all finish,
//! and name resolution in `connect` runs on the same pool.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use ringstream::runtime::{spawn_blocking, MAX_THREADS};
use ringstream::time::sleep;
use support::run_bounded;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn blocking_results_come_back_while_the_loop_runs() {
    let (release, wait) = mpsc::channel::<()>();
    let ticks = run_bounded(LIMIT, async move {
        let handle = spawn_blocking(move || {
            let _ = wait.recv_timeout(Duration::from_secs(10));
            String::from("done")
        });
        // The loop is not blocked: a timer runs while the job waits to be released.
        let ticker = ringstream::spawn(async {
            let mut ticks = 0;
            for _ in 0..3 {
                sleep(Duration::from_millis(1)).await;
                ticks += 1;
            }
            ticks
        });
        let ticks = ticker.await.expect("ticker");
        release.send(()).expect("job waiting");
        assert_eq!(handle.await.expect("no panic"), "done");
        Ok(ticks)
    });
    assert_eq!(ticks, 3);
}

#[test]
fn a_panicking_closure_is_a_join_error_and_the_pool_goes_on() {
    run_bounded(LIMIT, async {
        let err = spawn_blocking(|| -> u8 { panic!("closure failed") })
            .await
            .expect_err("the panic is reported");
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("closure failed"));
        assert_eq!(spawn_blocking(|| 5u8).await.expect("pool still works"), 5);
        Ok(())
    });
}

#[test]
fn more_jobs_than_threads_all_complete() {
    let jobs = MAX_THREADS * 3;
    let sum = run_bounded(LIMIT, async move {
        let handles: Vec<_> = (0..jobs)
            .map(|i| {
                spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(1));
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("no panic");
        }
        Ok(sum)
    });
    assert_eq!(sum, (0..jobs).sum::<usize>());
}

#[test]
fn connect_resolves_localhost_on_the_pool() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    run_bounded(LIMIT, async move {
        let stream = ringstream::connect(&format!("localhost:{port}")).await?;
        stream.writer.write(b"resolved")?;
        stream.writer.drain().await
    });
    let (mut accepted, _) = listener.accept().expect("the client connected");
    let mut got = [0u8; 8];
    accepted.read_exact(&mut got).expect("its bytes");
    assert_eq!(&got, b"resolved");
}
