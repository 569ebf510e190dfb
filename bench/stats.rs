//! Medians and percentiles.

use std::time::Duration;

/// The median of `values` (the lower middle for an even count); 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// The `p`-th percentile (0–100) of latencies, in microseconds.
pub(crate) fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// The `p`-th percentile (0–100) of sorted whole-number samples (microseconds of lateness,
/// say); 0 for none.
pub(crate) fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64
}

/// Rounds to two decimals for readable output.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
