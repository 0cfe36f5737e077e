//! [`yield_now`]: give the other ready tasks (and the ring) a turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the runtime: the task goes to the back of the run queue.
///
/// ```
/// ringstream::run(async {
///     for _ in 0..3 {
///         ringstream::yield_now().await;
///     }
/// })
/// .unwrap();
/// ```
#[doc(alias = "asyncio.sleep(0)")]
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
