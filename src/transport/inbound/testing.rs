//! Test helpers: a waker that counts its wakes and a `ReadControl` that records its calls, so
//! tests drive reads by hand, deterministically, without a runtime.

use std::cell::RefCell;

use super::ReadControl;

pub(crate) use crate::transport::probe::{ready, Probe};

/// A `ReadControl` that records "pause" / "resume" in call order.
#[derive(Default)]
pub(crate) struct Recorder {
    calls: RefCell<Vec<&'static str>>,
}

impl Recorder {
    pub(crate) fn calls(&self) -> Vec<&'static str> {
        self.calls.borrow().clone()
    }
}

impl ReadControl for Recorder {
    fn pause_reading(&self) {
        self.calls.borrow_mut().push("pause");
    }

    fn resume_reading(&self) {
        self.calls.borrow_mut().push("resume");
    }
}
