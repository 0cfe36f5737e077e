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
#[allow(
    dead_code,
    reason = "multishot futures: used by tests now, by multishot accept in the server"
)]
pub(crate) struct MultiOp<T: 'static> {
    driver: Rc<Driver>,
    key: usize,
    resources: Option<T>,
    finished: bool,
}

#[allow(
    dead_code,
    reason = "multishot futures: used by tests now, by multishot accept in the server"
)]
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    use io_uring::{opcode, types};

    use super::*;
    use crate::runtime::current_core;
    use crate::{yield_now, Builder, Runtime};

    fn driver() -> Rc<Driver> {
        current_core().expect("inside a runtime").driver.clone()
    }

    /// Polls `f` once with a no-op waker.
    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    async fn wait_for_ops(driver: &Driver, target: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while driver.ops_in_flight() > target && Instant::now() < deadline {
            crate::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[test]
    fn dropped_recv_futures_keep_their_buffer_until_the_last_cqe() {
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let driver = driver();
            let baseline = driver.ops_in_flight();
            for i in 0..10_000u32 {
                let mut buf = vec![0u8; 64];
                let sqe = opcode::Recv::new(types::Fd(a.as_raw_fd()), buf.as_mut_ptr(), 64).build();
                let mut op = Op::submit(driver.clone(), sqe, buf);
                assert!(poll_once(&mut op).is_pending(), "nobody wrote yet");
                if i % 2 == 0 {
                    // Half the time the SQE reaches the kernel before the drop.
                    yield_now().await;
                }
                drop(op);
                b.write_all(b"x").expect("write");
            }
            wait_for_ops(&driver, baseline).await;
            assert_eq!(
                driver.ops_in_flight(),
                baseline,
                "every orphaned recv was freed at its last completion"
            );
        });
    }

    #[test]
    fn every_completion_is_delivered_once_when_the_cq_overflows() {
        let mut builder = Builder::new();
        builder.entries(4).cq_entries(8);
        let rt = builder.build().expect("runtime");
        let stats = rt.block_on(async {
            let driver = driver();
            // 400 NOPs queued in one go: 100 SQ flushes, 50 CQs' worth of completions.
            let mut ops: Vec<_> = (0..400)
                .map(|_| Op::submit(driver.clone(), opcode::Nop::new().build(), ()))
                .collect();
            let mut done = vec![0u32; ops.len()];
            let deadline = Instant::now() + Duration::from_secs(10);
            while done.contains(&0) && Instant::now() < deadline {
                for (i, op) in ops.iter_mut().enumerate() {
                    if done[i] == 0 {
                        if let Poll::Ready((c, ())) = poll_once(op) {
                            assert_eq!(c.result, 0);
                            done[i] += 1;
                        }
                    }
                }
                yield_now().await;
            }
            assert!(
                done.iter().all(|&d| d == 1),
                "every NOP completed exactly once"
            );
            driver.stats()
        });
        assert!(stats.sq_full_flushes > 0, "the SQ filled up: {stats:?}");
        assert!(
            stats.cq_overflow_flushes > 0,
            "the CQ overflowed: {stats:?}"
        );
        assert_eq!(rt.stats().ops_in_flight, 0);
    }

    #[test]
    fn a_multishot_op_delivers_every_completion_then_ends() {
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let ts = Box::new(types::Timespec::new().nsec(1_000_000));
            let sqe = opcode::Timeout::new(&*ts as *const _)
                .count(3)
                .flags(types::TimeoutFlags::MULTISHOT)
                .build();
            let mut op = MultiOp::submit(driver(), sqe, ts);
            let mut seen = Vec::new();
            while let Some(c) = op.next().await {
                seen.push((c.result, c.more()));
                assert!(seen.len() <= 3, "at most 3 expirations: {seen:?}");
            }
            let etime = -libc::ETIME;
            assert_eq!(seen, vec![(etime, true), (etime, true), (etime, false)]);
        });
        assert_eq!(rt.stats().ops_in_flight, 0);
    }

    #[test]
    fn dropping_a_running_multishot_op_cancels_it_and_frees_the_slot() {
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let driver = driver();
            let ts = Box::new(types::Timespec::new().nsec(1_000_000));
            // count 0: fires forever until cancelled.
            let sqe = opcode::Timeout::new(&*ts as *const _)
                .flags(types::TimeoutFlags::MULTISHOT)
                .build();
            let mut op = MultiOp::submit(driver.clone(), sqe, ts);
            assert!(op.next().await.expect("first expiry").more());
            drop(op);
            wait_for_ops(&driver, 0).await;
            assert_eq!(driver.ops_in_flight(), 0);
        });
    }
}
