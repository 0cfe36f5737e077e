//! The greedy bench's table: per server, medians [min–max] over rounds, the light p99 as
//! a multiple of tokio's from the same run, and the target checked.

use super::{Options, Sample};
use ringstream_harness::servers::{Peer, LOAD_CPU, SERVER_CPU};
use ringstream_harness::stats::median_spread;

/// The target of issue 10 for the light connections: p99 at most this multiple of
/// tokio's under the same load ...
const P99_VS_TOKIO: f64 = 2.0;
/// ... and no round trip over this, in microseconds (100 ms).
const MAX_US: f64 = 100_000.0;

pub fn print(opts: &Options, samples: &[(Peer, Vec<Sample>)]) {
    println!(
        "\ngreedy: {} rounds x {} s per server; {} greedy x {} B chunks + {} light x {} B every {:?}; server on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}; medians [min-max]",
        opts.rounds,
        opts.secs,
        opts.greedy,
        opts.chunk,
        opts.light.conns,
        opts.light.size,
        opts.light.period,
    );
    println!(
        "| server | greedy MB/s | server CPU us/MB | light p50 us | light p99 us | light max us | light pings | p99 vs tokio | target (p99 <= {P99_VS_TOKIO}x tokio, max < {} ms) |",
        MAX_US / 1000.0
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let tokio_p99 = samples
        .iter()
        .find(|(p, _)| *p == Peer::Tokio)
        .map(|(_, s)| median_spread(s.iter().map(|x| x.light_p99_us)).0);
    for (peer, s) in samples {
        let field = |f: fn(&Sample) -> f64| median_spread(s.iter().map(f));
        let cell = |f: fn(&Sample) -> f64, digits: usize| {
            let (m, lo, hi) = field(f);
            format!("{m:.digits$} [{lo:.digits$}-{hi:.digits$}]")
        };
        let (p99, _, _) = field(|x| x.light_p99_us);
        let (_, _, worst_max) = field(|x| x.light_max_us);
        let (vs_tokio, target) = match tokio_p99 {
            Some(t) => {
                let ratio = p99 / t;
                let met = ratio <= P99_VS_TOKIO && worst_max < MAX_US;
                (
                    format!("{ratio:.2}x"),
                    format!(
                        "{} (p99 {ratio:.2}x, worst max {:.1} ms)",
                        if met { "met" } else { "NOT met" },
                        worst_max / 1000.0
                    ),
                )
            }
            None => ("—".into(), "— (needs tokio in the run)".into()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {vs_tokio} | {target} |",
            peer.name(),
            cell(|x| x.greedy_mb_per_s, 1),
            cell(|x| x.server_us_per_mb, 1),
            cell(|x| x.light_p50_us, 1),
            cell(|x| x.light_p99_us, 1),
            cell(|x| x.light_max_us, 1),
            cell(|x| x.light_pings as f64, 0),
        );
    }
}
