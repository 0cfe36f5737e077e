//! `ringstream::signal`: deliveries reach every listener, on one runtime or several, as a
//! stream; `ctrl_c` catches SIGINT (in a child process, so this process keeps its default
//! SIGINT). Each test uses its own signal, so tests running in parallel do not see each
//! other's deliveries.

use std::future::{poll_fn, Future};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use ringstream::signal::{ctrl_c, signal, SignalKind};
use ringstream::time::timeout;
use ringstream_harness::child::{self, this_test, wait_for, Guard};

const WAIT: Duration = Duration::from_secs(5);

fn raise_in_process(kind: SignalKind) {
    // SAFETY: kill(2) with our own pid takes no pointers.
    let rc = unsafe { libc::kill(libc::getpid(), kind.as_raw_value()) };
    assert_eq!(rc, 0, "kill(getpid()) failed");
}

#[test]
fn every_listener_on_two_runtimes_gets_every_delivery() {
    let (ready_tx, ready) = mpsc::channel();
    let (got_tx, got) = mpsc::channel();
    let threads: Vec<_> = (0..2)
        .map(|runtime| {
            let (ready_tx, got_tx) = (ready_tx.clone(), got_tx.clone());
            // Made here and moved: a listener is Send.
            let mut usr1 = signal(SignalKind::USER_DEFINED1).expect("SIGUSR1 handler");
            thread::spawn(move || {
                ringstream::run(async move {
                    ready_tx.send(()).expect("test waiting");
                    for round in 0..2 {
                        let delivered = timeout(WAIT, usr1.recv()).await;
                        let ok = matches!(delivered, Ok(Ok(())));
                        got_tx.send((runtime, round, ok)).expect("test waiting");
                        if !ok {
                            return;
                        }
                    }
                })
                .expect("runtime");
            })
        })
        .collect();
    for _ in 0..2 {
        ready.recv_timeout(WAIT).expect("runtime started");
    }
    for round in 0..2 {
        raise_in_process(SignalKind::USER_DEFINED1);
        let mut seen: Vec<_> = (0..2)
            .map(|_| got.recv_timeout(WAIT * 2).expect("a listener answered"))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [(0, round, true), (1, round, true)],
            "both runtimes' listeners got delivery {round}"
        );
    }
    for t in threads {
        t.join().expect("listener thread");
    }
}

/// Polls `inner` once, then again only when it has been woken, as a task would be: so a
/// test can stand between a future's look at its state and its next wake-up.
async fn poll_when_woken<F: Future>(inner: F, between: impl FnOnce()) -> F::Output {
    struct Gate {
        woken: AtomicBool,
        task: Mutex<Option<Waker>>,
    }
    impl Wake for Gate {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, Ordering::SeqCst);
            if let Some(w) = self.task.lock().unwrap().take() {
                w.wake();
            }
        }
    }
    let gate = Arc::new(Gate {
        woken: AtomicBool::new(true),
        task: Mutex::new(None),
    });
    let waker = Waker::from(gate.clone());
    let mut inner = std::pin::pin!(inner);
    let mut between = Some(between);
    poll_fn(move |cx| {
        *gate.task.lock().unwrap() = Some(cx.waker().clone());
        if gate.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(out) = inner.as_mut().poll(&mut Context::from_waker(&waker)) {
                return Poll::Ready(out);
            }
        }
        if let Some(between) = between.take() {
            between();
        }
        Poll::Pending
    })
    .await
}

/// Whichever runtime drains the signal eventfd wakes the listeners of every runtime: here
/// one listening for another signal drains it while a busy runtime's listener has looked
/// at its count but not yet armed its poll, which then finds the eventfd empty; the
/// delivery still reaches it.
#[test]
fn a_busy_runtime_gets_a_delivery_another_runtime_drained() {
    let (armed_tx, armed) = mpsc::channel();
    let (busy_tx, busy_armed) = mpsc::channel();
    let draining = thread::spawn(move || {
        ringstream::run(async move {
            let mut winch = signal(SignalKind::WINDOW_CHANGE).expect("SIGWINCH handler");
            let waiting =
                ringstream::spawn(
                    async move { timeout(Duration::from_secs(1), winch.recv()).await },
                );
            // Two ring round trips: its poll of the eventfd is in the kernel.
            ringstream::nop().await.expect("nop");
            ringstream::nop().await.expect("nop");
            armed_tx.send(()).expect("test waiting");
            let _ = waiting.await;
        })
        .expect("runtime")
    });
    let busy = thread::spawn(move || {
        ringstream::run(async move {
            let mut quit = signal(SignalKind::QUIT).expect("SIGQUIT handler");
            // The timeout outside: its timer must not poll the listener for it.
            let got = timeout(
                WAIT,
                poll_when_woken(quit.recv(), || {
                    // The listener has looked at the count and queued its poll, which reaches
                    // the kernel only at this runtime's next enter, after the other runtime
                    // drained the eventfd.
                    busy_tx.send(()).expect("test waiting");
                    thread::sleep(Duration::from_millis(300));
                }),
            );
            matches!(got.await, Ok(Ok(())))
        })
        .expect("runtime")
    });
    armed.recv_timeout(WAIT).expect("draining listener armed");
    busy_armed.recv_timeout(WAIT).expect("busy listener armed");
    raise_in_process(SignalKind::QUIT);
    assert!(
        busy.join().expect("busy runtime"),
        "the busy runtime missed it"
    );
    draining.join().expect("draining runtime");
}

#[test]
fn listeners_on_one_runtime_each_get_deliveries_made_after_they_exist() {
    ringstream::run(async {
        let mut first = signal(libc::SIGUSR2).expect("SIGUSR2 handler");
        let mut second = signal(SignalKind::USER_DEFINED2).expect("SIGUSR2 handler");
        assert_eq!(second.kind(), SignalKind::USER_DEFINED2);
        let waiting = ringstream::spawn(async move { timeout(WAIT, second.recv()).await });
        raise_in_process(SignalKind::USER_DEFINED2);
        let a = timeout(WAIT, first.recv()).await;
        assert!(matches!(a, Ok(Ok(()))), "first listener: {a:?}");
        let b = waiting.await.expect("task");
        assert!(matches!(b, Ok(Ok(()))), "second listener: {b:?}");

        // A listener made later does not see the earlier delivery, only the next one.
        let mut later = signal(SignalKind::USER_DEFINED2).expect("SIGUSR2 handler");
        let early = timeout(Duration::from_millis(100), later.recv()).await;
        assert!(early.is_err(), "an old delivery was replayed: {early:?}");
        raise_in_process(SignalKind::USER_DEFINED2);
        let next = timeout(WAIT, later.recv()).await;
        assert!(matches!(next, Ok(Ok(()))), "later listener: {next:?}");
    })
    .expect("runtime");
}

#[test]
fn signals_that_cannot_be_caught_are_refused() {
    for bad in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 65, -1] {
        let err = signal(bad).expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {bad}");
    }
}

const CHILD_ENV: &str = "RINGSTREAM_CTRL_C_CHILD";

/// Runs in the child: installs `ctrl_c`, says READY, and reports the Ctrl-C it waits for.
#[test]
fn ctrl_c_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // only meaningful when started by the test below
    }
    let caught = ringstream::run(async {
        let mut waiting = std::pin::pin!(ctrl_c());
        // One poll installs the handler (no SIGINT has come yet, so it is pending).
        poll_fn(|cx| {
            assert!(waiting.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        println!("READY");
        timeout(Duration::from_secs(10), waiting).await
    })
    .expect("runtime");
    match caught {
        Ok(Ok(())) => println!("CHILD-RESULT: ctrl_c"),
        other => println!("CHILD-RESULT: {other:?}"),
    }
}

#[test]
fn ctrl_c_catches_sigint_in_a_child() {
    let (exe, args) = this_test("ctrl_c_child");
    let mut running = Guard(
        Command::new(exe)
            .args(args)
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child"),
    );
    let stdout = running.0.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let ready = (0..100)
        .map_while(|_| lines.recv_timeout(Duration::from_secs(10)).ok())
        .any(|line| line.ends_with("READY"));
    assert!(ready, "the child never said READY");
    child::signal(&running.0, "INT");
    let status = wait_for(&mut running.0, Duration::from_secs(15)).expect("child exited");
    let rest: Vec<String> = (0..100)
        .map_while(|_| lines.recv_timeout(WAIT).ok())
        .collect();
    assert!(
        status.success(),
        "SIGINT ended the child: {status:?} {rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.ends_with("CHILD-RESULT: ctrl_c")),
        "the child did not see its Ctrl-C: {rest:?}"
    );
}
