//! The runtime this thread is currently running, if any.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::executor::Core;
use super::waker::{Shared, MAIN};

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Makes `core` current until the guard is dropped. Returns `None` if another runtime is
/// already current on this thread (nested `block_on`).
pub(crate) fn enter(core: &Rc<Core>) -> Option<EnterGuard> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_some() {
            return None;
        }
        *c = Some(core.clone());
        Some(EnterGuard(()))
    })
}

pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}

/// The current runtime, if this thread is inside one.
pub(crate) fn current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Pushes a task onto the current runtime's run queue if `shared` belongs to it.
/// Returns false when the waker belongs to another runtime (or none is current).
pub(crate) fn schedule_local(shared: &Arc<Shared>, key: usize, generation: u32) -> bool {
    CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(core) if Arc::ptr_eq(core.shared(), shared) => {
                if key != MAIN {
                    core.push_ready(key, generation);
                }
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}
