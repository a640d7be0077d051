//! Off-policy evaluation of a slate policy from the logs of a randomised one, against the
//! simulated truth.
//!
//! For every user profile the *candidate pool* is the first `pool` items of a candidate arm's
//! slate. The logging policy fills `slots` positions from the pool with the experiment crate's
//! slate helper ([`choose_slate`]) driven by an [`EpsilonGreedy`] policy whose means are the
//! items' popularity (interaction counts): the most popular remaining item with probability
//! `1 - ε_log + ε_log/m`, any other with `ε_log/m`. The target policy is an epsilon-greedy
//! policy over the candidate arm's own ranking with a small `ε_target`. A logged action is the
//! whole ordered slate (one of `pool!/(pool-slots)!`), its propensity the product of the slot
//! propensities, its reward the slate's CTR (clicks / slots), and each slot is clicked with the
//! truth's probability at that rank.
//!
//! The target's true CTR is `mean over profiles of Σ_s π(s) · Σ_k a(u, s_k) b(k) / slots`,
//! exact. IPS and SNIPS use the logged propensities; DR uses a deliberately non-personalised
//! reward model (each item's mean attractiveness over all users), so its unbiasedness rests on
//! the propensities.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tastebud_core::{ItemIdx, UserIdx};
use tastebud_experiment::bandit::{EpsilonGreedy, Policy, choose_slate};
use tastebud_experiment::ope::{CiMethod, LoggedEvent, OpeEstimate, doubly_robust, ips, snips};

use crate::error::{Result, ensure};
use crate::truth::position_bias;
use crate::world::{Arm, World};

/// The OPE set-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpeConfig {
    /// Candidate pool size per user. By default, 5.
    pub pool: usize,
    /// Slate positions filled from the pool. By default, 2.
    pub slots: usize,
    /// Logging policy's exploration rate. By default, 0.8.
    pub logging_epsilon: f64,
    /// Target policy's exploration rate. By default, 0.1.
    pub target_epsilon: f64,
    /// Logged visits per replicate. By default, 10000.
    pub events: usize,
    /// Interval level. By default, 0.95.
    pub confidence: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for OpeConfig {
    fn default() -> Self {
        Self {
            pool: 5,
            slots: 2,
            logging_epsilon: 0.8,
            target_epsilon: 0.1,
            events: 10_000,
            confidence: 0.95,
            seed: 7,
        }
    }
}

/// One replicate's estimates of the target's CTR.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpeRun {
    /// The target's true CTR.
    pub truth: f64,
    /// The logging policy's true CTR (what naive averaging of the log estimates).
    pub logging_truth: f64,
    /// Inverse propensity scoring.
    pub ips: OpeEstimate,
    /// Self-normalised IPS.
    pub snips: OpeEstimate,
    /// Doubly robust.
    pub dr: OpeEstimate,
}

/// Precomputed per-profile pools, slate probabilities and expected rewards.
#[derive(Debug, Clone)]
pub struct OpeStudy {
    cfg: OpeConfig,
    /// Ordered slates as positions in the pool; the action space.
    slates: Vec<Vec<usize>>,
    pools: Vec<Vec<ItemIdx>>,
    logging: Vec<EpsilonGreedy>,
    /// Per profile: the logging policy's probability of each slate.
    mu: Vec<Vec<f64>>,
    /// Per profile: the target policy's probability of each slate.
    pi: Vec<Vec<f64>>,
    /// Per profile and slate: the slot click probabilities.
    click: Vec<Vec<Vec<f64>>>,
    /// Per profile and slate: the reward model's prediction.
    q_hat: Vec<Vec<f64>>,
    truth: f64,
    logging_truth: f64,
}

fn slate_probability(policy: &dyn Policy, m: usize, slate: &[usize]) -> Result<f64> {
    let mut remaining: Vec<usize> = (0..m).collect();
    let mut prob = 1.0;
    for &j in slate {
        let p = policy.probabilities_among(None, &remaining)?;
        let at = remaining.iter().position(|&r| r == j).unwrap_or(0);
        prob *= p[at];
        remaining.retain(|&r| r != j);
    }
    Ok(prob)
}

fn permutations(m: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for _ in 0..k {
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<usize>| {
                (0..m)
                    .filter(|j| !prefix.contains(j))
                    .map(|j| {
                        let mut s = prefix.clone();
                        s.push(j);
                        s
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    out
}

impl OpeStudy {
    /// Builds the study: pools from `candidates`' slates.
    ///
    /// # Errors
    ///
    /// `slots` not in `1..=pool`, a pool larger than the slate size, a profile with fewer
    /// unseen items than the pool, exploration rates outside `[0, 1]`, or no events.
    pub fn new(world: &World, candidates: &Arm, cfg: OpeConfig) -> Result<Self> {
        ensure(
            cfg.slots >= 1 && cfg.slots <= cfg.pool,
            "slots",
            "must be in 1..=pool",
        )?;
        ensure(
            cfg.pool <= world.slate_size(),
            "pool",
            format!("must be at most the slate size {}", world.slate_size()),
        )?;
        ensure(
            cfg.pool <= 8,
            "pool",
            "at most 8 (the action space is pool!/(pool-slots)!)",
        )?;
        ensure(cfg.events >= 2, "events", "must be at least 2")?;
        let data = world.data();
        let truth = world.truth();
        let n_items = data.n_items();
        let n_profiles = world.n_profiles();
        // non-personalised reward model: each item's mean attractiveness
        let mut item_mean = vec![0.0f64; n_items];
        for u in 0..n_profiles {
            for (i, m) in item_mean.iter_mut().enumerate() {
                *m += truth.attractiveness(UserIdx(u as u32), ItemIdx(i as u32));
            }
        }
        for m in &mut item_mean {
            *m /= n_profiles as f64;
        }
        let slates = permutations(cfg.pool, cfg.slots);
        let m = cfg.pool;
        let mut study = Self {
            cfg,
            slates,
            pools: Vec::with_capacity(n_profiles),
            logging: Vec::with_capacity(n_profiles),
            mu: Vec::with_capacity(n_profiles),
            pi: Vec::with_capacity(n_profiles),
            click: Vec::with_capacity(n_profiles),
            q_hat: Vec::with_capacity(n_profiles),
            truth: 0.0,
            logging_truth: 0.0,
        };
        for u in 0..n_profiles {
            let slate = candidates.slate(u);
            ensure(
                slate.len() >= m,
                "pool",
                format!("user profile {u} has only {} candidates", slate.len()),
            )?;
            let pool = slate[..m].to_vec();
            let mut logging = EpsilonGreedy::new(m, cfg.logging_epsilon)?;
            let mut target = EpsilonGreedy::new(m, cfg.target_epsilon)?;
            for (j, &item) in pool.iter().enumerate() {
                logging.update(j, None, data.interactions.item_len(item) as f64)?;
                target.update(j, None, (m - j) as f64)?;
            }
            let mut mu = Vec::with_capacity(study.slates.len());
            let mut pi = Vec::with_capacity(study.slates.len());
            let mut click = Vec::with_capacity(study.slates.len());
            let mut q_hat = Vec::with_capacity(study.slates.len());
            for s in &study.slates {
                mu.push(slate_probability(&logging, m, s)?);
                pi.push(slate_probability(&target, m, s)?);
                let probs: Vec<f64> = s
                    .iter()
                    .enumerate()
                    .map(|(k, &j)| truth.click_probability(UserIdx(u as u32), pool[j], k))
                    .collect();
                q_hat.push(
                    s.iter()
                        .enumerate()
                        .map(|(k, &j)| item_mean[pool[j].get()] * position_bias(k))
                        .sum::<f64>()
                        / cfg.slots as f64,
                );
                click.push(probs);
            }
            let value = |w: &[f64]| -> f64 {
                w.iter()
                    .zip(&click)
                    .map(|(w, c)| w * c.iter().sum::<f64>() / cfg.slots as f64)
                    .sum()
            };
            study.truth += value(&pi) / n_profiles as f64;
            study.logging_truth += value(&mu) / n_profiles as f64;
            study.pools.push(pool);
            study.logging.push(logging);
            study.mu.push(mu);
            study.pi.push(pi);
            study.click.push(click);
            study.q_hat.push(q_hat);
        }
        Ok(study)
    }

    /// The target policy's true CTR.
    pub fn truth(&self) -> f64 {
        self.truth
    }

    /// The logging policy's true CTR.
    pub fn logging_truth(&self) -> f64 {
        self.logging_truth
    }

    /// The logging policy's probability of every slate for profile `u` (enumerated; the logged
    /// propensities must agree).
    pub fn logging_probabilities(&self, u: usize) -> &[f64] {
        &self.mu[u]
    }

    /// Logs `events` visits (replicate `r`) and estimates the target's CTR with IPS, SNIPS and
    /// DR (normal intervals).
    ///
    /// # Errors
    ///
    /// As the estimators (e.g. every importance weight 0).
    pub fn run(&self, replicate: u64) -> Result<OpeRun> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        rng.set_stream(replicate);
        let n = self.cfg.events;
        let mut logs = Vec::with_capacity(n);
        let mut target = Vec::with_capacity(n);
        let mut model = Vec::with_capacity(n);
        for _ in 0..n {
            let u = rng.random_range(0..self.pools.len());
            let mut logging = self.logging[u].clone();
            let slate = choose_slate(&mut logging, None, self.cfg.slots, &mut rng)?;
            let arms = slate.arms();
            let action = self
                .slates
                .iter()
                .position(|s| *s == arms)
                .unwrap_or_default();
            let clicks = self.click[u][action]
                .iter()
                .filter(|&&p| rng.random::<f64>() < p)
                .count();
            logs.push(LoggedEvent {
                context: Vec::new(),
                action,
                reward: clicks as f64 / self.cfg.slots as f64,
                propensity: slate.propensity(),
            });
            target.push(self.pi[u].clone());
            model.push(self.q_hat[u].clone());
        }
        let c = self.cfg.confidence;
        Ok(OpeRun {
            truth: self.truth,
            logging_truth: self.logging_truth,
            ips: ips(&logs, &target, c, CiMethod::Normal)?,
            snips: snips(&logs, &target, c, CiMethod::Normal)?,
            dr: doubly_robust(&logs, &target, &model, c, CiMethod::Normal)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_ordered_k_tuples() {
        let p = permutations(5, 2);
        assert_eq!(p.len(), 20);
        assert!(p.iter().all(|s| s.len() == 2 && s[0] != s[1]));
        assert_eq!(permutations(4, 4).len(), 24);
    }

    #[test]
    fn enumerated_slate_probabilities_sum_to_one_and_match_the_helper() {
        let mut policy = EpsilonGreedy::new(5, 0.5).unwrap();
        for (j, v) in [3.0, 9.0, 1.0, 4.0, 2.0].iter().enumerate() {
            policy.update(j, None, *v).unwrap();
        }
        let slates = permutations(5, 2);
        let probs: Vec<f64> = slates
            .iter()
            .map(|s| slate_probability(&policy, 5, s).unwrap())
            .collect();
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let slate = choose_slate(&mut policy.clone(), None, 2, &mut rng).unwrap();
            let at = slates.iter().position(|s| *s == slate.arms()).unwrap();
            assert!((slate.propensity() - probs[at]).abs() < 1e-12);
        }
    }
}
