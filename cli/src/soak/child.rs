//! The echo server under soak: `ringstream echo` started as a child process (this same
//! executable), so its own memory and descriptors can be read from `/proc`.

use std::io;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use ringstream_harness::child::first_line_then_rest;

/// Longest wait for the child to print its address.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The grace period the child gets for its shutdown (the soak's connections are all
/// closed by then, so it only bounds a bug).
const CHILD_GRACE: &str = "2s";

/// Longest wait for the child to exit after SIGTERM, before it is killed.
const EXIT_LIMIT: Duration = Duration::from_secs(10);

/// A running `ringstream echo` child; killed if dropped while running.
pub struct EchoChild {
    child: Child,
    /// Where it listens (from its `listening on` line).
    pub addr: String,
    /// The rest of its stdout, once it has exited.
    rest: Receiver<String>,
}

impl EchoChild {
    /// Starts `ringstream echo --addr 127.0.0.1:0 --cores <cores>` and reads its address.
    /// Its stderr (its warnings) is this process's stderr.
    ///
    /// # Errors
    /// When it cannot start, or exits or stays silent instead of printing its address.
    pub fn start(cores: u16) -> io::Result<EchoChild> {
        let exe = std::env::current_exe()
            .map_err(|e| io::Error::new(e.kind(), format!("finding this executable: {e}")))?;
        let mut child = Command::new(&exe)
            .args(["echo", "--addr", "127.0.0.1:0", "--grace", CHILD_GRACE])
            .args(["--cores", &cores.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                io::Error::new(e.kind(), format!("starting {} echo: {e}", exe.display()))
            })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(io::Error::other("the echo server's stdout is not a pipe"));
        };
        let (first, rest) = first_line_then_rest(stdout);
        let mut server = EchoChild {
            child,
            addr: String::new(),
            rest,
        };
        let line = first.recv_timeout(START_LIMIT).unwrap_or_default();
        match line.trim().strip_prefix("listening on ") {
            Some(addr) => server.addr = addr.to_owned(),
            None => {
                return Err(io::Error::other(format!(
                    "the echo server did not print its address within {START_LIMIT:?} \
                     (it printed {line:?}; its errors are above)"
                )))
            }
        }
        Ok(server)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while it runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it with SIGTERM (killing it if that fails or takes over [`EXIT_LIMIT`]);
    /// its last line (the summary), or why there is none.
    pub fn stop(mut self) -> String {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + EXIT_LIMIT;
        while terminated && self.running() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return format!(
                "(the echo server did not exit within {EXIT_LIMIT:?} of SIGTERM; killed)"
            );
        }
        let rest = self
            .rest
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default();
        rest.lines().last().unwrap_or("(no summary)").to_owned()
    }
}

impl Drop for EchoChild {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
