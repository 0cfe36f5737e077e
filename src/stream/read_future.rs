//! The one future behind every `StreamReader` read: it polls one `Inbound::poll_*` function
//! and holds no data, so dropping it at any point loses no bytes (SEMANTICS A7).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::StreamError;
use crate::transport::inbound::Inbound;
use crate::transport::read_side::ReadSide;

/// A read in progress. The `Inbound` is borrowed only inside `poll`, never across a
/// suspension.
pub(super) struct ReadFuture<'a, F> {
    source: &'a ReadSide,
    read: F,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NotWaiting,
    Waiting,
    Done,
}

impl<'a, F> ReadFuture<'a, F>
where
    F: FnMut(&mut Inbound, &mut Context<'_>) -> Poll<Result<Bytes, StreamError>> + Unpin,
{
    pub(super) fn new(source: &'a ReadSide, read: F) -> Self {
        Self {
            source,
            read,
            state: State::NotWaiting,
        }
    }
}

impl<F> Future for ReadFuture<'_, F>
where
    F: FnMut(&mut Inbound, &mut Context<'_>) -> Poll<Result<Bytes, StreamError>> + Unpin,
{
    type Output = Result<Bytes, StreamError>;

    /// `#[inline]`: the read's fast path then merges into the caller's state machine
    /// instead of handing a 56-byte `Poll<Result<..>>` back through memory (see
    /// `docs/decisions.md`, "Reader fast paths").
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.state == State::Done {
            // Reading again would consume bytes nobody receives.
            return Poll::Ready(Err(StreamError::Io(io::Error::other(
                "a read future was polled after it completed",
            ))));
        }
        let read = &mut this.read;
        let poll = this.source.step(|inbound| read(inbound, cx));
        this.state = if poll.is_ready() {
            // The flow-control check runs when the future is dropped, right after this
            // result is taken (see `ReadSide::after_step`).
            State::Done
        } else {
            this.source.after_step();
            State::Waiting
        };
        poll
    }
}

impl<F> Drop for ReadFuture<'_, F> {
    fn drop(&mut self) {
        if self.state == State::Done {
            self.source.after_step();
        }
        if self.state == State::Waiting {
            self.source.cancel_read();
        }
    }
}
