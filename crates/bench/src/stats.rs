//! Summaries of repeated timings.

/// The median: the middle value, the upper of the two middle ones for an even count (so it is always a
/// measured value); NaN when there is none.
///
/// ```
/// use tastebud_bench::median;
/// assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
/// assert!(median([]).is_nan());
/// ```
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The arithmetic mean; NaN when there is no value.
///
/// ```
/// assert_eq!(tastebud_bench::mean([1.0, 2.0, 6.0]), 3.0);
/// ```
pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n as f64
}

/// The `p` quantile (`0.0..=1.0`) of values sorted in increasing order: the value at rank
/// `round((n - 1) · p)`. Panics on an empty slice.
///
/// ```
/// use std::time::Duration;
/// use tastebud_bench::percentile;
/// let lat: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
/// assert_eq!(percentile(&lat, 0.5), Duration::from_millis(51));
/// assert_eq!(percentile(&lat, 0.99), Duration::from_millis(99));
/// ```
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
