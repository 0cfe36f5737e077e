//! Subprocesses (asyncio's `asyncio.subprocess`): start a [`Command`], talk to the
//! [`Child`] through its pipes as streams, wait for it on the ring.
//!
//! | asyncio | ringstream |
//! |---|---|
//! | `create_subprocess_exec(prog, *args, stdin=PIPE, ...)` | `Command::new(prog).args(args).stdin(Stdio::piped()).spawn()` |
//! | `create_subprocess_shell(cmd, ...)` | [`Command::shell`]`(cmd).spawn()` |
//! | `proc.stdin` / `proc.stdout` / `proc.stderr` | [`Child::stdin`] ([`StreamWriter`](crate::StreamWriter)), [`Child::stdout`] / [`Child::stderr`] ([`StreamReader`](crate::StreamReader)) |
//! | `await proc.wait()`, `proc.returncode` | [`Child::wait`], [`Child::try_wait`], [`Child::returncode`] |
//! | `proc.send_signal` / `terminate` / `kill` | [`Child::send_signal`], [`Child::terminate`], [`Child::kill`] |
//! | `await proc.communicate(input)` | [`Child::communicate`], [`Command::output`] |
//!
//! How a child is waited for: `pidfd_open` right after the fork (the child is not reaped
//! yet, so its number cannot be reused), then a one-shot `POLLIN` poll on the pidfd
//! through the ring, which completes when the child exits, then `waitid(P_PIDFD,
//! WEXITED | WNOHANG)` to reap it. `IORING_OP_WAITID` would save the `waitid` call but
//! needs Linux 6.7; the poll works from 5.4 (pidfds' `waitid`) and reuses the poll op.
//! Nothing touches `SIGCHLD`, so other code's children are not reaped by mistake; code
//! that sets `SIGCHLD` to `SIG_IGN` makes the kernel reap ours too, and waiting reports it.

mod child;
mod command;
mod communicate;
mod pidfd;
mod reap;

pub(crate) use child::{returncode, Watched};
pub(crate) use pidfd::Pidfd;
pub(crate) use reap::Orphan;

pub use child::Child;
pub use command::Command;
pub use std::process::{ExitStatus, Output, Stdio};
