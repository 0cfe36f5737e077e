//! Futures over driver slots: [`Op`] for single-shot ops and [`MultiOp`] for multishot ops.
//!
//! Both own the resources the kernel may touch (buffers, iovecs, sockaddrs). Dropping one
//! before its last completion hands the resources to the slot, which frees them when the
//! last CQE arrives, and asks the kernel to cancel the op.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::{Completion, Driver};

/// A submitted single-shot op. Resolves to its completion and gives the resources back.
pub(crate) struct Op<T: 'static> {
    driver: Rc<Driver>,
    key: usize,
    resources: Option<T>,
    done: bool,
}

impl<T: 'static> Op<T> {
    /// Queues `sqe` (submitted on the next ring entry). `resources` must own everything
    /// the SQE points to.
    pub(crate) fn submit(driver: Rc<Driver>, sqe: squeue::Entry, resources: T) -> Op<T> {
        let key = driver.submit_waiting(sqe);
        Op {
            driver,
            key,
            resources: Some(resources),
            done: false,
        }
    }
}

impl<T: 'static> Unpin for Op<T> {}

impl<T: 'static> Future for Op<T> {
    type Output = (Completion, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(
            !self.done,
            "an io_uring op future was polled after it completed"
        );
        match self.driver.poll_op(self.key, cx) {
            Poll::Ready(c) => {
                self.done = true;
                match self.resources.take() {
                    Some(r) => Poll::Ready((c, r)),
                    None => unreachable!("op resources are taken only on completion"),
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: 'static> Drop for Op<T> {
    fn drop(&mut self) {
        if !self.done {
            let resources = self.resources.take().map(|r| Box::new(r) as Box<dyn Any>);
            self.driver.orphan(self.key, resources);
        }
    }
}

/// A submitted multishot op: a stream of completions ending after one without
/// `IORING_CQE_F_MORE`.
pub(crate) struct MultiOp<T: 'static> {
    driver: Rc<Driver>,
    key: usize,
    resources: Option<T>,
    finished: bool,
}

impl<T: 'static> MultiOp<T> {
    pub(crate) fn submit(driver: Rc<Driver>, sqe: squeue::Entry, resources: T) -> MultiOp<T> {
        let key = driver.submit_stream(sqe);
        MultiOp {
            driver,
            key,
            resources: Some(resources),
            finished: false,
        }
    }

    /// The next completion, or `None` once the op has ended.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let next = self.driver.poll_stream(self.key, cx);
        match next {
            Poll::Ready(Some(c)) if !c.more() => {
                self.finished = true;
                Poll::Ready(Some(c))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }

    /// Waits for the next completion.
    pub(crate) async fn next(&mut self) -> Option<Completion> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Asks the kernel to stop the op; the stream ends with its final completion.
    pub(crate) fn cancel(&self) {
        if !self.finished {
            self.driver.cancel(self.key);
        }
    }
}

impl<T: 'static> Drop for MultiOp<T> {
    fn drop(&mut self) {
        let resources = self.resources.take().map(|r| Box::new(r) as Box<dyn Any>);
        if self.finished {
            drop(resources);
        } else {
            self.driver.orphan(self.key, resources);
        }
    }
}
