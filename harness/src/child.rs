//! Child processes in tests: a guard that kills one on failure, pipes collected on
//! threads, bounded waits and runs, this test binary re-run for one test (under a limit or
//! a filter), and system tools. Used by the library's tests, the command's tests, and
//! `ringstream soak` (which runs the echo server as a child).

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

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

/// What a pipe given to [`collect`] held, once its EOF came: for a child that has exited,
/// at most 5 s (a grandchild may hold the pipe open); empty if it did not come.
pub fn collected(pipe: Receiver<String>) -> String {
    pipe.recv_timeout(Duration::from_secs(5))
        .unwrap_or_default()
}

/// Reads a pipe on a thread: its first line, sent as soon as it is read (a test waits for
/// it with a bound), then the rest, sent at EOF.
pub fn first_line_then_rest(
    pipe: impl Read + Send + 'static,
) -> (Receiver<String>, Receiver<String>) {
    let (first_tx, first_rx) = mpsc::channel();
    let (rest_tx, rest_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(pipe);
        let mut first = String::new();
        let _ = lines.read_line(&mut first);
        let _ = first_tx.send(first);
        let mut rest = String::new();
        let _ = lines.read_to_string(&mut rest);
        let _ = rest_tx.send(rest);
    });
    (first_rx, rest_rx)
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

/// Runs `command` (stdin closed) to completion and returns its output; fails the test,
/// with what it printed, if it takes longer than `limit` (a hang), and kills it then.
///
/// # Errors
/// When the command cannot be started (e.g. the program is not installed).
pub fn output_within(command: &mut Command, limit: Duration) -> io::Result<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut guard = Guard(child);
    let stdout = collect(guard.0.stdout.take().expect("stdout is piped"));
    let stderr = collect(guard.0.stderr.take().expect("stderr is piped"));
    let Some(status) = wait_for(&mut guard.0, limit) else {
        drop(guard); // kills it, which closes its pipes
        panic!(
            "{command:?} did not finish within {limit:?} (a hang)\nstdout: {}\nstderr: {}",
            collected(stdout),
            collected(stderr)
        );
    };
    Ok(Output {
        status,
        stdout: collected(stdout).into_bytes(),
        stderr: collected(stderr).into_bytes(),
    })
}

/// This test binary and the arguments that run only its test `name`, with its output
/// shown: for the half of a test that must run in a child process (under a resource limit
/// or a seccomp filter). The child half returns at once unless an environment variable
/// the parent sets says it is the child.
pub fn this_test(name: &str) -> (PathBuf, [&str; 4]) {
    let exe = std::env::current_exe().expect("test binary path");
    (exe, ["--exact", name, "--nocapture", "--test-threads=1"])
}

/// The path of a system tool (`prlimit`, `setpriv`), or `None` when it is not installed.
pub fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
}

/// The executables of the examples `names` of the package at `manifest_dir`, built by cargo
/// with the calling test's profile and `features`. Cargo gives tests no path to examples
/// (only to binaries), and builds them only for a whole `cargo test`: so the test asks
/// cargo for the build (a no-op when they are fresh) and reads the paths from its messages.
/// The target directory is the one cargo finds itself (`CARGO_TARGET_DIR` and config are
/// inherited). Fails the test when the build fails.
pub fn build_examples(
    manifest_dir: &str,
    names: &[&str],
    features: &[&str],
) -> Vec<(String, PathBuf)> {
    // A test runs from target/<profile dir>/deps/.
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .and_then(|dir| dir.file_name())
        .and_then(|name| name.to_str())
        .expect("the test runs from target/<profile>/deps");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .arg("build")
        .arg("--manifest-path")
        .arg(Path::new(manifest_dir).join("Cargo.toml"))
        .arg("--message-format=json");
    match profile_dir {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    for name in names {
        cargo.args(["--example", name]);
    }
    let output = output_within(&mut cargo, Duration::from_secs(600)).expect("run cargo");
    let messages = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo build of the examples failed\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    names
        .iter()
        .map(|name| {
            let path = messages
                .lines()
                .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
                .filter(|line| line.contains(&format!(r#""name":"{name}""#)))
                .find_map(|line| {
                    let (_, rest) = line.split_once(r#""executable":""#)?;
                    rest.split_once('"').map(|(path, _)| PathBuf::from(path))
                })
                .unwrap_or_else(|| panic!("cargo reported no executable for {name}"));
            (name.to_string(), path)
        })
        .collect()
}
