//! An op's slot in the driver's table, and the `user_data` that names it.
//!
//! `user_data` is the slot key in the low 32 bits and the slot's generation in the high
//! 32: a completion that arrives for a slot that has since been freed and reused (it
//! cannot, for ops the driver issues, but a kernel or driver bug would make it) is caught
//! by the generation instead of completing a stranger's op.

use std::any::Any;
use std::rc::Rc;
use std::task::Waker;

use super::ops::HandlerOp;
use super::{Completion, CompletionHandler};

/// Where an op is in its life (see the driver's "Op lifecycle").
pub(crate) enum Slot {
    /// Submitted; a future waits (its waker, once polled).
    Waiting(Option<Waker>),
    /// Completed; the result waits for the future's next poll.
    Done(Completion),
    /// Completions go to `handler`; `op` stays here until the last one.
    Handler {
        handler: Rc<dyn CompletionHandler>,
        op: HandlerOp,
    },
    /// The future was dropped first: the slot keeps the op (what the kernel may touch)
    /// until the last completion, then frees it.
    Orphaned(Option<Box<dyn Any>>),
}

pub(crate) struct Entry {
    pub(crate) generation: u32,
    pub(crate) slot: Slot,
}

pub(crate) fn encode(key: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | (key as u64 & 0xffff_ffff)
}

pub(crate) fn decode(user_data: u64) -> (usize, u32) {
    ((user_data & 0xffff_ffff) as usize, (user_data >> 32) as u32)
}
