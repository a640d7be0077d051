//! Simulated purchases with heavy-tailed amounts, to check the revenue test of the experiment report.
//!
//! Each simulated user has a spending level `s ~ LogNormal(0, user_sigma)` that lasts (so what they
//! spent before the experiment predicts what they spend in it: CUPED's covariate). In each period, the
//! pre-period and the experiment, the user buys with probability `buy_probability`, a number of items
//! `1 + Poisson(extra_items)`, each for `s · LogNormal(mu, sigma)`; in the treatment arm of an A/B test
//! every amount is multiplied by `1 + lift`. Most users spend nothing and a few spend a hundred times
//! the median, as on a real shop.
//!
//! Each replicate aggregates its users into the [`ArmData`] (with [`RevenueData`]) the server builds and
//! analyses it with [`Report::new`], so the revenue section checked here is the one the server reports:
//! winsorised at the configured quantile, CUPED when the pre-period is simulated, Welch's test, the
//! planned users per arm. [`RevenueSim::rejections`] counts how often it rejects; for an A/A test
//! (`lift = 0`) that is the false-positive rate, for an A/B test the power.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_experiment::assign::{ArmDef, ExperimentDef};
use tastebud_experiment::report::{ArmData, Report, ReportOptions, RevenueData};
use tastebud_experiment::stats::{RatioSums, welch_t_test_samples};
use tastebud_models::Progress;

use crate::ab::START_UNIX;
use crate::error::{Result, SimError, ensure};
use crate::study::Rate;

/// Items shown to each simulated user (for revenue per impression).
const SHOWN_PER_USER: u64 = 10;

/// A simulated revenue experiment: two arms of `users_per_arm` users each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueConfig {
    /// Users per arm.
    pub users_per_arm: usize,
    /// Probability that a user buys in a period. By default, 0.2.
    pub buy_probability: f64,
    /// Mean extra items of a purchasing user (Poisson). By default, 0.5.
    pub extra_items: f64,
    /// Log-scale mean of one item's amount. By default, 3.0 (a median of about 20).
    pub mu: f64,
    /// Log-scale standard deviation of one item's amount: the heavier the tail, the larger. By default, 1.0.
    pub sigma: f64,
    /// Log-scale standard deviation of the users' spending levels. By default, 0.8.
    pub user_sigma: f64,
    /// Relative lift of every amount in the treatment arm (0: an A/A test).
    pub lift: f64,
    /// Simulate the pre-period too, so that the report applies CUPED. By default, true.
    pub pre_period: bool,
    /// Significance level. By default, 0.05.
    pub alpha: f64,
    /// Planned relative MDE on revenue per user (for the report's planned users). By default, 0.1.
    pub mde: f64,
    /// Winsorising quantile of the buyers' revenue. By default, 0.99.
    pub winsor_quantile: f64,
    /// Seed.
    pub seed: u64,
}

impl RevenueConfig {
    /// An A/A test of `users_per_arm` users per arm, the defaults otherwise.
    pub fn new(users_per_arm: usize, seed: u64) -> Self {
        Self {
            users_per_arm,
            buy_probability: 0.2,
            extra_items: 0.5,
            mu: 3.0,
            sigma: 1.0,
            user_sigma: 0.8,
            lift: 0.0,
            pre_period: true,
            alpha: 0.05,
            mde: 0.1,
            winsor_quantile: 0.99,
            seed,
        }
    }
}

/// One replicate: the report (with its revenue section) and the raw Welch p-value, for comparison.
#[derive(Debug, Clone)]
pub struct RevenueRun {
    /// The report of the replicate.
    pub report: Report,
    /// Welch's test on the raw revenue per user (no winsorising, no CUPED); `None` without variance.
    pub raw_p_value: Option<f64>,
}

/// How often the revenue test rejects over many replicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueRejections {
    /// Replicates.
    pub experiments: u64,
    /// Significance level.
    pub alpha: f64,
    /// Users per arm.
    pub users_per_arm: usize,
    /// The simulated lift.
    pub lift: f64,
    /// The report's revenue test (winsorised, CUPED with a pre-period): `p < alpha`.
    pub revenue: Rate,
    /// Welch's test on the raw revenue per user.
    pub raw_welch: Rate,
    /// Mean share of variance CUPED removed (0 without a pre-period).
    pub mean_variance_reduction: f64,
    /// Mean winsorising cap.
    pub mean_cap: f64,
}

/// A simulated revenue experiment.
#[derive(Debug, Clone)]
pub struct RevenueSim {
    cfg: RevenueConfig,
    item: LogNormal<f64>,
    user: LogNormal<f64>,
    extra: Option<Poisson<f64>>,
}

impl RevenueSim {
    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// Fewer than two users per arm, a probability outside `[0, 1]`, a non-finite or negative
    /// parameter, or a lift of `-1` or less.
    pub fn new(cfg: RevenueConfig) -> Result<Self> {
        ensure(
            cfg.users_per_arm >= 2,
            "users_per_arm",
            "must be at least 2",
        )?;
        ensure(
            (0.0..=1.0).contains(&cfg.buy_probability),
            "buy_probability",
            "must be in [0, 1]",
        )?;
        ensure(
            cfg.extra_items.is_finite() && cfg.extra_items >= 0.0,
            "extra_items",
            "must be finite and >= 0",
        )?;
        ensure(cfg.mu.is_finite(), "mu", "must be finite")?;
        ensure(
            cfg.sigma.is_finite() && cfg.sigma >= 0.0,
            "sigma",
            "must be finite and >= 0",
        )?;
        ensure(
            cfg.user_sigma.is_finite() && cfg.user_sigma >= 0.0,
            "user_sigma",
            "must be finite and >= 0",
        )?;
        ensure(
            cfg.lift.is_finite() && cfg.lift > -1.0,
            "lift",
            "must be above -1",
        )?;
        let bad = |name: &'static str| SimError::InvalidParam {
            name,
            reason: "must be finite and >= 0".into(),
        };
        let item = LogNormal::new(cfg.mu, cfg.sigma).map_err(|_| bad("sigma"))?;
        let user = LogNormal::new(0.0, cfg.user_sigma).map_err(|_| bad("user_sigma"))?;
        let extra = if cfg.extra_items > 0.0 {
            Some(Poisson::new(cfg.extra_items).map_err(|_| bad("extra_items"))?)
        } else {
            None
        };
        let sim = Self {
            cfg,
            item,
            user,
            extra,
        };
        // The report options are checked once, here.
        sim.options().validate()?;
        Ok(sim)
    }

    /// The configuration.
    pub fn config(&self) -> &RevenueConfig {
        &self.cfg
    }

    fn options(&self) -> ReportOptions {
        ReportOptions {
            now_unix: START_UNIX + 14 * 86_400,
            alpha: self.cfg.alpha,
            revenue_mde: self.cfg.mde,
            winsor_quantile: self.cfg.winsor_quantile,
            ..ReportOptions::default()
        }
    }

    fn definition() -> ExperimentDef {
        let arm = |name: &str| ArmDef {
            name: name.into(),
            weight: 1.0,
            model: None,
        };
        let mut def = ExperimentDef::new(
            "revenue-sim",
            vec![arm("control"), arm("treatment")],
            START_UNIX,
        );
        def.end_unix = Some(START_UNIX + 14 * 86_400);
        def
    }

    /// One period's spend of a user with spending level `level`; `(revenue, purchases)`.
    fn period(&self, rng: &mut ChaCha8Rng, level: f64, scale: f64) -> (f64, u64) {
        if rng.random::<f64>() >= self.cfg.buy_probability {
            return (0.0, 0);
        }
        let n = 1 + self.extra.map_or(0, |p| p.sample(rng) as u64);
        let spend: f64 = (0..n).map(|_| self.item.sample(rng)).sum();
        (level * scale * spend, n)
    }

    fn arm(&self, rng: &mut ChaCha8Rng, name: &str, scale: f64) -> ArmData {
        let n = self.cfg.users_per_arm;
        let mut revenue = RevenueData {
            purchases: 0,
            per_user: Vec::with_capacity(n),
            pre_period: Vec::new(),
            per_impression: None,
        };
        let mut per_impression = RatioSums::default();
        let mut buyers = 0;
        for _ in 0..n {
            let level = self.user.sample(rng);
            let pre = self.period(rng, level, 1.0).0;
            let (spent, purchases) = self.period(rng, level, scale);
            if self.cfg.pre_period {
                revenue.pre_period.push(pre);
            }
            revenue.per_user.push(spent);
            revenue.purchases += purchases;
            buyers += u64::from(purchases > 0);
            per_impression.add(spent, SHOWN_PER_USER as f64);
        }
        revenue.per_impression = Some(per_impression);
        ArmData {
            name: name.to_owned(),
            users: n as u64,
            impressions: n as u64 * SHOWN_PER_USER,
            // A buyer clicked once before buying; nothing else is simulated.
            clicks: buyers,
            conversions: revenue.purchases,
            converted_users: buyers,
            dwell_ms: Vec::new(),
            views: 0,
            bounces: 0,
            ctr_per_user: None,
            revenue: Some(revenue),
        }
    }

    /// Simulates replicate `r` (deterministic in the seed and `r`).
    ///
    /// # Errors
    ///
    /// When the report cannot be built.
    pub fn run(&self, replicate: u64) -> Result<RevenueRun> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(replicate);
        let control = self.arm(&mut rng, "control", 1.0);
        let treatment = self.arm(&mut rng, "treatment", 1.0 + self.cfg.lift);
        let raw = |d: &ArmData| {
            d.revenue
                .as_ref()
                .map_or(Vec::new(), |r| r.per_user.clone())
        };
        let raw_p_value =
            welch_t_test_samples(&raw(&control), &raw(&treatment), 1.0 - self.cfg.alpha)
                .ok()
                .map(|t| t.p_value);
        let report = Report::new(&Self::definition(), &[control, treatment], &self.options())?;
        Ok(RevenueRun {
            report,
            raw_p_value,
        })
    }

    /// Runs `n` replicates in parallel and counts the rejections (intervals at 95 %).
    ///
    /// # Errors
    ///
    /// `n == 0`, or the first replicate that fails.
    pub fn rejections(&self, n: u64, progress: &dyn Progress) -> Result<RevenueRejections> {
        ensure(n >= 1, "experiments", "must be at least 1")?;
        progress.start("revenue experiments", n);
        let runs: Vec<RevenueRun> = (0..n)
            .into_par_iter()
            .map(|r| {
                let run = self.run(r);
                progress.inc(1);
                run
            })
            .collect::<Result<_>>()?;
        let alpha = self.cfg.alpha;
        let rejects = |p: Option<f64>| u64::from(p.is_some_and(|p| p < alpha));
        let (mut revenue, mut raw, mut vr, mut cap) = (0, 0, 0.0, 0.0);
        for run in &runs {
            let rev = run.report.revenue.as_ref();
            revenue += rejects(rev.and_then(|r| r.arms[1].test).map(|t| t.p_value));
            raw += rejects(run.raw_p_value);
            vr += rev
                .and_then(|r| r.cuped)
                .map_or(0.0, |c| c.variance_reduction);
            cap += rev.and_then(|r| r.cap).unwrap_or(0.0);
        }
        Ok(RevenueRejections {
            experiments: n,
            alpha,
            users_per_arm: self.cfg.users_per_arm,
            lift: self.cfg.lift,
            revenue: Rate::new(revenue, n, 0.95)?,
            raw_welch: Rate::new(raw, n, 0.95)?,
            mean_variance_reduction: vr / n as f64,
            mean_cap: cap / n as f64,
        })
    }

    /// The users per arm the report plans for this configuration's `mde`, from one large A/A pilot of
    /// `pilot_users` per arm (as an analyst plans from last month's data).
    ///
    /// # Errors
    ///
    /// As [`Self::run`], or a pilot without buyers.
    pub fn planned_users(&self, pilot_users: usize) -> Result<u64> {
        let pilot = RevenueSim::new(RevenueConfig {
            users_per_arm: pilot_users,
            lift: 0.0,
            seed: self.cfg.seed ^ 0x9e37_79b9_7f4a_7c15,
            ..self.cfg.clone()
        })?;
        pilot
            .run(0)?
            .report
            .revenue
            .and_then(|r| r.required_users_per_arm)
            .ok_or_else(|| SimError::InvalidParam {
                name: "buy_probability",
                reason: "the pilot has no revenue to plan from".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::binomial_region;
    use tastebud_models::NoProgress;

    /// Level of the binomial acceptance regions (the seeds are fixed, so a passing run stays passing).
    const LEVEL: f64 = 0.99;

    #[test]
    fn amounts_are_heavy_tailed_and_runs_are_deterministic() {
        let sim = RevenueSim::new(RevenueConfig::new(5_000, 7)).unwrap();
        let run = sim.run(0).unwrap();
        let rev = run.report.revenue.as_ref().expect("revenue section");
        let control = &rev.arms[0];
        assert_eq!(control.users, 5_000);
        // about a fifth of the users buy
        let buyers = run.report.arms[0].conversion_rate.value;
        assert!((0.17..0.23).contains(&buyers), "{buyers}");
        // the top 1 % of buyers are capped, and the mean is far above the median buyer's spend
        assert!(
            control.capped_users > 0 && rev.cap.unwrap() > 100.0,
            "{rev:?}"
        );
        assert!(rev.cuped.unwrap().variance_reduction > 0.0);
        assert_eq!(
            serde_json::to_string(&sim.run(0).unwrap().report).unwrap(),
            serde_json::to_string(&run.report).unwrap()
        );
        assert_ne!(
            sim.run(1).unwrap().report.revenue.unwrap().arms[0].revenue,
            control.revenue
        );
    }

    #[test]
    fn bad_configurations_are_errors() {
        let bad = |f: fn(&mut RevenueConfig)| {
            let mut c = RevenueConfig::new(100, 1);
            f(&mut c);
            RevenueSim::new(c).unwrap_err().to_string()
        };
        assert!(bad(|c| c.users_per_arm = 1).contains("users_per_arm"));
        assert!(bad(|c| c.buy_probability = 1.5).contains("buy_probability"));
        assert!(bad(|c| c.sigma = -1.0).contains("sigma"));
        assert!(bad(|c| c.lift = -1.0).contains("lift"));
        assert!(bad(|c| c.winsor_quantile = 0.0).contains("winsor_quantile"));
    }

    /// A/A tests of revenue per user reject at the nominal rate: with and without CUPED.
    #[test]
    fn aa_revenue_tests_reject_at_the_nominal_rate() {
        const EXPERIMENTS: u64 = 400;
        let (lo, hi) = binomial_region(EXPERIMENTS, 0.05, LEVEL).unwrap();
        for pre_period in [true, false] {
            let mut cfg = RevenueConfig::new(2_000, 11);
            cfg.pre_period = pre_period;
            let r = RevenueSim::new(cfg)
                .unwrap()
                .rejections(EXPERIMENTS, &NoProgress)
                .unwrap();
            eprintln!(
                "A/A revenue (pre-period {pre_period}): winsorised test {} of {EXPERIMENTS}, raw Welch {}, \
                 variance removed by CUPED {:.3}",
                r.revenue.count, r.raw_welch.count, r.mean_variance_reduction
            );
            assert!(
                (lo..=hi).contains(&r.revenue.count),
                "{} rejections of {EXPERIMENTS} A/A tests, outside the {LEVEL} region [{lo}, {hi}] of 5 %",
                r.revenue.count
            );
            assert_eq!(r.mean_variance_reduction > 0.0, pre_period);
        }
    }

    /// An A/B test with a known revenue lift, run at the users per arm the report plans for it, detects
    /// it at the planned power (80 %).
    #[test]
    fn ab_revenue_lift_is_detected_at_the_planned_power() {
        const EXPERIMENTS: u64 = 300;
        let mut cfg = RevenueConfig::new(2, 23);
        cfg.lift = 0.2;
        cfg.mde = 0.2;
        let planner = RevenueSim::new(cfg.clone()).unwrap();
        let users = planner.planned_users(200_000).unwrap();
        cfg.users_per_arm = users as usize;
        let r = RevenueSim::new(cfg)
            .unwrap()
            .rejections(EXPERIMENTS, &NoProgress)
            .unwrap();
        eprintln!(
            "A/B revenue +20 %: {users} users per arm planned; detected {} of {EXPERIMENTS} (raw Welch {})",
            r.revenue.count, r.raw_welch.count
        );
        let (lo, hi) = binomial_region(EXPERIMENTS, 0.8, LEVEL).unwrap();
        assert!(
            (lo..=hi).contains(&r.revenue.count),
            "detected {} of {EXPERIMENTS}, outside the {LEVEL} region [{lo}, {hi}] of the planned 80 %",
            r.revenue.count
        );
        // the winsorised, CUPED test is the more powerful one on heavy tails
        assert!(r.revenue.count > r.raw_welch.count, "{r:?}");
    }
}
