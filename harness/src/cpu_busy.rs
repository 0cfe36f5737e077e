//! Busy time of whole CPUs, from `/proc/stat`: the cost of a scenario on both cores,
//! whichever thread (or no thread) the kernel charged it to.
//!
//! On loopback the kernel's TCP work for a segment — the copy into the socket, the
//! receive-side protocol processing in softirq, waking the reader — runs on the CPU of
//! the side that sends it, so a server's thread CPU depends on its client as much as on
//! itself. Summing the busy time of the server's and the load generator's CPUs over the
//! measured window counts all of it once: per CPU, `user + nice + system + irq +
//! softirq` (guest time is already inside user; idle, iowait and steal — time the
//! hypervisor took — are not busy). The figures are in USER_HZ ticks (10 ms; fixed at 100
//! per second on x86 and arm64), sampled by the scheduler tick, so a window of a few
//! seconds on two busy CPUs is good to about 1 %. Anything else running on those CPUs
//! (another build) is counted too: measure on a quiet machine.

/// Nanoseconds one `/proc/stat` tick stands for (USER_HZ = 100).
const NS_PER_TICK: u64 = 10_000_000;

/// Ticks of one CPU since boot, from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    /// `user + nice + system + irq + softirq`: work done on that CPU for any process.
    pub busy: u64,
    /// Time the hypervisor gave to someone else.
    pub steal: u64,
    /// Everything, idle and iowait included.
    pub total: u64,
}

/// The ticks of `cpu`; `None` when `/proc/stat` cannot be read or does not list it.
pub fn cpu_ticks(cpu: usize) -> Option<CpuTicks> {
    parse_cpu_line(&std::fs::read_to_string("/proc/stat").ok()?, cpu)
}

/// Busy nanoseconds of `cpus`, summed, since boot; `None` when `/proc/stat` cannot be read
/// or lists none of them.
pub fn busy_ns(cpus: &[usize]) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut total = None;
    for ticks in cpus.iter().filter_map(|&cpu| parse_cpu_line(&stat, cpu)) {
        *total.get_or_insert(0) += ticks.busy * NS_PER_TICK;
    }
    total
}

/// `(busy, steal)` shares of a CPU's time between two readings; `None` when either is
/// missing or no time passed.
pub fn shares(before: Option<CpuTicks>, after: Option<CpuTicks>) -> Option<(f64, f64)> {
    let (b, a) = (before?, after?);
    let total = a.total.checked_sub(b.total).filter(|&t| t > 0)? as f64;
    Some((
        a.busy.saturating_sub(b.busy) as f64 / total,
        a.steal.saturating_sub(b.steal) as f64 / total,
    ))
}

/// The `cpuN` line of `/proc/stat`: user nice system idle iowait irq softirq steal (guest
/// time is already inside user).
fn parse_cpu_line(stat: &str, cpu: usize) -> Option<CpuTicks> {
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|t| t.parse().ok())
        .collect();
    let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks[..] else {
        return None;
    };
    Some(CpuTicks {
        busy: user + nice + system + irq + softirq,
        steal,
        total: user + nice + system + idle + iowait + irq + softirq + steal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_line_parses_into_busy_steal_and_total() {
        let stat = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 1 2 3 100 5 6 7 8 0 0\ncpu1 1 1 1 1 1 1 1 1\n";
        let cpu0 = parse_cpu_line(stat, 0).expect("cpu0");
        assert_eq!(
            cpu0,
            CpuTicks {
                busy: 1 + 2 + 3 + 6 + 7,
                steal: 8,
                total: 132
            }
        );
        assert_eq!(parse_cpu_line(stat, 2), None);
        let later = CpuTicks {
            busy: cpu0.busy + 10,
            steal: cpu0.steal,
            total: cpu0.total + 40,
        };
        assert_eq!(shares(Some(cpu0), Some(later)), Some((0.25, 0.0)));
        assert_eq!(shares(Some(cpu0), Some(cpu0)), None);
    }

    #[test]
    fn this_machines_cpus_are_read() {
        let cpu = crate::pin::allowed_cpus(Some(1)).expect("a CPU")[0];
        assert!(cpu_ticks(cpu).is_some_and(|t| t.total > 0));
        assert!(busy_ns(&[cpu]).is_some());
    }
}
