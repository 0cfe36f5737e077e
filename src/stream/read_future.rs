//! The one future behind every `StreamReader` read: it polls one `Inbound::poll_*` function
//! and holds no data, so dropping it at any point loses no bytes (SEMANTICS A7).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::StreamError;
use crate::transport::conn::Conn;
use crate::transport::inbound::Inbound;

/// Where a reader's bytes come from: a connection (through its read door, which re-arms
/// the receive when a read resumes a paused buffer) or a buffer fed by hand.
#[derive(Debug)]
pub(super) enum Source {
    Conn(Rc<Conn>),
    Fed(Rc<RefCell<Inbound>>),
}

impl Source {
    /// Runs one read step on the inbound state.
    #[inline(always)]
    pub(super) fn read_with<T>(&self, step: impl FnOnce(&mut Inbound) -> T) -> T {
        match self {
            Source::Conn(conn) => conn.read_with(step),
            Source::Fed(inbound) => step(&mut inbound.borrow_mut()),
        }
    }

    /// Looks at the inbound state without reading.
    pub(super) fn look<T>(&self, look: impl FnOnce(&Inbound) -> T) -> T {
        match self {
            Source::Conn(conn) => conn.inbound(look),
            Source::Fed(inbound) => look(&inbound.borrow()),
        }
    }

    fn cancel_read(&self) {
        match self {
            Source::Conn(conn) => conn.cancel_read(),
            Source::Fed(inbound) => {
                if let Ok(mut inbound) = inbound.try_borrow_mut() {
                    inbound.cancel_read();
                }
            }
        }
    }
}

/// A read in progress. The `Inbound` is borrowed only inside `poll`, never across a
/// suspension.
pub(super) struct ReadFuture<'a, F> {
    source: &'a Source,
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
    pub(super) fn new(source: &'a Source, read: F) -> Self {
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
        let poll = this.source.read_with(|inbound| read(inbound, cx));
        this.state = if poll.is_ready() {
            State::Done
        } else {
            State::Waiting
        };
        poll
    }
}

impl<F> Drop for ReadFuture<'_, F> {
    fn drop(&mut self) {
        if self.state == State::Waiting {
            self.source.cancel_read();
        }
    }
}
