//! Interoperability with CPython's asyncio Streams: a Python client
//! (`asyncio.open_connection`, standard library only) talks to `ringstream echo` —
//! 100 lines with `readline`, 1 MB with `readexactly`, then `write_eof` and EOF back.
//! Skipped (with a note) when `python3` is not installed; `ci/install-deps.sh` installs it.

// The command exists only with the `cli` feature (on by default).
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_ringstream");

/// The client. Reading the 1 MB echo while it is being written (write, then readexactly,
/// then drain) keeps both sides' buffers moving: draining first could wait on a server
/// that waits on us.
const CLIENT: &str = r#"
import asyncio
import random
import sys


async def main(host, port):
    reader, writer = await asyncio.open_connection(host, port)
    for i in range(100):
        line = ("line %d %s\n" % (i, "x" * (i % 17))).encode()
        writer.write(line)
        await writer.drain()
        echoed = await reader.readline()
        assert echoed == line, (i, echoed, line)
    data = random.Random(20240601).randbytes(1_000_000)
    writer.write(data)
    echoed = await reader.readexactly(len(data))
    await writer.drain()
    assert echoed == data, "the 1 MB echo differs"
    writer.write_eof()
    rest = await reader.read()
    assert rest == b"", rest
    writer.close()
    await writer.wait_closed()
    print("OK")


asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 20))
"#;

/// Kills the child when dropped (a failing test leaves no process behind).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Collects a pipe on a thread, so a chatty child never blocks on a full pipe.
fn collect(mut pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Waits for `child` to exit, at most `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn asyncio_client_against_ringstream_echo() {
    if Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: python3 is not installed (ci/install-deps.sh installs it)");
        return;
    }

    // Two cores when the machine has them, so connections may land on either.
    let cores = thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let child = Command::new(BIN)
        .args([
            "echo",
            "--addr",
            "127.0.0.1:0",
            "--cores",
            &cores.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringstream echo");
    let mut echo = Guard(child);
    let echo_stderr = collect(echo.0.stderr.take().expect("stderr"));
    let mut echo_stdout = BufReader::new(echo.0.stdout.take().expect("stdout"));
    let (first_tx, first_rx) = mpsc::channel();
    let (rest_tx, rest_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = echo_stdout.read_line(&mut first);
        let _ = first_tx.send(first);
        let mut rest = String::new();
        let _ = echo_stdout.read_to_string(&mut rest);
        let _ = rest_tx.send(rest);
    });
    let first = first_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("echo prints its address within 10 s");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let (host, port) = addr.rsplit_once(':').expect("host:port");

    let dir = std::env::temp_dir().join(format!("ringstream-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("client.py");
    std::fs::write(&script, CLIENT).expect("write the client script");
    let client = Command::new("python3")
        .arg(&script)
        .args([host, port])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut client = Guard(client);
    let client_stdout = collect(client.0.stdout.take().expect("stdout"));
    let client_stderr = collect(client.0.stderr.take().expect("stderr"));
    let status = wait_for(&mut client.0, Duration::from_secs(25))
        .expect("the Python client finishes within 25 s");
    let out = client_stdout
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    let err = client_stderr
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success() && out.trim() == "OK",
        "python3 client: {status}\n--- stdout\n{out}--- stderr\n{err}"
    );

    let pid = echo.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {pid} failed");
    let status =
        wait_for(&mut echo.0, Duration::from_secs(10)).expect("echo exits within 10 s of SIGTERM");
    let summary = rest_rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    let echo_err = echo_stderr
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    assert!(
        status.success(),
        "echo exited with {status}\n{summary}\n{echo_err}"
    );
    assert!(
        summary.contains("served 1 connection ") && summary.contains("0 failed"),
        "{summary}"
    );
}
