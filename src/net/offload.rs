//! Running a blocking call (name resolution, a blocking connect) on a short-lived helper
//! thread, so the ring's thread never blocks; the result comes back through a waker.

use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

struct Slot<T> {
    result: Option<T>,
    waker: Option<Waker>,
}

/// Runs `f` on a new thread and waits for its result without blocking the runtime.
pub(crate) async fn offload<T, F>(name: &str, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let theirs = slot.clone();
    std::thread::Builder::new()
        .name(format!("ringstream-{name}"))
        .spawn(move || {
            let value = f();
            let waker = {
                let mut s = theirs.lock().unwrap_or_else(|e| e.into_inner());
                s.result = Some(value);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        })
        .map_err(|e| io::Error::new(e.kind(), format!("spawning the {name} thread failed: {e}")))?;
    Ok(poll_fn(|cx| {
        let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
        match s.result.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await)
}
