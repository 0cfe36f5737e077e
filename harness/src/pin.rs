//! Which CPUs a measurement runs on: the CPUs this process may use, and pinning the
//! calling thread to one of them (with a note when it cannot, so a run goes on unpinned
//! and says so).

use std::io;

use ringstream::runtime::PerCore;

/// The CPUs this process may run on (its affinity mask), lowest first; the first `n` of
/// them with `Some(n)`.
///
/// # Errors
/// When the mask cannot be read, or `n` is more CPUs than it holds (the message names both).
pub fn allowed_cpus(n: Option<usize>) -> io::Result<Vec<usize>> {
    let cores = match n {
        Some(n) => PerCore::new().cores(n),
        None => PerCore::new(),
    };
    let mut cpus = cores.resolve_cpus()?;
    cpus.sort_unstable();
    Ok(cpus)
}

/// Pins the calling thread to `cpu`; when it cannot (the CPU is outside the affinity
/// mask), prints why on stderr as `<who>: ... runs unpinned` and returns false.
pub fn pin_or_warn(cpu: usize, who: &str) -> bool {
    match ringstream::runtime::pin_current_thread(cpu) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("{who}: cannot pin to CPU {cpu}; it runs unpinned ({e})");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_allowed_cpu_can_be_pinned_to() {
        let all = allowed_cpus(None).expect("the affinity mask");
        assert!(!all.is_empty());
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        assert_eq!(allowed_cpus(Some(1)).expect("one CPU"), all[..1]);
        assert!(allowed_cpus(Some(all.len() + 1)).is_err());
        let cpu = all[0];
        assert!(std::thread::spawn(move || pin_or_warn(cpu, "test"))
            .join()
            .expect("the pinning thread"));
    }
}
