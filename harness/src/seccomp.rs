//! Running a program under a seccomp filter that refuses `io_uring_setup` or
//! `io_uring_enter` with EPERM (as container runtimes' profiles do), to check that the
//! library and the command report a refused ring instead of panicking. The filter comes
//! from `tests/support/seccomp_refuse.py` (python3, which `ci/install-deps.sh` installs);
//! without python3, or on an architecture the script has no filter for, [`under_filter`]
//! says so and returns `None` (the test skips).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The script that installs the filter and execs the program.
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/support/seccomp_refuse.py"
);
/// The script's exit code when it cannot install the filter here.
pub const SKIP: i32 = 77;
/// How long any child may take before the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Runs `program args` under a filter refusing `call` ("enter" or "setup"); `None` (with
/// the reason printed) when the filter cannot be installed here.
pub fn under_filter(call: &str, program: &str, args: &[&str], env: Option<&str>) -> Option<Output> {
    let mut command = Command::new("python3");
    command.arg(SCRIPT).arg(call).arg(program).args(args);
    if let Some(var) = env {
        command.env(var, "1");
    }
    let output = match run_bounded(command) {
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

/// Runs `command` to completion, killing it (and panicking) after `CHILD_LIMIT`.
pub fn run_bounded(mut command: Command) -> std::io::Result<Output> {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + CHILD_LIMIT;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output()?;
            panic!(
                "the child did not finish within {CHILD_LIMIT:?} (a hang)\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output()
}

/// No panic, no abort: a clean exit code and no "panicked" anywhere.
pub fn assert_no_panic(output: &Output, what: &str) {
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
