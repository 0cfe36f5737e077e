//! A ring the kernel refuses is an error that names the cause and the fix, never a panic:
//! under a seccomp filter that refuses `io_uring_enter` (as container runtimes' profiles
//! do) or `io_uring_setup` with EPERM, the library calls return errors and the command
//! prints one and exits 1 (`cli/tests/ring_faults.rs`). The filter comes from
//! tests/support/seccomp_refuse.py (`ringstream_harness::seccomp` runs it; python3, which
//! ci/install-deps.sh installs); without python3 or on an architecture the script has no
//! filter for, the tests say so and skip.

use std::time::{Duration, Instant};

use ringstream::runtime::{CoreError, PerCore};
use ringstream::{Runtime, Stream};
use ringstream_harness::seccomp::{assert_no_panic, under_filter};

const CHILD_ENV: &str = "RINGSTREAM_SECCOMP_CHILD";

/// The child's report that starts with `tag` (to the end of its line; the test harness
/// may print its own text before it on the same line).
fn child_line<'a>(stdout: &'a str, tag: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.find(tag).map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("the child printed no {tag:?} line: {stdout}"))
}

/// Runs in the child, under the filter: the library's entry points, each reporting on
/// one line what it returned.
#[test]
fn seccomp_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // only meaningful when started by the tests below
    }
    // `run`: a connect in flight when the ring is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let outcome = ringstream::run(async move {
        let stream = ringstream::connect(&addr).await?;
        let (mut reader, _writer) = stream.split();
        reader.read(10).await.map_err(std::io::Error::from)
    });
    match outcome {
        Ok(inner) => println!("RUN: returned Ok({inner:?})"),
        Err(e) => println!("RUN: err: {e}"),
    }

    // `block_on`: the future's own error path runs; timers still work afterwards.
    match Runtime::new() {
        Err(e) => println!("BLOCK_ON: err: {e}"),
        Ok(rt) => {
            let (read, slept, nop) = rt.block_on(async {
                let (a, _b) = Stream::pair().expect("pair");
                let (mut reader, _writer) = a.split();
                let read = ringstream::time::timeout(Duration::from_secs(5), reader.read(10)).await;
                let start = Instant::now();
                ringstream::time::sleep(Duration::from_millis(5)).await;
                (read, start.elapsed(), ringstream::nop().await)
            });
            let read_kind = match read {
                Ok(Err(ringstream::StreamError::Io(e))) => format!("{:?}", e.kind()),
                other => format!("unexpected {other:?}"),
            };
            let nop_kind = match nop {
                Err(e) => format!("{:?}", e.kind()),
                Ok(()) => "unexpected Ok".to_owned(),
            };
            println!(
                "BLOCK_ON: read {read_kind}, nop {nop_kind}, slept {}",
                slept >= Duration::from_millis(5)
            );
            drop(rt);
            println!("BLOCK_ON: dropped");
        }
    }

    // `PerCore`: the core's ring failure is a `CoreError`, not a panic.
    match PerCore::new()
        .cores(1)
        .launch(|_| async { ringstream::nop().await })
    {
        Err(e) => println!("PER_CORE: launch err: {e}"),
        Ok(group) => {
            for result in group.join() {
                match result {
                    Err(CoreError::Failed { message, .. }) => {
                        println!("PER_CORE: failed: {message}")
                    }
                    other => println!("PER_CORE: unexpected {other:?}"),
                }
            }
        }
    }
}

fn run_child(call: &str) -> Option<String> {
    let exe = std::env::current_exe().expect("test binary path");
    let exe = exe.to_str().expect("a UTF-8 path");
    let args = [
        "--exact",
        "seccomp_child",
        "--nocapture",
        "--test-threads=1",
    ];
    let output = under_filter(call, exe, &args, Some(CHILD_ENV))?;
    assert_no_panic(&output, "the library under the filter");
    assert!(
        output.status.success(),
        "the child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn refused_io_uring_enter_is_an_error_from_run_block_on_and_per_core() {
    let Some(stdout) = run_child("enter") else {
        return;
    };
    let run = child_line(&stdout, "RUN:");
    assert!(
        run.starts_with("RUN: err: io_uring_enter failed: EPERM — ")
            && run.contains("seccomp profile"),
        "run returns the ring's failure, cause and fix: {run}"
    );
    let block_on = child_line(&stdout, "BLOCK_ON:");
    assert_eq!(
        block_on, "BLOCK_ON: read PermissionDenied, nop PermissionDenied, slept true",
        "block_on: the pending read and the later nop fail with EPERM, timers still work"
    );
    assert!(
        stdout.contains("BLOCK_ON: dropped"),
        "the failed runtime drops: {stdout}"
    );
    let per_core = child_line(&stdout, "PER_CORE:");
    assert!(
        per_core.starts_with("PER_CORE: failed: io_uring_enter failed: EPERM"),
        "{per_core}"
    );
}

#[test]
fn refused_io_uring_setup_is_an_error_from_run_block_on_and_per_core() {
    let Some(stdout) = run_child("setup") else {
        return;
    };
    for tag in ["RUN: err: ", "BLOCK_ON: err: ", "PER_CORE: launch err: "] {
        let line = child_line(&stdout, tag);
        assert!(
            line.contains("io_uring_setup failed: EPERM") && line.contains("seccomp"),
            "{line}"
        );
    }
}
