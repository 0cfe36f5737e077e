//! `ringstream bench --runtime`: a short benchmark of the runtime through its public API
//! (spawn + join, wake round trips between two tasks, NOPs through the ring), printed as
//! one table. The criterion benches in `benches/runtime.rs` are the careful, side-by-side
//! version of the same measurements.

use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringstream_harness::table::{format_duration, format_rate, group_thousands, render};
use ringstream_harness::wake::{ping, pong, Pair};

/// Operations per scenario.
const OPS: u64 = 100_000;
/// Operations run before each timed scenario, to warm caches and the allocator.
const WARM_UP_OPS: u64 = 1_000;
/// Tasks spawned before their handles are awaited, in the spawn + join scenario.
const SPAWN_BATCH: u64 = 1_000;

/// One timed scenario.
struct Row {
    /// What was measured.
    scenario: &'static str,
    /// How many operations were timed.
    ops: u64,
    /// Wall-clock time for all of them.
    total: Duration,
}

/// Runs the three scenarios on a fresh runtime and renders the report table.
///
/// # Errors
/// When the runtime cannot be created (the message names the cause and the fix), or when
/// a NOP or a task fails.
pub fn run() -> io::Result<String> {
    let rt = ringstream::Runtime::new()?;
    let rows = [
        Row {
            scenario: "spawn + join",
            ops: OPS,
            total: rt.block_on(timed(spawn_join))?,
        },
        Row {
            scenario: "wake round trip",
            ops: OPS,
            total: rt.block_on(timed(wake_round_trips))?,
        },
        Row {
            scenario: "nop (ring)",
            ops: OPS,
            total: rt.block_on(timed(nops))?,
        },
    ];
    Ok(report(rt.ring_mode(), &rows))
}

/// Runs `scenario` for [`WARM_UP_OPS`] untimed, then for [`OPS`], and returns how long the
/// second run took.
async fn timed<F, Fut>(scenario: F) -> io::Result<Duration>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    scenario(WARM_UP_OPS).await?;
    let start = Instant::now();
    scenario(OPS).await?;
    Ok(start.elapsed())
}

/// Spawns `ops` trivial tasks in batches of [`SPAWN_BATCH`] and awaits every handle.
async fn spawn_join(ops: u64) -> io::Result<()> {
    let mut handles = Vec::with_capacity(SPAWN_BATCH as usize);
    let mut left = ops;
    while left > 0 {
        let n = left.min(SPAWN_BATCH);
        left -= n;
        handles.extend((0..n).map(|i| ringstream::spawn(async move { i })));
        for handle in handles.drain(..) {
            handle.await?;
        }
    }
    Ok(())
}

/// Two tasks wake each other `ops` times.
async fn wake_round_trips(ops: u64) -> io::Result<()> {
    let pair = Rc::new(Pair::default());
    let b = ringstream::spawn(pong(pair.clone(), ops));
    let a = ringstream::spawn(ping(pair, ops));
    a.await?;
    b.await?;
    Ok(())
}

/// Sends `ops` NOPs through the ring, one at a time.
async fn nops(ops: u64) -> io::Result<()> {
    for _ in 0..ops {
        ringstream::nop().await?;
    }
    Ok(())
}

/// Renders the report: the ring mode, then one aligned table row per scenario.
fn report(mode: ringstream::RingMode, rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let secs = r.total.as_secs_f64();
            let ns_per_op = secs * 1e9 / r.ops as f64;
            let ops_per_sec = if secs > 0.0 {
                format_rate(r.ops as f64 / secs)
            } else {
                "-".to_owned()
            };
            vec![
                r.scenario.to_owned(),
                group_thousands(r.ops),
                format_duration(r.total),
                format!("{ns_per_op:.1}"),
                ops_per_sec,
            ]
        })
        .collect();
    format!(
        "ringstream bench --runtime — ring mode: {mode}\n\n{}",
        render(&["scenario", "ops", "total", "ns/op", "ops/s"], &cells, 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_aligned() {
        let rows = [
            Row {
                scenario: "spawn + join",
                ops: 100_000,
                total: Duration::from_millis(12),
            },
            Row {
                scenario: "nop (ring)",
                ops: 100_000,
                total: Duration::from_millis(80),
            },
        ];
        let text = report(ringstream::RingMode::Plain, &rows);
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines.len(), 3, "{text}");
        let len = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == len), "{text}");
        assert!(
            lines[1].contains("120.0") && lines[1].contains("8,333,333"),
            "{text}"
        );
    }
}
