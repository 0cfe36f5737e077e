//! Creating the io_uring: the setup-flag fallback chain and the error messages that name
//! the cause and the fix when the kernel says no.

use std::fmt;
use std::io;

use io_uring::IoUring;

use crate::sys::errno_name;

/// How the ring was set up; [`crate::Runtime::ring_mode`] reports it.
///
/// The engine asks for the fastest mode first and falls back when the kernel refuses:
/// `DeferTaskrun` (Linux 6.1+) -> `CoopTaskrun` (5.19+) -> `Plain`. `SqPoll` is used only
/// when [`crate::Builder::sqpoll`] asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingMode {
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`: completions are produced
    /// only when this thread enters the ring, so no IPI or task-work interrupts the loop.
    DeferTaskrun,
    /// `IORING_SETUP_COOP_TASKRUN`: the kernel does not interrupt the thread to run task work.
    CoopTaskrun,
    /// No optional flags (older kernels).
    Plain,
    /// `IORING_SETUP_SQPOLL`: a kernel thread polls the submission queue.
    SqPoll,
}

impl fmt::Display for RingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingMode::DeferTaskrun => "single-issuer + defer-taskrun",
            RingMode::CoopTaskrun => "coop-taskrun",
            RingMode::Plain => "plain",
            RingMode::SqPoll => "sqpoll",
        })
    }
}

/// What the caller wants from the ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingConfig {
    pub entries: u32,
    pub cq_entries: Option<u32>,
    pub sqpoll_idle_ms: Option<u32>,
}

/// Builds the ring, trying the modes from fastest to most compatible.
pub(crate) fn build_ring(config: &RingConfig) -> io::Result<(IoUring, RingMode)> {
    if config.entries == 0 || !config.entries.is_power_of_two() || config.entries > 32768 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "ring entries must be a power of two between 1 and 32768, got {}",
                config.entries
            ),
        ));
    }
    // DeferTaskrun first: completion work runs when the loop asks for it, in one batch,
    // which measured cheaper at pp1 and the same elsewhere. SQPOLL stays opt-in: its kernel
    // thread competes with the serving thread for the cores (see `docs/decisions.md`, "Ring
    // mode").
    let modes: &[RingMode] = if config.sqpoll_idle_ms.is_some() {
        &[RingMode::SqPoll]
    } else {
        &[
            RingMode::DeferTaskrun,
            RingMode::CoopTaskrun,
            RingMode::Plain,
        ]
    };
    let mut last_err = None;
    for &mode in modes {
        let mut builder = IoUring::builder();
        if let Some(cq) = config.cq_entries {
            builder.setup_cqsize(cq);
        }
        // SUBMIT_ALL (5.18): keep submitting past an SQE that fails early, so a bad SQE
        // never leaves the ones behind it stuck in the queue.
        builder.setup_submit_all();
        match mode {
            RingMode::DeferTaskrun => {
                builder
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            RingMode::CoopTaskrun => {
                builder.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingMode::Plain => {}
            RingMode::SqPoll => {
                builder.setup_sqpoll(config.sqpoll_idle_ms.unwrap_or(1000));
            }
        }
        match builder.build(config.entries) {
            Ok(ring) => return Ok((ring, mode)),
            // EINVAL: this kernel does not know one of the flags; try the next mode.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
            Err(e) => return Err(setup_error(e)),
        }
    }
    Err(setup_error(last_err.unwrap_or_else(|| {
        io::Error::from_raw_os_error(libc::EINVAL)
    })))
}

/// Turns an io_uring_setup failure into an error that names the cause and the fix.
pub(crate) fn setup_error(err: io::Error) -> io::Error {
    let errno = err.raw_os_error().unwrap_or(0);
    let why = match errno {
        libc::ENOSYS => {
            "this kernel has no io_uring (it needs Linux 5.19 or newer, 6.1+ recommended); \
             run on a newer kernel"
        }
        libc::EPERM => {
            "io_uring is disabled by seccomp (e.g. a container's default profile) or by \
             the sysctl kernel.io_uring_disabled; allow io_uring_setup/io_uring_enter/\
             io_uring_register in the seccomp profile, or set kernel.io_uring_disabled=0 \
             (or add this user to kernel.io_uring_group when it is 1)"
        }
        libc::ENOMEM => {
            "the kernel could not allocate the ring; on kernels before 5.12 the ring is \
             charged to RLIMIT_MEMLOCK: raise it (ulimit -l, LimitMEMLOCK= in systemd) \
             or ask for fewer entries"
        }
        libc::EMFILE | libc::ENFILE => {
            "no file descriptor is left for the ring; raise RLIMIT_NOFILE (ulimit -n) \
             or close descriptors"
        }
        libc::EINVAL => {
            "the kernel rejected every ring configuration tried; it is too old for the \
             features ringstream needs (Linux 5.19+)"
        }
        _ => "unexpected failure",
    };
    io::Error::new(
        err.kind(),
        format!("io_uring_setup failed: {} — {why}", errno_name(errno)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_names_seccomp_and_the_sysctl() {
        let e = setup_error(io::Error::from_raw_os_error(libc::EPERM));
        let msg = e.to_string();
        assert!(msg.starts_with("io_uring_setup failed: EPERM"), "{msg}");
        assert!(
            msg.contains("seccomp") && msg.contains("kernel.io_uring_disabled"),
            "{msg}"
        );
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn enosys_names_the_kernel_version() {
        let msg = setup_error(io::Error::from_raw_os_error(libc::ENOSYS)).to_string();
        assert!(msg.contains("ENOSYS") && msg.contains("5.19"), "{msg}");
    }

    #[test]
    fn bad_entry_counts_are_invalid_input() {
        for entries in [0, 3, 65536] {
            let config = RingConfig {
                entries,
                cq_entries: None,
                sqpoll_idle_ms: None,
            };
            let err = build_ring(&config).err().expect("must be rejected");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn the_fastest_mode_this_kernel_accepts_is_chosen() {
        let config = RingConfig {
            entries: 8,
            cq_entries: None,
            sqpoll_idle_ms: None,
        };
        let (_ring, mode) = build_ring(&config).expect("ring");
        // DEFER_TASKRUN arrived in Linux 6.1: a kernel at least that new must get it.
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if version >= (6, 1) {
            assert_eq!(mode, RingMode::DeferTaskrun, "kernel {release}");
        } else {
            assert_ne!(mode, RingMode::SqPoll);
        }
    }
}
