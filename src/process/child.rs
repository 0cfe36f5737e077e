//! [`Child`]: a running process, its pipes as streams, its exit awaited on the ring.

use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

use crate::{StreamReader, StreamWriter};

use super::pidfd::Pidfd;
use super::reap::Orphan;

/// A process started by [`Command::spawn`](super::Command::spawn) (asyncio's
/// `asyncio.subprocess.Process`).
///
/// The piped standard streams are public fields, to take or borrow: write to `stdin`,
/// read `stdout` and `stderr` until EOF. Waiting ([`wait`](Self::wait)) polls the child's
/// pidfd on the ring, so no thread blocks and no `SIGCHLD` handler is installed.
///
/// Dropping a `Child` whose process still runs does not stop it (unless
/// [`kill_on_drop`](super::Command::kill_on_drop)), but it is still reaped when it exits:
/// by a task on the runtime, or, once the runtime is gone, by a thread waiting for it. No
/// zombie is left either way.
///
/// ```
/// use ringstream::process::{Command, Stdio};
///
/// ringstream::run(async {
///     let mut child = Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let output = child.communicate(b"round trip").await?;
///     assert_eq!(output.stdout, b"round trip");
///     assert_eq!(child.returncode(), Some(0));
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "Process")]
pub struct Child {
    /// The child's standard input, if piped. Close it (or drop it) to send EOF.
    pub stdin: Option<StreamWriter>,
    /// The child's standard output, if piped.
    pub stdout: Option<StreamReader>,
    /// The child's standard error, if piped.
    pub stderr: Option<StreamReader>,
    pidfd: Pidfd,
    kill_on_drop: bool,
    /// False once [`into_watched`](Self::into_watched) gave the process to another owner,
    /// which then reaps it: the drop leaves it alone.
    owns_process: bool,
}

impl Child {
    /// Takes over a std child just spawned (not waited for by anyone): its pidfd, and its
    /// pipes as streams on this thread's runtime.
    pub(crate) fn adopt(mut std: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pid = std.id();
        let pidfd = match Pidfd::open(pid) {
            Ok(pidfd) => pidfd,
            Err(err) => {
                // Without a pidfd there is no other way to reap it: kill it and wait here.
                let _ = std.kill();
                let _ = std.wait();
                return Err(err);
            }
        };
        let (stdin, stdout, stderr) = (std.stdin.take(), std.stdout.take(), std.stderr.take());
        // Until the pipes are streams, a failure kills the child; the drop reaps it.
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            pidfd,
            kill_on_drop: true,
            owns_process: true,
        };
        child.stdin = stdin.map(crate::write_pipe).transpose()?;
        child.stdout = stdout.map(crate::read_pipe).transpose()?;
        child.stderr = stderr.map(crate::read_pipe).transpose()?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    /// Gives the process to a new owner: its pipes, a guard that reaps it (waiting on the
    /// ring, or from a thread if the guard is dropped first), and a handle to signal it.
    pub(crate) fn into_watched(mut self) -> Watched {
        self.owns_process = false;
        Watched {
            stdin: self.stdin.take(),
            stdout: self.stdout.take(),
            stderr: self.stderr.take(),
            reaper: Orphan::guard(self.pidfd.handover()),
            signals: self.pidfd.handover(),
        }
    }

    /// The process id.
    ///
    /// ```
    /// ringstream::run(async {
    ///     let mut child = ringstream::process::Command::new("true").spawn()?;
    ///     assert!(child.pid() > 0);
    ///     child.wait().await
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    #[doc(alias = "Process.pid")]
    #[doc(alias = "id")]
    pub fn pid(&self) -> u32 {
        self.pidfd.pid()
    }

    /// Waits for the process to exit and returns its status. The process's pipes are not
    /// read here: a child that fills a pipe nobody reads never exits (read them, or use
    /// [`communicate`](Self::communicate)).
    ///
    /// Cancel-safe: dropping the future leaves the child as it was.
    ///
    /// ```
    /// ringstream::run(async {
    ///     let mut child = ringstream::process::Command::shell("exit 3").spawn()?;
    ///     assert_eq!(child.wait().await?.code(), Some(3));
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// `Unsupported` outside a runtime; the child reaped elsewhere (`SIGCHLD` ignored, or
    /// a `waitpid(-1)` in this process); the ring failing.
    #[doc(alias = "Process.wait")]
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.pidfd.wait().await
    }

    /// The exit status if the process has exited (reaping it), `None` while it runs.
    ///
    /// ```
    /// ringstream::run(async {
    ///     let mut child = ringstream::process::Command::new("sleep").arg("60").spawn()?;
    ///     assert!(child.try_wait()?.is_none());
    ///     child.kill()?;
    ///     child.wait().await?;
    ///     assert!(child.try_wait()?.is_some());
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.pidfd.try_wait()
    }

    /// asyncio's `returncode`: the exit code, or `-N` for a process ended by signal `N`;
    /// `None` until the exit is seen by [`wait`](Self::wait), [`try_wait`](Self::try_wait)
    /// or [`communicate`](Self::communicate) (this call does not look).
    ///
    /// ```
    /// ringstream::run(async {
    ///     let mut child = ringstream::process::Command::new("sleep").arg("60").spawn()?;
    ///     assert_eq!(child.returncode(), None);
    ///     child.terminate()?;
    ///     child.wait().await?;
    ///     assert_eq!(child.returncode(), Some(-libc::SIGTERM));
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    #[doc(alias = "Process.returncode")]
    pub fn returncode(&self) -> Option<i32> {
        self.pidfd.status().map(returncode)
    }

    /// Sends `signal` (`libc::SIGHUP`, ...) through the pidfd, so it cannot reach another
    /// process that reused the number. Nothing once the process has exited.
    ///
    /// ```
    /// ringstream::run(async {
    ///     let mut child = ringstream::process::Command::new("sleep").arg("60").spawn()?;
    ///     child.send_signal(libc::SIGINT)?;
    ///     assert_eq!(child.wait().await?.code(), None);
    ///     assert_eq!(child.returncode(), Some(-libc::SIGINT));
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a number that is not a signal; `PermissionDenied` if the child
    /// changed its user.
    #[doc(alias = "Process.send_signal")]
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        self.pidfd.send_signal(signal)
    }

    /// Sends `SIGTERM` (asks the process to stop). See [`send_signal`](Self::send_signal).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    #[doc(alias = "Process.terminate")]
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends `SIGKILL` (stops the process at once); [`wait`](Self::wait) then reaps it.
    /// See [`send_signal`](Self::send_signal).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    #[doc(alias = "Process.kill")]
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Writes `input` to stdin and closes it, while reading stdout and stderr to EOF, then
    /// waits for the process (asyncio's `communicate`). The three run together, so a child
    /// that writes a lot before it reads all its input cannot deadlock on a full pipe.
    ///
    /// Only the piped streams take part (they are taken from the `Child`); the others are
    /// empty in the [`Output`]. A child that exits without reading all its input is not
    /// an error (the broken pipe is ignored, as asyncio does).
    ///
    /// ```
    /// use ringstream::process::{Command, Stdio};
    ///
    /// ringstream::run(async {
    ///     let mut child = Command::new("sort")
    ///         .stdin(Stdio::piped())
    ///         .stdout(Stdio::piped())
    ///         .spawn()?;
    ///     let output = child.communicate(b"b\na\n").await?;
    ///     assert_eq!(output.stdout, b"a\nb\n");
    ///     assert!(output.status.success());
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    /// Reading a pipe or waiting failed; writing `input` failed other than by the child
    /// closing its end.
    #[doc(alias = "Process.communicate")]
    pub async fn communicate(&mut self, input: &[u8]) -> io::Result<Output> {
        let (stdin, stdout, stderr) = (self.stdin.take(), self.stdout.take(), self.stderr.take());
        let (fed, stdout, stderr) =
            super::communicate::exchange(stdin, input, stdout, stderr).await;
        fed?;
        let (stdout, stderr) = (stdout?, stderr?);
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// A process given to another owner by [`Child::into_watched`].
pub(crate) struct Watched {
    pub(crate) stdin: Option<StreamWriter>,
    pub(crate) stdout: Option<StreamReader>,
    pub(crate) stderr: Option<StreamReader>,
    /// Reaps the process: wait on it.
    pub(crate) reaper: Orphan,
    /// Signals the process (never reaps it).
    pub(crate) signals: Pidfd,
}

/// asyncio's returncode of a status: the code, or minus the signal.
pub(crate) fn returncode(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => i32::MIN,
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid())
            .field("returncode", &self.returncode())
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .finish()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.owns_process || self.pidfd.status().is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.pidfd.send_signal(libc::SIGKILL);
        }
        if let Ok(Some(_)) = self.pidfd.try_wait() {
            return;
        }
        Orphan::reap(self.pidfd.handover());
    }
}
