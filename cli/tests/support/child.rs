//! The command's test support: the binary under test and a running `ringstream echo`, on
//! top of the child-process helpers every test package shares.
//! Included by `#[path]` from cli/tests/cli.rs and cli/tests/python_interop.rs.

// Each including test crate uses a different subset.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

pub use ringstream_harness::child::*;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ringstream");

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
        let (first, stdout) = first_line_then_rest(guard.0.stdout.take().expect("stdout"));
        let first = first
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
        let stdout = collected(self.stdout);
        let stderr = collected(self.stderr);
        assert!(
            status.success(),
            "echo exited with {status} after SIGTERM\n{stdout}\n{stderr}"
        );
        stdout
    }
}
