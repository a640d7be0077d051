//! Revenue per arm: what users spent, with a test that copes with heavy tails.
//!
//! Revenue per user is heavy-tailed: most users buy nothing, and a few buyers spend a hundred times the
//! median. A plain Welch test on such data is valid only at large samples, and one whale in one arm can
//! decide it. [`RevenueReport::new`] therefore:
//!
//! 1. **winsorises** per-user revenue at the `winsor_quantile` (e.g. `0.99`) of the *buyers'* revenue,
//!    pooled over the arms (one cap for every arm, so the cap does not depend on the assignment); users
//!    above the cap count as the cap;
//! 2. applies **CUPED** when every arm has pre-period revenue (each user's spend before the experiment's
//!    start) that varies: `θ` is fitted on the pooled winsorised values against the winsorised
//!    pre-period values ([`Cuped`]);
//! 3. runs **Welch's t-test** ([`welch_t_test_samples`]) of each treatment against the control on the
//!    resulting per-user values, with the relative lift of their means (delta method, [`mean_lift`]).
//!
//! The raw revenue per user (mean with its Student-t interval) and per impression (delta method over
//! users, [`RatioSums`]) are reported beside the test. The planned sample size is the number of users per
//! arm for the Welch test to detect a relative lift `revenue_mde` at the planned power: the lift is taken
//! to scale every purchase, so on the winsorised mean it shows as `mde · a`, where `a` (the attenuation,
//! at most 1 for a positive lift) is what the control's users, each scaled by `1 + mde` and capped again,
//! add to the winsorised mean, relative to `mde` times that mean. Scaling every purchase scales the
//! spread too, so the standard deviation is the root mean of the control's variance (of the tested,
//! winsorised and adjusted values) and the variance of its users scaled and capped again.
//!
//! The simulator (`tastebud-sim`, `revenue`) checks the test on lognormal purchase amounts: A/A tests
//! reject at the nominal rate and an A/B test with a known lift is detected at the planned power.

use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, Result, ensure, ensure_finite, invalid};
use crate::stats::dist::t_isf;
use crate::stats::{
    Cuped, Interval, Lift, MeanTest, RatioSums, SummaryStats, mean_lift, norm_isf, ratio_lift,
    sample_size_means, variance_reduction, welch_t_test_samples,
};

/// One arm's revenue: what each of its users spent in the experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RevenueData {
    /// Purchases that carried an amount.
    pub purchases: u64,
    /// Each user's revenue in the experiment (zero for users who bought nothing), one entry per user.
    pub per_user: Vec<f64>,
    /// Each user's revenue before the experiment's start, in the order of `per_user` (the CUPED
    /// covariate); empty when there is no pre-period data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_period: Vec<f64>,
    /// Per-user sums of revenue and items shown, for revenue per impression (delta method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_impression: Option<RatioSums>,
}

impl RevenueData {
    /// The arm's total revenue.
    pub fn total(&self) -> f64 {
        self.per_user.iter().sum()
    }
}

/// How revenue is tested.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RevenueOptions {
    /// Significance level; intervals are at `1 - alpha`.
    pub alpha: f64,
    /// Planned power of the sample-size line.
    pub power: f64,
    /// Planned minimum detectable effect on revenue per user, relative (`0.05` for +5 %).
    pub mde: f64,
    /// Winsorise per-user revenue at this quantile of the buyers' revenue, in `(0, 1]` (`1`: no cap).
    pub winsor_quantile: f64,
}

impl RevenueOptions {
    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] naming the option.
    pub fn validate(&self) -> Result<()> {
        crate::error::ensure_unit_open(self.alpha, "alpha")?;
        crate::error::ensure_unit_open(self.power, "power")?;
        ensure(
            self.mde.is_finite() && self.mde != 0.0,
            "revenue_mde",
            "must be finite and non-zero",
        )?;
        ensure(
            self.winsor_quantile > 0.0 && self.winsor_quantile <= 1.0,
            "winsor_quantile",
            "must be in (0, 1]",
        )
    }
}

/// A point estimate with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RevenueEstimate {
    /// Point estimate.
    pub value: f64,
    /// Confidence interval at `1 - alpha`.
    pub ci: Interval,
}

/// One arm's revenue results; comparisons are `None` for the control and where the data carry no
/// information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueArm {
    /// Arm name.
    pub name: String,
    /// Users.
    pub users: u64,
    /// Purchases with an amount.
    pub purchases: u64,
    /// Total revenue (not winsorised).
    pub revenue: f64,
    /// Mean revenue per user (not winsorised) with its Student-t interval; `None` under two users.
    pub per_user: Option<RevenueEstimate>,
    /// Revenue per item shown (not winsorised) with its delta-method interval over users; `None` without
    /// impressions.
    pub per_impression: Option<RevenueEstimate>,
    /// Users whose revenue was capped.
    pub capped_users: u64,
    /// Mean of the tested per-user values (winsorised, CUPED-adjusted when CUPED applies).
    pub tested_mean: Option<f64>,
    /// Relative lift of the tested mean over the control's, with its delta-method interval.
    pub lift: Option<Lift>,
    /// Welch's test of the tested values against the control (difference, interval, p-value).
    pub test: Option<MeanTest>,
    /// Relative lift of revenue per impression (raw) over the control's.
    pub per_impression_lift: Option<Lift>,
}

/// CUPED as applied to revenue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RevenueCuped {
    /// The fitted slope.
    pub theta: f64,
    /// Share of the (winsorised) variance removed.
    pub variance_reduction: f64,
}

/// The revenue section of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenueReport {
    /// The quantile of the buyers' revenue at which users are capped.
    pub winsor_quantile: f64,
    /// The cap (`None` without buyers or when `winsor_quantile` is 1).
    pub cap: Option<f64>,
    /// CUPED, when every arm has pre-period revenue that varies.
    pub cuped: Option<RevenueCuped>,
    /// What the test is, in words (`"Welch t-test per user, winsorised at the 99th percentile of
    /// buyers, CUPED on pre-period revenue"`).
    pub method: String,
    /// Per arm, the control first.
    pub arms: Vec<RevenueArm>,
    /// The planned relative MDE on revenue per user.
    pub mde: f64,
    /// Users per arm to detect the MDE at the planned power (`None` when the control has no revenue or
    /// no variance).
    pub required_users_per_arm: Option<u64>,
    /// How much of a relative lift of `mde` shows on the winsorised mean (`a` in the module docs).
    pub attenuation: Option<f64>,
}

/// The `q`-quantile of `xs` (linear interpolation between order statistics, NumPy's default); `None` for
/// no values.
///
/// ```
/// use tastebud_experiment::revenue::quantile;
/// assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
/// assert_eq!(quantile(&[5.0], 0.99), Some(5.0));
/// ```
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// The winsorising cap of per-user revenues: the `q`-quantile of the positive values pooled over `arms`
/// (`None` for `q >= 1` or without a positive value).
pub fn winsor_cap<'a>(arms: impl IntoIterator<Item = &'a [f64]>, q: f64) -> Option<f64> {
    if q >= 1.0 {
        return None;
    }
    let buyers: Vec<f64> = arms
        .into_iter()
        .flatten()
        .copied()
        .filter(|&x| x > 0.0)
        .collect();
    quantile(&buyers, q)
}

fn cap_all(xs: &[f64], cap: Option<f64>) -> Vec<f64> {
    match cap {
        Some(c) => xs.iter().map(|&x| x.min(c)).collect(),
        None => xs.to_vec(),
    }
}

fn none_if_degenerate<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ExperimentError::Degenerate(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// CUPED on the winsorised values when every arm has pre-period data that varies: the adjusted values
/// per arm and the fit.
fn apply_cuped(
    capped: &[Vec<f64>],
    arms: &[&RevenueData],
    q: f64,
) -> Result<Option<(Vec<Vec<f64>>, RevenueCuped)>> {
    if arms
        .iter()
        .any(|a| a.pre_period.is_empty() || a.per_user.len() < 2)
    {
        return Ok(None);
    }
    let pre_cap = winsor_cap(arms.iter().map(|a| a.pre_period.as_slice()), q);
    let pre: Vec<Vec<f64>> = arms
        .iter()
        .map(|a| cap_all(&a.pre_period, pre_cap))
        .collect();
    let y: Vec<f64> = capped.iter().flatten().copied().collect();
    let x: Vec<f64> = pre.iter().flatten().copied().collect();
    let Some(fit) = none_if_degenerate(Cuped::fit(&y, &x))? else {
        return Ok(None);
    };
    let adjusted = capped
        .iter()
        .zip(&pre)
        .map(|(y, x)| fit.adjust(y, x))
        .collect::<Result<Vec<_>>>()?;
    let all: Vec<f64> = adjusted.iter().flatten().copied().collect();
    let Some(vr) = none_if_degenerate(variance_reduction(&y, &all))? else {
        return Ok(None);
    };
    Ok(Some((
        adjusted,
        RevenueCuped {
            theta: fit.theta,
            variance_reduction: vr,
        },
    )))
}

fn ordinal(q: f64) -> String {
    let p = 100.0 * q;
    let s = if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    };
    let suffix = match s.as_str() {
        x if x.ends_with("11") || x.ends_with("12") || x.ends_with("13") => "th",
        x if x.ends_with('1') => "st",
        x if x.ends_with('2') => "nd",
        x if x.ends_with('3') => "rd",
        _ => "th",
    };
    format!("{s}{suffix}")
}

impl RevenueReport {
    /// Analyses revenue; `arms` is `(name, data)` per arm, the control first.
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] for invalid options, fewer than two arms, revenues that are not
    /// finite or negative, or pre-period data whose length differs from `per_user`.
    pub fn new(arms: &[(&str, &RevenueData)], opts: &RevenueOptions) -> Result<Self> {
        opts.validate()?;
        ensure(arms.len() >= 2, "arms", "need a control and a treatment")?;
        for (name, d) in arms {
            ensure_finite(&d.per_user, "revenue")?;
            ensure_finite(&d.pre_period, "pre-period revenue")?;
            if d.per_user.iter().chain(&d.pre_period).any(|&x| x < 0.0) {
                return Err(invalid(
                    "revenue",
                    format!("arm `{name}`: a user's revenue is negative"),
                ));
            }
            if !d.pre_period.is_empty() && d.pre_period.len() != d.per_user.len() {
                return Err(ExperimentError::LengthMismatch {
                    name: "pre_period",
                    expected: d.per_user.len(),
                    got: d.pre_period.len(),
                });
            }
        }
        let confidence = 1.0 - opts.alpha;
        let data: Vec<&RevenueData> = arms.iter().map(|(_, d)| *d).collect();
        let cap = winsor_cap(
            data.iter().map(|d| d.per_user.as_slice()),
            opts.winsor_quantile,
        );
        let capped: Vec<Vec<f64>> = data.iter().map(|d| cap_all(&d.per_user, cap)).collect();
        let cuped = apply_cuped(&capped, &data, opts.winsor_quantile)?;
        let tested: &[Vec<f64>] = cuped.as_ref().map_or(&capped, |(adj, _)| adj);
        let stats: Vec<Option<SummaryStats>> = tested
            .iter()
            .map(|v| {
                (v.len() >= 2)
                    .then(|| SummaryStats::from_samples(v))
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let z = norm_isf(opts.alpha / 2.0);
        let mut out = Vec::with_capacity(arms.len());
        for (i, (name, d)) in arms.iter().enumerate() {
            let raw = (d.per_user.len() >= 2)
                .then(|| SummaryStats::from_samples(&d.per_user))
                .transpose()?;
            let per_user = raw.map(|s| {
                let half = t_isf(opts.alpha / 2.0, s.n as f64 - 1.0) * s.variance_of_mean().sqrt();
                RevenueEstimate {
                    value: s.mean,
                    ci: Interval::new(s.mean - half, s.mean + half),
                }
            });
            let per_impression = d.per_impression.filter(|s| s.y > 0.0).map(|s| {
                let r = s.ratio();
                let half = s.variance_of_ratio().map_or(f64::NAN, |v| z * v.sqrt());
                RevenueEstimate {
                    value: r,
                    ci: Interval::new(r - half, r + half),
                }
            });
            let (lift, test, per_impression_lift) = if i == 0 {
                (None, None, None)
            } else {
                let (lift, test) = match (&stats[0], &stats[i]) {
                    (Some(c), Some(t)) => (
                        none_if_degenerate(mean_lift(c, t, confidence))?,
                        none_if_degenerate(welch_t_test_samples(
                            &tested[0], &tested[i], confidence,
                        ))?,
                    ),
                    _ => (None, None),
                };
                let pil = match (data[0].per_impression, d.per_impression) {
                    (Some(c), Some(t))
                        if c.users >= 2 && t.users >= 2 && c.y > 0.0 && t.y > 0.0 =>
                    {
                        none_if_degenerate(ratio_lift(&c, &t, confidence)).unwrap_or(None)
                    }
                    _ => None,
                };
                (lift, test, pil)
            };
            out.push(RevenueArm {
                name: (*name).to_owned(),
                users: d.per_user.len() as u64,
                purchases: d.purchases,
                revenue: d.total(),
                per_user,
                per_impression,
                capped_users: cap.map_or(0, |c| d.per_user.iter().filter(|&&x| x > c).count())
                    as u64,
                tested_mean: (!tested[i].is_empty()).then(|| mean(&tested[i])),
                lift,
                test,
                per_impression_lift,
            });
        }
        // The planned sample size: a relative lift scales every purchase; on the winsorised mean it shows
        // as mde · a, with a from the control's users scaled by 1 + mde and capped again.
        let capped_sum: f64 = capped[0].iter().sum();
        let lifted: f64 = cap_all(
            &data[0]
                .per_user
                .iter()
                .map(|x| x * (1.0 + opts.mde))
                .collect::<Vec<_>>(),
            cap,
        )
        .iter()
        .sum();
        let attenuation =
            (capped_sum > 0.0).then(|| (lifted - capped_sum) / (opts.mde * capped_sum));
        // Scaling every purchase scales the spread too: the treatment's variance is that of the control's
        // users scaled and capped again (times what CUPED removes), and the plan uses the mean of the two.
        let required_users_per_arm = match (&stats[0], attenuation) {
            (Some(s), Some(a)) if s.variance > 0.0 && capped[0].len() >= 2 => {
                let var = |v: &[f64]| {
                    let m = mean(v);
                    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
                };
                let raw_var = var(&capped[0]);
                let scaled: Vec<f64> = data[0]
                    .per_user
                    .iter()
                    .map(|x| x * (1.0 + opts.mde))
                    .collect();
                let treated_var = var(&cap_all(&scaled, cap)) * s.variance / raw_var;
                let sd = ((s.variance + treated_var) / 2.0).sqrt();
                sample_size_means(sd, opts.mde * a * mean(&capped[0]), opts.alpha, opts.power)
                    .ok()
                    .map(|n| n.per_arm)
            }
            _ => None,
        };
        let method = format!(
            "Welch t-test per user{}{}",
            match cap {
                Some(c) => format!(
                    ", winsorised at the {} percentile of buyers ({c:.2})",
                    ordinal(opts.winsor_quantile)
                ),
                None => String::new(),
            },
            if cuped.is_some() {
                ", CUPED on pre-period revenue"
            } else {
                ""
            }
        );
        Ok(Self {
            winsor_quantile: opts.winsor_quantile,
            cap,
            cuped: cuped.map(|(_, c)| c),
            method,
            arms: out,
            mde: opts.mde,
            required_users_per_arm,
            attenuation,
        })
    }

    /// Plain-text lines: one per arm, then the method and the planned sample size.
    pub fn to_table(&self) -> String {
        let est = |e: &Option<RevenueEstimate>| {
            e.map_or("-".to_owned(), |e| {
                format!("{:.4} [{:.4}, {:.4}]", e.value, e.ci.low, e.ci.high)
            })
        };
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
        let header = [
            "arm",
            "users",
            "purchases",
            "revenue",
            "per user",
            "per impression",
            "lift",
            "p",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
        for a in &self.arms {
            rows.push(vec![
                a.name.clone(),
                a.users.to_string(),
                a.purchases.to_string(),
                format!("{:.2}", a.revenue),
                est(&a.per_user),
                est(&a.per_impression),
                lift(&a.lift),
                a.test
                    .map_or("-".to_owned(), |t| format!("{:.4}", t.p_value)),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::from("revenue:\n");
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| {
                    let pad = " ".repeat(w - cell.chars().count());
                    if c == 0 {
                        format!("{cell}{pad}")
                    } else {
                        format!("{pad}{cell}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str(&format!("revenue test: {}\n", self.method));
        match self.required_users_per_arm {
            Some(n) => out.push_str(&format!(
                "planned users per arm for a {:+.1}% revenue lift: {n}\n",
                100.0 * self.mde
            )),
            None => out.push_str("planned users per arm for revenue: n/a\n"),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(per_user: Vec<f64>) -> RevenueData {
        RevenueData {
            purchases: per_user.iter().filter(|&&x| x > 0.0).count() as u64,
            per_user,
            pre_period: Vec::new(),
            per_impression: None,
        }
    }

    fn opts(q: f64) -> RevenueOptions {
        RevenueOptions {
            alpha: 0.05,
            power: 0.8,
            mde: 0.05,
            winsor_quantile: q,
        }
    }

    #[test]
    fn quantile_and_cap() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 1.0), Some(3.0));
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.0), Some(1.0));
        // numpy.quantile([1, 2, 3, 4, 10], 0.9) == 7.6
        assert!((quantile(&[10.0, 1.0, 2.0, 3.0, 4.0], 0.9).unwrap() - 7.6).abs() < 1e-12);
        // zeros (non-buyers) do not move the cap
        let a = [0.0, 0.0, 0.0, 1.0, 2.0];
        let b = [0.0, 3.0, 4.0, 10.0];
        let cap = winsor_cap([&a[..], &b[..]], 0.9).unwrap();
        assert!((cap - 7.6).abs() < 1e-12);
        assert_eq!(winsor_cap([&a[..]], 1.0), None);
        assert_eq!(winsor_cap([&[0.0, 0.0][..]], 0.9), None);
    }

    #[test]
    fn without_cap_or_cuped_the_test_is_welch_on_the_raw_values() {
        let c = arm(vec![0.0, 5.0, 0.0, 12.0, 3.0, 0.0, 7.0, 1.0]);
        let t = arm(vec![2.0, 9.0, 0.0, 15.0, 4.0, 0.0, 11.0, 6.0]);
        let r = RevenueReport::new(&[("control", &c), ("t", &t)], &opts(1.0)).unwrap();
        assert_eq!(r.cap, None);
        assert!(r.cuped.is_none());
        assert_eq!(r.method, "Welch t-test per user");
        let expected = welch_t_test_samples(&c.per_user, &t.per_user, 0.95).unwrap();
        assert_eq!(r.arms[1].test, Some(expected));
        assert_eq!(r.arms[1].revenue, 47.0);
        assert!((r.arms[0].per_user.unwrap().value - 28.0 / 8.0).abs() < 1e-12);
        assert!((r.attenuation.unwrap() - 1.0).abs() < 1e-9);
        // Without a cap the treatment's spread is the control's times 1.05.
        let var = SummaryStats::from_samples(&c.per_user).unwrap().variance;
        let sd = (var * (1.0 + 1.05f64.powi(2)) / 2.0).sqrt();
        assert_eq!(
            r.required_users_per_arm,
            Some(
                sample_size_means(sd, 0.05 * 3.5, 0.05, 0.8)
                    .unwrap()
                    .per_arm
            )
        );
        assert!(r.arms[0].test.is_none() && r.arms[0].lift.is_none());
        assert!(r.to_table().contains("planned users per arm"));
    }

    #[test]
    fn a_whale_is_capped() {
        let mut c: Vec<f64> = (0..200).map(|i| f64::from(i % 10)).collect();
        let mut t = c.clone();
        t[0] = 1e6; // one whale in the treatment
        c[0] = 0.0;
        let (c, t) = (arm(c), arm(t));
        let raw = RevenueReport::new(&[("control", &c), ("t", &t)], &opts(1.0)).unwrap();
        let w = RevenueReport::new(&[("control", &c), ("t", &t)], &opts(0.99)).unwrap();
        let cap = w.cap.unwrap();
        assert!(cap < 10.0, "{cap}");
        assert_eq!(w.arms[1].capped_users, 1);
        // Without the cap the whale makes a +2800 % "lift"; capped, the lift is about zero.
        assert!(raw.arms[1].lift.unwrap().lift > 10.0);
        assert!(w.arms[1].lift.unwrap().lift.abs() < 0.05);
        assert!(w.method.contains("99th percentile"), "{}", w.method);
        // the raw revenue is still reported as it is
        assert_eq!(w.arms[1].revenue, t.total());
    }

    #[test]
    fn cuped_narrows_the_interval_when_pre_period_predicts() {
        let n = 400;
        let spend = |i: usize| ((i * 7919) % 97) as f64;
        let mk = |shift: f64, off: usize| RevenueData {
            purchases: n as u64,
            per_user: (0..n)
                .map(|i| spend(i + off) + shift + ((i * 31) % 5) as f64)
                .collect(),
            pre_period: (0..n).map(|i| spend(i + off)).collect(),
            per_impression: None,
        };
        let (c, t) = (mk(0.0, 0), mk(2.0, 13));
        let r = RevenueReport::new(&[("control", &c), ("t", &t)], &opts(1.0)).unwrap();
        let cuped = r.cuped.unwrap();
        assert!(cuped.variance_reduction > 0.9, "{cuped:?}");
        assert!(r.method.ends_with("CUPED on pre-period revenue"));
        let plain = welch_t_test_samples(&c.per_user, &t.per_user, 0.95).unwrap();
        let adjusted = r.arms[1].test.unwrap();
        assert!(adjusted.ci.width() < 0.5 * plain.ci.width());
        assert!(adjusted.p_value < plain.p_value);
        // a pre-period of the wrong length is an error
        let mut bad = c.clone();
        bad.pre_period.pop();
        assert!(RevenueReport::new(&[("control", &bad), ("t", &t)], &opts(1.0)).is_err());
    }

    #[test]
    fn per_impression_uses_the_delta_method() {
        let mut sums = RatioSums::default();
        for (rev, shown) in [(0.0, 10.0), (5.0, 10.0), (3.0, 8.0), (0.0, 12.0)] {
            sums.add(rev, shown);
        }
        let mut c = arm(vec![0.0, 5.0, 3.0, 0.0]);
        c.per_impression = Some(sums);
        let t = c.clone();
        let r = RevenueReport::new(&[("control", &c), ("t", &t)], &opts(1.0)).unwrap();
        let e = r.arms[0].per_impression.unwrap();
        assert!((e.value - 8.0 / 40.0).abs() < 1e-12);
        let half = 1.959963984540054 * sums.variance_of_ratio().unwrap().sqrt();
        assert!((e.ci.high - e.value - half).abs() < 1e-9);
        assert!(r.arms[1].per_impression_lift.unwrap().lift.abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_input() {
        let c = arm(vec![1.0, 2.0]);
        let neg = arm(vec![1.0, -2.0]);
        let e = RevenueReport::new(&[("control", &c), ("t", &neg)], &opts(0.99)).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        assert!(RevenueReport::new(&[("control", &c)], &opts(0.99)).is_err());
        assert!(RevenueReport::new(&[("control", &c), ("t", &c)], &opts(0.0)).is_err());
        let mut o = opts(0.99);
        o.mde = 0.0;
        assert!(RevenueReport::new(&[("control", &c), ("t", &c)], &o).is_err());
        // no buyers at all: estimates of zero, no test, no plan
        let z = arm(vec![0.0; 5]);
        let r = RevenueReport::new(&[("control", &z), ("t", &z)], &opts(0.99)).unwrap();
        assert_eq!(r.arms[1].test, None);
        assert_eq!(r.required_users_per_arm, None);
    }
}
