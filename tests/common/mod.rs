//! Helpers shared by the integration tests.

use std::cell::Cell;
use std::rc::Rc;

/// Sets its flag when dropped: proves a future (and what it owned) was dropped.
pub struct DropFlag(Rc<Cell<bool>>);

impl DropFlag {
    /// A flag and the shared cell that turns true on drop.
    pub fn new() -> (DropFlag, Rc<Cell<bool>>) {
        let dropped = Rc::new(Cell::new(false));
        (DropFlag(dropped.clone()), dropped)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}
