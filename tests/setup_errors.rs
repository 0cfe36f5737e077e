//! Ring setup failures give errors that name the cause and the fix, never a panic.

mod support;

use std::process::Command;
use std::time::Duration;

use ringstream::Runtime;

use support::child::{output_within, this_test, tool};

const CHILD_ENV: &str = "RINGSTREAM_MEMLOCK_CHILD";

/// Runs in the child: a large fixed-buffer pool under a tiny RLIMIT_MEMLOCK.
#[test]
fn memlock_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // only meaningful when started by the test below
    }
    let mut builder = Runtime::builder();
    builder.fixed_buffers(64, 1 << 20); // 64 MiB to pin
    match builder.build() {
        Ok(_) => println!("CHILD-RESULT: ok"),
        Err(e) => println!("CHILD-RESULT: err: {e}"),
    }
}

#[test]
fn a_fixed_buffer_pool_over_rlimit_memlock_gives_a_clear_error() {
    let (Some(prlimit), Some(setpriv)) = (tool("prlimit"), tool("setpriv")) else {
        println!("skipped: prlimit/setpriv (util-linux) are not installed; ci/install-deps.sh installs them");
        return;
    };
    let (exe, args) = this_test("memlock_child");
    // 64 KiB of lockable memory, and no CAP_IPC_LOCK (which would bypass the limit).
    let mut command = Command::new(prlimit);
    command
        .args(["--memlock=65536:65536", "--"])
        .arg(setpriv)
        .args(["--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--"])
        .arg(exe)
        .args(args)
        .env(CHILD_ENV, "1");
    let out = output_within(&mut command, Duration::from_secs(30)).expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed (no panic allowed): {stdout}\n{stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("CHILD-RESULT"))
        .unwrap_or_else(|| panic!("child printed no result: {stdout}\n{stderr}"));
    if line.contains("CHILD-RESULT: ok") {
        // The kernel did not charge the pool to RLIMIT_MEMLOCK (possible if the caps could
        // not be dropped in this sandbox): say why instead of passing silently.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let caps = status
            .lines()
            .filter(|l| l.starts_with("Cap"))
            .collect::<Vec<_>>();
        panic!(
            "a 64 MiB fixed-buffer pool registered under a 64 KiB RLIMIT_MEMLOCK; the kernel \
             did not account the pinned pages (capabilities here: {caps:?})"
        );
    }
    assert!(line.contains("ENOMEM"), "{line}");
    assert!(line.contains("RLIMIT_MEMLOCK"), "{line}");
    assert!(
        line.contains("ulimit -l"),
        "the message names the fix: {line}"
    );
}
