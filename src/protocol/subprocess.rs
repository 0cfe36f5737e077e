//! [`SubprocessProtocol`]: the callbacks for a child process and its pipes, and
//! [`subprocess_exec`], which starts one (asyncio's `loop.subprocess_exec`).

use std::io;

use bytes::Bytes;

use crate::process::Command;

use super::subprocess_transport::SubprocessTransport;

/// The callbacks for a child process (asyncio's `SubprocessProtocol`). Every method has an
/// empty default.
///
/// Order: `connection_made` first; then, per piped stream (`fd` 0 stdin, 1 stdout, 2
/// stderr), any number of `pipe_data_received(fd, ..)` (1 and 2 only) and exactly one
/// `pipe_connection_lost(fd, ..)` after them; `process_exited` once, when the exit is seen
/// (before or after the pipes end: a child may close its pipes and run on, or exit while
/// a grandchild keeps them open); `connection_lost` exactly once, last, when the process
/// has exited and every pipe is closed. Callbacks never nest: one called from inside
/// another (a `close()` in `pipe_data_received`) runs right after it returns.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// use ringstream::process::{Command, Stdio};
/// use ringstream::protocol::{subprocess_exec, SubprocessProtocol};
///
/// /// Collects stdout; says when the process and its pipes are done.
/// struct Collect(Rc<RefCell<(Vec<u8>, bool)>>);
///
/// impl SubprocessProtocol for Collect {
///     fn pipe_data_received(&mut self, fd: i32, data: bytes::Bytes) {
///         if fd == 1 {
///             self.0.borrow_mut().0.extend_from_slice(&data);
///         }
///     }
///     fn connection_lost(&mut self, _err: Option<std::io::Error>) {
///         self.0.borrow_mut().1 = true;
///     }
/// }
///
/// ringstream::run(async {
///     let state = Rc::new(RefCell::new((Vec::new(), false)));
///     let shared = state.clone();
///     let transport = subprocess_exec(
///         move || Collect(shared),
///         Command::new("echo").arg("hi").stdout(Stdio::piped()),
///     )?;
///     while !state.borrow().1 {
///         ringstream::time::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(state.borrow().0, b"hi\n");
///     assert_eq!(transport.get_returncode(), Some(0));
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "asyncio.SubprocessProtocol")]
pub trait SubprocessProtocol: 'static {
    /// The process started; `transport` is its handle (keep a clone to write to stdin,
    /// signal it, or read its returncode later). Always the first callback.
    #[doc(alias = "BaseProtocol.connection_made")]
    fn connection_made(&mut self, transport: SubprocessTransport) {
        let _ = transport;
    }

    /// The child wrote `data` to its stdout (`fd` 1) or stderr (`fd` 2); never empty.
    #[doc(alias = "SubprocessProtocol.pipe_data_received")]
    fn pipe_data_received(&mut self, fd: i32, data: Bytes) {
        let _ = (fd, data);
    }

    /// The pipe for `fd` closed: `None` at EOF or after `close()`, the error otherwise
    /// (writing to a stdin the child closed: `BrokenPipe`).
    #[doc(alias = "SubprocessProtocol.pipe_connection_lost")]
    fn pipe_connection_lost(&mut self, fd: i32, err: Option<io::Error>) {
        let _ = (fd, err);
    }

    /// The process exited (reaped; `get_returncode` has its code).
    #[doc(alias = "SubprocessProtocol.process_exited")]
    fn process_exited(&mut self) {}

    /// The process has exited and every pipe is closed: `None`, or the error that ended
    /// the watch on the process: it was reaped elsewhere, or the runtime shut down while
    /// it ran (`ConnectionAborted`; a thread reaps it when it exits). Always the last
    /// callback.
    #[doc(alias = "BaseProtocol.connection_lost")]
    fn connection_lost(&mut self, err: Option<io::Error>) {
        let _ = err;
    }

    /// Stdin's write buffer went over its high watermark: stop writing to it until
    /// `resume_writing`.
    #[doc(alias = "BaseProtocol.pause_writing")]
    fn pause_writing(&mut self) {}

    /// Stdin's write buffer drained to its low watermark after a `pause_writing`.
    #[doc(alias = "BaseProtocol.resume_writing")]
    fn resume_writing(&mut self) {}
}

/// Starts `command` and runs the protocol `factory` makes on it (asyncio's
/// `loop.subprocess_exec`; for `loop.subprocess_shell` pass
/// [`Command::shell`]). Only the streams the command pipes ([`Stdio::piped`](crate::process::Stdio::piped))
/// reach the protocol; the others are inherited or null as the command says. The
/// protocol's `connection_made` has run when this returns.
///
/// See [`SubprocessProtocol`] for an example.
///
/// # Errors
/// As [`Command::spawn`].
#[doc(alias = "loop.subprocess_exec")]
#[doc(alias = "loop.subprocess_shell")]
pub fn subprocess_exec<P: SubprocessProtocol>(
    factory: impl FnOnce() -> P,
    command: &mut Command,
) -> io::Result<SubprocessTransport> {
    let child = command.spawn()?;
    SubprocessTransport::start(child.into_watched(), Box::new(factory()))
}
