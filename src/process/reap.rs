//! Reaping children nobody waits for: a [`Child`](super::Child) dropped while its process
//! runs must not leave a zombie behind.
//!
//! On a runtime, a small task waits for the process on the ring and reaps it. Without a
//! runtime (the child outlived it, or the runtime shut down with the task pending), a
//! short-lived thread blocks in `waitid` for it instead: one thread per such child, alive
//! until that child exits.

use std::io;
use std::process::ExitStatus;

use super::pidfd::Pidfd;

/// A running child whose owner is gone, or a guard that reaps it whoever waits.
pub(crate) struct Orphan(Option<Pidfd>);

impl Orphan {
    /// Reaps `pidfd`'s process once it exits, on this runtime if there is one.
    pub(crate) fn reap(pidfd: Pidfd) {
        let mut orphan = Orphan::guard(pidfd);
        if crate::runtime::current_core().is_some() {
            // Detached: the task owns the orphan until it is reaped.
            drop(crate::spawn(async move {
                let _ = orphan.wait().await;
            }));
        }
        // Otherwise dropping `orphan` hands it to a thread.
    }

    /// Holds `pidfd`'s process: dropped before [`wait`](Self::wait) reaped it, it hands
    /// the process to a thread that does.
    pub(crate) fn guard(pidfd: Pidfd) -> Orphan {
        Orphan(Some(pidfd))
    }

    /// The process's pid.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(Pidfd::pid)
    }

    /// Waits on the ring and reaps the process. A failure leaves it to the thread
    /// fallback, which reports it if it fails too.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        let Some(pidfd) = self.0.as_mut() else {
            return Err(io::Error::other("the process was already reaped"));
        };
        let status = pidfd.wait().await?;
        self.0 = None;
        Ok(status)
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        let Some(pidfd) = self.0.take() else {
            return;
        };
        let pid = pidfd.pid();
        let spawned = pidfd.blocking_reaper().and_then(|reap| {
            std::thread::Builder::new()
                .name("ringstream-reaper".into())
                .spawn(move || {
                    if let Err(err) = reap() {
                        log::warn!("ringstream: reaping a dropped child failed: {err}");
                    }
                })
        });
        if let Err(err) = spawned {
            log::warn!(
                "ringstream: no thread to reap dropped child {pid} ({err}); it stays a \
                 zombie until this process exits"
            );
        }
    }
}
