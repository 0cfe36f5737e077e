//! [`Command`]: what to run and how, then [`spawn`](Command::spawn).

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::Stdio;

use super::child::Child;

/// A process to start: `std::process::Command` with the child's pipes on the ring
/// (asyncio's `create_subprocess_exec` / `create_subprocess_shell` arguments).
///
/// Each of stdin, stdout and stderr is inherited unless set: [`Stdio::piped`] gives the
/// [`Child`] a [`StreamWriter`](crate::StreamWriter) / [`StreamReader`](crate::StreamReader)
/// for it, [`Stdio::null`] connects it to `/dev/null`.
///
/// ```
/// use ringstream::process::{Command, Stdio};
///
/// ringstream::run(async {
///     let mut child = Command::new("echo")
///         .arg("hello")
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let out = child.stdout.as_mut().expect("piped").read_to_end().await?;
///     assert_eq!(&out[..], b"hello\n");
///     assert!(child.wait().await?.success());
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
}

impl Command {
    /// Runs `program` (found in `PATH` if it has no `/`), with no arguments.
    #[doc(alias = "create_subprocess_exec")]
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Runs `cmdline` through `/bin/sh -c` (asyncio's `create_subprocess_shell`): pipes,
    /// redirections and globs work, and so does shell injection: never put untrusted text
    /// in `cmdline`.
    ///
    /// ```
    /// use ringstream::process::Command;
    ///
    /// ringstream::run(async {
    ///     let output = Command::shell("echo a; echo b >&2").output().await?;
    ///     assert_eq!(output.stdout, b"a\n");
    ///     assert_eq!(output.stderr, b"b\n");
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    #[doc(alias = "create_subprocess_shell")]
    pub fn shell(cmdline: impl AsRef<OsStr>) -> Command {
        let mut std = std::process::Command::new("/bin/sh");
        std.arg("-c").arg(cmdline);
        Command::from(std)
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets one environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes one environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds afterwards).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory (`cwd`).
    #[doc(alias = "cwd")]
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input: [`Stdio::piped`] gives [`Child::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self
    }

    /// The child's standard output: [`Stdio::piped`] gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's standard error: [`Stdio::piped`] gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Whether dropping the [`Child`] while its process runs sends it `SIGKILL` (default:
    /// no, as std and tokio). Either way the dropped child is reaped once it exits, so it
    /// leaves no zombie: by a task on the runtime, or a thread if the runtime is gone.
    ///
    /// ```
    /// use ringstream::process::Command;
    ///
    /// ringstream::run(async {
    ///     let child = Command::new("sleep").arg("60").kill_on_drop(true).spawn()?;
    ///     drop(child); // killed, then reaped in the background
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap()
    /// .unwrap();
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The std command, for what this builder does not wrap (`uid`, `pre_exec`, ...).
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    ///
    /// let mut command = ringstream::process::Command::new("true");
    /// command.as_std_mut().arg0("renamed");
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the process (asyncio's `create_subprocess_exec`). Its pipes are on this
    /// thread's runtime.
    ///
    /// # Errors
    /// `Unsupported` outside a runtime; the program not found or not executable (with its
    /// name); a pidfd that cannot be opened (Linux before 5.4).
    #[doc(alias = "create_subprocess_exec")]
    #[doc(alias = "create_subprocess_shell")]
    pub fn spawn(&mut self) -> io::Result<Child> {
        if crate::runtime::current_core().is_none() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Command::spawn called outside a ringstream runtime: its pipes and wait run \
                 on the ring; spawn inside Runtime::block_on or ringstream::run",
            ));
        }
        let child = self.std.spawn().map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot start {:?}: {err}", self.std.get_program()),
            )
        })?;
        Child::adopt(child, self.kill_on_drop)
    }

    /// Runs the process to the end with stdout and stderr captured (stdin as set:
    /// inherited unless set) and returns its status and output.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::communicate`].
    pub async fn output(&mut self) -> io::Result<std::process::Output> {
        self.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.spawn()?;
        child.communicate(&[]).await
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
        }
    }
}
