//! The report of a live experiment from the event log: [`aggregate`], [`arm_data`] and [`full_report`]
//! (the per-arm analysis plus allocation, bandit state, segments, the timeline and CUPED).

use std::collections::BTreeMap;

use serde::Serialize;
use tastebud_store::EventLog;

use super::DAY;
use super::aggregate::{Aggregate, ModelView};
use super::error::LiveError;
use super::experiments::Experiments;
use crate::assign::{Allocation, ExperimentDef, Status};
use crate::bandit::allocation_policy;
use crate::report::{ArmData, Report, ReportOptions};
use crate::stats::{
    Cuped, Interval, MeanTest, Msprt, Proportion, ratio_ztest, variance_reduction,
    welch_t_test_samples,
};

/// Aggregates the log's events of experiment `def` per arm, per segment and per day. A user is `new`
/// when the served model (`model`) never saw them in training and their first logged event is not before
/// the experiment's start. A view whose dwell is under `bounce_ms` milliseconds is a bounce. With
/// `segment_by = Some(key)` the events are also grouped by the value of the attribute `key` they carry
/// (`attrs`, echoed by the client; `(none)` without it), as segments named `key=value`.
///
/// Without `segment_by`, the aggregate is kept between calls (per experiment, in `experiments`) and a
/// call reads only the events logged since the previous one; it starts over when the experiment's start
/// or arms or the served model's version change, and after a user's data is deleted
/// ([`Experiments::forget_reports`]). With `segment_by` (an analyst's question, any attribute) the whole
/// log is read. `bounce_ms` is expected not to change between calls (a running aggregate keeps the
/// bounces it counted).
///
/// # Errors
///
/// [`LiveError::Store`]: a log read error.
pub fn aggregate<M>(
    experiments: &Experiments<M>,
    log: &dyn EventLog,
    def: &ExperimentDef,
    model: ModelView<'_>,
    bounce_ms: f64,
    now: i64,
    segment_by: Option<&str>,
) -> Result<Aggregate, LiveError> {
    Ok(experiments
        .runs
        .aggregate(log, def, model, bounce_ms, now, segment_by)?)
}

/// Aggregates the log's events of experiment `def` per arm (see [`aggregate`]).
///
/// # Errors
///
/// [`LiveError::Store`]: a log read error.
pub fn arm_data<M>(
    experiments: &Experiments<M>,
    log: &dyn EventLog,
    def: &ExperimentDef,
    model: ModelView<'_>,
    bounce_ms: f64,
) -> Result<Vec<ArmData>, LiveError> {
    // The totals do not depend on the time of the report (only the timeline does): the start gives the
    // shortest timeline.
    Ok(aggregate(
        experiments,
        log,
        def,
        model,
        bounce_ms,
        def.start_unix,
        None,
    )?
    .arms)
}

/// One arm on one day (cumulative since the start).
#[derive(Debug, Clone, Serialize)]
pub struct ArmDay {
    /// Arm name.
    pub arm: String,
    /// Users so far.
    pub users: u64,
    /// Items shown so far.
    pub impressions: u64,
    /// Clicks so far.
    pub clicks: u64,
    /// CTR so far, with its Wilson interval (`None` before the first impression).
    pub ctr: Option<f64>,
    /// The interval's bounds.
    pub ctr_ci: Option<Interval>,
    /// Two-proportion z-test p-value against the control so far (what a naive daily look reads).
    pub p_value: Option<f64>,
    /// Always-valid mSPRT p-value against the control after this day's look.
    pub sequential_p: Option<f64>,
}

/// The report's values at the end of one day.
#[derive(Debug, Clone, Serialize)]
pub struct DayPoint {
    /// Day number, 1 = the first 24 hours.
    pub day: usize,
    /// Unix time of the day's end.
    pub end_unix: i64,
    /// Per arm.
    pub arms: Vec<ArmDay>,
}

/// A segment's report, or why there is none (an arm without users or impressions in it).
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// Users in the segment, all arms.
    pub users: u64,
    /// The report on the segment's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// Why `report` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// CUPED on clicks per user: the pre-period covariate is each user's clicks before the experiment's
/// start (zero for users without any), `θ` fitted on all arms pooled.
#[derive(Debug, Clone, Serialize)]
pub struct CupedReport {
    /// The metric adjusted.
    pub metric: &'static str,
    /// The fitted slope.
    pub theta: f64,
    /// Share of the metric's variance removed, `1 - var(Y') / var(Y)`.
    pub variance_reduction: f64,
    /// Per arm, in the definition's order.
    pub arms: Vec<CupedArm>,
}

/// One arm under CUPED.
#[derive(Debug, Clone, Serialize)]
pub struct CupedArm {
    /// Arm name.
    pub arm: String,
    /// Users.
    pub users: usize,
    /// Mean clicks per user.
    pub mean: f64,
    /// Mean of the adjusted values.
    pub adjusted_mean: f64,
    /// Welch test against the control on the raw values.
    pub test: Option<MeanTest>,
    /// Welch test against the control on the adjusted values (narrower when the covariate predicts).
    pub adjusted_test: Option<MeanTest>,
}

fn cuped(def: &ExperimentDef, per_user: &[Vec<(f64, f64)>], alpha: f64) -> Option<CupedReport> {
    if per_user.iter().any(|a| a.len() < 2) {
        return None;
    }
    let (y, x): (Vec<f64>, Vec<f64>) = per_user.iter().flatten().copied().unzip();
    let fit = Cuped::fit(&y, &x).ok()?;
    let adjusted: Vec<Vec<f64>> = per_user
        .iter()
        .map(|a| {
            let (y, x): (Vec<f64>, Vec<f64>) = a.iter().copied().unzip();
            fit.adjust(&y, &x).ok()
        })
        .collect::<Option<_>>()?;
    let all_adjusted: Vec<f64> = adjusted.iter().flatten().copied().collect();
    let vr = variance_reduction(&y, &all_adjusted).ok()?;
    let raw: Vec<Vec<f64>> = per_user
        .iter()
        .map(|a| a.iter().map(|p| p.0).collect())
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let conf = 1.0 - alpha;
    Some(CupedReport {
        metric: "clicks per user",
        theta: fit.theta,
        variance_reduction: vr,
        arms: def
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| CupedArm {
                arm: a.name.clone(),
                users: raw[i].len(),
                mean: mean(&raw[i]),
                adjusted_mean: mean(&adjusted[i]),
                test: (i > 0)
                    .then(|| welch_t_test_samples(&raw[0], &raw[i], conf).ok())
                    .flatten(),
                adjusted_test: (i > 0)
                    .then(|| welch_t_test_samples(&adjusted[0], &adjusted[i], conf).ok())
                    .flatten(),
            })
            .collect(),
    })
}

/// Whether a report has its analysis yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataState {
    /// Every arm has users and impressions: the analysis is in the report.
    Ready,
    /// Some arm has no users or no impressions yet: no analysis, see [`FullReport::no_data`].
    NoData,
}

/// One arm's counts so far, in a report without data.
#[derive(Debug, Clone, Serialize)]
pub struct ArmCounts {
    /// Arm name.
    pub arm: String,
    /// Users so far.
    pub users: u64,
    /// Items shown so far.
    pub impressions: u64,
    /// Clicks so far.
    pub clicks: u64,
}

/// What a report without data says: which arms wait for users or impressions.
#[derive(Debug, Clone, Serialize)]
pub struct NoData {
    /// Experiment id.
    pub experiment: String,
    /// A sentence naming the arms without data.
    pub message: String,
    /// Each arm's counts so far, in the definition's order.
    pub arms: Vec<ArmCounts>,
}

/// The full report: the per-arm analysis plus allocation, bandit state, segments and the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct FullReport {
    /// `ready`, or `no_data` before every arm has users and impressions.
    pub data: DataState,
    /// The analysis over all the experiment's events (`None` while `data` is `no_data`).
    #[serde(flatten)]
    pub report: Option<Report>,
    /// What is missing, while `data` is `no_data`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_data: Option<NoData>,
    /// Running or stopped.
    pub status: Status,
    /// How traffic is allocated.
    pub allocation: Allocation,
    /// For bandit allocation: each arm's probability of the next request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandit_probabilities: Option<Vec<f64>>,
    /// New vs returning users.
    pub segments: BTreeMap<String, SegmentReport>,
    /// Cumulative values per day since the start.
    pub timeline: Vec<DayPoint>,
    /// CUPED on clicks per user (`None` without two users per arm or any pre-period variation).
    pub cuped: Option<CupedReport>,
}

fn timeline(def: &ExperimentDef, days: &[Vec<ArmData>], opts: &ReportOptions) -> Vec<DayPoint> {
    let conf = 1.0 - opts.alpha;
    let mut tests: Vec<Option<Msprt>> = def.arms.iter().map(|_| None).collect();
    days.iter()
        .enumerate()
        .map(|(i, arms)| {
            let control_users = arms[0].ctr_per_user;
            let arms = arms
                .iter()
                .enumerate()
                .map(|(a, d)| {
                    let p = Proportion::new(d.clicks, d.impressions).ok();
                    // The CTR test per user (delta method), as the report's.
                    let test = (a > 0)
                        .then_some(())
                        .and(control_users.zip(d.ctr_per_user))
                        .and_then(|(c, t)| Some((c, ratio_ztest(&c, &t, conf).ok()?)));
                    let p_value = test.map(|(_, t)| t.p_value);
                    let sequential_p = test.and_then(|(c, t)| {
                        let tau2 = (opts.mde * c.ratio()).powi(2);
                        if tau2.is_nan() || tau2 <= 0.0 {
                            return None;
                        }
                        let m = tests[a].get_or_insert_with(|| {
                            Msprt::new(tau2, opts.alpha).expect("tau2 > 0, alpha checked")
                        });
                        m.observe(t.difference, t.std_error * t.std_error)
                            .ok()
                            .map(|l| l.p_value)
                    });
                    ArmDay {
                        arm: d.name.clone(),
                        users: d.users,
                        impressions: d.impressions,
                        clicks: d.clicks,
                        ctr: p.filter(|p| p.trials > 0).map(|p| p.rate()),
                        ctr_ci: p
                            .filter(|p| p.trials > 0)
                            .and_then(|p| p.wilson_ci(conf).ok()),
                        p_value,
                        sequential_p,
                    }
                })
                .collect();
            DayPoint {
                day: i + 1,
                end_unix: def.start_unix + (i as i64 + 1) * DAY,
                arms,
            }
        })
        .collect()
}

/// `Some` when an arm of `def` has no users or no impressions in `arms` yet (no analysis is possible).
fn missing_data(def: &ExperimentDef, arms: &[ArmData]) -> Option<NoData> {
    let counts: Vec<ArmCounts> = def
        .arms
        .iter()
        .map(|a| {
            let d = arms.iter().find(|d| d.name == a.name);
            ArmCounts {
                arm: a.name.clone(),
                users: d.map_or(0, |d| d.users),
                impressions: d.map_or(0, |d| d.impressions),
                clicks: d.map_or(0, |d| d.clicks),
            }
        })
        .collect();
    let waiting: Vec<&str> = counts
        .iter()
        .filter(|c| c.users == 0 || c.impressions == 0)
        .map(|c| c.arm.as_str())
        .collect();
    if waiting.is_empty() {
        return None;
    }
    Some(NoData {
        experiment: def.id.clone(),
        message: format!(
            "no data yet: no impressions logged for arm{} {}; the analysis appears once every arm has \
             users and impressions",
            if waiting.len() == 1 { "" } else { "s" },
            waiting
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        arms: counts,
    })
}

/// Builds the full report of `def` from the log as of `opts.now_unix` (see [`aggregate`] for `model`,
/// `bounce_ms` and `segment_by`).
///
/// # Errors
///
/// [`LiveError::Store`]: a log read error; [`LiveError::Invalid`]: options or data the analysis rejects.
/// An arm without users or impressions yet is not an error: the report then has `data = no_data` and no
/// analysis.
pub fn full_report<M>(
    experiments: &Experiments<M>,
    log: &dyn EventLog,
    def: &ExperimentDef,
    model: ModelView<'_>,
    bounce_ms: f64,
    opts: &ReportOptions,
    segment_by: Option<&str>,
) -> Result<FullReport, LiveError> {
    let agg = aggregate(
        experiments,
        log,
        def,
        model,
        bounce_ms,
        opts.now_unix,
        segment_by,
    )?;
    let no_data = missing_data(def, &agg.arms);
    let report = match no_data {
        // The options are still checked: a bad `alpha` is the caller's error with or without data.
        Some(_) => {
            opts.validate()
                .map_err(|e| LiveError::Invalid(e.to_string()))?;
            None
        }
        None => {
            Some(Report::new(def, &agg.arms, opts).map_err(|e| LiveError::Invalid(e.to_string()))?)
        }
    };
    let segments = agg
        .segments
        .iter()
        .map(|(name, arms)| {
            let users = arms.iter().map(|a| a.users).sum();
            let analysis = match missing_data(def, arms) {
                Some(nd) => Err(nd.message),
                None => Report::new(def, arms, opts).map_err(|e| e.to_string()),
            };
            let seg = match analysis {
                Ok(r) => SegmentReport {
                    users,
                    report: Some(r),
                    note: None,
                },
                Err(note) => SegmentReport {
                    users,
                    report: None,
                    note: Some(note),
                },
            };
            (name.clone(), seg)
        })
        .collect();
    let bandit_probabilities = def.allocation.is_bandit().then(|| {
        let n = def.arms.len();
        let (shown, clicks) = experiments
            .bandit_counts(&def.id)
            .filter(|(s, _)| s.len() == n)
            .unwrap_or((vec![0; n], vec![0; n]));
        allocation_policy(&def.allocation, &shown, &clicks)
            .ok()
            .flatten()
            .and_then(|p| p.probabilities(None).ok())
            .unwrap_or_default()
    });
    Ok(FullReport {
        data: if report.is_some() {
            DataState::Ready
        } else {
            DataState::NoData
        },
        no_data,
        cuped: cuped(def, &agg.per_user, opts.alpha),
        timeline: timeline(def, &agg.days, opts),
        report,
        status: def.status,
        allocation: def.allocation,
        bandit_probabilities,
        segments,
    })
}
