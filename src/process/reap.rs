//! Reaping children nobody waits for: a [`Child`](super::Child) dropped while its process
//! runs must not leave a zombie behind.
//!
//! On a runtime, a small task waits for the process on the ring and reaps it. Without a
//! runtime (the child outlived it, or the runtime shut down with the task pending), a
//! short-lived thread blocks in `waitid` for it instead: one thread per such child, alive
//! until that child exits.

use super::pidfd::Pidfd;

/// A running child whose owner is gone.
pub(crate) struct Orphan(Option<Pidfd>);

impl Orphan {
    /// Reaps `pidfd`'s process once it exits, on this runtime if there is one.
    pub(crate) fn reap(pidfd: Pidfd) {
        let orphan = Orphan(Some(pidfd));
        if crate::runtime::current_core().is_some() {
            // Detached: the task owns the orphan until it is reaped.
            drop(crate::spawn(orphan.wait()));
        }
        // Otherwise dropping `orphan` hands it to a thread.
    }

    /// Waits on the ring; a failure leaves the child to the thread fallback, which reports
    /// it if it fails too.
    async fn wait(mut self) {
        if let Some(pidfd) = self.0.as_mut() {
            if pidfd.wait().await.is_ok() {
                self.0 = None;
            }
        }
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
