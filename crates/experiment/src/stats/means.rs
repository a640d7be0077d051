//! Continuous metrics (revenue per user, watch time): Welch's t-test and relative lift of means.

use serde::{Deserialize, Serialize};

use super::dist::{t_isf, t_two_sided_p};
use super::{Interval, Lift};
use crate::error::{ExperimentError, Result, ensure, ensure_finite, ensure_unit_open, invalid};

/// Sample size, mean and unbiased sample variance (`ddof = 1`) of one arm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryStats {
    /// Number of observations.
    pub n: u64,
    /// Sample mean.
    pub mean: f64,
    /// Unbiased sample variance `Σ(x - x̄)² / (n - 1)`.
    pub variance: f64,
}

impl SummaryStats {
    /// Checked constructor.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] when `n < 2`, the mean is not finite or the variance is
    /// negative or not finite.
    pub fn new(n: u64, mean: f64, variance: f64) -> Result<Self> {
        let s = Self { n, mean, variance };
        s.validate()?;
        Ok(s)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        ensure(self.n >= 2, "n", "need at least 2 observations")?;
        ensure(self.mean.is_finite(), "mean", "must be finite")?;
        ensure(
            self.variance.is_finite() && self.variance >= 0.0,
            "variance",
            "must be finite and non-negative",
        )
    }

    /// Mean and unbiased variance of `xs` (two-pass, as numpy's `var(ddof=1)`).
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] for fewer than two values or a non-finite value.
    pub fn from_samples(xs: &[f64]) -> Result<Self> {
        ensure_finite(xs, "samples")?;
        if xs.len() < 2 {
            return Err(invalid("samples", "need at least 2 observations"));
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        Ok(Self {
            n: xs.len() as u64,
            mean,
            variance: ss / (n - 1.0),
        })
    }

    /// Squared standard error of the mean, `variance / n`.
    pub fn variance_of_mean(&self) -> f64 {
        self.variance / self.n as f64
    }
}

/// Result of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanTest {
    /// `t = (x̄_t - x̄_c) / √(s_t²/n_t + s_c²/n_c)`.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value `P(|T_df| ≥ |t|)`.
    pub p_value: f64,
    /// `x̄_t - x̄_c`.
    pub difference: f64,
    /// Standard error of the difference.
    pub std_error: f64,
    /// `difference ± t_{df, (1+confidence)/2} · std_error`.
    pub ci: Interval,
}

/// Welch's unequal-variance t-test of treatment against control from summary statistics.
///
/// Matches `scipy.stats.ttest_ind_from_stats(...)` / `ttest_ind(treatment, control,
/// equal_var=False)` (statistic, `df`, p-value and `confidence_interval(confidence)`).
///
/// ```
/// use tastebud_experiment::stats::{SummaryStats, welch_t_test};
/// let control = SummaryStats::new(500, 10.0, 16.0)?;
/// let treatment = SummaryStats::new(400, 10.9, 25.0)?;
/// let test = welch_t_test(&control, &treatment, 0.95)?;
/// assert!(test.p_value < 0.01 && test.df < 898.0);
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
///
/// # Errors
///
/// [`ExperimentError::InvalidParam`] for invalid inputs; [`ExperimentError::Degenerate`] when
/// both variances are zero.
pub fn welch_t_test(
    control: &SummaryStats,
    treatment: &SummaryStats,
    confidence: f64,
) -> Result<MeanTest> {
    control.validate()?;
    treatment.validate()?;
    ensure_unit_open(confidence, "confidence")?;
    let vc = control.variance_of_mean();
    let vt = treatment.variance_of_mean();
    let var = vc + vt;
    if var <= 0.0 {
        return Err(ExperimentError::Degenerate(
            "both arms have zero variance".into(),
        ));
    }
    let std_error = var.sqrt();
    let difference = treatment.mean - control.mean;
    let t = difference / std_error;
    let df =
        var * var / (vt * vt / (treatment.n as f64 - 1.0) + vc * vc / (control.n as f64 - 1.0));
    let crit = t_isf((1.0 - confidence) / 2.0, df);
    Ok(MeanTest {
        t,
        df,
        p_value: t_two_sided_p(t, df),
        difference,
        std_error,
        ci: Interval::new(difference - crit * std_error, difference + crit * std_error),
    })
}

/// [`welch_t_test`] on raw samples.
///
/// # Errors
///
/// As [`SummaryStats::from_samples`] and [`welch_t_test`].
pub fn welch_t_test_samples(
    control: &[f64],
    treatment: &[f64],
    confidence: f64,
) -> Result<MeanTest> {
    welch_t_test(
        &SummaryStats::from_samples(control)?,
        &SummaryStats::from_samples(treatment)?,
        confidence,
    )
}

/// Relative lift of means `(x̄_t - x̄_c) / x̄_c` with a delta-method normal interval:
/// `Var ≈ Var(x̄_t)/x̄_c² + x̄_t²·Var(x̄_c)/x̄_c⁴`.
///
/// # Errors
///
/// [`ExperimentError::Degenerate`] when the control mean is 0.
pub fn mean_lift(
    control: &SummaryStats,
    treatment: &SummaryStats,
    confidence: f64,
) -> Result<Lift> {
    control.validate()?;
    treatment.validate()?;
    super::lift_from_moments(
        control.mean,
        control.variance_of_mean(),
        treatment.mean,
        treatment.variance_of_mean(),
        confidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_from_samples() {
        let s = SummaryStats::from_samples(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.n, 4);
        assert_eq!(s.mean, 2.5);
        assert!((s.variance - 5.0 / 3.0).abs() < 1e-15);
        assert!(SummaryStats::from_samples(&[1.0]).is_err());
        assert!(SummaryStats::from_samples(&[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn zero_variance_is_degenerate() {
        let a = SummaryStats::new(10, 1.0, 0.0).unwrap();
        assert!(matches!(
            welch_t_test(&a, &a, 0.95),
            Err(ExperimentError::Degenerate(_))
        ));
    }
}
