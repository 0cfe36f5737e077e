//! The process-wide half of signal handling: a delivery count per signal, bumped by the
//! signal handler, one eventfd the handler signals, and the wakers of every listener on
//! every runtime.
//!
//! The handler may only do async-signal-safe things, so it counts and writes to the
//! eventfd (`sys::count_signal`). A listener waiting on a runtime polls that eventfd on
//! its ring; whichever runtime sees it readable first drains it and wakes every listener
//! in the process (wakers work across threads), and each listener compares the count with
//! the one it last saw. Draining on one runtime therefore never hides a delivery from a
//! listener on another.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::Waker;

use slab::Slab;

use crate::sys;

/// Signal numbers 1..=64 (Linux's standard and real-time signals).
const SLOTS: usize = 65;

pub(super) struct Registry {
    wake: OwnedFd,
    counts: [AtomicU64; SLOTS],
    /// Bit `n`: the handler for signal `n` is installed (it stays for the process's life).
    installed: Mutex<u128>,
    /// One entry per live listener: the waker of its pending `recv`, if any.
    waiters: Mutex<Slab<Option<Waker>>>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

impl Registry {
    /// The process's registry, made on first use.
    pub(super) fn get() -> io::Result<&'static Registry> {
        if let Some(registry) = REGISTRY.get() {
            return Ok(registry);
        }
        let wake = sys::eventfd().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating the signal eventfd failed: {e} (raise the open-file limit)"),
            )
        })?;
        // Two threads racing here: one eventfd is kept, the other closed before any
        // handler could see it.
        Ok(REGISTRY.get_or_init(|| Registry {
            wake,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            installed: Mutex::new(0),
            waiters: Mutex::new(Slab::new()),
        }))
    }

    /// Makes sure deliveries of `signal` are counted from now on, and returns the count so
    /// far.
    pub(super) fn listen(&'static self, signal: i32) -> io::Result<u64> {
        let slot = usize::try_from(signal)
            .ok()
            .filter(|n| (1..SLOTS).contains(n))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{signal} is not a signal number: use 1..=64 (libc::SIGTERM, ...)"),
                )
            })?;
        let mut installed = lock(&self.installed);
        if *installed & (1u128 << slot) == 0 {
            sys::count_signal(signal, &self.counts[slot], self.wake.as_raw_fd())?;
            *installed |= 1u128 << slot;
        }
        Ok(self.count(signal))
    }

    /// Deliveries of `signal` so far (since its handler was installed).
    pub(super) fn count(&self, signal: i32) -> u64 {
        self.counts[signal as usize].load(Ordering::SeqCst)
    }

    /// The eventfd the handler signals.
    pub(super) fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    pub(super) fn add_waiter(&self) -> usize {
        lock(&self.waiters).insert(None)
    }

    pub(super) fn remove_waiter(&self, key: usize) {
        lock(&self.waiters).try_remove(key);
    }

    pub(super) fn set_waker(&self, key: usize, waker: &Waker) {
        if let Some(entry) = lock(&self.waiters).get_mut(key) {
            match entry {
                Some(w) => w.clone_from(waker),
                None => *entry = Some(waker.clone()),
            }
        }
    }

    /// After the eventfd was seen readable: resets it and wakes every waiting listener in
    /// the process, each of which then looks at its signal's count.
    pub(super) fn fan_out(&self) {
        sys::eventfd_drain(&self.wake);
        let wakers: Vec<Waker> = lock(&self.waiters)
            .iter_mut()
            .filter_map(|(_, w)| w.take())
            .collect();
        // Woken outside the lock: a waker of this thread's runtime may poll nothing now,
        // but another's takes its remote-queue lock.
        for w in wakers {
            w.wake();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; a poisoned one still holds whole values.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
