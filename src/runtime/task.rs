//! Spawned tasks: the type-erased task object and the [`JoinHandle`] that awaits it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Weak;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::executor::Core;

/// A spawned future with its output slot, behind one allocation.
pub(crate) trait Task {
    /// Polls the future; `Ready` once it has finished (output stored, future dropped).
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
    /// Drops the future now and stores `JoinError::Cancelled` as the output.
    fn cancel(self: Pin<&mut Self>);
    /// Moves the output into `out`, which must be an `Option<Result<F::Output, JoinError>>`.
    fn take_output(self: Pin<&mut Self>, out: &mut dyn Any);
}

pin_project! {
    #[project = StageProj]
    pub(crate) enum Stage<F: Future> {
        Running { #[pin] future: F },
        Finished { output: Option<Result<F::Output, JoinError>> },
    }
}

impl<F: Future> Task for Stage<F>
where
    F::Output: 'static,
{
    fn poll_task(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let result = match self.as_mut().project() {
            StageProj::Running { future } => {
                match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(value)) => Ok(value),
                    Err(payload) => Err(JoinError::Panicked(payload)),
                }
            }
            StageProj::Finished { .. } => return Poll::Ready(()),
        };
        self.set(Stage::Finished {
            output: Some(result),
        });
        Poll::Ready(())
    }

    fn cancel(mut self: Pin<&mut Self>) {
        if let StageProj::Running { .. } = self.as_mut().project() {
            self.set(Stage::Finished {
                output: Some(Err(JoinError::Cancelled)),
            });
        }
    }

    fn take_output(self: Pin<&mut Self>, out: &mut dyn Any) {
        if let StageProj::Finished { output } = self.project() {
            if let Some(slot) = out.downcast_mut::<Option<Result<F::Output, JoinError>>>() {
                *slot = output.take();
            }
        }
    }
}

/// Why a task produced no value.
#[derive(Debug)]
pub enum JoinError {
    /// The task was aborted with [`JoinHandle::abort`] (or its runtime shut down first),
    /// or the blocking pool could not start a thread to run a
    /// [`spawn_blocking`](crate::runtime::spawn_blocking) job.
    Cancelled,
    /// The task panicked; the payload is what `panic!` was given.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// Whether the task was aborted.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic message, when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => panic_text(p.as_ref()),
            JoinError::Cancelled => None,
        }
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled before it finished"),
            JoinError::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        io::Error::other(e.to_string())
    }
}

/// An owned permission to await, abort or detach a spawned task.
///
/// Awaiting it gives the task's output, or a [`JoinError`] if the task was aborted or
/// panicked. Dropping it detaches the task, which keeps running.
///
/// ```
/// let total = ringstream::run(async {
///     let handle = ringstream::spawn(async { 20 + 22 });
///     handle.await.expect("task finished")
/// })
/// .expect("runtime");
/// assert_eq!(total, 42);
/// ```
#[doc(alias = "Task")]
#[doc(alias = "asyncio.Task")]
#[must_use = "dropping a JoinHandle detaches the task; await it to get its output"]
pub struct JoinHandle<T> {
    core: Weak<Core>,
    key: usize,
    generation: u32,
    /// The output was taken: the task's entry is gone, nothing to detach on drop.
    joined: bool,
    _output: PhantomData<T>,
}

impl<T: 'static> JoinHandle<T> {
    pub(crate) fn new(core: Weak<Core>, key: usize, generation: u32) -> Self {
        JoinHandle {
            core,
            key,
            generation,
            joined: false,
            _output: PhantomData,
        }
    }

    /// Cancels the task: its future is dropped at the runtime's next turn (or right away
    /// if it is already finished) and awaiting the handle gives `JoinError::Cancelled`.
    ///
    /// ```
    /// ringstream::run(async {
    ///     let handle = ringstream::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// })
    /// .unwrap();
    /// ```
    #[doc(alias = "cancel")]
    #[doc(alias = "Task.cancel")]
    pub fn abort(&self) {
        if let Some(core) = self.core.upgrade() {
            core.abort_task(self.key, self.generation);
        }
    }

    /// Whether the task has finished (completed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        match self.core.upgrade() {
            Some(core) => core.task_finished(self.key, self.generation),
            None => true,
        }
    }
}

// The handle holds no pinned data (only ids); its output type does not make it !Unpin.
impl<T> Unpin for JoinHandle<T> {}

impl<T: 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(core) = self.core.upgrade() else {
            return Poll::Ready(Err(JoinError::Cancelled));
        };
        let mut out: Option<Result<T, JoinError>> = None;
        match core.poll_join(self.key, self.generation, cx, &mut out) {
            Poll::Ready(()) => {
                self.joined = true;
                Poll::Ready(out.unwrap_or(Err(JoinError::Cancelled)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.joined {
            return;
        }
        if let Some(core) = self.core.upgrade() {
            core.detach_task(self.key, self.generation);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("key", &self.key)
            .finish()
    }
}
