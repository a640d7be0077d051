//! Conversion rates: confidence intervals, the two-proportion z-test and relative lift.

use serde::{Deserialize, Serialize};

use super::dist::{norm_isf, norm_two_sided_p};
use super::{Interval, Lift};
use crate::error::{ExperimentError, Result, ensure, ensure_unit_open};

/// `successes` out of `trials` (conversions out of exposed users, clicks out of impressions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proportion {
    /// Number of successes, at most `trials`.
    pub successes: u64,
    /// Number of trials, at least 1.
    pub trials: u64,
}

impl Proportion {
    /// Checked constructor.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] when `trials == 0` or `successes > trials`.
    pub fn new(successes: u64, trials: u64) -> Result<Self> {
        let p = Self { successes, trials };
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<()> {
        ensure(self.trials > 0, "trials", "must be at least 1")?;
        ensure(
            self.successes <= self.trials,
            "successes",
            "must not exceed trials",
        )
    }

    /// The observed rate `successes / trials`.
    pub fn rate(&self) -> f64 {
        self.successes as f64 / self.trials as f64
    }

    /// Unpooled variance of the rate, `p(1-p)/n`.
    pub fn variance_of_rate(&self) -> f64 {
        let p = self.rate();
        p * (1.0 - p) / self.trials as f64
    }

    /// Wilson score interval, as `statsmodels.stats.proportion.proportion_confint(method="wilson")`
    /// (clipped to `[0, 1]`):
    /// `(p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n)` with `z = Φ⁻¹((1+confidence)/2)`.
    ///
    /// ```
    /// use tastebud_experiment::stats::Proportion;
    /// let ci = Proportion::new(0, 20)?.wilson_ci(0.95)?;
    /// assert_eq!(ci.low, 0.0);
    /// assert!(ci.high > 0.1 && ci.high < 0.2); // Wald would say [0, 0]
    /// # Ok::<(), tastebud_experiment::ExperimentError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] for an invalid proportion or confidence level.
    pub fn wilson_ci(&self, confidence: f64) -> Result<Interval> {
        self.validate()?;
        ensure_unit_open(confidence, "confidence")?;
        let z = norm_isf((1.0 - confidence) / 2.0);
        let n = self.trials as f64;
        let p = self.rate();
        let z2 = z * z;
        let denom = 1.0 + z2 / n;
        let center = (p + z2 / (2.0 * n)) / denom;
        let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
        Ok(Interval::new(center - half, center + half).clip01())
    }

    /// Normal-approximation (Wald) interval `p ± z·√(p(1-p)/n)`, clipped to `[0, 1]`, as
    /// `proportion_confint(method="normal")`.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] for an invalid proportion or confidence level.
    pub fn normal_ci(&self, confidence: f64) -> Result<Interval> {
        self.validate()?;
        ensure_unit_open(confidence, "confidence")?;
        let z = norm_isf((1.0 - confidence) / 2.0);
        let half = z * self.variance_of_rate().sqrt();
        let p = self.rate();
        Ok(Interval::new(p - half, p + half).clip01())
    }
}

/// Result of [`two_proportion_ztest`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProportionTest {
    /// `z = (p_t - p_c) / √(p̄(1-p̄)(1/n_t + 1/n_c))` with the pooled rate `p̄`.
    pub z: f64,
    /// Two-sided p-value `2·(1 - Φ(|z|))`.
    pub p_value: f64,
    /// `p_t - p_c` (positive: treatment converts better).
    pub difference: f64,
    /// Unpooled standard error of the difference, `√(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c)`.
    pub std_error: f64,
    /// Wald interval of the difference using the unpooled standard error.
    pub ci: Interval,
}

/// Two-sided two-proportion z-test with the pooled variance under `H0: p_t = p_c`, plus the
/// difference's unpooled (Wald) confidence interval.
///
/// `z` and `p_value` match `statsmodels.stats.proportion.proportions_ztest([x_t, x_c], [n_t, n_c])`;
/// `ci` matches `confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")`.
///
/// ```
/// use tastebud_experiment::stats::{Proportion, two_proportion_ztest};
/// let control = Proportion::new(1000, 10_000)?;
/// let treatment = Proportion::new(1100, 10_000)?;
/// let test = two_proportion_ztest(control, treatment, 0.95)?;
/// assert!(test.p_value < 0.05 && test.ci.low > 0.0);
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
///
/// # Errors
///
/// [`ExperimentError::InvalidParam`] for invalid inputs; [`ExperimentError::Degenerate`] when
/// the pooled rate is 0 or 1 (no variance: statsmodels returns NaN).
pub fn two_proportion_ztest(
    control: Proportion,
    treatment: Proportion,
    confidence: f64,
) -> Result<ProportionTest> {
    control.validate()?;
    treatment.validate()?;
    ensure_unit_open(confidence, "confidence")?;
    let (nc, nt) = (control.trials as f64, treatment.trials as f64);
    let pooled = (control.successes + treatment.successes) as f64 / (nc + nt);
    if pooled <= 0.0 || pooled >= 1.0 {
        return Err(ExperimentError::Degenerate(format!(
            "pooled rate is {pooled}: every trial had the same outcome"
        )));
    }
    let difference = treatment.rate() - control.rate();
    let se0 = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc)).sqrt();
    let z = difference / se0;
    let std_error = (treatment.variance_of_rate() + control.variance_of_rate()).sqrt();
    let crit = norm_isf((1.0 - confidence) / 2.0);
    Ok(ProportionTest {
        z,
        p_value: norm_two_sided_p(z),
        difference,
        std_error,
        ci: Interval::new(difference - crit * std_error, difference + crit * std_error),
    })
}

/// Relative lift `(p_t - p_c) / p_c` with a delta-method normal interval.
///
/// `Var(p_t/p_c) ≈ Var(p_t)/p_c² + p_t²·Var(p_c)/p_c⁴` with the unpooled `Var(p) = p(1-p)/n`.
/// The interval is symmetric around the plug-in lift and ignores the (positive) bias of a ratio
/// of means; fine once each arm has a few hundred successes.
///
/// # Errors
///
/// [`ExperimentError::Degenerate`] when the control rate is 0.
pub fn proportion_lift(
    control: Proportion,
    treatment: Proportion,
    confidence: f64,
) -> Result<Lift> {
    control.validate()?;
    treatment.validate()?;
    super::lift_from_moments(
        control.rate(),
        control.variance_of_rate(),
        treatment.rate(),
        treatment.variance_of_rate(),
        confidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_inputs() {
        assert!(Proportion::new(3, 2).is_err());
        assert!(Proportion::new(0, 0).is_err());
        let p = Proportion::new(1, 2).unwrap();
        assert!(p.wilson_ci(1.0).is_err());
        let zero = Proportion::new(0, 10).unwrap();
        assert!(matches!(
            two_proportion_ztest(zero, zero, 0.95),
            Err(ExperimentError::Degenerate(_))
        ));
        assert!(proportion_lift(zero, p, 0.95).is_err());
    }

    #[test]
    fn z_test_is_antisymmetric() {
        let a = Proportion::new(120, 1000).unwrap();
        let b = Proportion::new(150, 1100).unwrap();
        let ab = two_proportion_ztest(a, b, 0.9).unwrap();
        let ba = two_proportion_ztest(b, a, 0.9).unwrap();
        assert!((ab.z + ba.z).abs() < 1e-15);
        assert_eq!(ab.p_value, ba.p_value);
        assert!((ab.ci.low + ba.ci.high).abs() < 1e-15);
    }
}
