//! A runtime pins no memory: it starts, and moves data, under a tiny `RLIMIT_MEMLOCK`
//! without `CAP_IPC_LOCK` (a non-root process's default limit is 8 MiB, sometimes 64 KiB).

use std::process::Command;
use std::time::Duration;

use ringstream::Runtime;

use ringstream_harness::child::{output_within, this_test, tool};

const CHILD_ENV: &str = "RINGSTREAM_MEMLOCK_CHILD";

/// Runs in the child: a default runtime under a 64 KiB RLIMIT_MEMLOCK, echoing through a
/// stream pair.
#[test]
fn memlock_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return; // only meaningful when started by the test below
    }
    let echoed = Runtime::new().and_then(|rt| {
        rt.block_on(async {
            let (a, b) = ringstream::Stream::pair()?;
            a.writer.write(b"ping\n")?;
            let mut reader = b.reader;
            let line = reader.read_line().await.map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(line)
        })
    });
    match echoed {
        Ok(line) => println!("CHILD-RESULT: ok {}", String::from_utf8_lossy(&line).trim()),
        Err(e) => println!("CHILD-RESULT: err: {e}"),
    }
}

#[test]
fn a_runtime_starts_and_moves_data_under_a_64_kib_rlimit_memlock() {
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
    assert!(
        line.ends_with("CHILD-RESULT: ok ping"),
        "a default runtime must start and move data without pinned memory: {line}"
    );
}
