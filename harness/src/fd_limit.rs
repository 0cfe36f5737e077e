//! The open-file limit (RLIMIT_NOFILE): reading it from `/proc/self/limits`, checking that
//! a scenario fits under it before anything runs, and raising the soft limit to the hard
//! one for a bench that opens thousands of sockets.

use std::io;

/// This process's open-file limit: (soft, hard); `None` stands for unlimited.
///
/// # Errors
/// When `/proc/self/limits` cannot be read or has no such line.
pub fn open_file_limit() -> io::Result<(Option<u64>, Option<u64>)> {
    let text = std::fs::read_to_string("/proc/self/limits")
        .map_err(|e| io::Error::new(e.kind(), format!("reading /proc/self/limits: {e}")))?;
    parse_open_files(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "/proc/self/limits has no \"Max open files\" line",
        )
    })
}

/// Fails, naming the limit and the fix, when fewer than `needed` descriptors may be open
/// for `what`. An unreadable limit (no /proc) passes: the connects would then fail on
/// their own.
///
/// # Errors
/// The soft limit is below `needed`.
pub fn check(needed: usize, what: &str) -> io::Result<()> {
    let Ok((Some(soft), _)) = open_file_limit() else {
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

/// Raises the soft open-file limit to the hard one; the soft limit now in force.
///
/// # Errors
/// `getrlimit` / `setrlimit` failed.
pub fn raise() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid rlimit for the call to read.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// `Max open files            1024                 1048576              files`.
fn parse_open_files(limits: &str) -> Option<(Option<u64>, Option<u64>)> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..].split_whitespace();
    let value = |v: &str| -> Option<Option<u64>> {
        if v == "unlimited" {
            Some(None)
        } else {
            v.parse().ok().map(Some)
        }
    };
    Some((value(values.next()?)?, value(values.next()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 1048576              files\n";
        assert_eq!(
            parse_open_files(limits),
            Some((Some(1024), Some(1_048_576)))
        );
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files(unlimited), Some((None, None)));
        assert_eq!(parse_open_files("Max open files  x  y\n"), None);
    }

    #[test]
    fn a_need_above_the_soft_limit_is_refused_with_the_fix() {
        let (soft, _) = open_file_limit().expect("/proc/self/limits");
        check(8, "a small scenario").expect("8 descriptors fit");
        if let Some(soft) = soft {
            let e = check(soft as usize + 1, "pp2000").unwrap_err().to_string();
            assert!(e.contains("pp2000") && e.contains("ulimit -n"), "{e}");
        }
    }
}
