//! Blocking work off the ring: a bounded pool of reused threads shared by every runtime in
//! the process, and `spawn_blocking`, whose handle is woken when the work is done.
//!
//! The pool starts a thread only when a job finds no idle one and fewer than
//! [`MAX_THREADS`] exist; an idle thread exits after [`KEEP_ALIVE`] with nothing to do.
//! When every thread is busy, jobs wait in a FIFO queue: a caller waits longer, no job is
//! dropped. A job that panics gives its handle a [`JoinError::Panicked`] and the thread
//! goes on to the next job. A job dropped without running (no thread could be started)
//! gives its handle [`JoinError::Cancelled`], so no caller waits forever.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::task::JoinError;

/// Most threads the shared pool runs at once. Blocking work is mostly waiting (name
/// resolution, files, a blocking library call), so this is well above the core count, but
/// bounded so a burst cannot start thousands of threads.
pub const MAX_THREADS: usize = 64;

/// How long an idle pool thread waits for a job before it exits.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A bounded pool of reused threads with a FIFO queue.
pub(crate) struct Pool {
    name: &'static str,
    max_threads: usize,
    keep_alive: Duration,
    state: Mutex<State>,
    work: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl Pool {
    pub(crate) fn new(name: &'static str, max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            name,
            max_threads: max_threads.max(1),
            keep_alive,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
        }
    }

    /// The process's pool, started on first use.
    pub(crate) fn shared() -> &'static Arc<Pool> {
        static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
        POOL.get_or_init(|| Arc::new(Pool::new("ringstream-blocking", MAX_THREADS, KEEP_ALIVE)))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock and its panic is caught, so a poisoned lock can only
        // come from a bug here; the state is still consistent (counters change in single
        // statements), so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`; a thread picks it up as soon as one is free.
    pub(crate) fn execute(self: &Arc<Pool>, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle >= state.queue.len() {
            drop(state);
            self.work.notify_one();
            return;
        }
        if state.threads >= self.max_threads {
            // Saturated: the job waits in the queue for the next free thread.
            return;
        }
        state.threads += 1;
        drop(state);
        let pool = self.clone();
        let started = std::thread::Builder::new()
            .name(self.name.to_string())
            .spawn(move || pool.work_loop());
        if let Err(e) = started {
            let mut state = self.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody would ever run the queue: drop it, so each handle gets `Cancelled`.
                let orphans = std::mem::take(&mut state.queue);
                drop(state);
                log::error!(
                    "{}: starting a thread failed ({e}); {} queued job(s) cancelled — \
                     raise the process's thread or memory limit",
                    self.name,
                    orphans.len()
                );
                drop(orphans);
            }
        }
    }

    fn work_loop(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }

    /// Threads alive now (busy or idle).
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.lock().threads
    }

    /// Threads waiting for a job now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().idle
    }
}

/// Where a job's result meets its handle.
struct Slot<T> {
    result: Option<Result<T, JoinError>>,
    waker: Option<Waker>,
}

/// The job's end of the slot: stores the result, or `Cancelled` if the job is dropped
/// without running, and wakes the handle.
struct Completer<T> {
    slot: Arc<Mutex<Slot<T>>>,
    done: bool,
}

impl<T> Completer<T> {
    fn complete(&mut self, result: Result<T, JoinError>) {
        self.done = true;
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.result = Some(result);
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if !self.done {
            self.complete(Err(JoinError::Cancelled));
        }
    }
}

/// Runs `f` on `pool` and returns the handle that waits for its result.
pub(crate) fn spawn_on<T, F>(pool: &Arc<Pool>, f: F) -> BlockingHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
    }));
    let mut completer = Completer {
        slot: slot.clone(),
        done: false,
    };
    pool.execute(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::Panicked);
        completer.complete(result);
    }));
    BlockingHandle { slot }
}

/// Runs the blocking function `f` on the process's pool of blocking threads, so the
/// ring's thread goes on serving while it runs; await the handle for its result.
///
/// The pool is bounded ([`MAX_THREADS`]) and reuses its threads (an idle one exits after
/// [`KEEP_ALIVE`]); when every thread is busy the call waits in a queue, it is never
/// dropped. A panic in `f` gives [`JoinError::Panicked`] and leaves the pool working.
/// Dropping the handle does not stop `f`: it runs to the end and its result is dropped.
/// Name resolution in [`connect`](crate::connect) runs on this pool too.
///
/// Callable from any thread, inside a runtime or not; the handle can be awaited on any
/// runtime (or any executor).
///
/// ```
/// ringstream::run(async {
///     let sum = ringstream::runtime::spawn_blocking(|| (1..=10u64).sum::<u64>())
///         .await
///         .expect("no panic");
///     assert_eq!(sum, 55);
///
///     let failed = ringstream::runtime::spawn_blocking(|| panic!("bad input")).await;
///     assert_eq!(failed.unwrap_err().panic_message(), Some("bad input"));
/// })
/// .unwrap();
/// ```
#[doc(alias = "run_in_executor")]
#[doc(alias = "asyncio.to_thread")]
pub fn spawn_blocking<T, F>(f: F) -> BlockingHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    spawn_on(Pool::shared(), f)
}

/// The result of a [`spawn_blocking`] call, as a future.
///
/// Gives `f`'s value, [`JoinError::Panicked`] if it panicked, or [`JoinError::Cancelled`]
/// if the pool could not run it (no thread could be started: the error is logged).
///
/// ```
/// ringstream::run(async {
///     let handle = ringstream::runtime::spawn_blocking(|| std::env::temp_dir());
///     let dir = handle.await.expect("no panic");
///     assert!(dir.is_absolute());
/// })
/// .unwrap();
/// ```
#[must_use = "dropping a BlockingHandle lets the work run but loses its result"]
pub struct BlockingHandle<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                match &mut slot.waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => slot.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<T> std::fmt::Debug for BlockingHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingHandle").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Instant;

    fn block_on<F: Future>(f: F) -> F::Output {
        crate::run(f).expect("io_uring is available")
    }

    /// Waits (at most 5 s) for `done`.
    fn wait_until(done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn saturated_pool_queues_every_job_and_never_exceeds_its_bound() {
        let pool = Arc::new(Pool::new("test-blocking", 2, Duration::from_secs(5)));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                spawn_on(&pool, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let results = block_on(async {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.expect("no panic"));
            }
            out
        });
        assert_eq!(results, (0..20).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=2).contains(&peak),
            "{peak} jobs ran at once on a 2-thread pool"
        );
        assert!(pool.threads() <= 2);
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_thread_goes_on() {
        let pool = Arc::new(Pool::new("test-blocking", 1, Duration::from_secs(5)));
        let (tx, rx) = mpsc::channel();
        let bad = spawn_on(&pool, || -> u32 { panic!("job failed") });
        let good = spawn_on(&pool, move || {
            tx.send(std::thread::current().id()).unwrap();
            7
        });
        let (bad, good) = block_on(async { (bad.await, good.await) });
        assert_eq!(bad.unwrap_err().panic_message(), Some("job failed"));
        assert_eq!(good.unwrap(), 7);
        assert!(rx.recv().is_ok());
        assert_eq!(pool.threads(), 1, "the one thread survived the panic");
    }

    #[test]
    fn threads_are_reused_and_idle_ones_exit_after_the_keep_alive() {
        let pool = Arc::new(Pool::new("test-blocking", 4, Duration::from_millis(50)));
        let ids = block_on(async {
            let mut ids = Vec::new();
            for _ in 0..5 {
                ids.push(
                    spawn_on(&pool, || std::thread::current().id())
                        .await
                        .unwrap(),
                );
                // The result arrives just before its thread goes back to waiting: a job
                // sent in between would rightly start a second thread.
                wait_until(|| pool.idle() == 1);
            }
            ids
        });
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "one thread ran them all"
        );
        wait_until(|| pool.threads() == 0);
        assert_eq!(pool.threads(), 0, "the idle thread exited");
        let again = block_on(spawn_on(&pool, || 1));
        assert_eq!(
            again.unwrap(),
            1,
            "a new thread starts after the old one left"
        );
    }

    #[test]
    fn a_job_dropped_unrun_cancels_its_handle() {
        let slot = Arc::new(Mutex::new(Slot::<u8> {
            result: None,
            waker: None,
        }));
        drop(Completer {
            slot: slot.clone(),
            done: false,
        });
        let result = block_on(BlockingHandle { slot });
        assert!(result.unwrap_err().is_cancelled());
    }
}
