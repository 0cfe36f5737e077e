//! The bottom floor: thin, safe wrappers over the few raw Linux calls the crate makes that
//! have nothing to do with the ring: the wake-up eventfd, CPU affinity, giving freed heap
//! memory back, errno names for error messages, the action signal handlers run, pidfds
//! for child processes, and the one socket option socket2 does not wrap (`SO_RXQ_OVFL`).
//!
//! `unsafe` lives here and in `src/driver/` only (the ring, its ops and its buffer memory),
//! so the rest of the crate is safe Rust.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Creates a non-blocking, close-on-exec eventfd with a counter of 0.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a negative return is an error we report.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever polls it.
///
/// EAGAIN (the counter is at its maximum) still leaves the fd readable, so it is not an
/// error for a wake-up.
pub(crate) fn eventfd_signal(fd: &OwnedFd) -> io::Result<()> {
    let one: u64 = 1;
    // SAFETY: we pass a pointer to 8 live bytes on our stack, which write(2) only reads.
    let n = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::WouldBlock {
            return Err(err);
        }
    }
    Ok(())
}

/// Waits until `fd` is readable or `timeout` passes (`None`: no limit). True when it is
/// readable; an interrupted wait (EINTR) returns false, like a timeout.
pub(crate) fn wait_readable(fd: &OwnedFd, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Rounded up, so a wait for a deadline never wakes just before it.
    let ms = match timeout {
        None => -1,
        Some(t) => i32::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX),
    };
    // SAFETY: poll reads and writes the one pollfd on our stack, whose count we pass.
    let n = unsafe { libc::poll(&mut pollfd, 1, ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(n > 0)
}

/// Resets an eventfd's counter to zero (non-blocking; an already-zero counter is fine).
pub(crate) fn eventfd_drain(fd: &OwnedFd) {
    let mut value: u64 = 0;
    // SAFETY: read(2) writes at most 8 bytes into `value`, which lives on our stack.
    let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
}

/// The CPUs this thread may run on, in ascending order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: we pass the size of the set we own; the kernel writes within it.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads the set we own, with an index below its capacity.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to exactly one CPU.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot pin to CPU {cpu}: the affinity mask holds CPUs 0..{max} only"),
        ));
    }
    // SAFETY: cpu_set_t is plain data; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` was checked against the capacity of the set above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: we pass the size of the set we own; the kernel only reads it.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!(
                "sched_setaffinity to CPU {cpu} failed: {err} — the CPU is offline or outside \
                 this process's cpuset; pick cores from the allowed set (taskset -p $$ shows it)"
            ),
        ));
    }
    Ok(())
}

/// The CPU the calling thread is running on right now.
pub(crate) fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// Gives the C allocator's free memory back to the kernel (glibc's `malloc_trim(0)`: free
/// pages inside every arena, not only at the top of the heap). glibc keeps what a burst
/// freed — hundreds of MB after 2,000 streaming connections closed — because freed chunks
/// sit between live ones; nothing else returns them. Elsewhere (musl, another allocator)
/// this does nothing and says so.
///
/// Returns whether memory was released.
pub(crate) fn release_free_heap_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena).
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The symbolic name of an errno value, for error messages ("EPERM", "ENOMEM", ...).
pub(crate) fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EPIPE => "EPIPE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::ETIME => "ETIME",
        libc::ECANCELED => "ECANCELED",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EBADR => "EBADR",
        libc::ENXIO => "ENXIO",
        libc::EOWNERDEAD => "EOWNERDEAD",
        libc::EIO => "EIO",
        _ => "errno",
    }
}

/// Makes every delivery of `signal` add one to `count`, then add one to the eventfd `wake`,
/// from the signal handler. signal-hook-registry installs one `sigaction` handler
/// (`SA_RESTART`, errno saved) per signal and runs every action registered for it, so
/// other handlers in the process (the command's, a library's) keep running too.
///
/// `wake` must stay open for the life of the process: the handler may run at any time.
pub(crate) fn count_signal(
    signal: i32,
    count: &'static std::sync::atomic::AtomicU64,
    wake: std::os::fd::RawFd,
) -> io::Result<()> {
    if signal_hook_registry::FORBIDDEN.contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "signal {signal} cannot be handled (SIGKILL, SIGSTOP, SIGILL, SIGFPE and \
                 SIGSEGV are refused): listen for another signal"
            ),
        ));
    }
    let action = move || {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: write(2) reads 8 live bytes from our stack; it is async-signal-safe. A
        // full counter (EAGAIN) still leaves the eventfd readable, so the result is not
        // needed.
        let _ = unsafe { libc::write(wake, (&one as *const u64).cast(), 8) };
    };
    // SAFETY: the action is async-signal-safe: one atomic add and one write(2), no
    // allocation, no lock, nothing that can panic.
    unsafe { signal_hook_registry::register(signal, action) }
        .map(drop)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("installing a handler for signal {signal} failed: {e}"),
            )
        })
}

/// A pidfd for the child `pid` of this process (close-on-exec): it becomes readable when
/// the child exits, and signals and `waitid` through it can never reach another process
/// that reused the number.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags, no pointers; a negative return is an error.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else; descriptors
    // fit in an i32.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process behind a pidfd.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo asks the kernel to fill it in as kill(2) does; no other pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reaps the exited child behind a pidfd (`waitid(P_PIDFD, WEXITED)`), returning its wait
/// status as `waitpid` encodes it (what `ExitStatus::from_raw` takes). With `block` false
/// a child still running is `None` at once; with `block` true this waits for it.
pub(crate) fn waitid_pidfd(pidfd: &OwnedFd, block: bool) -> io::Result<Option<i32>> {
    let id = libc::id_t::try_from(pidfd.as_raw_fd())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad pidfd"))?;
    let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: siginfo_t is plain data; all-zero is valid and means "no child" to WNOHANG.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes one siginfo_t into `info`, which lives on our stack.
        let rc = unsafe { libc::waitid(libc::P_PIDFD, id, &mut info, flags) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: after a successful waitid the pid and status fields are initialized (zero
        // when WNOHANG found the child running).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => status & 0x7f,
        }));
    }
}

/// Asks a datagram socket to report, with each datagram, how many the kernel dropped for
/// want of room in its receive buffer (`SO_RXQ_OVFL`).
pub(crate) fn report_receive_drops(fd: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&on`, which lives across the
    // call; a bad descriptor is an error, not undefined behaviour.
    let res = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if res == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_signal_then_drain_round_trips() {
        use std::io::Read;
        let fd = eventfd().expect("eventfd");
        eventfd_signal(&fd).expect("signal");
        eventfd_signal(&fd).expect("signal");
        assert!(
            wait_readable(&fd, Some(Duration::ZERO)).expect("poll"),
            "a signalled eventfd is readable"
        );
        let mut file = std::fs::File::from(fd.try_clone().expect("dup"));
        let mut bytes = [0u8; 8];
        file.read_exact(&mut bytes).expect("read");
        assert_eq!(u64::from_ne_bytes(bytes), 2);
        eventfd_drain(&fd); // already zero: must neither block nor fail
        assert!(
            file.read_exact(&mut bytes).is_err(),
            "counter must be zero after the read"
        );
        let start = std::time::Instant::now();
        assert!(!wait_readable(&fd, Some(Duration::from_millis(20))).expect("poll"));
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "waited the timeout"
        );
    }

    #[test]
    fn allowed_cpus_is_not_empty_and_errno_names_are_symbolic() {
        let cpus = allowed_cpus().expect("affinity");
        assert!(!cpus.is_empty());
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(libc::ENOMEM), "ENOMEM");
    }

    #[test]
    fn a_pidfd_signals_and_reaps_its_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn");
        let pidfd = pidfd_open(child.id()).expect("pidfd_open");
        assert_eq!(
            waitid_pidfd(&pidfd, false).expect("waitid"),
            None,
            "running"
        );
        pidfd_send_signal(&pidfd, libc::SIGKILL).expect("signal");
        let status = waitid_pidfd(&pidfd, true).expect("waitid");
        assert_eq!(status, Some(libc::SIGKILL), "wait status of a SIGKILL");
        let again = child
            .try_wait()
            .expect_err("already reaped through the pidfd");
        assert_eq!(again.raw_os_error(), Some(libc::ECHILD));
    }

    #[test]
    fn waitid_encodes_exit_codes_as_waitpid_does() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("spawn");
        let pidfd = pidfd_open(child.id()).expect("pidfd_open");
        assert_eq!(waitid_pidfd(&pidfd, true).expect("waitid"), Some(3 << 8));
        assert!(
            child.try_wait().is_err(),
            "already reaped through the pidfd"
        );
    }
}
