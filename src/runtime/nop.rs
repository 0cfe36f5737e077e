//! [`nop`]: one round trip through the ring with no I/O.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::driver::op::Op;
use crate::driver::ops;

/// Submits an `IORING_OP_NOP` and waits for its completion.
///
/// Useful to measure the cost of the submit/complete path, or to let every SQE queued so
/// far reach the kernel before going on.
///
/// ```
/// ringstream::run(async {
///     ringstream::nop().await.expect("the ring answers");
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// `Unsupported` when polled outside a ringstream runtime.
pub fn nop() -> Nop {
    Nop { op: None }
}

/// Future returned by [`nop`].
#[must_use = "futures do nothing unless awaited"]
pub struct Nop {
    op: Option<Op<ops::Nop>>,
}

impl Future for Nop {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.op.is_none() {
            let Some(core) = super::current_core() else {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "ringstream::nop polled outside a ringstream runtime",
                )));
            };
            self.op = Some(Op::submit(core.driver.clone(), ops::Nop));
        }
        let Some(op) = self.op.as_mut() else {
            return Poll::Pending;
        };
        match Pin::new(op).poll(cx) {
            Poll::Ready((c, _)) => {
                self.op = None;
                Poll::Ready(c.into_result().map(drop))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
