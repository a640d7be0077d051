//! Statistics of online experiments (A/B tests).
//!
//! | Question | Function | Checked against |
//! |---|---|---|
//! | Interval for one rate | [`Proportion::wilson_ci`], [`Proportion::normal_ci`] | statsmodels `proportion_confint` |
//! | Did the rate change? | [`two_proportion_ztest`] | statsmodels `proportions_ztest`, `confint_proportions_2indep` |
//! | Did the mean change? | [`welch_t_test`], [`welch_t_test_samples`] | scipy `ttest_ind(equal_var=False)` |
//! | By how much, relatively? | [`proportion_lift`], [`mean_lift`] | delta method (numpy reference) |
//! | Was traffic split as designed? | [`srm_test`], [`srm_flag`] | scipy `chisquare` |
//! | How many users do I need? | [`sample_size_proportions`], [`sample_size_means`], [`power_proportions`], [`power_means`] | statsmodels `samplesize_proportions_2indep_onetail`, `power_proportions_2indep`, `normal_sample_size_one_tail`, `NormalIndPower` |
//! | Less variance from pre-period data | [`Cuped`] | statsmodels `OLS` slope |
//! | May I peek? | [`Msprt`], [`run_looks_means`], [`run_looks_proportions`] | Johari et al. (2017) formula (numpy reference) |
//! | Is the result trustworthy? | [`experiment_warnings`] | unit tests |
//!
//! Conventions: "control" comes first and every difference is `treatment - control`; every
//! test is two-sided; `confidence` is a level such as `0.95`, `alpha` a significance level such
//! as `0.05`.

mod cuped;
pub(crate) mod dist;
mod means;
mod power;
mod proportion;
mod ratio;
mod sequential;
mod srm;
mod warnings;

use serde::{Deserialize, Serialize};

pub use cuped::{Cuped, variance_reduction};
pub use dist::{norm_cdf, norm_isf, norm_ppf, norm_sf};
pub use means::{MeanTest, SummaryStats, mean_lift, welch_t_test, welch_t_test_samples};
pub use power::{
    Effect, SampleSize, power_means, power_proportions, sample_size_means, sample_size_proportions,
};
pub use proportion::{Proportion, ProportionTest, proportion_lift, two_proportion_ztest};
pub use ratio::{RatioSums, RatioTest, ratio_lift, ratio_ztest};
pub use sequential::{Look, Msprt, msprt_likelihood_ratio, run_looks_means, run_looks_proportions};
pub use srm::{SRM_ALPHA, SrmResult, srm_flag, srm_test};
pub use warnings::{ExperimentCheck, ExperimentWarning, experiment_warnings};

use crate::error::{ExperimentError, Result, ensure_unit_open};

/// A closed interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// `[low, high]`.
    pub fn new(low: f64, high: f64) -> Self {
        Self { low, high }
    }

    /// Whether `x` lies in the interval (bounds included).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// `high - low`.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    fn clip01(self) -> Self {
        Self::new(self.low.clamp(0.0, 1.0), self.high.clamp(0.0, 1.0))
    }
}

/// A relative lift `(treatment - control) / control` with its delta-method interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    /// Point estimate, e.g. `0.05` for +5 %.
    pub lift: f64,
    /// Delta-method standard error.
    pub std_error: f64,
    /// `lift ± z · std_error`.
    pub ci: Interval,
}

/// Delta-method lift of `mt / mc - 1` from the two means and their (sampling) variances.
fn lift_from_moments(mc: f64, var_c: f64, mt: f64, var_t: f64, confidence: f64) -> Result<Lift> {
    ensure_unit_open(confidence, "confidence")?;
    if mc == 0.0 {
        return Err(ExperimentError::Degenerate(
            "control mean is 0: relative lift undefined".into(),
        ));
    }
    let lift = mt / mc - 1.0;
    let var = var_t / (mc * mc) + mt * mt * var_c / (mc * mc * mc * mc);
    let std_error = var.sqrt();
    let z = norm_isf((1.0 - confidence) / 2.0);
    Ok(Lift {
        lift,
        std_error,
        ci: Interval::new(lift - z * std_error, lift + z * std_error),
    })
}
