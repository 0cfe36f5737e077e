//! The command under a seccomp filter that refuses `io_uring_setup` or `io_uring_enter`
//! with EPERM (as container runtimes' profiles do): `load` and `echo` print the error,
//! naming the call and the cause, and exit 1, without a panic. Skipped (with a note) where
//! the filter cannot be installed (`ringstream_harness::seccomp`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ringstream_harness::seccomp::{assert_no_panic, under_filter, SCRIPT, SKIP};

const BIN: &str = env!("CARGO_BIN_EXE_ringstream");

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

/// `echo` whose only core's ring fails reports the failure and exits 1 by itself (it
/// used to listen on until a signal came).
#[test]
fn echo_exits_reporting_a_refused_io_uring_enter() {
    let mut child = match Command::new("python3")
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
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let _ = tx.send(first);
        // Keep reading: echo prints a summary as it exits.
        let _ = std::io::copy(&mut lines, &mut std::io::sink());
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    if !first.starts_with("listening on") {
        let _ = child.kill();
        let output = child.wait_with_output().expect("wait");
        if output.status.code() == Some(SKIP) {
            println!(
                "skipped: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return;
        }
        panic!(
            "echo did not start: {first:?} {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The core enters its ring on its first turn and fails: echo reports it and exits
    // by itself, with no signal.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("echo did not exit within 20 s of its core's ring failing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("wait");
    assert_reports(&output, "echo", "io_uring_enter");
}
