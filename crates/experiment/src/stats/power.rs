//! Power and sample size for two-arm tests with equal allocation.
//!
//! Both use the normal approximation of a two-sided level-`alpha` test. The sample size keeps
//! only the tail in the direction of the effect (the far tail adds less than `alpha/2` to the
//! power), which gives the familiar closed form
//! `n = ((z_{1-α/2}·σ₀ + z_{power}·σ₁) / δ)²` per arm; the power function counts both tails.
//! So `power(sample_size(..))` is at least the planned power, by at most `alpha/2`.

use serde::{Deserialize, Serialize};

use super::dist::{norm_cdf, norm_isf, norm_sf};
use crate::error::{Result, ensure, ensure_unit_open};

/// A minimum detectable effect on a rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// `p_t - p_c`, e.g. `0.01` for one percentage point.
    Absolute(f64),
    /// `(p_t - p_c) / p_c`, e.g. `0.05` for +5 %.
    Relative(f64),
}

impl Effect {
    fn treatment_rate(self, baseline: f64) -> f64 {
        match self {
            Effect::Absolute(d) => baseline + d,
            Effect::Relative(r) => baseline * (1.0 + r),
        }
    }
}

/// A per-arm sample size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleSize {
    /// The formula's value before rounding.
    pub exact: f64,
    /// `exact` rounded up: the number of units to enrol in each arm.
    pub per_arm: u64,
}

impl SampleSize {
    fn new(exact: f64) -> Self {
        Self {
            exact,
            per_arm: exact.ceil() as u64,
        }
    }
}

/// `(p_c, p_t, σ₀, σ₁)` for a rate test: the null standard deviation uses the pooled rate
/// `p̄ = (p_c + p_t)/2`, `σ₀ = √(2p̄(1-p̄))`, the alternative one `σ₁ = √(p_c(1-p_c) + p_t(1-p_t))`.
fn rate_sds(baseline: f64, effect: Effect) -> Result<(f64, f64, f64)> {
    ensure_unit_open(baseline, "baseline")?;
    let pt = effect.treatment_rate(baseline);
    ensure(
        pt > 0.0 && pt < 1.0,
        "effect",
        "baseline + effect must be strictly between 0 and 1",
    )?;
    let diff = pt - baseline;
    ensure(diff != 0.0, "effect", "must not be zero")?;
    let pbar = 0.5 * (pt + baseline);
    let sd0 = (2.0 * pbar * (1.0 - pbar)).sqrt();
    let sd1 = (baseline * (1.0 - baseline) + pt * (1.0 - pt)).sqrt();
    Ok((diff, sd0, sd1))
}

fn closed_form_n(diff: f64, sd0: f64, sd1: f64, alpha: f64, power: f64) -> Result<SampleSize> {
    ensure_unit_open(alpha, "alpha")?;
    ensure_unit_open(power, "power")?;
    let crit = norm_isf(alpha / 2.0);
    let crit_power = norm_isf(power); // negative when power > 1/2
    let num = (crit * sd0 - crit_power * sd1).max(0.0);
    Ok(SampleSize::new((num / diff).powi(2)))
}

fn two_tail_power(diff: f64, sd0: f64, sd1: f64, n: f64, alpha: f64) -> Result<f64> {
    ensure_unit_open(alpha, "alpha")?;
    ensure(n > 0.0 && n.is_finite(), "n_per_arm", "must be positive")?;
    let crit = norm_isf(alpha / 2.0);
    let ratio = sd0 / sd1;
    let shift = diff * n.sqrt() / sd1;
    Ok(norm_sf(crit * ratio - shift) + norm_cdf(-crit * ratio - shift))
}

/// Per-arm sample size for a two-sided two-proportion z-test (pooled variance under the null,
/// unpooled under the alternative), equal arms.
///
/// Matches `statsmodels.stats.proportion.samplesize_proportions_2indep_onetail(diff, baseline,
/// power, ratio=1, alpha=alpha, alternative="two-sided")`.
///
/// ```
/// use tastebud_experiment::stats::{Effect, sample_size_proportions};
/// // 10 % baseline, detect +10 % relative (10 % → 11 %) at alpha 0.05 with 80 % power
/// let n = sample_size_proportions(0.10, Effect::Relative(0.10), 0.05, 0.8)?;
/// assert_eq!(n.per_arm, 14_751);
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
///
/// # Errors
///
/// [`crate::ExperimentError::InvalidParam`] when a rate, `alpha` or `power` is outside `(0, 1)`
/// or the effect is zero.
pub fn sample_size_proportions(
    baseline: f64,
    effect: Effect,
    alpha: f64,
    power: f64,
) -> Result<SampleSize> {
    let (diff, sd0, sd1) = rate_sds(baseline, effect)?;
    closed_form_n(diff, sd0, sd1, alpha, power)
}

/// Power of the two-sided two-proportion z-test with `n_per_arm` units in each arm (both tails),
/// as `statsmodels.stats.proportion.power_proportions_2indep(diff, baseline, n_per_arm,
/// alpha=alpha).power`.
///
/// # Errors
///
/// As [`sample_size_proportions`], and `n_per_arm` must be positive.
pub fn power_proportions(baseline: f64, effect: Effect, n_per_arm: f64, alpha: f64) -> Result<f64> {
    let (diff, sd0, sd1) = rate_sds(baseline, effect)?;
    two_tail_power(diff, sd0, sd1, n_per_arm, alpha)
}

fn mean_sds(sd: f64, mde: f64) -> Result<f64> {
    ensure(sd > 0.0 && sd.is_finite(), "sd", "must be positive")?;
    ensure(mde != 0.0 && mde.is_finite(), "mde", "must be non-zero")?;
    Ok(sd * std::f64::consts::SQRT_2)
}

/// Per-arm sample size to detect an absolute difference in means `mde` with a two-sided z-test
/// when each observation has standard deviation `sd`: `n = 2σ²(z_{1-α/2} + z_{power})² / mde²`.
///
/// Matches `statsmodels.stats.power.normal_sample_size_one_tail(mde, power, alpha/2,
/// std_null=sd·√2)`.
///
/// # Errors
///
/// [`crate::ExperimentError::InvalidParam`] for `sd <= 0`, `mde == 0`, or `alpha`/`power`
/// outside `(0, 1)`.
pub fn sample_size_means(sd: f64, mde: f64, alpha: f64, power: f64) -> Result<SampleSize> {
    let s = mean_sds(sd, mde)?;
    closed_form_n(mde, s, s, alpha, power)
}

/// Power of the two-sided z-test for a difference in means `mde` with `n_per_arm` per arm, as
/// `statsmodels.stats.power.NormalIndPower().power(mde / sd, n_per_arm, alpha, ratio=1)`.
///
/// # Errors
///
/// As [`sample_size_means`], and `n_per_arm` must be positive.
pub fn power_means(sd: f64, mde: f64, n_per_arm: f64, alpha: f64) -> Result<f64> {
    let s = mean_sds(sd, mde)?;
    two_tail_power(mde, s, s, n_per_arm, alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_of_planned_size_is_at_least_planned() {
        let n = sample_size_proportions(0.2, Effect::Absolute(-0.02), 0.05, 0.9).unwrap();
        let p = power_proportions(0.2, Effect::Absolute(-0.02), n.exact, 0.05).unwrap();
        assert!((0.9..0.9 + 0.025).contains(&p), "{p}");
        let n = sample_size_means(3.0, 0.1, 0.01, 0.8).unwrap();
        let p = power_means(3.0, 0.1, n.exact, 0.01).unwrap();
        assert!((p - 0.8).abs() < 1e-6, "{p}");
    }

    #[test]
    fn rejects_impossible_effects() {
        assert!(sample_size_proportions(0.95, Effect::Relative(0.1), 0.05, 0.8).is_err());
        assert!(sample_size_proportions(0.5, Effect::Absolute(0.0), 0.05, 0.8).is_err());
        assert!(sample_size_means(0.0, 1.0, 0.05, 0.8).is_err());
    }
}
