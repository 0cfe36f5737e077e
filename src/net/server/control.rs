//! What the server handle and the per-core shards share: per-core commands (serve, close,
//! close or abort clients) with the waker of each shard, per-core counters, and the count
//! of shards still running with whoever waits for it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::failure::{FailureHook, HandlerFailure};

/// Commands for one shard. Counters rather than events, so a shard that looks late still
/// sees each request once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Commands {
    pub serving: bool,
    pub closed: bool,
    pub close_clients: u64,
    pub abort_clients: u64,
}

#[derive(Default)]
struct Mailbox {
    commands: Commands,
    waker: Option<Waker>,
}

/// One core's slot.
#[derive(Default)]
pub(crate) struct CoreControl {
    mailbox: Mutex<Mailbox>,
    pub accepted: AtomicU64,
    pub active: AtomicUsize,
    pub failures: AtomicU64,
}

impl CoreControl {
    /// The current commands; the shard's waker is kept for the next change.
    pub(crate) fn poll_commands(&self, cx: &mut Context<'_>) -> Commands {
        let mut mailbox = lock(&self.mailbox);
        match &mailbox.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => mailbox.waker = Some(cx.waker().clone()),
        }
        mailbox.commands
    }

    fn update(&self, change: impl FnOnce(&mut Commands)) {
        let waker = {
            let mut mailbox = lock(&self.mailbox);
            change(&mut mailbox.commands);
            mailbox.waker.clone()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn commands(&self) -> Commands {
        lock(&self.mailbox).commands
    }
}

struct Running {
    shards: usize,
    waiters: Vec<Waker>,
}

pub(crate) struct Control {
    pub cores: Vec<CoreControl>,
    running: Mutex<Running>,
    finished: Condvar,
    hook: Option<FailureHook>,
}

impl Control {
    pub(crate) fn new(cores: usize, serving: bool, hook: Option<FailureHook>) -> Arc<Control> {
        let control = Control {
            cores: (0..cores).map(|_| CoreControl::default()).collect(),
            running: Mutex::new(Running {
                shards: cores,
                waiters: Vec::new(),
            }),
            finished: Condvar::new(),
            hook,
        };
        if serving {
            control.broadcast(|c| c.serving = true);
        }
        Arc::new(control)
    }

    /// Applies `change` to every shard's commands and wakes them.
    pub(crate) fn broadcast(&self, change: impl Fn(&mut Commands)) {
        for core in &self.cores {
            core.update(&change);
        }
    }

    pub(crate) fn is_serving(&self) -> bool {
        self.cores.iter().any(|c| {
            let commands = c.commands();
            commands.serving && !commands.closed
        })
    }

    /// Closed (every shard was told so).
    pub(crate) fn is_closed(&self) -> bool {
        self.cores.iter().all(|c| c.commands().closed)
    }

    /// A shard ended (closed and every handler finished, or its core died).
    pub(crate) fn shard_finished(&self) {
        let waiters = {
            let mut running = lock(&self.running);
            running.shards = running.shards.saturating_sub(1);
            if running.shards == 0 {
                std::mem::take(&mut running.waiters)
            } else {
                Vec::new()
            }
        };
        self.finished.notify_all();
        for w in waiters {
            w.wake();
        }
    }

    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut running = lock(&self.running);
        if running.shards == 0 {
            return Poll::Ready(());
        }
        if !running.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            running.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Blocks until every shard ended or `deadline` passed; true when they all ended.
    pub(crate) fn wait_finished(&self, deadline: Option<Instant>) -> bool {
        let mut running = lock(&self.running);
        while running.shards > 0 {
            match deadline {
                None => {
                    running = self
                        .finished
                        .wait(running)
                        .unwrap_or_else(|e| e.into_inner());
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    running = self
                        .finished
                        .wait_timeout(running, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        true
    }

    /// A handler failed: the user's hook hears it, or the `log` facade does.
    pub(crate) fn report(&self, failure: &HandlerFailure) {
        if let Some(core) = self.cores.get(failure.core) {
            core.failures.fetch_add(1, Ordering::Relaxed);
        }
        #[cfg(feature = "tracing")]
        crate::trace::handler_failure(failure);
        match &self.hook {
            Some(hook) => hook(failure),
            None => log::warn!("ringstream server: {failure}"),
        }
    }
}

/// Locks, shrugging off poisoning: every critical section here leaves the data valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
