//! `IORING_OP_POLL_ADD`: wait until a descriptor is ready.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::OpCode;
use crate::driver::Completion;

/// Waits for `events` (`POLLIN`, `POLLOUT`) on a descriptor: once, or on every readiness
/// change while it stays armed (multishot).
#[derive(Debug)]
pub(crate) struct Poll {
    fd: i32,
    events: i16,
    multishot: bool,
    /// The descriptor, for an op that keeps it open itself (its owner may close its copy
    /// while the op waits in a slot).
    _held: Option<Rc<OwnedFd>>,
}

impl Poll {
    /// One readiness completion.
    pub(crate) fn once(fd: i32, events: i16) -> Poll {
        Poll {
            fd,
            events,
            multishot: false,
            _held: None,
        }
    }

    /// One readiness completion, keeping `fd` open until the op's last completion.
    pub(crate) fn once_holding(fd: Rc<OwnedFd>, events: i16) -> Poll {
        Poll {
            fd: fd.as_raw_fd(),
            events,
            multishot: false,
            _held: Some(fd),
        }
    }

    /// A completion per readiness, until cancelled.
    pub(crate) fn multishot(fd: i32, events: i16) -> Poll {
        Poll {
            fd,
            events,
            multishot: true,
            _held: None,
        }
    }

    /// The events waited for.
    pub(crate) fn events(&self) -> i16 {
        self.events
    }

    /// The error a completion carries: `None` when the descriptor is ready or the poll was
    /// cancelled.
    pub(crate) fn error_of(c: Completion) -> Option<io::Error> {
        (c.result < 0 && c.result != -libc::ECANCELED)
            .then(|| io::Error::from_raw_os_error(-c.result))
    }
}

// SAFETY: the SQE points at no memory.
unsafe impl OpCode for Poll {
    fn sqe(&self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd), self.events as u16 as u32)
            .multi(self.multishot)
            .build()
    }
}
