//! A ring the kernel refuses is an error that names the cause and the fix, never a panic:
//! under a seccomp filter that refuses `io_uring_enter` (as container runtimes' profiles
//! do) or `io_uring_setup` with EPERM, the library calls return errors and the command
//! prints one and exits 1. The filter comes from tests/support/seccomp_refuse.py (python3,
//! which ci/install-deps.sh installs); without python3 or on an architecture the script
//! has no filter for, the tests say so and skip.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ringstream::runtime::{CoreError, PerCore};
use ringstream::{Runtime, Stream};

use support::child::{output_within, this_test};

const CHILD_ENV: &str = "RINGSTREAM_SECCOMP_CHILD";
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/seccomp_refuse.py"
);
/// The script's exit code when it cannot install the filter here.
const SKIP: i32 = 77;
/// How long any child may take before the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Runs `program args` under a filter refusing `call` ("enter" or "setup"); `None` (with
/// the reason printed) when the filter cannot be installed here.
fn under_filter(call: &str, program: &str, args: &[&str], env: Option<&str>) -> Option<Output> {
    let mut command = Command::new("python3");
    command.arg(SCRIPT).arg(call).arg(program).args(args);
    if let Some(var) = env {
        command.env(var, "1");
    }
    let output = match output_within(&mut command, CHILD_LIMIT) {
        Ok(output) => output,
        Err(e) => {
            println!("skipped: python3 could not run ({e}); ci/install-deps.sh installs it");
            return None;
        }
    };
    if output.status.code() == Some(SKIP) {
        println!(
            "skipped: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    Some(output)
}

/// No panic, no abort: a clean exit code and no "panicked" anywhere.
fn assert_no_panic(output: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    assert!(
        code.is_some() && code != Some(101) && code != Some(134),
        "{what} ended with {} (a panic or an abort)\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    assert!(
        !stdout.contains("panicked") && !stderr.contains("panicked"),
        "{what} panicked\nstdout: {stdout}\nstderr: {stderr}"
    );
}

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
    let (exe, args) = this_test("seccomp_child");
    let exe = exe.to_str().expect("a UTF-8 path");
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

/// The command under the filter: `load` and `echo` print the error and exit 1.
#[cfg(feature = "cli")]
mod command {
    use super::*;

    use support::child::{collect, collected, first_line_then_rest, wait_for, Guard, BIN};

    fn assert_reports(output: &Output, what: &str, call: &str) {
        assert_no_panic(output, what);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("{call} failed: EPERM")) && stderr.contains("seccomp"),
            "{what} names the call, EPERM and the cause: {stderr}"
        );
    }

    fn load(call: &str) -> Option<Output> {
        // Something listening (outside the filter), so only the ring can fail.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let args = ["load", "--addr", &addr, "--conns", "2", "--duration", "1s"];
        under_filter(call, BIN, &args, None)
    }

    #[test]
    fn load_reports_a_refused_io_uring_enter() {
        if let Some(output) = load("enter") {
            assert_reports(&output, "load", "io_uring_enter");
        }
    }

    #[test]
    fn load_and_echo_report_a_refused_io_uring_setup() {
        if let Some(output) = load("setup") {
            assert_reports(&output, "load", "io_uring_setup");
        }
        let args = ["echo", "--addr", "127.0.0.1:0", "--cores", "1"];
        if let Some(output) = under_filter("setup", BIN, &args, None) {
            assert_reports(&output, "echo", "io_uring_setup");
        }
    }

    /// `echo` whose only core's ring fails reports the failure and exits 1 by itself, with
    /// no signal.
    #[test]
    fn echo_exits_reporting_a_refused_io_uring_enter() {
        use std::process::Stdio;

        let child = match Command::new("python3")
            .args([
                SCRIPT,
                "enter",
                BIN,
                "echo",
                "--addr",
                "127.0.0.1:0",
                "--cores",
                "1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                println!("skipped: python3 could not run ({e})");
                return;
            }
        };
        let mut child = Guard(child);
        let (first, rest) = first_line_then_rest(child.0.stdout.take().expect("stdout"));
        let stderr = collect(child.0.stderr.take().expect("stderr"));
        let first = first
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        if !first.starts_with("listening on") {
            let _ = child.0.kill();
            let status = child.0.wait().expect("wait");
            if status.code() == Some(SKIP) {
                println!("skipped: {}", collected(stderr).trim());
                return;
            }
            panic!("echo did not start: {first:?} {}", collected(stderr));
        }
        // The core enters its ring on its first turn and fails: echo reports it and exits
        // by itself, with no signal.
        let status = wait_for(&mut child.0, Duration::from_secs(20))
            .expect("echo exits within 20 s of its core's ring failing");
        let output = Output {
            status,
            stdout: collected(rest).into_bytes(),
            stderr: collected(stderr).into_bytes(),
        };
        assert_reports(&output, "echo", "io_uring_enter");
    }
}
