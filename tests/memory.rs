//! Memory comes back: after a burst of connections has closed, the server's resident
//! memory returns close to its idle figure without anyone calling `malloc_trim` from
//! outside.

#[path = "support/child.rs"]
mod child;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use child::{wait_for, Echo, Guard, BIN};

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// 500 connections streaming 16 KiB chunks for 3 s grow the echo server by tens of MB
/// (each reader buffers up to 3 x its limit while its echo waits to drain). Within 5 s of
/// the last close its RSS is back within 2x of what it was before the burst.
#[test]
fn rss_returns_near_idle_after_a_burst() {
    let echo = Echo::start(&["--addr", "127.0.0.1:0", "--cores", "1"]);
    let pid = echo.pid();
    // Let the server settle before measuring its idle figure.
    thread::sleep(Duration::from_millis(200));
    let idle = rss_kib(pid);

    let load = Command::new(BIN)
        .args([
            "load", "--addr", &echo.addr, "--mode", "stream", "--conns", "500",
        ])
        .args(["--size", "16KiB", "--duration", "3s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ringstream load");
    let mut load = Guard(load);
    let peak_seen = {
        let mut peak = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            peak = peak.max(rss_kib(pid));
            if let Ok(Some(_)) = load.0.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        peak
    };
    let status = wait_for(&mut load.0, Duration::from_secs(30)).expect("load finishes");
    assert!(status.success(), "the load run failed: {status}");
    assert!(
        peak_seen > 3 * idle,
        "the burst grew the server only from {idle} to {peak_seen} KiB: nothing to give back, \
         the test proves nothing"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = rss_kib(pid);
    while after > 2 * idle && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        after = rss_kib(pid);
    }
    assert!(
        after <= 2 * idle,
        "RSS {idle} KiB idle, {peak_seen} KiB in the burst, still {after} KiB 5 s after it"
    );
    echo.terminate();
}
