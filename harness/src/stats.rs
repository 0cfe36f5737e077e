//! Summaries over rounds and over round trips, shared by the yardstick and the greedy
//! bench so both report medians, spreads and percentiles the same way.

/// Median, minimum and maximum of the finite values (all NaN when there are none). With an
/// even count the median is the upper of the two middle values.
pub fn median_spread(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// The `q` quantile (0.0..=1.0) of `sorted` (ascending), nearest rank; NaN when empty.
pub fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    f64::from(sorted[i])
}
