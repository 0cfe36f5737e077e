//! A fatal ring failure: an `io_uring_enter` error that is not transient (the call was
//! refused by seccomp, the kernel ran out of memory, completions were dropped, ...). The
//! driver stores the first one, stops entering the ring, and every op then ends with it;
//! this file keeps what was stored and turns it into an error that names the cause and the
//! fix.

use std::fmt;
use std::io;

use crate::sys::errno_name;

/// Which `io_uring_enter` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum During {
    /// The loop's submit-and-wait.
    Wait,
    /// Making room in a full submission queue.
    SqFlush,
    /// Moving completions the kernel held back on CQ overflow into the CQ.
    OverflowFlush,
}

/// The stored failure: what failed and its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingFailure {
    pub(crate) errno: i32,
    pub(crate) during: During,
}

impl RingFailure {
    /// `err` from `io_uring_enter`, or `None` when it is transient and the call is simply
    /// retried on a later turn (EINTR, EAGAIN, EBUSY, ETIME: the caller handles those).
    pub(crate) fn of(err: &io::Error, during: During) -> Option<RingFailure> {
        match err.raw_os_error() {
            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY | libc::ETIME) => None,
            // An error without an errno cannot come from the syscall; EIO keeps it fatal.
            errno => Some(RingFailure {
                errno: errno.unwrap_or(libc::EIO),
                during,
            }),
        }
    }

    /// The completion result every op that can no longer complete gets: `-errno`.
    pub(crate) fn result(&self) -> i32 {
        -self.errno
    }

    /// The error for callers: the errno's kind, and a message with the cause and the fix.
    pub(crate) fn to_io_error(self) -> io::Error {
        let kind = io::Error::from_raw_os_error(self.errno).kind();
        io::Error::new(kind, self.to_string())
    }
}

impl fmt::Display for RingFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let during = match self.during {
            During::Wait => "",
            During::SqFlush => " while flushing a full submission queue",
            During::OverflowFlush => " while flushing completion-queue overflow",
        };
        let why = match self.errno {
            libc::EPERM => {
                "io_uring is refused by a seccomp filter (containers: allow io_uring_setup/\
                 io_uring_enter/io_uring_register in the seccomp profile, e.g. docker \
                 --security-opt seccomp=PROFILE.json) or by kernel.io_uring_disabled"
            }
            libc::ENOMEM => {
                "the kernel is out of memory for the ring's work; free memory or lower the \
                 load (fewer connections, smaller buffers)"
            }
            libc::EBADR => {
                "the kernel dropped completions (it could not allocate room for the \
                 completion-queue overflow), so some ops would never complete; free memory, \
                 or give the ring a larger completion queue (Builder::cq_entries)"
            }
            libc::EBADF | libc::ENXIO => {
                "the ring's descriptor is no longer valid (something in this process closed \
                 a descriptor it does not own); find the code that closes it"
            }
            libc::EFAULT => {
                "the kernel could not read the call's arguments or the ring's memory; this is \
                 a bug (memory corruption?): please report it"
            }
            libc::EINVAL => {
                "the kernel rejected the call's arguments; it may be too old for a feature in \
                 use (ringstream needs Linux 5.19+): run on a newer kernel, or report it"
            }
            libc::EOWNERDEAD => "the ring's SQPOLL kernel thread is gone; restart the runtime",
            _ => "unexpected failure",
        };
        let name = errno_name(self.errno);
        if name == "errno" {
            write!(f, "io_uring_enter failed{during}: errno {}", self.errno)?;
        } else {
            write!(f, "io_uring_enter failed{during}: {name}")?;
        }
        write!(
            f,
            " — {why}. The runtime stopped: every pending and later I/O op fails"
        )
    }
}

/// Tests make the next `io_uring_enter` fail with an errno of their choice, in-process.
pub(crate) mod inject {
    #[cfg(test)]
    thread_local! {
        static NEXT: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
    }

    /// Makes the next `io_uring_enter` on this thread fail with `errno` (test builds).
    #[cfg(test)]
    pub(crate) fn fail_next_enter(errno: i32) {
        NEXT.set(Some(errno));
    }

    /// Runs `enter` unless a test asked for a failure, which it then returns instead.
    pub(crate) fn enter(enter: impl FnOnce() -> std::io::Result<usize>) -> std::io::Result<usize> {
        #[cfg(test)]
        if let Some(errno) = NEXT.take() {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        enter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_not_failures() {
        for errno in [libc::EINTR, libc::EAGAIN, libc::EBUSY, libc::ETIME] {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(RingFailure::of(&err, During::Wait), None, "{errno}");
        }
    }

    #[test]
    fn eperm_names_seccomp_and_the_fix() {
        let err = io::Error::from_raw_os_error(libc::EPERM);
        let failure = RingFailure::of(&err, During::Wait).expect("fatal");
        let e = failure.to_io_error();
        let msg = e.to_string();
        assert!(msg.starts_with("io_uring_enter failed: EPERM — "), "{msg}");
        assert!(
            msg.contains("seccomp profile") && msg.contains("kernel.io_uring_disabled"),
            "{msg}"
        );
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(failure.result(), -libc::EPERM);
    }

    #[test]
    fn ebadr_says_completions_were_lost_and_where_it_failed() {
        let err = io::Error::from_raw_os_error(libc::EBADR);
        let msg = RingFailure::of(&err, During::OverflowFlush)
            .expect("fatal")
            .to_string();
        assert!(
            msg.starts_with(
                "io_uring_enter failed while flushing completion-queue overflow: EBADR"
            ),
            "{msg}"
        );
        assert!(msg.contains("dropped completions"), "{msg}");
    }

    #[test]
    fn unknown_errnos_keep_their_number() {
        let err = io::Error::from_raw_os_error(libc::EHWPOISON);
        let msg = RingFailure::of(&err, During::SqFlush)
            .expect("fatal")
            .to_string();
        assert!(msg.contains(&format!("errno {}", libc::EHWPOISON)), "{msg}");
    }
}
