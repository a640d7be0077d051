//! The per-arm analysis of an experiment from aggregated counts.
//!
//! [`Report::new`] takes one [`ArmData`] per arm, the experiment's [`ExperimentDef`] (for
//! the design weights and the start time) and [`ReportOptions`], and computes every number
//! with the [`crate::stats`] functions; the first arm of the definition is the control:
//!
//! | Field | Statistic |
//! |---|---|
//! | `ctr` = clicks / impressions, `conversion_rate` = converted users / users, `bounce_rate` = bounces / views | [`Proportion::wilson_ci`] at `1 - alpha` |
//! | `mean_dwell_ms` | mean of the per-view samples with the Student-t interval of [`SummaryStats::from_samples`] |
//! | `ctr_lift`, `conversion_lift` | [`proportion_lift`] (delta method); for CTR with per-user sums, [`ratio_lift`] |
//! | `ctr_p_value`, `conversion_p_value` | [`two_proportion_ztest`]; for CTR with per-user sums ([`ArmData::ctr_per_user`]), [`ratio_ztest`] with the user as the unit (`ctr_unit`) |
//! | `dwell_test` | [`welch_t_test_samples`] |
//! | `ctr_sequential_p` | always-valid mSPRT p-value of the CTR difference ([`Msprt`]), mixing variance `(mde · control CTR)²`: valid however often the report is read |
//! | `srm` | [`srm_test`] of users per arm against the arm weights (`None` for bandit allocation, whose shares are adaptive) |
//! | `required_per_arm` | [`sample_size_proportions`] for the planned relative MDE on the control's CTR |
//! | `warnings` | [`experiment_warnings`] |
//! | `revenue` (when every arm has [`ArmData::revenue`]) | [`RevenueReport`]: per user and per impression with intervals, lift, a winsorised (and, with pre-period data, CUPED) Welch test, planned users for `revenue_mde` |
//!
//! Without per-user sums CTR is analysed per impression, as if impressions were independent;
//! impressions of one user are correlated, so those p-values are optimistic when users see many
//! items (the simulator measures 7 % rejections in A/A tests at alpha 5 %). With
//! [`ArmData::ctr_per_user`] in every arm the user is the unit (delta method), which holds the
//! nominal rate. The conversion rate is per user and has no such problem. The sample size for the CTR MDE is in
//! impressions, so the "below planned sample size" warning compares it with the smallest arm's
//! impressions.
//!
//! ```
//! use tastebud_experiment::assign::{ArmDef, ExperimentDef};
//! use tastebud_experiment::report::{ArmData, Report, ReportOptions};
//!
//! let day = 86_400;
//! let arm = |name: &str| ArmDef { name: name.into(), weight: 1.0, model: None };
//! let def = ExperimentDef::new("ranker-v2", vec![arm("control"), arm("treatment")], 0);
//! let data = |name: &str, clicks| ArmData {
//!     name: name.into(), users: 10_000, impressions: 200_000, clicks,
//!     conversions: 900, converted_users: 800, dwell_ms: vec![900.0, 1100.0, 1000.0],
//!     views: 30_000, bounces: 9_000, ctr_per_user: None, revenue: None,
//! };
//! let report = Report::new(
//!     &def,
//!     &[data("control", 10_000), data("treatment", 10_800)],
//!     &ReportOptions { now_unix: 14 * day, ..ReportOptions::default() },
//! )?;
//! assert!(report.arms[1].ctr_p_value.unwrap() < 0.001);
//! println!("{}", report.to_table());
//! # Ok::<(), tastebud_experiment::ExperimentError>(())
//! ```

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::assign::ExperimentDef;
use crate::error::{ExperimentError, Result, ensure, ensure_finite, ensure_unit_open, invalid};
pub use crate::revenue::{RevenueData, RevenueOptions, RevenueReport};
use crate::stats::dist::t_isf;
use crate::stats::{
    Effect, ExperimentCheck, ExperimentWarning, Interval, Lift, MeanTest, Msprt, Proportion,
    RatioSums, SrmResult, SummaryStats, experiment_warnings, proportion_lift, ratio_lift,
    ratio_ztest, sample_size_proportions, srm_test, two_proportion_ztest, welch_t_test_samples,
};

const DAY: f64 = 86_400.0;

/// One arm's aggregated data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmData {
    /// Arm name, as in [`crate::assign::ArmDef::name`].
    pub name: String,
    /// Users assigned (and exposed).
    pub users: u64,
    /// Items shown.
    pub impressions: u64,
    /// Clicks on shown items.
    pub clicks: u64,
    /// Conversion events (a user may convert more than once).
    pub conversions: u64,
    /// Users with at least one conversion.
    pub converted_users: u64,
    /// Dwell time of each item view, milliseconds.
    pub dwell_ms: Vec<f64>,
    /// Item views.
    pub views: u64,
    /// Views that bounced.
    pub bounces: u64,
    /// Per-user sums of clicks and impressions: when every arm has them, CTR is tested with the user as
    /// the unit (delta method, [`ratio_ztest`]) instead of each impression (which overstates the evidence
    /// when a user clicks several items of a slate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctr_per_user: Option<RatioSums>,
    /// What each user spent (purchases with an amount); when every arm has it, the report has a revenue
    /// section ([`RevenueReport`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<RevenueData>,
}

/// The default planned relative MDE on revenue per user: +5 %.
pub const DEFAULT_REVENUE_MDE: f64 = 0.05;
/// The default winsorising quantile of buyers' revenue: the 99th percentile.
pub const DEFAULT_WINSOR_QUANTILE: f64 = 0.99;

fn default_revenue_mde() -> f64 {
    DEFAULT_REVENUE_MDE
}

fn default_winsor_quantile() -> f64 {
    DEFAULT_WINSOR_QUANTILE
}

/// How to analyse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    /// Time of the analysis, unix seconds (the end of exposure if the experiment is still
    /// running or ended later).
    pub now_unix: i64,
    /// Significance level, e.g. `0.05`; intervals are at `1 - alpha`.
    pub alpha: f64,
    /// Planned minimum detectable effect, relative, on CTR (e.g. `0.05` for +5 %).
    pub mde: f64,
    /// Planned power, e.g. `0.8`.
    pub power: f64,
    /// Planned minimum detectable effect on revenue per user, relative. By default
    /// [`DEFAULT_REVENUE_MDE`].
    #[serde(default = "default_revenue_mde")]
    pub revenue_mde: f64,
    /// Winsorise per-user revenue at this quantile of the buyers' revenue before testing, in `(0, 1]`
    /// (`1`: no cap). By default [`DEFAULT_WINSOR_QUANTILE`].
    #[serde(default = "default_winsor_quantile")]
    pub winsor_quantile: f64,
}

impl Default for ReportOptions {
    /// Now = 0 (set `now_unix`), alpha 0.05, CTR MDE +5 %, power 0.8, revenue MDE
    /// [`DEFAULT_REVENUE_MDE`], winsorising at [`DEFAULT_WINSOR_QUANTILE`].
    fn default() -> Self {
        ReportOptions {
            now_unix: 0,
            alpha: 0.05,
            mde: 0.05,
            power: 0.8,
            revenue_mde: DEFAULT_REVENUE_MDE,
            winsor_quantile: DEFAULT_WINSOR_QUANTILE,
        }
    }
}

impl ReportOptions {
    /// Checks `alpha` and `power` (in `(0, 1)`), `mde` and `revenue_mde` (finite, non-zero) and
    /// `winsor_quantile` (in `(0, 1]`).
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] naming the option.
    pub fn validate(&self) -> Result<()> {
        ensure_unit_open(self.alpha, "alpha")?;
        ensure_unit_open(self.power, "power")?;
        ensure(
            self.mde.is_finite() && self.mde != 0.0,
            "mde",
            "must be finite and non-zero",
        )?;
        self.revenue().validate()
    }

    /// The revenue test's options.
    pub fn revenue(&self) -> RevenueOptions {
        RevenueOptions {
            alpha: self.alpha,
            power: self.power,
            mde: self.revenue_mde,
            winsor_quantile: self.winsor_quantile,
        }
    }
}

/// A point estimate with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Confidence interval at `1 - alpha`.
    pub ci: Interval,
}

/// One arm's results. Comparisons with the control are `None` for the control itself, and
/// where the data carry no information (see [`ExperimentError::Degenerate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmReport {
    /// Arm name.
    pub name: String,
    /// Users.
    pub users: u64,
    /// Impressions.
    pub impressions: u64,
    /// Clicks / impressions, Wilson interval.
    pub ctr: Estimate,
    /// Converted users / users, Wilson interval.
    pub conversion_rate: Estimate,
    /// Mean dwell per view with its t interval; `None` with fewer than two samples.
    pub mean_dwell_ms: Option<Estimate>,
    /// Bounces / views, Wilson interval; `None` without views.
    pub bounce_rate: Option<Estimate>,
    /// Relative CTR lift over the control.
    pub ctr_lift: Option<Lift>,
    /// Relative conversion-rate lift over the control.
    pub conversion_lift: Option<Lift>,
    /// Two-proportion z-test p-value of CTR against the control.
    pub ctr_p_value: Option<f64>,
    /// Two-proportion z-test p-value of the conversion rate against the control.
    pub conversion_p_value: Option<f64>,
    /// Welch test of mean dwell against the control (difference in ms, its interval, p-value).
    pub dwell_test: Option<MeanTest>,
    /// Always-valid (mSPRT) p-value of the CTR difference against the control: unlike
    /// `ctr_p_value` it stays valid when the report is read every day and acted on at any look.
    pub ctr_sequential_p: Option<f64>,
}

/// An experiment's analysis; the first arm is the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Experiment id.
    pub experiment: String,
    /// Days from start to `now` (or to the end, if it ended earlier).
    pub days_running: f64,
    /// Significance level used.
    pub alpha: f64,
    /// Per-arm results, in the definition's arm order.
    pub arms: Vec<ArmReport>,
    /// Sample-ratio-mismatch test of users per arm against the weights; `None` when a bandit
    /// allocates the traffic (the shares are meant to move).
    pub srm: Option<SrmResult>,
    /// Impressions per arm needed to detect the planned CTR MDE; `None` when the control's CTR
    /// is 0 or 1 (or the MDE would take it outside `(0, 1)`).
    pub required_per_arm: Option<u64>,
    /// Reasons to distrust the result.
    pub warnings: Vec<ExperimentWarning>,
    /// What to do, in one line (see [`Report::new`]).
    pub decision: String,
    /// The unit of the CTR test and lift: `user` (delta method on per-user sums) or `impression`.
    pub ctr_unit: String,
    /// Revenue per arm, when every arm has revenue data ([`ArmData::revenue`]) and some arm a purchase
    /// with an amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<RevenueReport>,
}

/// `Ok(None)` for degenerate data, the value otherwise; other errors propagate.
fn unless_degenerate<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ExperimentError::Degenerate(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn proportion(successes: u64, trials: u64, arm: &str, what: &str) -> Result<Proportion> {
    Proportion::new(successes, trials).map_err(|_| {
        invalid(
            "arms",
            format!("arm `{arm}`: {what} {successes} of {trials} is not a valid proportion"),
        )
    })
}

fn rate_estimate(p: Proportion, confidence: f64) -> Result<Estimate> {
    Ok(Estimate {
        value: p.rate(),
        ci: p.wilson_ci(confidence)?,
    })
}

fn mean_estimate(s: &SummaryStats, confidence: f64) -> Estimate {
    let half = t_isf((1.0 - confidence) / 2.0, s.n as f64 - 1.0) * s.variance_of_mean().sqrt();
    Estimate {
        value: s.mean,
        ci: Interval::new(s.mean - half, s.mean + half),
    }
}

impl Report {
    /// Analyses the experiment. `arms` holds one entry per arm of `def`, matched by name (any
    /// order); the output follows the definition's order.
    ///
    /// The decision reads the primary metric, CTR, at `alpha / (arms - 1)` (Bonferroni over the
    /// treatment arms): "do not trust" on SRM; otherwise the best significantly better arm
    /// ("ship", or "leading" while a duration or sample-size warning stands), "keep control"
    /// when every significant arm is worse, "keep running" when nothing is significant yet and
    /// a warning stands, and "no detectable difference" otherwise.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] for an invalid definition or options, arms that do not
    /// match the definition's, an arm with no users or no impressions, counts that are not
    /// proportions (more clicks than impressions, ...), non-finite dwell times, or `now`
    /// before the start.
    pub fn new(def: &ExperimentDef, arms: &[ArmData], opts: &ReportOptions) -> Result<Self> {
        def.validate()?;
        opts.validate()?;
        ensure(
            opts.now_unix >= def.start_unix,
            "now_unix",
            "must not be before the experiment's start",
        )?;
        if arms.len() != def.arms.len() {
            return Err(ExperimentError::LengthMismatch {
                name: "arms",
                expected: def.arms.len(),
                got: arms.len(),
            });
        }
        let ordered: Vec<&ArmData> = def
            .arms
            .iter()
            .map(|a| {
                arms.iter()
                    .find(|d| d.name == a.name)
                    .ok_or_else(|| invalid("arms", format!("no data for arm `{}`", a.name)))
            })
            .collect::<Result<_>>()?;
        let confidence = 1.0 - opts.alpha;

        struct Parsed {
            ctr: Proportion,
            conv: Proportion,
            bounce: Option<Proportion>,
            dwell: Option<SummaryStats>,
        }
        let parsed: Vec<Parsed> = ordered
            .iter()
            .map(|d| {
                ensure_finite(&d.dwell_ms, "dwell_ms")?;
                Ok(Parsed {
                    ctr: proportion(d.clicks, d.impressions, &d.name, "clicks / impressions")?,
                    conv: proportion(
                        d.converted_users,
                        d.users,
                        &d.name,
                        "converted users / users",
                    )?,
                    bounce: if d.views == 0 {
                        ensure(d.bounces == 0, "arms", "bounces without views")?;
                        None
                    } else {
                        Some(proportion(d.bounces, d.views, &d.name, "bounces / views")?)
                    },
                    dwell: if d.dwell_ms.len() >= 2 {
                        Some(SummaryStats::from_samples(&d.dwell_ms)?)
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<_>>()?;

        let control = &parsed[0];
        let per_user: Option<Vec<RatioSums>> = ordered
            .iter()
            .map(|d| d.ctr_per_user.filter(|s| s.users >= 2 && s.y > 0.0))
            .collect();
        let mut reports = Vec::with_capacity(parsed.len());
        for (i, (d, p)) in ordered.iter().zip(&parsed).enumerate() {
            let vs_control = i > 0;
            // (p-value, lift, sequential p) of CTR, per user when every arm has per-user sums.
            let (ctr_p, ctr_lift, ctr_seq) = match (&per_user, vs_control) {
                (_, false) => (None, None, None),
                (Some(s), true) => {
                    let t = unless_degenerate(ratio_ztest(&s[0], &s[i], confidence))?;
                    let tau2 = (opts.mde * s[0].ratio()).powi(2);
                    let seq = match t {
                        Some(t) if tau2 > 0.0 && tau2.is_finite() => Some(
                            Msprt::new(tau2, opts.alpha)?
                                .observe(t.difference, t.std_error * t.std_error)?
                                .p_value,
                        ),
                        _ => None,
                    };
                    (
                        t.map(|t| t.p_value),
                        unless_degenerate(ratio_lift(&s[0], &s[i], confidence))?,
                        seq,
                    )
                }
                (None, true) => (
                    unless_degenerate(two_proportion_ztest(control.ctr, p.ctr, confidence))?
                        .map(|t| t.p_value),
                    unless_degenerate(proportion_lift(control.ctr, p.ctr, confidence))?,
                    sequential_p(control.ctr, p.ctr, opts)?,
                ),
            };
            let conv_test = if vs_control {
                unless_degenerate(two_proportion_ztest(control.conv, p.conv, confidence))?
            } else {
                None
            };
            let dwell_test = match (vs_control, &ordered[0].dwell_ms, &p.dwell) {
                (true, c, Some(_)) if c.len() >= 2 => {
                    unless_degenerate(welch_t_test_samples(c, &d.dwell_ms, confidence))?
                }
                _ => None,
            };
            reports.push(ArmReport {
                name: d.name.clone(),
                users: d.users,
                impressions: d.impressions,
                ctr: rate_estimate(p.ctr, confidence)?,
                conversion_rate: rate_estimate(p.conv, confidence)?,
                mean_dwell_ms: p.dwell.as_ref().map(|s| mean_estimate(s, confidence)),
                bounce_rate: p.bounce.map(|b| rate_estimate(b, confidence)).transpose()?,
                ctr_lift,
                conversion_lift: if vs_control {
                    unless_degenerate(proportion_lift(control.conv, p.conv, confidence))?
                } else {
                    None
                },
                ctr_p_value: ctr_p,
                conversion_p_value: conv_test.map(|t| t.p_value),
                dwell_test,
                ctr_sequential_p: ctr_seq,
            });
        }

        let users: Vec<u64> = ordered.iter().map(|d| d.users).collect();
        let srm = if def.allocation.is_bandit() {
            None
        } else {
            Some(srm_test(&users, &def.weights())?)
        };
        let required_per_arm = sample_size_proportions(
            control.ctr.rate(),
            Effect::Relative(opts.mde),
            opts.alpha,
            opts.power,
        )
        .ok()
        .map(|s| s.per_arm);
        let end = def.end_unix.map_or(opts.now_unix, |e| e.min(opts.now_unix));
        let warnings = experiment_warnings(&ExperimentCheck {
            start_unix: def.start_unix,
            end_unix: end,
            achieved_per_arm: ordered.iter().map(|d| d.impressions).min().unwrap_or(0),
            required_per_arm: required_per_arm.unwrap_or(0),
            srm_p_value: srm.as_ref().map(|s| s.p_value),
        })?;
        let decision = decide(&reports, srm.as_ref(), &warnings, opts.alpha);
        let revenue_arms: Option<Vec<(&str, &RevenueData)>> = ordered
            .iter()
            .map(|d| d.revenue.as_ref().map(|r| (d.name.as_str(), r)))
            .collect();
        let revenue = revenue_arms
            .filter(|arms| arms.iter().any(|(_, r)| r.purchases > 0))
            .map(|arms| RevenueReport::new(&arms, &opts.revenue()))
            .transpose()?;
        Ok(Self {
            experiment: def.id.clone(),
            days_running: (end - def.start_unix) as f64 / DAY,
            alpha: opts.alpha,
            arms: reports,
            srm,
            required_per_arm,
            warnings,
            decision,
            ctr_unit: if per_user.is_some() {
                "user"
            } else {
                "impression"
            }
            .to_owned(),
            revenue,
        })
    }

    /// A plain-text table, one row per arm, columns aligned, followed by the SRM test, the
    /// planned sample size, the warnings and the decision.
    pub fn to_table(&self) -> String {
        let pct = |x: f64| format!("{:.2}%", 100.0 * x);
        let rate =
            |e: &Estimate| format!("{} [{}, {}]", pct(e.value), pct(e.ci.low), pct(e.ci.high));
        let lift = |l: &Option<Lift>| {
            l.map_or("-".to_owned(), |l| {
                format!(
                    "{:+.2}% [{:+.2}%, {:+.2}%]",
                    100.0 * l.lift,
                    100.0 * l.ci.low,
                    100.0 * l.ci.high
                )
            })
        };
        let p = |p: Option<f64>| {
            p.map_or("-".to_owned(), |p| {
                if p >= 1e-4 {
                    format!("{p:.4}")
                } else {
                    format!("{p:.1e}")
                }
            })
        };
        let header = [
            "arm",
            "users",
            "CTR",
            "CTR lift",
            "p",
            "seq. p",
            "conversion",
            "conv. lift",
            "p",
            "dwell ms",
            "p",
            "bounce",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
        for a in &self.arms {
            rows.push(vec![
                a.name.clone(),
                a.users.to_string(),
                rate(&a.ctr),
                lift(&a.ctr_lift),
                p(a.ctr_p_value),
                p(a.ctr_sequential_p),
                rate(&a.conversion_rate),
                lift(&a.conversion_lift),
                p(a.conversion_p_value),
                a.mean_dwell_ms.map_or("-".to_owned(), |e| {
                    format!("{:.0} [{:.0}, {:.0}]", e.value, e.ci.low, e.ci.high)
                }),
                p(a.dwell_test.map(|t| t.p_value)),
                a.bounce_rate.as_ref().map_or("-".to_owned(), rate),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "experiment {}: {:.1} days, intervals at {:.0}%, CTR tested per {}\n",
            self.experiment,
            self.days_running,
            100.0 * (1.0 - self.alpha),
            self.ctr_unit
        );
        for (i, row) in rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| {
                    let pad = w - cell.chars().count();
                    if c == 0 {
                        format!("{cell}{}", " ".repeat(pad))
                    } else {
                        format!("{}{cell}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
            if i == 0 {
                let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        match &self.srm {
            Some(srm) => {
                let _ = writeln!(
                    out,
                    "SRM: chi2 = {:.2}, p = {:.4}{}",
                    srm.statistic,
                    srm.p_value,
                    if srm.flagged() { " (MISMATCH)" } else { "" }
                );
            }
            None => out.push_str("SRM: n/a (bandit allocation)\n"),
        }
        match self.required_per_arm {
            Some(n) => {
                let _ = writeln!(out, "planned impressions per arm: {n}");
            }
            None => out.push_str("planned impressions per arm: n/a\n"),
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        let _ = writeln!(out, "decision: {}", self.decision);
        if let Some(r) = &self.revenue {
            out.push_str(&r.to_table());
        }
        out
    }
}

/// The always-valid p-value of one look at the CTR difference; `None` when the control's CTR is 0
/// (no scale for the mixing variance) or the data carry no information.
fn sequential_p(
    control: Proportion,
    treatment: Proportion,
    opts: &ReportOptions,
) -> Result<Option<f64>> {
    let tau2 = (opts.mde * control.rate()).powi(2);
    if !(tau2 > 0.0 && tau2.is_finite()) || control.trials == 0 || treatment.trials == 0 {
        return Ok(None);
    }
    let mut m = Msprt::new(tau2, opts.alpha)?;
    Ok(Some(m.observe_proportions(control, treatment)?.p_value))
}

fn decide(
    arms: &[ArmReport],
    srm: Option<&SrmResult>,
    warnings: &[ExperimentWarning],
    alpha: f64,
) -> String {
    if let Some(srm) = srm.filter(|s| s.flagged()) {
        return format!(
            "do not trust: sample-ratio mismatch (p = {:.2e}); fix assignment or logging first",
            srm.p_value
        );
    }
    let level = alpha / (arms.len() - 1) as f64;
    let significant: Vec<&ArmReport> = arms[1..]
        .iter()
        .filter(|a| a.ctr_p_value.is_some_and(|p| p < level))
        .collect();
    let best = significant
        .iter()
        .filter_map(|a| a.ctr_lift.map(|l| (a, l)))
        .filter(|(_, l)| l.lift > 0.0)
        .max_by(|x, y| x.1.lift.total_cmp(&y.1.lift));
    let provisional = !warnings.is_empty();
    match best {
        Some((a, l)) if provisional => format!(
            "leading: `{}` CTR {:+.2}% (significant), but keep running until the warnings clear",
            a.name,
            100.0 * l.lift
        ),
        Some((a, l)) => format!(
            "ship `{}`: CTR {:+.2}% [{:+.2}%, {:+.2}%]",
            a.name,
            100.0 * l.lift,
            100.0 * l.ci.low,
            100.0 * l.ci.high
        ),
        None if !significant.is_empty() => {
            format!(
                "keep control: `{}` has a significantly lower CTR",
                significant[0].name
            )
        }
        None if provisional => "keep running: no significant CTR difference yet".to_owned(),
        None => "no detectable CTR difference at the planned power: keep control".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::ArmDef;

    const START: i64 = 1_700_000_000;
    const DAY_S: i64 = 86_400;

    fn def(weights: &[f64]) -> ExperimentDef {
        let arms = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| ArmDef {
                name: if i == 0 {
                    "control".into()
                } else {
                    format!("t{i}")
                },
                weight,
                model: None,
            })
            .collect();
        ExperimentDef::new("exp", arms, START)
    }

    fn dwell(n: usize, mean: f64, seed: u64) -> Vec<f64> {
        // deterministic, spread-out samples
        (0..n)
            .map(|i| {
                let x = ((i as u64).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f64;
                mean + x - 500.0
            })
            .collect()
    }

    fn data(name: &str, users: u64, clicks: u64, converted: u64, dwell_mean: f64) -> ArmData {
        ArmData {
            name: name.into(),
            users,
            impressions: users * 20,
            clicks,
            conversions: converted + converted / 10,
            converted_users: converted,
            dwell_ms: dwell(500, dwell_mean, users),
            views: users * 3,
            bounces: users,
            ctr_per_user: None,
            revenue: None,
        }
    }

    fn opts(days: i64) -> ReportOptions {
        ReportOptions {
            now_unix: START + days * DAY_S,
            alpha: 0.05,
            mde: 0.05,
            power: 0.8,
            ..ReportOptions::default()
        }
    }

    #[test]
    fn numbers_are_the_stats_functions() {
        let c = data("control", 20_000, 20_000, 1_000, 1000.0);
        let t = data("t1", 20_100, 20_700, 1_080, 1010.0);
        let r = Report::new(&def(&[1.0, 1.0]), &[t.clone(), c.clone()], &opts(14)).unwrap();
        assert_eq!(r.arms[0].name, "control");
        let conf = 0.95;
        let (pc, pt) = (
            Proportion::new(c.clicks, c.impressions).unwrap(),
            Proportion::new(t.clicks, t.impressions).unwrap(),
        );
        let (cc, ct) = (
            Proportion::new(c.converted_users, c.users).unwrap(),
            Proportion::new(t.converted_users, t.users).unwrap(),
        );
        let a = &r.arms[1];
        assert_eq!(a.ctr.value, pt.rate());
        assert_eq!(a.ctr.ci, pt.wilson_ci(conf).unwrap());
        assert_eq!(a.conversion_rate.ci, ct.wilson_ci(conf).unwrap());
        assert_eq!(a.ctr_lift, Some(proportion_lift(pc, pt, conf).unwrap()));
        assert_eq!(
            a.conversion_lift,
            Some(proportion_lift(cc, ct, conf).unwrap())
        );
        assert_eq!(
            a.ctr_p_value,
            Some(two_proportion_ztest(pc, pt, conf).unwrap().p_value)
        );
        assert_eq!(
            a.conversion_p_value,
            Some(two_proportion_ztest(cc, ct, conf).unwrap().p_value)
        );
        assert_eq!(
            a.dwell_test,
            Some(welch_t_test_samples(&c.dwell_ms, &t.dwell_ms, conf).unwrap())
        );
        let bounce = Proportion::new(t.bounces, t.views).unwrap();
        assert_eq!(a.bounce_rate.unwrap().ci, bounce.wilson_ci(conf).unwrap());
        // single-arm dwell interval: the Welch interval of the mean collapses to the t interval
        let s = SummaryStats::from_samples(&t.dwell_ms).unwrap();
        let dw = a.mean_dwell_ms.unwrap();
        assert_eq!(dw.value, s.mean);
        let half = t_isf(0.025, s.n as f64 - 1.0) * s.variance_of_mean().sqrt();
        assert!((dw.ci.high - dw.ci.low - 2.0 * half).abs() < 1e-9);
        assert_eq!(
            r.srm.unwrap(),
            srm_test(&[c.users, t.users], &[1.0, 1.0]).unwrap()
        );
        assert_eq!(
            r.required_per_arm,
            Some(
                sample_size_proportions(pc.rate(), Effect::Relative(0.05), 0.05, 0.8)
                    .unwrap()
                    .per_arm
            )
        );
        assert!(r.arms[0].ctr_lift.is_none() && r.arms[0].dwell_test.is_none());
        assert_eq!(r.days_running, 14.0);
    }

    #[test]
    fn srm_biased_input_warns_and_is_not_trusted() {
        let r = Report::new(
            &def(&[1.0, 1.0]),
            &[
                data("control", 20_000, 20_000, 1_000, 1000.0),
                data("t1", 21_000, 21_000, 1_050, 1000.0),
            ],
            &opts(14),
        )
        .unwrap();
        assert!(r.srm.as_ref().unwrap().flagged());
        assert!(
            r.warnings
                .iter()
                .any(|w| matches!(w, ExperimentWarning::SampleRatioMismatch { .. }))
        );
        assert!(r.decision.starts_with("do not trust"), "{}", r.decision);
        // the same counts are fine under 20:21 weights
        let ok = Report::new(
            &def(&[20.0, 21.0]),
            &[
                data("control", 20_000, 20_000, 1_000, 1000.0),
                data("t1", 21_000, 21_000, 1_050, 1000.0),
            ],
            &opts(14),
        )
        .unwrap();
        assert!(!ok.srm.as_ref().unwrap().flagged());
    }

    #[test]
    fn short_experiment_warns() {
        let r = Report::new(
            &def(&[1.0, 1.0]),
            &[
                data("control", 20_000, 20_000, 1_000, 1000.0),
                data("t1", 20_000, 22_000, 1_000, 1000.0),
            ],
            &opts(3),
        )
        .unwrap();
        assert_eq!(r.days_running, 3.0);
        assert!(
            r.warnings
                .iter()
                .any(|w| matches!(w, ExperimentWarning::ShorterThanAWeek { .. }))
        );
        assert!(r.decision.starts_with("leading"), "{}", r.decision);
    }

    #[test]
    fn clear_winner_is_significant() {
        let r = Report::new(
            &def(&[1.0, 1.0, 1.0]),
            &[
                data("control", 30_000, 30_000, 1_500, 1000.0),
                data("t1", 30_000, 30_200, 1_510, 1000.0),
                data("t2", 30_000, 33_000, 1_800, 1100.0),
            ],
            &opts(14),
        )
        .unwrap();
        let w = &r.arms[2];
        assert!(w.ctr_p_value.unwrap() < 1e-6);
        assert!(w.conversion_p_value.unwrap() < 1e-3);
        assert!(w.ctr_lift.unwrap().ci.low > 0.0);
        assert!(w.conversion_lift.unwrap().ci.low > 0.0);
        assert!(w.dwell_test.unwrap().ci.low > 0.0);
        assert!(r.arms[1].ctr_lift.unwrap().ci.contains(0.0));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(r.decision.starts_with("ship `t2`"), "{}", r.decision);

        let table = r.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("arm "));
        assert!(lines[3].starts_with("control "));
        assert!(table.contains("decision: ship `t2`"));
        // right-aligned columns: every arm row has its "users" column end at the same place
        let end_of_users = |l: &str| l.find("30000").map(|i| i + 5);
        assert_eq!(end_of_users(lines[3]), end_of_users(lines[5]));

        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        // serde_json's default float parsing may be off by an ulp, so compare loosely
        assert_eq!(back.decision, r.decision);
        assert_eq!(back.arms.len(), 3);
        assert_eq!(back.srm.as_ref().unwrap().df, 2);
        let (a, b) = (r.arms[2].ctr_lift.unwrap(), back.arms[2].ctr_lift.unwrap());
        assert!((a.ci.low - b.ci.low).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_inputs() {
        let d = def(&[1.0, 1.0]);
        let c = data("control", 1000, 100, 10, 1000.0);
        let mut t = data("t1", 1000, 100, 10, 1000.0);
        assert!(Report::new(&d, std::slice::from_ref(&c), &opts(14)).is_err());
        let mut wrong = t.clone();
        wrong.name = "t9".into();
        assert!(
            Report::new(&d, &[c.clone(), wrong], &opts(14))
                .unwrap_err()
                .to_string()
                .contains("`t1`")
        );
        t.clicks = t.impressions + 1;
        assert!(
            Report::new(&d, &[c.clone(), t.clone()], &opts(14))
                .unwrap_err()
                .to_string()
                .contains("clicks")
        );
        t.clicks = 100;
        assert!(Report::new(&d, &[c.clone(), t.clone()], &opts(-1)).is_err());
        let mut bad = opts(14);
        bad.alpha = 0.0;
        assert!(Report::new(&d, &[c.clone(), t.clone()], &bad).is_err());
        // no clicks anywhere: rates and intervals still, comparisons and sample size absent
        let (mut c0, mut t0) = (c, t);
        c0.clicks = 0;
        t0.clicks = 0;
        let r = Report::new(&d, &[c0, t0], &opts(14)).unwrap();
        assert_eq!(r.arms[1].ctr_p_value, None);
        assert_eq!(r.required_per_arm, None);
    }
}
