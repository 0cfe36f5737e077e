//! Parked futures that are released all together: every concurrent `drain()` (F4) and every
//! `wait_closed()` (F7).
//!
//! Each future holds a [`Waiter`], its place in the list. Re-polling a parked future replaces
//! its waker in place instead of adding another, a dropped future gives its place back, and a
//! released future can tell it was released even if the condition it waited for has come
//! back since (a drain released by `resume_writing` returns even if a later write paused the
//! writer again, as in asyncio).

use std::task::Waker;

/// One future's place in a [`Waiters`] list. Starts out not parked.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    /// Where the waker is, and in which round it was parked; `None` when not parked.
    slot: Option<Slot>,
}

/// A parked waiter's index in the list and the round it was parked in.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Index into [`Waiters::wakers`].
    index: usize,
    /// The value of [`Waiters::round`] when the waiter was parked.
    round: u64,
}

/// The wakers of the parked futures. [`wake_all`](Self::wake_all) releases them and starts a
/// new round, so a waiter from an earlier round knows it was released.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// One entry per place; `None` for a place given back by a dropped future.
    wakers: Vec<Option<Waker>>,
    /// Places given back in this round, to reuse before growing `wakers`.
    free: Vec<usize>,
    /// Counts the releases.
    round: u64,
}

impl Waiters {
    /// Parks `waiter` with `waker`. A waiter already parked in this round keeps its place; its
    /// waker is replaced only if it would wake a different task.
    pub(crate) fn park(&mut self, waiter: &mut Waiter, waker: &Waker) {
        if let Some(entry) = self.entry(waiter) {
            match entry {
                Some(parked) if parked.will_wake(waker) => {}
                _ => *entry = Some(waker.clone()),
            }
            return;
        }
        let reused = self.free.pop().filter(|&index| index < self.wakers.len());
        let index = match reused {
            Some(index) => {
                self.wakers[index] = Some(waker.clone());
                index
            }
            None => {
                self.wakers.push(Some(waker.clone()));
                self.wakers.len() - 1
            }
        };
        waiter.slot = Some(Slot {
            index,
            round: self.round,
        });
    }

    /// Whether `waiter` was parked and has been released by [`wake_all`](Self::wake_all)
    /// since.
    pub(crate) fn was_released(&self, waiter: &Waiter) -> bool {
        waiter.slot.is_some_and(|slot| slot.round != self.round)
    }

    /// Forgets `waiter`: its future finished or was dropped. Its place is reused.
    pub(crate) fn remove(&mut self, waiter: &mut Waiter) {
        let Some(entry) = self.entry(waiter) else {
            waiter.slot = None;
            return;
        };
        *entry = None;
        if let Some(slot) = waiter.slot.take() {
            self.free.push(slot.index);
        }
    }

    /// Wakes every parked waiter and starts a new round.
    pub(crate) fn wake_all(&mut self) {
        if self.wakers.is_empty() {
            return;
        }
        self.round = self.round.wrapping_add(1);
        self.free.clear();
        for waker in self.wakers.drain(..).flatten() {
            waker.wake();
        }
    }

    /// The entry `waiter` holds in this round, if any.
    fn entry(&mut self, waiter: &Waiter) -> Option<&mut Option<Waker>> {
        let slot = waiter.slot.filter(|slot| slot.round == self.round)?;
        self.wakers.get_mut(slot.index)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::WakeCounter;
    use super::*;

    #[test]
    fn f4_repolling_replaces_the_waker_in_place() {
        let mut waiters = Waiters::default();
        let mut waiter = Waiter::default();
        let (first, second) = (WakeCounter::new(), WakeCounter::new());
        for _ in 0..100 {
            waiters.park(&mut waiter, first.cx().waker());
        }
        waiters.park(&mut waiter, second.cx().waker());
        assert_eq!(waiters.wakers.len(), 1);
        waiters.wake_all();
        assert_eq!((first.wakes(), second.wakes()), (0, 1));
        assert!(waiters.was_released(&waiter));
    }

    #[test]
    fn f4_dropped_waiters_give_their_place_back() {
        let mut waiters = Waiters::default();
        let probe = WakeCounter::new();
        let mut kept = Waiter::default();
        waiters.park(&mut kept, probe.cx().waker());
        for _ in 0..1000 {
            let mut dropped = Waiter::default();
            waiters.park(&mut dropped, probe.cx().waker());
            waiters.remove(&mut dropped);
            assert!(!waiters.was_released(&dropped));
        }
        assert_eq!(waiters.wakers.len(), 2);
        waiters.wake_all();
        assert_eq!(probe.wakes(), 1);
    }

    #[test]
    fn f4_a_waiter_from_an_earlier_round_is_parked_anew() {
        let mut waiters = Waiters::default();
        let (early, late) = (WakeCounter::new(), WakeCounter::new());
        let mut waiter = Waiter::default();
        let mut other = Waiter::default();
        waiters.park(&mut waiter, early.cx().waker());
        waiters.wake_all();
        waiters.park(&mut other, late.cx().waker());
        // Parking again after the release must not overwrite `other`'s place.
        waiters.park(&mut waiter, early.cx().waker());
        assert!(!waiters.was_released(&waiter));
        waiters.wake_all();
        assert_eq!((early.wakes(), late.wakes()), (2, 1));
    }
}
