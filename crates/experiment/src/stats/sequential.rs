//! Always-valid inference with the mixture sequential probability ratio test (mSPRT) of
//! Johari, Koomen, Pekelis & Walsh (2017), "Peeking at A/B Tests: Why it matters, and what to
//! do about it" / "Always Valid Inference: Continuous Monitoring of A/B Tests".
//!
//! At each look the difference `θ̂ = treatment - control` is approximately `N(θ, V)` with
//! `V = s_t²/n_t + s_c²/n_c`. Mixing the likelihood ratio of `θ` against `θ₀ = 0` over a normal
//! prior `θ ~ N(0, τ²)` gives
//!
//! ```text
//! Λ = √(V / (V + τ²)) · exp( τ² θ̂² / (2 V (V + τ²)) )
//! ```
//!
//! (with `n` users per arm and common variance `σ²`, `V = 2σ²/n` and this is the paper's
//! `√(2σ²/(2σ²+nτ²)) · exp(n²τ²(ȳ-x̄)² / (4σ²(2σ²+nτ²)))`). The always-valid p-value is
//! `p_k = min(p_{k-1}, 1/Λ_k)` with `p_0 = 1`; it never increases, and stopping the first time
//! `p_k < α` (looking as often as you like) keeps the false-positive rate at most `α`. The
//! matching confidence sequence is `{θ₀ : Λ(θ₀) < 1/α}`, intersected over looks.
//!
//! `τ²` is the prior variance of plausible effects: choose it near the square of the effect
//! you expect (or the MDE you planned for); any `τ² > 0` keeps validity, a good choice detects
//! real effects sooner. Variances are plug-in estimates (for rates `p(1-p)/n`), so validity is
//! asymptotic, as in the paper's two-stream setting.

use serde::{Deserialize, Serialize};

use super::Interval;
use super::means::SummaryStats;
use super::proportion::Proportion;
use crate::error::{Result, ensure, ensure_unit_open};

/// Mixture likelihood ratio `Λ` of `H1: θ ~ N(0, τ²)` against `H0: θ = 0` for an estimate
/// `θ̂ ~ N(θ, variance)` (one look, no running minimum). Returns `1.0` when `variance` is 0.
pub fn msprt_likelihood_ratio(estimate: f64, variance: f64, tau2: f64) -> f64 {
    ln_lr(estimate, variance, tau2).exp()
}

fn ln_lr(estimate: f64, variance: f64, tau2: f64) -> f64 {
    if variance <= 0.0 || !variance.is_finite() {
        return 0.0;
    }
    let s = variance + tau2;
    0.5 * (variance / s).ln() + tau2 * estimate * estimate / (2.0 * variance * s)
}

/// The state after one look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Look {
    /// `θ̂`, treatment minus control.
    pub estimate: f64,
    /// `V`, the variance of `θ̂` at this look.
    pub variance: f64,
    /// `Λ` at this look.
    pub likelihood_ratio: f64,
    /// Always-valid p-value: the running minimum of `1/Λ` (never increases).
    pub p_value: f64,
    /// Always-valid `1 - α` confidence interval: the running intersection of
    /// `θ̂ ± √(V(V+τ²)/τ² · (2 ln(1/α) + ln((V+τ²)/V)))`.
    pub ci: Interval,
    /// `p_value < α`: stopping here and declaring a difference keeps the error rate `≤ α`.
    pub reject: bool,
}

/// A running mSPRT: feed it the cumulative data at every look.
///
/// ```
/// use tastebud_experiment::stats::{Msprt, Proportion};
/// let mut test = Msprt::new(0.01f64.powi(2), 0.05)?;
/// let mut last = 1.0;
/// for day in 1..=14u64 {
///     let look = test.observe_proportions(
///         Proportion::new(100 * day, 1000 * day)?,
///         Proportion::new(115 * day, 1000 * day)?,
///     )?;
///     assert!(look.p_value <= last); // never increases
///     last = look.p_value;
/// }
/// assert!(last < 0.05);
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Msprt {
    tau2: f64,
    alpha: f64,
    p_value: f64,
    ci: Interval,
    looks: u64,
}

impl Msprt {
    /// A fresh test with mixing variance `tau2 > 0` and level `alpha` (for `reject` and `ci`).
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] for `tau2 <= 0` or `alpha` outside `(0, 1)`.
    pub fn new(tau2: f64, alpha: f64) -> Result<Self> {
        ensure(tau2 > 0.0 && tau2.is_finite(), "tau2", "must be positive")?;
        ensure_unit_open(alpha, "alpha")?;
        Ok(Self {
            tau2,
            alpha,
            p_value: 1.0,
            ci: Interval::new(f64::NEG_INFINITY, f64::INFINITY),
            looks: 0,
        })
    }

    /// The current always-valid p-value (1 before any look).
    pub fn p_value(&self) -> f64 {
        self.p_value
    }

    /// Number of looks so far.
    pub fn looks(&self) -> u64 {
        self.looks
    }

    /// One look at a cumulative estimate `θ̂` with variance `V`. A look with `V = 0` (no
    /// information yet) leaves the p-value unchanged.
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] for a non-finite estimate or a negative variance.
    pub fn observe(&mut self, estimate: f64, variance: f64) -> Result<Look> {
        ensure(estimate.is_finite(), "estimate", "must be finite")?;
        ensure(
            variance >= 0.0 && variance.is_finite(),
            "variance",
            "must be finite and non-negative",
        )?;
        self.looks += 1;
        let ln = ln_lr(estimate, variance, self.tau2);
        self.p_value = self.p_value.min((-ln).exp());
        if variance > 0.0 {
            let s = variance + self.tau2;
            let half = (variance * s / self.tau2
                * (2.0 * (1.0 / self.alpha).ln() + (s / variance).ln()))
            .sqrt();
            self.ci = Interval::new(
                self.ci.low.max(estimate - half),
                self.ci.high.min(estimate + half),
            );
        }
        Ok(Look {
            estimate,
            variance,
            likelihood_ratio: ln.exp(),
            p_value: self.p_value,
            ci: self.ci,
            reject: self.p_value < self.alpha,
        })
    }

    /// A look at cumulative per-arm summaries (difference of means, `V = s_t²/n_t + s_c²/n_c`).
    ///
    /// # Errors
    ///
    /// Invalid summaries.
    pub fn observe_means(
        &mut self,
        control: &SummaryStats,
        treatment: &SummaryStats,
    ) -> Result<Look> {
        control.validate()?;
        treatment.validate()?;
        self.observe(
            treatment.mean - control.mean,
            treatment.variance_of_mean() + control.variance_of_mean(),
        )
    }

    /// A look at cumulative per-arm conversions (difference of rates,
    /// `V = p_t(1-p_t)/n_t + p_c(1-p_c)/n_c`).
    ///
    /// # Errors
    ///
    /// Invalid proportions.
    pub fn observe_proportions(
        &mut self,
        control: Proportion,
        treatment: Proportion,
    ) -> Result<Look> {
        // re-validate: the fields are public
        let c = Proportion::new(control.successes, control.trials)?;
        let t = Proportion::new(treatment.successes, treatment.trials)?;
        self.observe(
            t.rate() - c.rate(),
            t.variance_of_rate() + c.variance_of_rate(),
        )
    }
}

/// Runs an mSPRT over a sequence of looks at cumulative `(control, treatment)` summaries.
///
/// # Errors
///
/// As [`Msprt::new`] and [`Msprt::observe_means`].
pub fn run_looks_means(
    looks: &[(SummaryStats, SummaryStats)],
    tau2: f64,
    alpha: f64,
) -> Result<Vec<Look>> {
    let mut test = Msprt::new(tau2, alpha)?;
    looks
        .iter()
        .map(|(c, t)| test.observe_means(c, t))
        .collect()
}

/// Runs an mSPRT over a sequence of looks at cumulative `(control, treatment)` conversions.
///
/// # Errors
///
/// As [`Msprt::new`] and [`Msprt::observe_proportions`].
pub fn run_looks_proportions(
    looks: &[(Proportion, Proportion)],
    tau2: f64,
    alpha: f64,
) -> Result<Vec<Look>> {
    let mut test = Msprt::new(tau2, alpha)?;
    looks
        .iter()
        .map(|&(c, t)| test.observe_proportions(c, t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_value_never_increases_and_ci_shrinks() {
        let mut m = Msprt::new(0.04, 0.05).unwrap();
        let mut last = (1.0, f64::INFINITY);
        for (i, est) in [0.3, -0.1, 0.5, 0.0, 0.2, 0.25].iter().enumerate() {
            let look = m.observe(*est, 1.0 / (i as f64 + 1.0)).unwrap();
            assert!(look.p_value <= last.0);
            assert!(look.ci.width() <= last.1);
            last = (look.p_value, look.ci.width());
        }
        let zero = m.observe(1.0, 0.0).unwrap();
        assert_eq!(zero.p_value, last.0);
        assert!(Msprt::new(0.0, 0.05).is_err());
    }
}
