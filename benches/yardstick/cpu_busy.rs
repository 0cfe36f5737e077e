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

/// Busy nanoseconds of `cpus`, summed, since boot; `None` when `/proc/stat` cannot be read
/// or lists none of them.
pub fn busy_ns(cpus: &[usize]) -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut total = None;
    for line in stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(cpu) = fields
            .next()
            .and_then(|name| name.strip_prefix("cpu"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if !cpus.contains(&cpu) {
            continue;
        }
        let ticks: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal guest guest_nice
        let busy: u64 = [0, 1, 2, 5, 6]
            .iter()
            .map(|&i| ticks.get(i).copied().unwrap_or(0))
            .sum();
        *total.get_or_insert(0) += busy * NS_PER_TICK;
    }
    total
}
