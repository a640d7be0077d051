//! Sample-ratio mismatch: was traffic split the way the experiment was designed?

use serde::{Deserialize, Serialize};

use super::dist::chi2_sf;
use crate::error::{ExperimentError, Result, ensure, ensure_finite};

/// The conventional SRM threshold: flag when `p < 0.001`. SRM checks run on every experiment
/// and a real mismatch gives tiny p-values at experiment sizes, so a strict threshold keeps
/// false alarms rare (one experiment in a thousand).
pub const SRM_ALPHA: f64 = 0.001;

/// Result of [`srm_test`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrmResult {
    /// Pearson's `X² = Σ (observed - expected)² / expected`.
    pub statistic: f64,
    /// Degrees of freedom, the number of arms minus one.
    pub df: usize,
    /// `P(χ²_df ≥ X²)`.
    pub p_value: f64,
    /// Expected count per arm: `total · weight / Σ weights`.
    pub expected: Vec<f64>,
}

impl SrmResult {
    /// [`srm_flag`] at the conventional [`SRM_ALPHA`].
    pub fn flagged(&self) -> bool {
        srm_flag(self.p_value, SRM_ALPHA)
    }
}

/// Chi-square goodness-of-fit test of observed arm sizes against design weights, as
/// `scipy.stats.chisquare(observed, expected)`.
///
/// ```
/// use tastebud_experiment::stats::{srm_test, SRM_ALPHA};
/// let fair = srm_test(&[50_100, 49_900], &[0.5, 0.5])?;
/// assert!(!fair.flagged());
/// let broken = srm_test(&[50_000, 53_000], &[1.0, 1.0])?;
/// assert!(broken.p_value < SRM_ALPHA && broken.flagged());
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
///
/// # Errors
///
/// [`ExperimentError::LengthMismatch`] when the lengths differ,
/// [`ExperimentError::InvalidParam`] for fewer than two arms, a non-positive weight or no
/// observations at all.
pub fn srm_test(observed: &[u64], weights: &[f64]) -> Result<SrmResult> {
    if observed.len() != weights.len() {
        return Err(ExperimentError::LengthMismatch {
            name: "weights",
            expected: observed.len(),
            got: weights.len(),
        });
    }
    ensure(observed.len() >= 2, "observed", "need at least two arms")?;
    ensure_finite(weights, "weights")?;
    ensure(
        weights.iter().all(|&w| w > 0.0),
        "weights",
        "must all be positive",
    )?;
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    ensure(total > 0.0, "observed", "no observations")?;
    let wsum: f64 = weights.iter().sum();
    let expected: Vec<f64> = weights.iter().map(|w| total * w / wsum).collect();
    let statistic = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| {
            let d = o as f64 - e;
            d * d / e
        })
        .sum::<f64>();
    let df = observed.len() - 1;
    Ok(SrmResult {
        statistic,
        df,
        p_value: chi2_sf(statistic, df as f64),
        expected,
    })
}

/// Whether an SRM p-value signals a broken split: `p_value < alpha`. Use [`SRM_ALPHA`]
/// (`0.001`) unless you have a reason not to.
pub fn srm_flag(p_value: f64, alpha: f64) -> bool {
    p_value < alpha
}
