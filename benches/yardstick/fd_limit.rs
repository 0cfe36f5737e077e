//! Whether the process may open enough descriptors for a scenario, from the soft
//! RLIMIT_NOFILE in `/proc/self/limits` (the bench raises nothing itself).

use std::io;

/// Fails, naming the limit and the fix, when fewer than `needed` descriptors may be open.
/// An unreadable limit (no /proc) passes: the connects would then fail on their own.
pub fn check(needed: usize, what: &str) -> io::Result<()> {
    let Some(soft) = soft_limit() else {
        return Ok(());
    };
    if soft >= needed as u64 {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{what} needs about {needed} open descriptors but the soft RLIMIT_NOFILE is {soft}: \
         raise it (e.g. `ulimit -n {}`) or leave the scenario out (--only)",
        needed.next_power_of_two()
    )))
}

/// The soft limit on open files; `u64::MAX` for "unlimited", `None` when unknown.
fn soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}
