//! Off-policy evaluation: the expected reward a *target* policy would have earned, estimated
//! from logs collected by a different *logging* policy.
//!
//! Each logged event holds the context `x_i`, the action `a_i` the logging policy took, the
//! reward `r_i` and the logging propensity `μ_i = μ(a_i | x_i)`. The target policy gives
//! `π(a | x_i)` for every action (a row of `target`, e.g. from [`target_probabilities`]), and
//! `w_i = π(a_i | x_i) / μ_i` is the importance weight.
//!
//! | Estimator | Value | Unbiased when |
//! |---|---|---|
//! | [`ips`] | `(1/n) Σ w_i r_i` | propensities are right and `μ > 0` wherever `π > 0` |
//! | [`snips`] | `Σ w_i r_i / Σ w_i` | consistent; small bias, much less variance |
//! | [`doubly_robust`] | `(1/n) Σ [ q̂(x_i, π) + w_i (r_i - q̂(x_i, a_i)) ]` | propensities right **or** reward model right |
//!
//! with `q̂(x, π) = Σ_a π(a|x) q̂(x, a)` from a supplied reward model.
//!
//! Intervals: [`CiMethod::Normal`] uses the normal approximation on the per-event terms (for
//! SNIPS, the delta-method terms `w_i (r_i - V̂) / w̄`); [`CiMethod::Bootstrap`] resamples events
//! with replacement and takes percentile bounds.
//!
//! ```
//! use tastebud_experiment::ope::{CiMethod, LoggedEvent, ips};
//! // uniform logging over 2 actions; target always plays action 1
//! let logs: Vec<LoggedEvent> = (0..1000)
//!     .map(|i| LoggedEvent {
//!         context: vec![],
//!         action: i % 2,
//!         reward: if i % 2 == 1 { 1.0 } else { 0.0 },
//!         propensity: 0.5,
//!     })
//!     .collect();
//! let target = vec![vec![0.0, 1.0]; logs.len()];
//! let est = ips(&logs, &target, 0.95, CiMethod::Normal)?;
//! assert!((est.value - 1.0).abs() < 1e-12);
//! # Ok::<(), tastebud_experiment::ExperimentError>(())
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bandit::Policy;
use crate::error::{ExperimentError, Result, ensure, ensure_unit_open, invalid};
use crate::stats::{Interval, norm_isf};

/// One logged decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// Context the decision was made in (empty for context-free policies).
    pub context: Vec<f64>,
    /// Action the logging policy took.
    pub action: usize,
    /// Observed reward.
    pub reward: f64,
    /// Logging policy's probability of `action`, in `(0, 1]` (the [`crate::bandit::Choice`]
    /// propensity).
    pub propensity: f64,
}

/// How to build the confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CiMethod {
    /// Normal approximation: `value ± z · sd(terms)/√n`.
    Normal,
    /// Percentile bootstrap over events.
    Bootstrap {
        /// Number of resamples (1000 is plenty for a 95 % interval).
        resamples: usize,
        /// Seed of the resampling generator (ChaCha8).
        seed: u64,
    },
}

/// An off-policy value estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpeEstimate {
    /// Estimated expected reward of the target policy.
    pub value: f64,
    /// Standard error (normal: `sd(terms)/√n`; bootstrap: sd of the resampled estimates).
    pub std_error: f64,
    /// Confidence interval at the requested level.
    pub ci: Interval,
    /// Number of logged events.
    pub n: usize,
    /// Effective sample size of the importance weights, `(Σw)² / Σw²` (≪ `n` means the
    /// policies differ a lot and the estimate is noisy).
    pub effective_sample_size: f64,
}

/// `π(· | x_i)` for every logged event, from a [`Policy`]'s [`Policy::probabilities`] (an empty
/// context is passed as `None`).
///
/// # Errors
///
/// Whatever the policy returns for an invalid context.
pub fn target_probabilities(policy: &dyn Policy, logs: &[LoggedEvent]) -> Result<Vec<Vec<f64>>> {
    logs.iter()
        .map(|e| {
            let ctx = (!e.context.is_empty()).then_some(e.context.as_slice());
            policy.probabilities(ctx)
        })
        .collect()
}

/// Inverse propensity scoring, `(1/n) Σ w_i r_i`.
///
/// # Errors
///
/// See [`doubly_robust`].
pub fn ips(
    logs: &[LoggedEvent],
    target: &[Vec<f64>],
    confidence: f64,
    method: CiMethod,
) -> Result<OpeEstimate> {
    let w = weights(logs, target)?;
    let num: Vec<f64> = logs.iter().zip(&w).map(|(e, w)| w * e.reward).collect();
    let den = vec![1.0; logs.len()];
    estimate(&num, &den, &w, confidence, method)
}

/// Self-normalised IPS, `Σ w_i r_i / Σ w_i`.
///
/// # Errors
///
/// See [`doubly_robust`]; [`ExperimentError::Degenerate`] when every weight is 0 (the target
/// never takes a logged action).
pub fn snips(
    logs: &[LoggedEvent],
    target: &[Vec<f64>],
    confidence: f64,
    method: CiMethod,
) -> Result<OpeEstimate> {
    let w = weights(logs, target)?;
    if w.iter().all(|&x| x == 0.0) {
        return Err(ExperimentError::Degenerate(
            "every importance weight is 0".into(),
        ));
    }
    let num: Vec<f64> = logs.iter().zip(&w).map(|(e, w)| w * e.reward).collect();
    estimate(&num, &w, &w, confidence, method)
}

/// Doubly robust estimate with a reward model: `reward_model[i][a] = q̂(x_i, a)` for every
/// action `a`.
///
/// # Errors
///
/// [`ExperimentError::LengthMismatch`] when `target` (or `reward_model`) has not one row per
/// event or a row is shorter than an action index needs; [`ExperimentError::InvalidParam`] for
/// a propensity outside `(0, 1]`, a negative or non-finite probability, a non-finite reward,
/// an empty log, or a bad confidence level / resample count.
pub fn doubly_robust(
    logs: &[LoggedEvent],
    target: &[Vec<f64>],
    reward_model: &[Vec<f64>],
    confidence: f64,
    method: CiMethod,
) -> Result<OpeEstimate> {
    let w = weights(logs, target)?;
    check_rows(reward_model, target, "reward_model")?;
    let num: Vec<f64> = logs
        .iter()
        .zip(&w)
        .zip(target.iter().zip(reward_model))
        .map(|((e, w), (pi, q))| {
            let direct: f64 = pi.iter().zip(q).map(|(p, q)| p * q).sum();
            direct + w * (e.reward - q[e.action])
        })
        .collect();
    let den = vec![1.0; logs.len()];
    estimate(&num, &den, &w, confidence, method)
}

fn check_rows(rows: &[Vec<f64>], target: &[Vec<f64>], name: &'static str) -> Result<()> {
    if rows.len() != target.len() {
        return Err(ExperimentError::LengthMismatch {
            name,
            expected: target.len(),
            got: rows.len(),
        });
    }
    for (r, t) in rows.iter().zip(target) {
        if r.len() != t.len() {
            return Err(ExperimentError::LengthMismatch {
                name,
                expected: t.len(),
                got: r.len(),
            });
        }
        crate::error::ensure_finite(r, name)?;
    }
    Ok(())
}

fn weights(logs: &[LoggedEvent], target: &[Vec<f64>]) -> Result<Vec<f64>> {
    ensure(!logs.is_empty(), "logs", "must not be empty")?;
    if target.len() != logs.len() {
        return Err(ExperimentError::LengthMismatch {
            name: "target",
            expected: logs.len(),
            got: target.len(),
        });
    }
    logs.iter()
        .zip(target)
        .enumerate()
        .map(|(i, (e, pi))| {
            if !(e.propensity > 0.0 && e.propensity <= 1.0) {
                return Err(invalid(
                    "propensity",
                    format!("event {i}: {} is not in (0, 1]", e.propensity),
                ));
            }
            ensure(e.reward.is_finite(), "reward", "must be finite")?;
            if pi.iter().any(|p| !p.is_finite() || *p < 0.0) {
                return Err(invalid(
                    "target",
                    format!("event {i}: probabilities must be finite and non-negative"),
                ));
            }
            let p = pi.get(e.action).ok_or(ExperimentError::LengthMismatch {
                name: "target",
                expected: e.action + 1,
                got: pi.len(),
            })?;
            Ok(p / e.propensity)
        })
        .collect()
}

/// `Σ num / Σ den` with a normal (delta-method) or bootstrap interval.
fn estimate(
    num: &[f64],
    den: &[f64],
    w: &[f64],
    confidence: f64,
    method: CiMethod,
) -> Result<OpeEstimate> {
    ensure_unit_open(confidence, "confidence")?;
    let n = num.len();
    let ratio = |idx: &mut dyn Iterator<Item = usize>| {
        let (mut a, mut b) = (0.0, 0.0);
        for i in idx {
            a += num[i];
            b += den[i];
        }
        if b == 0.0 { 0.0 } else { a / b }
    };
    let value = ratio(&mut (0..n));
    let (sw, sw2) = w.iter().fold((0.0, 0.0), |(s, s2), &x| (s + x, s2 + x * x));
    let effective_sample_size = if sw2 > 0.0 { sw * sw / sw2 } else { 0.0 };
    let z = norm_isf((1.0 - confidence) / 2.0);
    let (std_error, ci) = match method {
        CiMethod::Normal => {
            let mean_den = den.iter().sum::<f64>() / n as f64;
            let psi: Vec<f64> = num
                .iter()
                .zip(den)
                .map(|(a, b)| (a - value * b) / mean_den)
                .collect();
            let se = if n > 1 {
                let m = psi.iter().sum::<f64>() / n as f64;
                (psi.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
                    / (n as f64).sqrt()
            } else {
                f64::INFINITY
            };
            (se, Interval::new(value - z * se, value + z * se))
        }
        CiMethod::Bootstrap { resamples, seed } => {
            ensure(resamples >= 2, "resamples", "must be at least 2")?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut stats: Vec<f64> = (0..resamples)
                .map(|_| ratio(&mut (0..n).map(|_| rng.random_range(0..n))))
                .collect();
            stats.sort_by(f64::total_cmp);
            let m = stats.iter().sum::<f64>() / resamples as f64;
            let se = (stats.iter().map(|x| (x - m) * (x - m)).sum::<f64>()
                / (resamples as f64 - 1.0))
                .sqrt();
            let lo = quantile(&stats, (1.0 - confidence) / 2.0);
            let hi = quantile(&stats, (1.0 + confidence) / 2.0);
            (se, Interval::new(lo, hi))
        }
    };
    Ok(OpeEstimate {
        value,
        std_error,
        ci,
        n,
        effective_sample_size,
    })
}

/// Linearly interpolated quantile of sorted values (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    if i + 1 < sorted.len() {
        sorted[i] + frac * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs() -> Vec<LoggedEvent> {
        // action, reward, propensity
        [(0, 1.0, 0.5), (1, 0.0, 0.25), (1, 1.0, 0.25), (0, 0.0, 0.5)]
            .into_iter()
            .map(|(action, reward, propensity)| LoggedEvent {
                context: vec![],
                action,
                reward,
                propensity,
            })
            .collect()
    }

    #[test]
    fn hand_computed_values() {
        let target = vec![vec![0.2, 0.8]; 4];
        // w = [0.4, 3.2, 3.2, 0.4]; w r = [0.4, 0, 3.2, 0]
        let e = ips(&logs(), &target, 0.95, CiMethod::Normal).unwrap();
        assert!((e.value - 3.6 / 4.0).abs() < 1e-15);
        let e = snips(&logs(), &target, 0.95, CiMethod::Normal).unwrap();
        assert!((e.value - 3.6 / 7.2).abs() < 1e-15);
        assert!((e.effective_sample_size - 7.2 * 7.2 / 20.8).abs() < 1e-12);
        // q̂ = 0.5 everywhere: direct term 0.5, corrections w (r - 0.5)
        let q = vec![vec![0.5, 0.5]; 4];
        let e = doubly_robust(&logs(), &target, &q, 0.95, CiMethod::Normal).unwrap();
        let corr = 0.4 * 0.5 + 3.2 * -0.5 + 3.2 * 0.5 + 0.4 * -0.5;
        assert!((e.value - (0.5 + corr / 4.0)).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_logs() {
        let mut l = logs();
        let target = vec![vec![0.2, 0.8]; 4];
        assert!(ips(&l, &target[..3], 0.95, CiMethod::Normal).is_err());
        l[0].propensity = 0.0;
        assert!(ips(&l, &target, 0.95, CiMethod::Normal).is_err());
        l[0].propensity = 0.5;
        l[0].action = 2;
        assert!(ips(&l, &target, 0.95, CiMethod::Normal).is_err());
        assert!(ips(&[], &[], 0.95, CiMethod::Normal).is_err());
        let boot = CiMethod::Bootstrap {
            resamples: 1,
            seed: 0,
        };
        assert!(ips(&logs(), &target, 0.95, boot).is_err());
    }

    #[test]
    fn bootstrap_is_seeded() {
        let target = vec![vec![0.2, 0.8]; 4];
        let m = CiMethod::Bootstrap {
            resamples: 200,
            seed: 9,
        };
        let a = snips(&logs(), &target, 0.9, m).unwrap();
        let b = snips(&logs(), &target, 0.9, m).unwrap();
        assert_eq!(a, b);
        assert!(a.ci.low <= a.value && a.value <= a.ci.high);
    }
}
