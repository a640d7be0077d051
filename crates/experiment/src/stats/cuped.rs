//! CUPED (Deng, Xu, Kohavi & Walker 2013): variance reduction with pre-experiment data.

use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result, ensure_finite, invalid};

/// A fitted CUPED adjustment `Y' = Y - θ (X - x̄)`.
///
/// Fit `θ = cov(Y, X) / var(X)` on the **pooled** data of all arms (both arms, same `θ`), then
/// adjust every arm's outcomes and run the usual test ([`crate::stats::welch_t_test_samples`])
/// on the adjusted values. The adjustment leaves the expected treatment effect unchanged
/// because `X` is measured before assignment.
///
/// ```
/// use tastebud_experiment::stats::{Cuped, variance_reduction};
/// let pre = [1.0, 2.0, 3.0, 4.0, 5.0];
/// let post = [1.1, 2.3, 2.9, 4.2, 5.0];
/// let cuped = Cuped::fit(&post, &pre)?;
/// let adjusted = cuped.adjust(&post, &pre)?;
/// assert!(variance_reduction(&post, &adjusted)? > 0.9);
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cuped {
    /// `cov(Y, X) / var(X)`, the OLS slope of `Y` on `X`.
    pub theta: f64,
    /// Mean of the pre-period covariate on the fitting data.
    pub covariate_mean: f64,
}

fn check_pair(outcome: &[f64], covariate: &[f64]) -> Result<()> {
    if outcome.len() != covariate.len() {
        return Err(ExperimentError::LengthMismatch {
            name: "covariate",
            expected: outcome.len(),
            got: covariate.len(),
        });
    }
    ensure_finite(outcome, "outcome")?;
    ensure_finite(covariate, "covariate")
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn var(xs: &[f64]) -> f64 {
    let m = mean(xs);
    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() as f64 - 1.0)
}

impl Cuped {
    /// Fits `θ` on pooled outcomes `Y` and pre-period covariates `X` (same units, same order).
    ///
    /// # Errors
    ///
    /// [`ExperimentError::LengthMismatch`], [`ExperimentError::InvalidParam`] for fewer than two
    /// units or a non-finite value, [`ExperimentError::Degenerate`] when `X` is constant.
    pub fn fit(outcome: &[f64], covariate: &[f64]) -> Result<Self> {
        check_pair(outcome, covariate)?;
        if outcome.len() < 2 {
            return Err(invalid("outcome", "need at least 2 units"));
        }
        let (my, mx) = (mean(outcome), mean(covariate));
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (y, x) in outcome.iter().zip(covariate) {
            sxy += (y - my) * (x - mx);
            sxx += (x - mx) * (x - mx);
        }
        if sxx <= 0.0 {
            return Err(ExperimentError::Degenerate(
                "the covariate is constant".into(),
            ));
        }
        Ok(Self {
            theta: sxy / sxx,
            covariate_mean: mx,
        })
    }

    /// Adjusted outcomes `Y - θ (X - x̄)`.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::LengthMismatch`] or a non-finite value.
    pub fn adjust(&self, outcome: &[f64], covariate: &[f64]) -> Result<Vec<f64>> {
        check_pair(outcome, covariate)?;
        Ok(outcome
            .iter()
            .zip(covariate)
            .map(|(y, x)| y - self.theta * (x - self.covariate_mean))
            .collect())
    }
}

/// Fraction of variance removed, `1 - var(adjusted) / var(outcome)` (equal to the squared
/// correlation of `Y` and `X` when adjusted with the `θ` fitted on the same data).
///
/// # Errors
///
/// [`ExperimentError::LengthMismatch`], fewer than two values, or
/// [`ExperimentError::Degenerate`] when the outcome is constant.
pub fn variance_reduction(outcome: &[f64], adjusted: &[f64]) -> Result<f64> {
    check_pair(outcome, adjusted)?;
    if outcome.len() < 2 {
        return Err(invalid("outcome", "need at least 2 units"));
    }
    let v = var(outcome);
    if v <= 0.0 {
        return Err(ExperimentError::Degenerate(
            "the outcome is constant".into(),
        ));
    }
    Ok(1.0 - var(adjusted) / v)
}
