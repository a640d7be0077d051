use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::check_counts;
use super::{
    Choice, Policy, argmax, check_arm, check_arms, check_candidates, check_reward, uniform_index,
};
use crate::error::{Result, ensure};

/// Epsilon-greedy: with probability `1 - ε` the arm with the best mean reward so far (arms never
/// tried count as best, lowest index first; ties go to the lower index), otherwise a uniformly
/// random candidate.
///
/// Propensities are exact: among `m` candidates the greedy arm has `1 - ε + ε/m`, every other
/// arm `ε/m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpsilonGreedy {
    epsilon: f64,
    counts: Vec<u64>,
    sums: Vec<f64>,
}

impl EpsilonGreedy {
    /// `n_arms` arms, exploration rate `epsilon` in `[0, 1]` (a common choice: 0.1).
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] when `n_arms == 0` or `epsilon` is outside `[0, 1]`.
    pub fn new(n_arms: usize, epsilon: f64) -> Result<Self> {
        check_arms(n_arms)?;
        ensure(
            (0.0..=1.0).contains(&epsilon),
            "epsilon",
            "must be in [0, 1]",
        )?;
        Ok(Self {
            epsilon,
            counts: vec![0; n_arms],
            sums: vec![0.0; n_arms],
        })
    }

    /// The state after `trials[a]` Bernoulli rewards of which `successes[a]` were 1, per arm: the
    /// same as that many [`Policy::update`] calls, in O(arms).
    ///
    /// # Errors
    ///
    /// As [`Self::new`], and when the slices differ in length or a success count exceeds its trials.
    pub fn from_counts(trials: &[u64], successes: &[u64], epsilon: f64) -> Result<Self> {
        let mut p = Self::new(trials.len(), epsilon)?;
        check_counts(trials, successes)?;
        p.counts = trials.to_vec();
        p.sums = successes.iter().map(|&s| s as f64).collect();
        Ok(p)
    }

    /// Mean observed reward per arm (`None` for arms never updated).
    pub fn means(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .zip(&self.sums)
            .map(|(&c, &s)| (c > 0).then(|| s / c as f64))
            .collect()
    }

    fn greedy(&self, candidates: &[usize]) -> usize {
        argmax(candidates, |a| {
            if self.counts[a] == 0 {
                f64::INFINITY
            } else {
                self.sums[a] / self.counts[a] as f64
            }
        })
    }
}

impl Policy for EpsilonGreedy {
    fn n_arms(&self) -> usize {
        self.counts.len()
    }

    fn probabilities_among(&self, _ctx: Option<&[f64]>, candidates: &[usize]) -> Result<Vec<f64>> {
        check_candidates(self.n_arms(), candidates)?;
        let m = candidates.len() as f64;
        let mut p = vec![self.epsilon / m; candidates.len()];
        p[self.greedy(candidates)] += 1.0 - self.epsilon;
        Ok(p)
    }

    fn choose_among(
        &mut self,
        ctx: Option<&[f64]>,
        candidates: &[usize],
        rng: &mut dyn RngCore,
    ) -> Result<Choice> {
        let p = self.probabilities_among(ctx, candidates)?;
        let i = if rng.random::<f64>() < self.epsilon {
            uniform_index(rng, candidates.len())
        } else {
            self.greedy(candidates)
        };
        Ok(Choice {
            arm: candidates[i],
            propensity: p[i],
        })
    }

    fn update(&mut self, arm: usize, _ctx: Option<&[f64]>, reward: f64) -> Result<()> {
        check_arm(self.n_arms(), arm)?;
        check_reward(reward)?;
        self.counts[arm] += 1;
        self.sums[arm] += reward;
        Ok(())
    }
}
