//! Running `ringstream` as a child process in tests: a guard that kills it on failure,
//! pipes collected on threads, bounded waits, and a running `ringstream echo`.
//! Included by `#[path]` from cli/tests/cli.rs and cli/tests/python_interop.rs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ringstream");

/// Kills the child when dropped (a failing test leaves no process behind).
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Collects a pipe on a thread, so a chatty child never blocks on a full pipe.
pub fn collect(mut pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Waits for `child` to exit, at most `limit`.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
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

/// Sends `kill -<signal>` (`TERM`, `INT`) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {pid} failed");
}

/// A running `ringstream echo`.
pub struct Echo {
    guard: Guard,
    /// What it listens on, from its first line.
    pub addr: String,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Echo {
    /// Starts `ringstream echo args...` and reads the address from its first line.
    pub fn start(args: &[&str]) -> Echo {
        let child = Command::new(BIN)
            .arg("echo")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ringstream echo");
        let mut guard = Guard(child);
        let stderr = collect(guard.0.stderr.take().expect("stderr"));
        let mut lines = BufReader::new(guard.0.stdout.take().expect("stdout"));
        let (first_tx, first_rx) = mpsc::channel();
        let (rest_tx, stdout) = mpsc::channel();
        thread::spawn(move || {
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = first_tx.send(first);
            let mut rest = String::new();
            let _ = lines.read_to_string(&mut rest);
            let _ = rest_tx.send(rest);
        });
        let first = first_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("echo prints its address within 10 s");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let err = stderr
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or_default();
                panic!("unexpected first line {first:?}; stderr: {err}")
            })
            .to_owned();
        Echo {
            guard,
            addr,
            stdout,
            stderr,
        }
    }

    /// Sends SIGTERM and expects a clean exit within 10 s; returns its stdout after the
    /// first line.
    pub fn terminate(mut self) -> String {
        signal(&self.guard.0, "TERM");
        let status = wait_for(&mut self.guard.0, Duration::from_secs(10))
            .expect("echo exits within 10 s of SIGTERM");
        let stdout = self
            .stdout
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        assert!(
            status.success(),
            "echo exited with {status} after SIGTERM\n{stdout}\n{stderr}"
        );
        stdout
    }
}
