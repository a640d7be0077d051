//! Rating-prediction error: RMSE and MAE over test ratings.

/// Root mean squared error `sqrt(mean((pred - truth)^2))`; `None` for empty input.
///
/// ```
/// let r = tastebud_eval::rating::rmse(&[(3.0, 4.0), (5.0, 5.0)]).unwrap();
/// assert!((r - (0.5f64).sqrt()).abs() < 1e-12);
/// ```
pub fn rmse(pairs: &[(f32, f32)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let s: f64 = pairs
        .iter()
        .map(|&(p, t)| (p as f64 - t as f64).powi(2))
        .sum();
    Some((s / pairs.len() as f64).sqrt())
}

/// Mean absolute error `mean(|pred - truth|)`; `None` for empty input.
///
/// ```
/// assert_eq!(tastebud_eval::rating::mae(&[(3.0, 4.0), (5.0, 5.0)]), Some(0.5));
/// ```
pub fn mae(pairs: &[(f32, f32)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    Some(
        pairs
            .iter()
            .map(|&(p, t)| (p as f64 - t as f64).abs())
            .sum::<f64>()
            / pairs.len() as f64,
    )
}
