//! CPU time of a thread or a process, read from `/proc` (no `unsafe`, no libc).
//!
//! `ringstream bench`, the yardstick and the greedy bench read the echo server's thread
//! before and after a scenario to report the server's CPU time per message; the http bench
//! reads the server thread's, this process's and wrk's `utime` / `stime` ticks.

use std::io;
use std::time::Duration;

/// Length of one clock tick in `/proc/<pid>/stat` times: `USER_HZ` is 100 on Linux.
pub const TICK: Duration = Duration::from_millis(10);

/// The kernel's id (tid) of the calling thread, from the `/proc/thread-self` link
/// (`<pid>/task/<tid>`).
///
/// # Errors
/// When `/proc` is not mounted or the link does not have that form.
pub fn current_thread_id() -> io::Result<u32> {
    let link = std::fs::read_link("/proc/thread-self")?;
    let text = link.to_string_lossy();
    text.rsplit('/')
        .next()
        .and_then(|tid| tid.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/thread-self points to {text:?}, not <pid>/task/<tid>"),
            )
        })
}

/// CPU time (user + system) thread `tid` of this process has used so far.
///
/// Reads `schedstat` (nanoseconds, the scheduler's own sum) and falls back to `stat`'s
/// `utime + stime` (10 ms ticks) on kernels built without schedstats.
///
/// # Errors
/// When the thread does not exist (any more) or neither file parses.
pub fn thread_cpu_time(tid: u32) -> io::Result<Duration> {
    let dir = format!("/proc/self/task/{tid}");
    if let Ok(text) = std::fs::read_to_string(format!("{dir}/schedstat")) {
        if let Some(ns) = parse_schedstat(&text) {
            return Ok(Duration::from_nanos(ns));
        }
    }
    let (utime, stime) = stat_ticks(&format!("{dir}/stat"))?;
    Ok(TICK * u32::try_from(utime + stime).unwrap_or(u32::MAX))
}

/// `(utime, stime)` in clock ticks ([`TICK`]) from a `/proc/.../stat` file: a thread's
/// (`/proc/self/task/<tid>/stat`), this process's (`/proc/self/stat`) or another's.
///
/// # Errors
/// When the file cannot be read or has no such fields (the path is in the message).
pub fn stat_ticks(path: &str) -> io::Result<(u64, u64)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {path}: {e}")))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} has no utime/stime fields"),
        )
    })
}

/// The first field of `schedstat`: time spent on the CPU, in nanoseconds.
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `utime + stime` (fields 14 and 15) of a `stat` line. The command name (field 2) is in
/// parentheses and may contain spaces, so fields are counted after its closing `)`.
fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 is the first here
    let utime = fields.next()?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_schedstat_parse() {
        let stat = "1234 (ringstream-co re) S 1 1234 1234 0 -1 4194368 100 0 0 0 \
                    250 37 0 0 20 0 3 0 12345 1000 200 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((250, 37)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_schedstat("123456789 42 7\n"), Some(123_456_789));
    }

    #[test]
    fn this_threads_cpu_time_is_readable_and_grows() {
        let tid = current_thread_id().expect("/proc/thread-self");
        let before = thread_cpu_time(tid).expect("cpu time");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = thread_cpu_time(tid).expect("cpu time");
        assert!(after > before, "{before:?} -> {after:?}");
    }
}
