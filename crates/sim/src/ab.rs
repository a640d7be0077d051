//! Simulated A/B (and A/A) experiments through the experiment crate's code path: users are
//! assigned by [`Assigner`], each visit's events are aggregated into the same [`ArmData`] the
//! server aggregates, and the analysis is [`Report::new`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_experiment::ExperimentError;
use tastebud_experiment::assign::{ArmDef, Assigner, ExperimentDef, UserContext};
use tastebud_experiment::report::{ArmData, Report, ReportOptions};
use tastebud_experiment::stats::{
    Effect, MeanTest, Msprt, SummaryStats, power_proportions, welch_t_test,
};
use tastebud_models::Progress;

use crate::error::{Result, ensure};
use crate::world::{Arm, World};

const DAY: i64 = 86_400;
/// Start of every simulated experiment (unix seconds; 2026-01-01).
pub const START_UNIX: i64 = 1_767_225_600;

/// How visits reach the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Routing {
    /// Every visit is logged under the arm the definition assigned.
    AsDefined,
    /// A deliberately broken pipeline: each user assigned to `arm` is lost (none of their
    /// events reach the analysis) with probability `share`, as when one arm's client drops
    /// events or redirects a share of its users. The sample-ratio-mismatch check should fire.
    Drop {
        /// Arm index whose users are lost.
        arm: usize,
        /// Probability of losing one of its users, in `[0, 1)`.
        share: f64,
    },
}

/// An experiment to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbConfig {
    /// Experiment id (and the stem of each replicate's salt).
    pub id: String,
    /// Simulated users per experiment; each visits once, on a uniformly random day.
    pub users: usize,
    /// Days the experiment runs (looks for sequential testing happen at the end of each day).
    pub days: usize,
    /// Traffic weight of each arm in the definition. By default, equal.
    pub weights: Vec<f64>,
    /// Routing of visits to the analysis. By default, [`Routing::AsDefined`].
    pub routing: Routing,
    /// Significance level. By default, 0.05.
    pub alpha: f64,
    /// Planned relative minimum detectable effect on CTR (for the report's sample-size line and
    /// the mSPRT mixing variance). By default, 0.1.
    pub mde: f64,
    /// Seed of the population draws, arrivals and clicks.
    pub seed: u64,
}

impl AbConfig {
    /// `users` users over `days` days, equal weights for `n_arms` arms, the defaults otherwise.
    pub fn new(n_arms: usize, users: usize, days: usize, seed: u64) -> Self {
        Self {
            id: "sim".to_owned(),
            users,
            days,
            weights: vec![1.0; n_arms],
            routing: Routing::AsDefined,
            alpha: 0.05,
            mde: 0.1,
            seed,
        }
    }
}

/// One simulated run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Replicate number (its salt is `"{id}-{seed}-{replicate}"`).
    pub replicate: u64,
    /// Cumulative per-arm data at the end of each day (`daily[d][arm]`).
    pub daily: Vec<Vec<ArmData>>,
    /// Cumulative per-arm sum of squared clicks per visit at the end of each day (with
    /// `daily`, the per-user summary a user-level test needs).
    pub clicks_sq: Vec<Vec<u64>>,
    /// The report at the end.
    pub report: Report,
}

/// A simulated experiment over a [`World`]: arms are policies (two arms with the same policy
/// make an A/A test).
#[derive(Debug)]
pub struct Simulation<'a> {
    world: &'a World,
    arms: Vec<&'a Arm>,
    names: Vec<String>,
    cfg: AbConfig,
}

impl<'a> Simulation<'a> {
    /// An experiment with the named arms (the first is the control).
    ///
    /// # Errors
    ///
    /// Fewer than two arms, names and arms of different lengths, weights that do not match the
    /// arms, no users or days, or a bad routing share (the definition itself is validated by
    /// the experiment crate).
    pub fn new(world: &'a World, arms: Vec<(String, &'a Arm)>, cfg: AbConfig) -> Result<Self> {
        ensure(arms.len() >= 2, "arms", "need at least two arms")?;
        ensure(
            cfg.weights.len() == arms.len(),
            "weights",
            format!("{} weights for {} arms", cfg.weights.len(), arms.len()),
        )?;
        ensure(cfg.users >= 1, "users", "must be at least 1")?;
        ensure(cfg.days >= 1, "days", "must be at least 1")?;
        if let Routing::Drop { arm, share } = cfg.routing {
            ensure(arm < arms.len(), "routing.arm", "out of range")?;
            ensure(
                (0.0..1.0).contains(&share),
                "routing.share",
                "must be in [0, 1)",
            )?;
        }
        let (names, arms) = arms.into_iter().unzip();
        let sim = Self {
            world,
            arms,
            names,
            cfg,
        };
        Assigner::new(vec![sim.definition(0)], 0.0)?;
        Ok(sim)
    }

    /// The configuration.
    pub fn config(&self) -> &AbConfig {
        &self.cfg
    }

    /// Arm names, control first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Each arm's true CTR per impression.
    pub fn true_ctrs(&self) -> Vec<f64> {
        self.arms.iter().map(|a| a.true_ctr()).collect()
    }

    /// Each arm's design effect ([`Arm::design_effect`]).
    pub fn design_effects(&self) -> Vec<f64> {
        self.arms.iter().map(|a| a.design_effect()).collect()
    }

    /// The definition of replicate `r`: same arms and weights, salt `"{id}-{seed}-{r}"`.
    pub fn definition(&self, replicate: u64) -> ExperimentDef {
        let arms = self
            .names
            .iter()
            .zip(&self.cfg.weights)
            .map(|(name, &weight)| ArmDef {
                name: name.clone(),
                weight,
                model: None,
            })
            .collect();
        let mut def = ExperimentDef::new(self.cfg.id.clone(), arms, START_UNIX);
        def.salt = format!("{}-{}-{replicate}", self.cfg.id, self.cfg.seed);
        def.end_unix = Some(START_UNIX + self.cfg.days as i64 * DAY);
        def
    }

    /// Report options at the end of day `day` (0-based).
    pub fn report_options(&self, day: usize) -> ReportOptions {
        ReportOptions {
            now_unix: START_UNIX + (day as i64 + 1) * DAY,
            alpha: self.cfg.alpha,
            mde: self.cfg.mde,
            power: 0.8,
            ..ReportOptions::default()
        }
    }

    /// Impressions per arm expected under the definition's weights (routing ignored).
    pub fn expected_impressions(&self) -> Vec<f64> {
        let total: f64 = self.cfg.weights.iter().sum();
        let k = self.world.slate_size() as f64;
        self.cfg
            .weights
            .iter()
            .map(|w| self.cfg.users as f64 * w / total * k)
            .collect()
    }

    /// Power of the report's CTR z-test for the treatment (arm 1) against the control at the
    /// true CTRs and the expected impressions per arm, by the experiment crate's calculator
    /// ([`power_proportions`]; equal arms assumed).
    ///
    /// # Errors
    ///
    /// Equal true CTRs (no effect) or rates outside `(0, 1)`.
    pub fn planned_power(&self) -> Result<f64> {
        let ctr = self.true_ctrs();
        let n = self.expected_impressions();
        Ok(power_proportions(
            ctr[0],
            Effect::Absolute(ctr[1] - ctr[0]),
            n[0].min(n[1]),
            self.cfg.alpha,
        )?)
    }

    /// Simulates replicate `r` (deterministic in the seed and `r`).
    ///
    /// # Errors
    ///
    /// When the report cannot be built (an arm with no users at the end).
    pub fn run(&self, replicate: u64) -> Result<Run> {
        let def = self.definition(replicate);
        let assigner = Assigner::new(vec![def.clone()], 0.0)?;
        let ctx = UserContext::default();
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(replicate);
        let (n_arms, days) = (self.arms.len(), self.cfg.days);
        // per day and arm: users, impressions, clicks, users with a click, Σ clicks²
        let mut counts = vec![[0u64; 5]; days * n_arms];
        let n_profiles = self.world.n_profiles();
        let mut id = String::new();
        for j in 0..self.cfg.users {
            let profile = rng.random_range(0..n_profiles);
            let day = rng.random_range(0..days);
            id.clear();
            id.push_str("sim-user-");
            id.push_str(&j.to_string());
            let Some(a) = assigner.assign(&id, &ctx).first().map(|a| a.arm_index) else {
                continue;
            };
            if let Routing::Drop { arm, share } = self.cfg.routing
                && arm == a
                && rng.random::<f64>() < share
            {
                continue;
            }
            let probs = self.arms[a].click_probabilities(profile);
            let clicks = probs.iter().filter(|&&p| rng.random::<f64>() < p).count() as u64;
            let c = &mut counts[day * n_arms + a];
            c[0] += 1;
            c[1] += probs.len() as u64;
            c[2] += clicks;
            c[3] += u64::from(clicks > 0);
            c[4] += clicks * clicks;
        }
        let mut daily = Vec::with_capacity(days);
        let mut clicks_sq = Vec::with_capacity(days);
        let mut cum = vec![[0u64; 5]; n_arms];
        for d in 0..days {
            for (a, total) in cum.iter_mut().enumerate() {
                for (t, x) in total.iter_mut().zip(counts[d * n_arms + a]) {
                    *t += x;
                }
            }
            daily.push(
                cum.iter()
                    .zip(&self.names)
                    .map(|(c, name)| arm_data(name, c))
                    .collect::<Vec<_>>(),
            );
            clicks_sq.push(cum.iter().map(|c| c[4]).collect());
        }
        let report = Report::new(&def, &daily[days - 1], &self.report_options(days - 1))?;
        Ok(Run {
            replicate,
            daily,
            clicks_sq,
            report,
        })
    }

    /// Replicates `0..n`, in parallel (each is seeded by its number, so the result does not
    /// depend on scheduling), reporting progress per replicate.
    ///
    /// # Errors
    ///
    /// The first replicate that fails.
    pub fn runs(&self, n: u64, progress: &dyn Progress) -> Result<Vec<Run>> {
        progress.start("experiments", n);
        (0..n)
            .into_par_iter()
            .map(|r| {
                let run = self.run(r);
                progress.inc(1);
                run
            })
            .collect()
    }

    /// The report at the end of day `day` of a run; `None` while an arm has no users or
    /// impressions yet.
    ///
    /// # Errors
    ///
    /// As [`Report::new`].
    pub fn report_at(&self, run: &Run, day: usize) -> Result<Option<Report>> {
        let data = &run.daily[day];
        if data.iter().any(|d| d.users == 0 || d.impressions == 0) {
            return Ok(None);
        }
        Ok(Some(Report::new(
            &self.definition(run.replicate),
            data,
            &self.report_options(day),
        )?))
    }

    /// Clicks per visit of `arm` at the end of `day` (each user one unit); `None` with fewer
    /// than two users.
    ///
    /// # Errors
    ///
    /// Inconsistent counts.
    pub fn clicks_per_visit(
        &self,
        run: &Run,
        day: usize,
        arm: usize,
    ) -> Result<Option<SummaryStats>> {
        let d = &run.daily[day][arm];
        if d.users < 2 {
            return Ok(None);
        }
        let n = d.users as f64;
        let mean = d.clicks as f64 / n;
        let variance = ((run.clicks_sq[day][arm] as f64 - n * mean * mean) / (n - 1.0)).max(0.0);
        Ok(Some(SummaryStats::new(d.users, mean, variance)?))
    }

    /// The user-level CTR test at the end of `day`: Welch's test of clicks per visit (each
    /// visit shows a full slate, so this is CTR × slate size), treatment (arm 1) against
    /// control, at `1 - alpha`. Unlike the report's per-impression z-test it treats the user,
    /// not the impression, as the unit, so correlated clicks within a slate do not make it
    /// optimistic. `None` while an arm has fewer than two users or no variance.
    ///
    /// # Errors
    ///
    /// Inconsistent counts.
    pub fn user_level_test(&self, run: &Run, day: usize) -> Result<Option<MeanTest>> {
        let (Some(c), Some(t)) = (
            self.clicks_per_visit(run, day, 0)?,
            self.clicks_per_visit(run, day, 1)?,
        ) else {
            return Ok(None);
        };
        match welch_t_test(&c, &t, 1.0 - self.cfg.alpha) {
            Ok(test) => Ok(Some(test)),
            Err(ExperimentError::Degenerate(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Daily peeking at the treatment (arm 1) against the control, on clicks per visit:
    /// `(naive, sequential)` = whether the fixed-horizon [`Self::user_level_test`] fell below
    /// `alpha` at any daily look, and whether an mSPRT ([`Msprt::observe_means`], mixing
    /// variance `τ² = (mde · the control's true clicks per visit)²`) rejected at any daily look.
    ///
    /// # Errors
    ///
    /// As [`Msprt`].
    pub fn peek(&self, run: &Run) -> Result<(bool, bool)> {
        let tau = self.cfg.mde * self.true_ctrs()[0] * self.world.slate_size() as f64;
        let mut msprt = Msprt::new(tau * tau, self.cfg.alpha)?;
        let (mut naive, mut sequential) = (false, false);
        for day in 0..run.daily.len() {
            naive |= self
                .user_level_test(run, day)?
                .is_some_and(|t| t.p_value < self.cfg.alpha);
            if let (Some(c), Some(t)) = (
                self.clicks_per_visit(run, day, 0)?,
                self.clicks_per_visit(run, day, 1)?,
            ) {
                sequential |= msprt.observe_means(&c, &t)?.reject;
            }
        }
        Ok((naive, sequential))
    }
}

/// The server's per-arm aggregate of simulated visits: a visit is one exposed user with a slate
/// of impressions; a user with at least one click counts as converted (one conversion event).
/// No dwell or bounce data are simulated.
fn arm_data(name: &str, c: &[u64; 5]) -> ArmData {
    ArmData {
        name: name.to_owned(),
        users: c[0],
        impressions: c[1],
        clicks: c[2],
        conversions: c[3],
        converted_users: c[3],
        dwell_ms: Vec::new(),
        views: 0,
        bounces: 0,
        // Per-impression CTR analysis, as the report does without per-user sums (the simulator measures
        // its A/A rate); the per-user test is the `ctr_user` row.
        ctr_per_user: None,
        revenue: None,
    }
}
