//! Wakers: a `Waker` used on the runtime's own thread pushes the task onto the local run
//! queue (no lock, no syscall); used on any other thread it goes through the runtime's
//! remote queue and an eventfd that wakes a ring blocked in `io_uring_enter`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use crate::driver::ops::{HandlerOp, Poll};
use crate::driver::{Completion, CompletionHandler, Driver};
use crate::sys;

use super::context;

/// The part of a runtime other threads may touch.
pub(crate) struct Shared {
    /// Tasks woken from other threads: (key, generation).
    remote: Mutex<Vec<(usize, u32)>>,
    /// Set when `remote` may hold entries and the eventfd was signalled.
    notified: AtomicBool,
    pub(crate) eventfd: OwnedFd,
}

impl Shared {
    pub(crate) fn new() -> std::io::Result<Shared> {
        Ok(Shared {
            remote: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
            eventfd: sys::eventfd()?,
        })
    }

    fn schedule_remote(&self, key: usize, generation: u32) {
        // A poisoned lock only means another waker panicked mid-push; the Vec is intact.
        let mut queue = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        queue.push((key, generation));
        drop(queue);
        if !self.notified.swap(true, Ordering::AcqRel) {
            // Failing to signal would lose the wake-up; eventfd writes only fail on a
            // closed fd, which the runtime keeps open for as long as `Shared` lives.
            let _ = sys::eventfd_signal(&self.eventfd);
        }
    }

    /// Takes the tasks woken from other threads, if any (one relaxed load when none).
    pub(crate) fn take_remote(&self, out: &mut Vec<(usize, u32)>) {
        if !self.notified.load(Ordering::Acquire) {
            return;
        }
        // Clear first: a waker that pushes after the drain below sees `false` and signals
        // the eventfd again, so no wake-up is lost.
        self.notified.store(false, Ordering::Release);
        let mut queue = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut queue);
    }
}

/// The waker of one task (or of the `block_on` future when `key == MAIN`).
pub(crate) struct WakeHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: usize,
    pub(crate) generation: u32,
    /// True while the task sits in a run queue; a second wake is then a no-op.
    pub(crate) scheduled: AtomicBool,
}

/// Key of the `block_on` future.
pub(crate) const MAIN: usize = usize::MAX;

impl Wake for WakeHandle {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        if !context::schedule_local(&self.shared, self.key, self.generation) {
            self.shared.schedule_remote(self.key, self.generation);
        }
    }
}

/// Keeps a multishot poll armed on the runtime's eventfd, so a wake from another thread
/// (which signals the eventfd) ends an `io_uring_enter` wait.
struct EventfdListener {
    shared: Arc<Shared>,
}

impl CompletionHandler for EventfdListener {
    fn on_completion(&self, driver: &Driver, c: Completion, _op: Option<HandlerOp>) {
        sys::eventfd_drain(&self.shared.eventfd);
        // After a ring failure the loop waits on the eventfd itself (`Core::block_on`).
        if !c.more() && c.result != -libc::ECANCELED && !driver.has_failed() {
            arm_eventfd(driver, &self.shared);
        }
    }
}

/// Arms (or re-arms) the eventfd listener.
pub(crate) fn arm_eventfd(driver: &Driver, shared: &Arc<Shared>) {
    let poll = Poll::multishot(shared.eventfd.as_raw_fd(), libc::POLLIN);
    let listener = Rc::new(EventfdListener {
        shared: shared.clone(),
    });
    driver.submit_internal_handler(poll, listener);
}
