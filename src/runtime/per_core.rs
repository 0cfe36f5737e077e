//! Thread per core: one pinned thread, one runtime, one ring per core.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::thread;

use crate::sys;

use super::task::panic_text;
use super::Builder;

thread_local! {
    static PINNED_CPU: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The CPU the current thread was pinned to by [`PerCore`], or `None` on other threads.
///
/// ```
/// assert_eq!(ringstream::runtime::pinned_cpu(), None);
/// ```
pub fn pinned_cpu() -> Option<usize> {
    PINNED_CPU.with(Cell::get)
}

/// Pins the calling thread to one CPU (as [`PerCore`] does for its threads), e.g. to keep
/// a load generator or a peer library's server off the cores a benchmark measures.
///
/// ```
/// let cpu = ringstream::runtime::current_cpu().expect("sched_getcpu");
/// ringstream::runtime::pin_current_thread(cpu).expect("pinned");
/// assert_eq!(ringstream::runtime::current_cpu(), Some(cpu));
/// ```
///
/// # Errors
/// `sched_setaffinity(2)` failures, e.g. a CPU outside this process's affinity mask.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    sys::pin_current_thread(cpu)
}

/// The CPU the calling thread is running on at this instant.
pub fn current_cpu() -> Option<usize> {
    sys::current_cpu()
}

/// Launches one pinned thread per core, each with its own runtime running a future made
/// by a factory.
///
/// The factory is called on each new thread with the core's index (`0..n`), so the future
/// it returns may be `!Send` (it never leaves that thread).
///
/// ```
/// use ringstream::runtime::{pinned_cpu, PerCore};
/// let group = PerCore::new()
///     .launch(|index| async move { (index, pinned_cpu()) })
///     .expect("threads started");
/// for result in group.join() {
///     let (_index, cpu) = result.expect("core finished");
///     assert!(cpu.is_some());
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct PerCore {
    cpus: Option<Vec<usize>>,
    count: Option<usize>,
    runtime: Builder,
}

impl PerCore {
    /// One thread per CPU this process may run on, with default runtime settings.
    pub fn new() -> PerCore {
        PerCore::default()
    }

    /// Uses the first `n` CPUs this process may run on.
    pub fn cores(mut self, n: usize) -> PerCore {
        self.count = Some(n);
        self
    }

    /// Uses exactly these CPUs (ids as the kernel numbers them).
    pub fn cpus(mut self, cpus: Vec<usize>) -> PerCore {
        self.cpus = Some(cpus);
        self
    }

    /// The settings every core's runtime is built with.
    pub fn runtime(mut self, builder: Builder) -> PerCore {
        self.runtime = builder;
        self
    }

    /// The CPUs `launch` would use.
    ///
    /// # Errors
    /// `InvalidInput` when more cores are asked for than the process may use, or a CPU
    /// outside its affinity mask is named.
    pub fn resolve_cpus(&self) -> io::Result<Vec<usize>> {
        let allowed = sys::allowed_cpus()?;
        if let Some(cpus) = &self.cpus {
            if cpus.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no CPU was given",
                ));
            }
            if let Some(bad) = cpus.iter().find(|c| !allowed.contains(c)) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("CPU {bad} is not in this process's affinity mask {allowed:?}"),
                ));
            }
            return Ok(cpus.clone());
        }
        let n = self.count.unwrap_or(allowed.len());
        if n == 0 || n > allowed.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "asked for {n} cores, but this process may run on {} ({allowed:?})",
                    allowed.len()
                ),
            ));
        }
        Ok(allowed[..n].to_vec())
    }

    /// Starts the threads. Each pins itself, builds its runtime and only then runs the
    /// factory's future; if any core fails to start, none runs its future and the error
    /// of the first failure is returned.
    ///
    /// # Errors
    /// Invalid core selection, a thread that cannot be spawned, or a runtime or pinning
    /// failure on any core.
    pub fn launch<F, Fut>(self, factory: F) -> io::Result<CoreGroup<Fut::Output>>
    where
        F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let cpus = self.resolve_cpus()?;
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, io::Result<()>)>();
        let mut threads = Vec::with_capacity(cpus.len());
        let mut go = Vec::with_capacity(cpus.len());
        for (index, &cpu) in cpus.iter().enumerate() {
            let (go_tx, go_rx) = mpsc::channel::<bool>();
            let ready_tx = ready_tx.clone();
            let builder = self.runtime.clone();
            let factory = factory.clone();
            let spawned = thread::Builder::new()
                .name(format!("ringstream-core-{index}"))
                .spawn(move || -> Option<io::Result<Fut::Output>> {
                    let setup = sys::pin_current_thread(cpu).and_then(|()| builder.build());
                    let runtime = match setup {
                        Ok(rt) => {
                            let _ = ready_tx.send((index, Ok(())));
                            rt
                        }
                        Err(e) => {
                            let _ = ready_tx.send((index, Err(e)));
                            return None;
                        }
                    };
                    PINNED_CPU.with(|c| c.set(Some(cpu)));
                    if !go_rx.recv().unwrap_or(false) {
                        return None;
                    }
                    Some(runtime.try_block_on(factory(index)))
                });
            match spawned {
                Ok(handle) => {
                    threads.push((cpu, handle));
                    go.push(go_tx);
                }
                Err(e) => {
                    for tx in &go {
                        let _ = tx.send(false);
                    }
                    return Err(io::Error::new(
                        e.kind(),
                        format!("spawning core thread {index} failed: {e}"),
                    ));
                }
            }
        }
        drop(ready_tx);
        let mut first_err = None;
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok((_, Ok(()))) => {}
                Ok((index, Err(e))) => {
                    first_err.get_or_insert(io::Error::new(e.kind(), format!("core {index}: {e}")));
                }
                Err(_) => {
                    first_err.get_or_insert(io::Error::other("a core thread died during setup"));
                }
            }
        }
        let start = first_err.is_none();
        for tx in &go {
            let _ = tx.send(start);
        }
        if let Some(e) = first_err {
            for (_, t) in threads {
                let _ = t.join();
            }
            return Err(e);
        }
        Ok(CoreGroup { threads })
    }
}

/// The running threads started by [`PerCore::launch`].
pub struct CoreGroup<T> {
    threads: Vec<(usize, thread::JoinHandle<Option<io::Result<T>>>)>,
}

impl<T> CoreGroup<T> {
    /// The CPU of each core, by index.
    pub fn cpus(&self) -> Vec<usize> {
        self.threads.iter().map(|(cpu, _)| *cpu).collect()
    }

    /// Waits for every core's future; a core that panicked gives [`CoreError::Panicked`],
    /// one whose ring failed [`CoreError::Failed`].
    pub fn join(self) -> Vec<Result<T, CoreError>> {
        self.threads
            .into_iter()
            .map(|(cpu, t)| match t.join() {
                Ok(Some(Ok(v))) => Ok(v),
                Ok(Some(Err(e))) => Err(CoreError::Failed {
                    cpu,
                    kind: e.kind(),
                    message: e.to_string(),
                }),
                Ok(None) => Err(CoreError::NotStarted { cpu }),
                Err(payload) => {
                    let message = panic_text(payload.as_ref())
                        .unwrap_or("non-string panic payload")
                        .to_string();
                    Err(CoreError::Panicked { cpu, message })
                }
            })
            .collect()
    }
}

/// Why a core produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// The core's future (or the runtime) panicked.
    Panicked {
        /// The CPU the core ran on.
        cpu: usize,
        /// The panic message.
        message: String,
    },
    /// The core never ran its future (another core failed during setup).
    NotStarted {
        /// The CPU the core was meant to run on.
        cpu: usize,
    },
    /// The core's ring failed while its future ran (see
    /// [`Runtime::try_block_on`](crate::Runtime::try_block_on)); the future was dropped.
    ///
    /// ```
    /// use ringstream::runtime::CoreError;
    ///
    /// let error = CoreError::Failed {
    ///     cpu: 0,
    ///     kind: std::io::ErrorKind::PermissionDenied,
    ///     message: "io_uring_enter failed: EPERM — ...".into(),
    /// };
    /// assert!(error.to_string().contains("EPERM"));
    /// assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::PermissionDenied);
    /// ```
    Failed {
        /// The CPU the core ran on.
        cpu: usize,
        /// The ring error's kind.
        kind: io::ErrorKind,
        /// The ring error's message, which names the cause and the fix.
        message: String,
    },
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Panicked { cpu, message } => {
                write!(f, "the core on CPU {cpu} panicked: {message}")
            }
            CoreError::NotStarted { cpu } => write!(f, "the core on CPU {cpu} did not start"),
            CoreError::Failed { cpu, message, .. } => {
                write!(f, "the core on CPU {cpu} failed: {message}")
            }
        }
    }
}

impl std::error::Error for CoreError {}

impl From<CoreError> for io::Error {
    /// `Failed` keeps its error kind; `Panicked` and `NotStarted` are `Other`. The message
    /// is the `CoreError`'s.
    fn from(error: CoreError) -> io::Error {
        let kind = match &error {
            CoreError::Failed { kind, .. } => *kind,
            CoreError::Panicked { .. } | CoreError::NotStarted { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, error.to_string())
    }
}
