//! Summaries of many simulated experiments: rejection rates with their intervals, and the
//! binomial acceptance regions the tests compare them with.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::ln_gamma;
use tastebud_experiment::stats::{Interval, Proportion, norm_cdf, norm_isf};
use tastebud_models::Progress;

use crate::ab::{Run, Simulation};
use crate::error::{Result, ensure};

/// `count` events in `n` trials, with the rate's Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Events.
    pub count: u64,
    /// Trials.
    pub n: u64,
    /// `count / n`.
    pub rate: f64,
    /// Wilson interval at `confidence`.
    pub ci: Interval,
    /// Confidence level of `ci`.
    pub confidence: f64,
}

impl Rate {
    /// The rate of `count` in `n` with its Wilson interval at `confidence`.
    ///
    /// # Errors
    ///
    /// `n == 0`, `count > n`, or a confidence outside `(0, 1)`.
    pub fn new(count: u64, n: u64, confidence: f64) -> Result<Self> {
        let p = Proportion::new(count, n)?;
        Ok(Self {
            count,
            n,
            rate: p.rate(),
            ci: p.wilson_ci(confidence)?,
            confidence,
        })
    }
}

/// The central acceptance region `[lo, hi]` of a Binomial(`n`, `p`) count at `level`: the
/// smallest counts whose CDF reaches `(1-level)/2` and `(1+level)/2`. A simulated count outside
/// it rejects "the true rate is `p`" at about `1 - level`.
///
/// # Errors
///
/// `p` outside `[0, 1]` or `level` outside `(0, 1)`.
pub fn binomial_region(n: u64, p: f64, level: f64) -> Result<(u64, u64)> {
    ensure(level > 0.0 && level < 1.0, "level", "must be in (0, 1)")?;
    ensure((0.0..=1.0).contains(&p), "p", "must be in [0, 1]")?;
    if p == 0.0 {
        return Ok((0, 0));
    }
    if p == 1.0 {
        return Ok((n, n));
    }
    let nf = n as f64;
    let ln_c = ln_gamma(nf + 1.0);
    let pmf = |k: u64| -> f64 {
        let k = k as f64;
        (ln_c - ln_gamma(k + 1.0) - ln_gamma(nf - k + 1.0) + k * p.ln() + (nf - k) * (1.0 - p).ln())
            .exp()
    };
    let quantile = |q: f64| -> u64 {
        let mut cdf = 0.0;
        for k in 0..=n {
            cdf += pmf(k);
            if cdf >= q - 1e-12 {
                return k;
            }
        }
        n
    };
    Ok((quantile((1.0 - level) / 2.0), quantile((1.0 + level) / 2.0)))
}

/// What many replicates of an experiment say about its tests. For an A/A test every rate is a
/// false-positive rate; for an A/B test the CTR rate is the power.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejections {
    /// Replicates.
    pub experiments: u64,
    /// Significance level of every test.
    pub alpha: f64,
    /// Each arm's true CTR per impression.
    pub true_ctr: Vec<f64>,
    /// Mean impressions per arm over the replicates.
    pub mean_impressions: Vec<f64>,
    /// The report's per-impression CTR z-test (treatment against control) at the end:
    /// `p < alpha`.
    pub ctr: Rate,
    /// The control arm's design effect ([`crate::world::Arm::design_effect`]).
    pub design_effect: f64,
    /// The rate at which the per-impression CTR z-test rejects when the arms are equal, as the
    /// design effect predicts: `2Φ(-z_{1-α/2}/√deff)`.
    pub ctr_null_rate_predicted: f64,
    /// The user-level CTR test ([`Simulation::user_level_test`]) at the end.
    pub ctr_user_level: Rate,
    /// The report's conversion (users with a click) z-test at the end.
    pub conversion: Rate,
    /// The user-level CTR test looked at after every day, rejecting at the first `p < alpha`.
    pub naive_peeking: Rate,
    /// The mSPRT on clicks per visit looked at after every day.
    pub msprt_peeking: Rate,
    /// Replicates whose report flags a sample-ratio mismatch.
    pub srm: Rate,
    /// Replicates whose report says "do not trust".
    pub do_not_trust: Rate,
}

/// Runs `n` replicates of `sim` and counts how often each test rejects (intervals at 95 %).
///
/// # Errors
///
/// As [`Simulation::runs`] and [`Simulation::peek`].
pub fn rejections(sim: &Simulation<'_>, n: u64, progress: &dyn Progress) -> Result<Rejections> {
    let runs = sim.runs(n, progress)?;
    summarise(sim, &runs)
}

/// [`rejections`] from runs already made.
///
/// # Errors
///
/// No runs, or as [`Simulation::peek`].
pub fn summarise(sim: &Simulation<'_>, runs: &[Run]) -> Result<Rejections> {
    ensure(!runs.is_empty(), "experiments", "must be at least 1")?;
    let alpha = sim.config().alpha;
    let n = runs.len() as u64;
    let count = |f: &dyn Fn(&Run) -> bool| runs.iter().filter(|r| f(r)).count() as u64;
    let rejects = |p: Option<f64>| p.is_some_and(|p| p < alpha);
    let mut naive = 0;
    let mut msprt = 0;
    let mut user_level = 0;
    let last = sim.config().days - 1;
    for run in runs {
        user_level += u64::from(
            sim.user_level_test(run, last)?
                .is_some_and(|t| t.p_value < alpha),
        );
        let (a, b) = sim.peek(run)?;
        naive += u64::from(a);
        msprt += u64::from(b);
    }
    let n_arms = sim.names().len();
    let mean_impressions = (0..n_arms)
        .map(|a| {
            runs.iter()
                .map(|r| r.report.arms[a].impressions as f64)
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let design_effect = sim.design_effects()[0];
    let z = norm_isf(alpha / 2.0);
    Ok(Rejections {
        experiments: n,
        design_effect,
        ctr_null_rate_predicted: 2.0 * norm_cdf(-z / design_effect.sqrt()),
        ctr_user_level: Rate::new(user_level, n, 0.95)?,
        alpha,
        true_ctr: sim.true_ctrs(),
        mean_impressions,
        ctr: Rate::new(count(&|r| rejects(r.report.arms[1].ctr_p_value)), n, 0.95)?,
        conversion: Rate::new(
            count(&|r| rejects(r.report.arms[1].conversion_p_value)),
            n,
            0.95,
        )?,
        naive_peeking: Rate::new(naive, n, 0.95)?,
        msprt_peeking: Rate::new(msprt, n, 0.95)?,
        srm: Rate::new(
            count(&|r| r.report.srm.as_ref().is_some_and(|s| s.flagged())),
            n,
            0.95,
        )?,
        do_not_trust: Rate::new(
            count(&|r| r.report.decision.contains("do not trust")),
            n,
            0.95,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_region_brackets_the_mean() {
        let (lo, hi) = binomial_region(200, 0.05, 0.99).unwrap();
        assert!(lo <= 10 && 10 <= hi, "{lo} {hi}");
        // exact quantiles (Python: smallest k with sum of comb(n, j) p^j (1-p)^(n-j) >= q)
        assert_eq!((lo, hi), (3, 19));
        assert_eq!(binomial_region(100, 0.95, 0.99).unwrap(), (89, 100));
        assert_eq!(binomial_region(10, 0.0, 0.99).unwrap(), (0, 0));
        assert!(binomial_region(200, 1.5, 0.99).is_err());
        assert!(binomial_region(200, 0.5, 1.0).is_err());
    }

    #[test]
    fn rate_has_a_wilson_interval() {
        let r = Rate::new(10, 200, 0.95).unwrap();
        assert_eq!(r.rate, 0.05);
        assert!(r.ci.low < 0.05 && r.ci.high > 0.05);
        assert!(Rate::new(3, 2, 0.95).is_err());
    }
}
