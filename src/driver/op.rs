//! [`Op`]: a future over one single-shot op's slot.
//!
//! It owns the op (and so every resource the kernel may touch). Dropping it before the
//! completion hands the op to the slot, which frees it when the last CQE arrives, and asks
//! the kernel to cancel the op.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::ops::OpCode;
use super::{Completion, Driver};

/// A submitted single-shot op. Resolves to its completion and gives the op back.
pub(crate) struct Op<T: OpCode> {
    driver: Rc<Driver>,
    key: usize,
    op: Option<T>,
    done: bool,
}

impl<T: OpCode> Op<T> {
    /// Queues `op` (submitted on the next ring entry).
    pub(crate) fn submit(driver: Rc<Driver>, op: T) -> Op<T> {
        let key = driver.submit_waiting(&op);
        Op {
            driver,
            key,
            op: Some(op),
            done: false,
        }
    }
}

impl<T: OpCode> Unpin for Op<T> {}

impl<T: OpCode> Future for Op<T> {
    type Output = (Completion, T);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(
            !self.done,
            "an io_uring op future was polled after it completed"
        );
        match self.driver.poll_op(self.key, cx) {
            Poll::Ready(c) => {
                self.done = true;
                match self.op.take() {
                    Some(r) => Poll::Ready((c, r)),
                    None => unreachable!("the op is taken only on completion"),
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: OpCode> Drop for Op<T> {
    fn drop(&mut self) {
        if !self.done {
            let resources = self.op.take().map(|r| Box::new(r) as Box<dyn Any>);
            self.driver.orphan(self.key, resources);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::driver::ops::{HandlerOp, Nop, Poll as PollOp, Recv};
    use crate::driver::CompletionHandler;
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
    fn dropped_recv_futures_are_freed_at_the_last_cqe_and_give_their_buffer_back() {
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let driver = driver();
            let group = driver.with_recv_buffers(|r| r.group()).expect("ring");
            let baseline = driver.ops_in_flight();
            for i in 0..2_000u32 {
                let mut op = Op::submit(driver.clone(), Recv::new(a.as_raw_fd(), group));
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
            let (available, count) = driver
                .with_recv_buffers(|r| (r.available(), r.count()))
                .expect("ring");
            assert_eq!(available, count, "a receive buffer was not given back");
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
            let mut ops: Vec<_> = (0..400).map(|_| Op::submit(driver.clone(), Nop)).collect();
            let mut done = vec![0u32; ops.len()];
            let deadline = Instant::now() + Duration::from_secs(10);
            while done.contains(&0) && Instant::now() < deadline {
                for (i, op) in ops.iter_mut().enumerate() {
                    if done[i] == 0 {
                        if let Poll::Ready((c, Nop)) = poll_once(op) {
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

    /// Records what a handler op delivers: (result, more, whether the op came back).
    #[derive(Default)]
    struct Recorder(RefCell<Vec<(i32, bool, Option<i16>)>>);

    impl CompletionHandler for Recorder {
        fn on_completion(&self, _driver: &Driver, c: Completion, op: Option<HandlerOp>) {
            let events = match op {
                Some(HandlerOp::Poll(poll)) => Some(poll.events()),
                Some(other) => panic!("another op came back: {other:?}"),
                None => None,
            };
            self.0.borrow_mut().push((c.result, c.more(), events));
        }
    }

    #[test]
    fn a_handler_op_stays_armed_and_comes_back_with_its_last_completion() {
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let driver = driver();
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let recorder = Rc::new(Recorder::default());
            let key = driver.submit_handler(
                PollOp::multishot(a.as_raw_fd(), libc::POLLIN),
                recorder.clone(),
            );
            b.write_all(b"x").expect("write");
            let deadline = Instant::now() + Duration::from_secs(10);
            while recorder.0.borrow().is_empty() && Instant::now() < deadline {
                yield_now().await;
            }
            driver.cancel(key);
            wait_for_ops(&driver, 0).await;
            let seen = recorder.0.borrow().clone();
            assert!(seen.len() >= 2, "a readiness and the end: {seen:?}");
            assert!(
                seen[..seen.len() - 1]
                    .iter()
                    .all(|&(res, more, op)| res > 0 && more && op.is_none()),
                "armed completions keep the op: {seen:?}"
            );
            assert_eq!(
                seen.last().copied(),
                Some((-libc::ECANCELED, false, Some(libc::POLLIN))),
                "the last completion gives the op back"
            );
            assert_eq!(driver.ops_in_flight(), 0);
        });
    }
}
