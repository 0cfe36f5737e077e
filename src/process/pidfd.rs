//! [`Pidfd`]: one child process by its pidfd: its exit status, waited for on the ring, and
//! signals that cannot reach a process that reused its number.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::Rc;

use crate::driver::op::Op;
use crate::driver::ops;
use crate::sys;

/// A child of this process, known by its pidfd, and its status once reaped.
#[derive(Debug)]
pub(crate) struct Pidfd {
    pid: u32,
    /// Shared with a poll op waiting on it, which keeps it open until its last completion.
    fd: Rc<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Pidfd {
    /// Opens a pidfd for `pid`, a child of this process not reaped yet (so its number
    /// cannot have been reused).
    pub(crate) fn open(pid: u32) -> io::Result<Pidfd> {
        let fd = sys::pidfd_open(pid).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "pidfd_open({pid}) failed: {err} — ringstream waits for children through \
                     pidfds, which need Linux 5.4 or newer and a seccomp policy that allows \
                     pidfd_open"
                ),
            )
        })?;
        Ok(Pidfd {
            pid,
            fd: Rc::new(fd),
            status: None,
        })
    }

    /// A second handle on the same unreaped process, for a reaper to keep after this one
    /// is dropped (the pidfd stays open while either holds it).
    pub(crate) fn handover(&self) -> Pidfd {
        Pidfd {
            pid: self.pid,
            fd: self.fd.clone(),
            status: self.status,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status, once reaped.
    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Reaps the child if it has exited; `None` while it runs.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            let raw =
                sys::waitid_pidfd(&self.fd, false).map_err(|err| reap_error(self.pid, err))?;
            self.status = raw.map(ExitStatus::from_raw);
        }
        Ok(self.status)
    }

    /// Waits for the child to exit (a poll on the pidfd through the ring: no thread
    /// blocks), then reaps it.
    ///
    /// Cancel-safe: dropping the future leaves the child as it was.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let Some(core) = crate::runtime::current_core() else {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "waiting for a child process outside a ringstream runtime: await it \
                     inside Runtime::block_on or ringstream::run",
                ));
            };
            let poll = ops::Poll::once_holding(self.fd.clone(), libc::POLLIN);
            let (completion, _) = Op::submit(core.driver.clone(), poll).await;
            if let Some(err) = ops::Poll::error_of(completion) {
                return Err(err);
            }
        }
    }

    /// Waits for the child on the calling thread (blocking), then reaps it: for a child
    /// nobody else will wait for once its runtime is gone. A thread of its own, as the
    /// pidfd is this thread's: the returned closure owns a duplicate and may go anywhere.
    pub(crate) fn blocking_reaper(&self) -> io::Result<impl FnOnce() -> io::Result<()> + Send> {
        let (pid, fd) = (self.pid, self.fd.try_clone()?);
        Ok(move || {
            sys::waitid_pidfd(&fd, true)
                .map(drop)
                .map_err(|err| reap_error(pid, err))
        })
    }

    /// Sends `signal`; nothing once the child is reaped (the pidfd names no process then).
    pub(crate) fn send_signal(&self, signal: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match sys::pidfd_send_signal(&self.fd, signal) {
            // Exited but not yet reaped: the signal has nothing left to do.
            Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("sending signal {signal} to process {}: {err}", self.pid),
            )),
            Ok(()) => Ok(()),
        }
    }
}

fn reap_error(pid: u32, err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ECHILD) {
        return io::Error::new(
            err.kind(),
            format!(
                "process {pid} was reaped elsewhere (SIGCHLD set to SIG_IGN, or a waitpid(-1) \
                 in this process); leave SIGCHLD at its default and wait for ringstream's \
                 children through ringstream"
            ),
        );
    }
    io::Error::new(err.kind(), format!("waitid for process {pid}: {err}"))
}
