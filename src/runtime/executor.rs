//! The executor: the task table, the run queue, the timers and the loop that drives
//! them and the ring.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::driver::{Driver, Wait};
use crate::sys;

use super::task::{JoinHandle, Stage, Task};
use super::time::Timers;
use super::waker::{Shared, WakeHandle, MAIN};

/// Longest sleep between looks for work when the ring has failed and poll(2) fails too.
const FALLBACK_NAP: Duration = Duration::from_millis(10);

struct TaskEntry {
    /// `None` while the task is being polled (it is moved out so it can spawn).
    task: Option<Pin<Box<dyn Task>>>,
    handle: Arc<WakeHandle>,
    waker: Waker,
    join_waker: Option<Waker>,
    generation: u32,
    finished: bool,
    detached: bool,
    aborted: bool,
}

/// Counters a runtime keeps about itself.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LoopStats {
    pub polls: u64,
    pub parks: u64,
    pub busy_poll_hits: u64,
}

pub(crate) struct Core {
    pub(crate) driver: Rc<Driver>,
    tasks: RefCell<Slab<TaskEntry>>,
    run_queue: RefCell<VecDeque<(usize, u32)>>,
    pub(crate) timers: RefCell<Timers>,
    shared: Arc<Shared>,
    /// Wake handles of finished tasks that nobody else references, for reuse.
    handle_pool: RefCell<Vec<Arc<WakeHandle>>>,
    next_generation: Cell<u32>,
    /// Tasks polled between two looks at the ring.
    event_interval: usize,
    /// How long to spin looking for work before blocking (see `busy_poll`); zero: never.
    busy_poll: Duration,
    remote_scratch: RefCell<Vec<(usize, u32)>>,
    stats: Cell<LoopStats>,
    /// Told when the runtime shuts down (see [`OnShutdown`]).
    on_shutdown: RefCell<Slab<Weak<dyn OnShutdown>>>,
    weak_self: Weak<Core>,
}

/// Something that lives on a runtime outside any task and must end when the runtime does
/// (a protocol connection delivers its `connection_lost`).
pub(crate) trait OnShutdown {
    /// The runtime is shutting down; its tasks are still there, its ring still works.
    fn shutdown(&self);
}

impl Core {
    pub(crate) fn new(
        driver: Driver,
        shared: Arc<Shared>,
        event_interval: usize,
        busy_poll: Duration,
    ) -> Rc<Core> {
        Rc::new_cyclic(|weak| Core {
            driver: Rc::new(driver),
            tasks: RefCell::new(Slab::with_capacity(1024)),
            run_queue: RefCell::new(VecDeque::with_capacity(1024)),
            timers: RefCell::new(Timers::default()),
            shared,
            handle_pool: RefCell::new(Vec::new()),
            next_generation: Cell::new(0),
            event_interval: event_interval.max(1),
            busy_poll,
            remote_scratch: RefCell::new(Vec::new()),
            stats: Cell::new(LoopStats::default()),
            on_shutdown: RefCell::new(Slab::new()),
            weak_self: weak.clone(),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn loop_stats(&self) -> LoopStats {
        self.stats.get()
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    pub(crate) fn push_ready(&self, key: usize, generation: u32) {
        self.run_queue.borrow_mut().push_back((key, generation));
    }

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let generation = self.next_generation.get().wrapping_add(1);
        self.next_generation.set(generation);
        let mut tasks = self.tasks.borrow_mut();
        let key = tasks.vacant_key();
        let handle = self.wake_handle(key, generation);
        handle.scheduled.store(true, Ordering::Relaxed);
        let waker = Waker::from(handle.clone());
        tasks.insert(TaskEntry {
            task: Some(Box::pin(Stage::Running { future })),
            handle,
            waker,
            join_waker: None,
            generation,
            finished: false,
            detached: false,
            aborted: false,
        });
        drop(tasks);
        self.push_ready(key, generation);
        JoinHandle::new(self.weak_self.clone(), key, generation)
    }

    /// A wake handle for a new task, reusing one nobody references any more.
    fn wake_handle(&self, key: usize, generation: u32) -> Arc<WakeHandle> {
        if let Some(mut handle) = self.handle_pool.borrow_mut().pop() {
            if let Some(h) = Arc::get_mut(&mut handle) {
                h.key = key;
                h.generation = generation;
                return handle;
            }
        }
        Arc::new(WakeHandle {
            shared: self.shared.clone(),
            key,
            generation,
            scheduled: Default::default(),
        })
    }

    pub(crate) fn main_handle(&self) -> Arc<WakeHandle> {
        Arc::new(WakeHandle {
            shared: self.shared.clone(),
            key: MAIN,
            generation: 0,
            scheduled: Default::default(),
        })
    }

    /// Polls up to `event_interval` ready tasks. Returns how many were polled.
    fn run_ready(&self) -> usize {
        let mut polled = 0;
        while polled < self.event_interval {
            let Some((key, generation)) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            let (mut task, waker, aborted) = {
                let mut tasks = self.tasks.borrow_mut();
                let Some(entry) = tasks.get_mut(key) else {
                    continue;
                };
                if entry.generation != generation || entry.finished {
                    continue;
                }
                let Some(task) = entry.task.take() else {
                    continue;
                };
                entry.handle.scheduled.store(false, Ordering::Release);
                let waker = std::mem::replace(&mut entry.waker, Waker::noop().clone());
                (task, waker, entry.aborted)
            };
            polled += 1;
            let done = if aborted {
                task.as_mut().cancel();
                true
            } else {
                let mut cx = Context::from_waker(&waker);
                task.as_mut().poll_task(&mut cx).is_ready()
            };
            self.put_back(key, task, waker, done);
        }
        let mut s = self.stats.get();
        s.polls += polled as u64;
        self.stats.set(s);
        polled
    }

    fn put_back(&self, key: usize, task: Pin<Box<dyn Task>>, waker: Waker, done: bool) {
        let mut tasks = self.tasks.borrow_mut();
        let entry = &mut tasks[key];
        entry.waker = waker;
        if !done {
            entry.task = Some(task);
            if entry.aborted && !entry.handle.scheduled.swap(true, Ordering::AcqRel) {
                // Aborted while it was running: come back to drop it.
                let generation = entry.generation;
                drop(tasks);
                self.push_ready(key, generation);
            }
            return;
        }
        entry.finished = true;
        let join_waker = entry.join_waker.take();
        if entry.detached {
            let entry = tasks.remove(key);
            drop(tasks);
            drop(task);
            self.recycle(entry);
        } else {
            entry.task = Some(task);
            drop(tasks);
        }
        if let Some(w) = join_waker {
            w.wake();
        }
    }

    fn recycle(&self, entry: TaskEntry) {
        let TaskEntry { handle, waker, .. } = entry;
        drop(waker);
        // Reusable only when no waker clone survives elsewhere.
        if Arc::strong_count(&handle) == 1 {
            handle.scheduled.store(false, Ordering::Relaxed);
            self.handle_pool.borrow_mut().push(handle);
        }
    }

    pub(crate) fn poll_join(
        &self,
        key: usize,
        generation: u32,
        cx: &mut Context<'_>,
        out: &mut dyn Any,
    ) -> Poll<()> {
        let mut tasks = self.tasks.borrow_mut();
        let Some(entry) = tasks.get_mut(key).filter(|e| e.generation == generation) else {
            return Poll::Ready(());
        };
        if !entry.finished {
            entry.join_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut entry = tasks.remove(key);
        drop(tasks);
        if let Some(task) = entry.task.as_mut() {
            task.as_mut().take_output(out);
        }
        self.recycle(entry);
        Poll::Ready(())
    }

    pub(crate) fn detach_task(&self, key: usize, generation: u32) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(entry) = tasks.get_mut(key).filter(|e| e.generation == generation) else {
            return;
        };
        if entry.finished {
            let entry = tasks.remove(key);
            drop(tasks);
            self.recycle(entry);
        } else {
            entry.detached = true;
        }
    }

    pub(crate) fn abort_task(&self, key: usize, generation: u32) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(entry) = tasks.get_mut(key).filter(|e| e.generation == generation) else {
            return;
        };
        if entry.finished || entry.aborted {
            return;
        }
        entry.aborted = true;
        if !entry.handle.scheduled.swap(true, Ordering::AcqRel) {
            drop(tasks);
            self.push_ready(key, generation);
        }
    }

    pub(crate) fn task_finished(&self, key: usize, generation: u32) -> bool {
        match self.tasks.borrow().get(key) {
            Some(e) if e.generation == generation => e.finished,
            _ => true,
        }
    }

    /// Moves tasks woken from other threads onto the run queue.
    fn take_remote_wakes(&self) {
        let mut scratch = self.remote_scratch.borrow_mut();
        self.shared.take_remote(&mut scratch);
        if scratch.is_empty() {
            return;
        }
        let mut queue = self.run_queue.borrow_mut();
        for &(key, generation) in scratch.iter() {
            if key != MAIN {
                queue.push_back((key, generation));
            }
        }
        scratch.clear();
    }

    /// Runs `future` to completion, driving every task, timer and the ring meanwhile.
    ///
    /// If the ring fails, the loop goes on without it: every op ends with the failure, so
    /// the future's own error path runs; timers and wakes from other threads still work.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self.drive(future, || None::<Infallible>) {
            Ok(out) => out,
            Err(never) => match never {},
        }
    }

    /// Like [`block_on`](Core::block_on), but stops at a ring failure and returns it (the
    /// future is dropped, inside the runtime).
    pub(crate) fn try_block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        // Checked before each poll: a future that saw its op fail would return that bare
        // errno, where the ring's failure names the cause and the fix.
        self.drive(future, || self.driver.failure())
    }

    /// The loop of `block_on` and `try_block_on`: polls `future` whenever it was woken and
    /// turns the loop in between, until it is ready or `stop` says why not.
    fn drive<F: Future, E>(&self, future: F, stop: impl Fn() -> Option<E>) -> Result<F::Output, E> {
        let main = self.main_handle();
        let main_waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&main_waker);
        let mut future = std::pin::pin!(future);
        main.scheduled.store(true, Ordering::Relaxed);
        loop {
            if let Some(reason) = stop() {
                return Err(reason);
            }
            if main.scheduled.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return Ok(out);
                }
            }
            self.turn(&main);
        }
    }

    /// One loop turn: ready tasks, the ring (or, once it failed, a wait for a wake or a
    /// timer), due timers.
    fn turn(&self, main: &WakeHandle) {
        self.run_ready();
        // Flushes first: one may finish a close at once and wake its waiter, which must
        // keep the loop from blocking in the ring below.
        self.driver.run_before_submit();
        self.take_remote_wakes();
        let busy = || main.scheduled.load(Ordering::Acquire) || !self.run_queue.borrow().is_empty();
        // The busy-poll window has already entered the ring when it found work.
        let polled = !busy()
            && !self.busy_poll.is_zero()
            && !self.driver.has_failed()
            && self.busy_poll_found_work(&busy);
        if !polled {
            let wait = if busy() {
                Wait::No
            } else {
                let mut s = self.stats.get();
                s.parks += 1;
                self.stats.set(s);
                Wait::Until(self.timers.borrow().next_deadline())
            };
            let dispatched = self.driver.enter(wait);
            if let Wait::Until(deadline) = wait {
                if dispatched == 0 && self.driver.has_failed() && !self.driver.has_failed_ops() {
                    self.wait_without_ring(deadline);
                }
            }
        }
        self.take_remote_wakes();
        if self.timers.borrow().has_timers() {
            let fired = self.timers.borrow_mut().take_expired(Instant::now());
            for waker in fired {
                waker.wake();
            }
        }
    }

    /// Blocks, with the ring failed, until another thread wakes a task (the eventfd its
    /// wakers signal) or `deadline` (the next timer) passes.
    #[cold]
    fn wait_without_ring(&self, deadline: Option<Instant>) {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match sys::wait_readable(&self.shared.eventfd, timeout) {
            Ok(_) => sys::eventfd_drain(&self.shared.eventfd),
            // poll(2) refused too: sleep in short steps, so wakes are seen late, not never.
            Err(_) => std::thread::sleep(timeout.map_or(FALLBACK_NAP, |t| t.min(FALLBACK_NAP))),
        }
    }

    /// The busy-poll window ([`Builder::busy_poll`](crate::Builder::busy_poll)): instead of
    /// blocking in the ring at once, look for work for up to the window — completions
    /// (the kernel flags pending task work in the SQ ring, so looking costs no syscall until
    /// there is something), wakes from other threads, a due timer. True when work turned
    /// up (completions are already dispatched); false when the window ran out.
    #[cold]
    fn busy_poll_found_work(&self, busy: &dyn Fn() -> bool) -> bool {
        let start = Instant::now();
        let mut until = start + self.busy_poll;
        if let Some(deadline) = self.timers.borrow().next_deadline() {
            until = until.min(deadline);
        }
        let mut spins: u32 = 0;
        loop {
            // Submits anything queued on the first pass; later passes only enter the
            // kernel once it has flagged task work or a completion is posted.
            let dispatched = self.driver.enter(Wait::No);
            self.take_remote_wakes();
            if dispatched > 0 || busy() {
                let mut s = self.stats.get();
                s.busy_poll_hits += 1;
                self.stats.set(s);
                return true;
            }
            spins = spins.wrapping_add(1);
            // The clock is read every 32 passes: a pass is tens of nanoseconds.
            if spins.is_multiple_of(32) && Instant::now() >= until {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// Tells `hook` when the runtime shuts down, unless [`forget_on_shutdown`] is called
    /// with the returned key first.
    ///
    /// [`forget_on_shutdown`]: Self::forget_on_shutdown
    pub(crate) fn on_shutdown(&self, hook: Weak<dyn OnShutdown>) -> usize {
        self.on_shutdown.borrow_mut().insert(hook)
    }

    pub(crate) fn forget_on_shutdown(&self, key: usize) {
        self.on_shutdown.borrow_mut().try_remove(key);
    }

    /// Tells the shutdown hooks, then drops every task (with this runtime current, so their
    /// destructors may use it).
    pub(crate) fn shutdown(&self) {
        // One at a time, outside the borrow: a hook forgets itself as it runs.
        loop {
            let next = {
                let mut hooks = self.on_shutdown.borrow_mut();
                let Some(key) = hooks.iter().next().map(|(key, _)| key) else {
                    break;
                };
                hooks.remove(key)
            };
            if let Some(hook) = next.upgrade() {
                hook.shutdown();
            }
        }
        self.run_queue.borrow_mut().clear();
        loop {
            let entry = {
                let mut tasks = self.tasks.borrow_mut();
                let Some(key) = tasks.iter().next().map(|(k, _)| k) else {
                    break;
                };
                tasks.remove(key)
            };
            drop(entry);
        }
        self.timers.borrow_mut().clear();
        self.run_queue.borrow_mut().clear();
        // With the tasks gone, end the ops: their handlers hold connections, which hold
        // the driver.
        self.driver.shutdown();
        self.run_queue.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::Poll;
    use std::time::{Duration, Instant};

    use crate::driver::failure::inject;
    use crate::driver::op::Op;
    use crate::runtime::current_core;
    use crate::{nop, spawn, time, yield_now, Builder, Runtime, Stream, StreamError};

    /// A task waiting on a receive the ring has taken (two turns: the task arms it, the
    /// loop submits it).
    async fn pending_read() -> crate::JoinHandle<Result<bytes::Bytes, StreamError>> {
        let (a, b) = Stream::pair().expect("pair");
        let (mut reader, writer) = a.split();
        let task = spawn(async move {
            // Both open (a dropped writer closes its connection) and silent: the read waits.
            let _open = (writer, b);
            reader.read(10).await
        });
        yield_now().await;
        yield_now().await;
        task
    }

    #[test]
    fn run_returns_the_ring_failure_while_a_task_waits_on_a_recv() {
        let started = Instant::now();
        let result = crate::run(async {
            let task = pending_read().await;
            let driver = current_core().expect("runtime").driver.clone();
            assert!(driver.ops_in_flight() > 0, "the recv is in flight");
            inject::fail_next_enter(libc::ENOMEM);
            // Bounded: were the failure lost, this returns Ok after 5 s and the test fails.
            time::timeout(Duration::from_secs(5), task).await
        });
        let err = result.expect_err("run returns the ring's failure");
        let msg = err.to_string();
        assert!(msg.starts_with("io_uring_enter failed: ENOMEM — "), "{msg}");
        assert!(msg.contains("out of memory"), "{msg}");
        assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no wait for the timeout"
        );
    }

    /// Wakes its task from another thread after a few milliseconds, then is ready.
    fn woken_from_another_thread() -> impl std::future::Future<Output = ()> {
        let started = Arc::new(AtomicBool::new(false));
        let woken = Arc::new(AtomicBool::new(false));
        std::future::poll_fn(move |cx| {
            if woken.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            if !started.swap(true, Ordering::AcqRel) {
                let waker = cx.waker().clone();
                let woken = woken.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    woken.store(true, Ordering::Release);
                    waker.wake();
                });
            }
            Poll::Pending
        })
    }

    #[test]
    fn block_on_ends_pending_and_later_ops_with_the_failure_and_still_wakes() {
        let rt = Runtime::new().expect("runtime");
        let (read, later, woken, slept) = rt.block_on(async {
            let task = pending_read().await;
            inject::fail_next_enter(libc::EBADR);
            let read = time::timeout(Duration::from_secs(5), task).await;
            let later = time::timeout(Duration::from_secs(5), nop()).await;
            // Without the ring, the loop waits on the eventfd other threads signal (it
            // parks a few times, where a spinning loop would park thousands of times).
            let parks = current_core().expect("runtime").loop_stats().parks;
            let woken = time::timeout(Duration::from_secs(5), woken_from_another_thread())
                .await
                .is_ok();
            let parks = current_core().expect("runtime").loop_stats().parks - parks;
            assert!(
                parks < 100,
                "the loop spun instead of waiting: {parks} parks"
            );
            let start = Instant::now();
            time::sleep(Duration::from_millis(5)).await;
            (read, later, woken, start.elapsed())
        });
        match read {
            Ok(Ok(Err(StreamError::Io(e)))) => assert_eq!(e.raw_os_error(), Some(libc::EBADR)),
            other => panic!("the pending read ends with EBADR, got {other:?}"),
        }
        let later = later
            .expect("a later op ends at once")
            .expect_err("with the failure");
        assert_eq!(later.raw_os_error(), Some(libc::EBADR));
        assert!(woken, "a wake from another thread ends the wait");
        assert!(slept >= Duration::from_millis(5), "timers still fire");
        let err = rt
            .try_block_on(async {})
            .expect_err("the failure stays with the runtime");
        assert!(err.to_string().contains("EBADR"), "{err}");
        assert!(err.to_string().contains("dropped completions"), "{err}");
        let dropped = Instant::now();
        drop(rt);
        assert!(
            dropped.elapsed() < Duration::from_secs(1),
            "a failed runtime drops without waiting for its ops"
        );
    }

    #[test]
    fn a_failed_flush_of_a_full_submission_queue_fails_the_ring() {
        let mut builder = Builder::new();
        builder.entries(4);
        let rt = builder.build().expect("runtime");
        let results = rt.block_on(async {
            let driver = current_core().expect("runtime").driver.clone();
            inject::fail_next_enter(libc::EINVAL);
            // More than the SQ holds: a push flushes it, and that enter fails.
            let ops: Vec<_> = (0..8)
                .map(|_| Op::submit(driver.clone(), crate::driver::ops::Nop))
                .collect();
            time::timeout(Duration::from_secs(5), async {
                let mut results = Vec::new();
                for op in ops {
                    results.push(op.await.0.result);
                }
                results
            })
            .await
        });
        let results = results.expect("the ops end at once");
        assert_eq!(
            results,
            vec![-libc::EINVAL; 8],
            "every op ends with the failure"
        );
        let err = rt.try_block_on(async {}).expect_err("the ring failed");
        assert!(
            err.to_string().starts_with(
                "io_uring_enter failed while flushing a full submission queue: EINVAL"
            ),
            "{err}"
        );
        assert_eq!(rt.stats().ops_in_flight, 0);
    }
}
