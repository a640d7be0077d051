//! Summaries of repeated measurements: timings, and the seed studies' comparison rows.

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

/// One markdown table row comparing two *independent* samples of repeated measurements (e.g. one value per
/// random seed for each of two libraries): `| label | metric | ours | theirs | difference |`, each sample as
/// `mean ± sd [min, max]` and the difference of the means with its Welch (normal) 95% interval. `theirs`
/// with fewer than two values prints `–` in its two columns. The seed studies of `bench-implicit` and
/// `bench-rating` print these.
///
/// ```
/// use tastebud_bench::stats::seed_comparison_row;
/// let row = seed_comparison_row("svd", "RMSE", &[0.92, 0.93, 0.94], &[0.93, 0.94, 0.95]);
/// assert_eq!(row, "| svd | RMSE | 0.9300 ± 0.0100 [0.9200, 0.9400] | 0.9400 ± 0.0100 [0.9300, 0.9500] | -0.0100 (-0.0260, +0.0060) |");
/// ```
pub fn seed_comparison_row(label: &str, metric: &str, ours: &[f64], theirs: &[f64]) -> String {
    let describe = |v: &[f64]| {
        let (m, sd) = tastebud_eval::significance::mean_std(v);
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (m, sd, format!("{m:.4} ± {sd:.4} [{min:.4}, {max:.4}]"))
    };
    let (ma, sa, a) = describe(ours);
    let (b, diff) = if theirs.len() < 2 {
        ("–".to_string(), "–".to_string())
    } else {
        let (mb, sb, b) = describe(theirs);
        let se = (sa * sa / ours.len() as f64 + sb * sb / theirs.len() as f64).sqrt();
        let d = ma - mb;
        let ci = format!("{d:+.4} ({:+.4}, {:+.4})", d - 1.96 * se, d + 1.96 * se);
        (b, ci)
    };
    format!("| {label} | {metric} | {a} | {b} | {diff} |")
}
