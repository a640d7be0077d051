use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::check_counts;
use super::{
    Choice, Policy, argmax, check_arm, check_arms, check_candidates, check_reward, one_hot,
};
use crate::error::Result;

/// UCB1 (Auer, Cesa-Bianchi & Fischer 2002): play each arm once, then the arm maximising
/// `mean_a + √(2 ln t / n_a)`, `t` the total number of updates. Rewards are assumed to lie in
/// `[0, 1]` (the bonus is scaled for that range).
///
/// Deterministic: the chosen arm has propensity 1 (ties go to the lower index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ucb1 {
    counts: Vec<u64>,
    sums: Vec<f64>,
    total: u64,
}

impl Ucb1 {
    /// `n_arms` arms.
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] when `n_arms == 0`.
    pub fn new(n_arms: usize) -> Result<Self> {
        check_arms(n_arms)?;
        Ok(Self {
            counts: vec![0; n_arms],
            sums: vec![0.0; n_arms],
            total: 0,
        })
    }

    /// The state after `trials[a]` Bernoulli rewards of which `successes[a]` were 1, per arm: the
    /// same as that many [`Policy::update`] calls, in O(arms).
    ///
    /// # Errors
    ///
    /// As [`Self::new`], and when the slices differ in length or a success count exceeds its trials.
    pub fn from_counts(trials: &[u64], successes: &[u64]) -> Result<Self> {
        let mut p = Self::new(trials.len())?;
        check_counts(trials, successes)?;
        p.counts = trials.to_vec();
        p.sums = successes.iter().map(|&s| s as f64).collect();
        p.total = trials.iter().sum();
        Ok(p)
    }

    /// The upper confidence bound of `arm` (`+∞` before its first update).
    pub fn index(&self, arm: usize) -> f64 {
        let n = self.counts[arm];
        if n == 0 {
            return f64::INFINITY;
        }
        let n = n as f64;
        self.sums[arm] / n + (2.0 * (self.total as f64).ln() / n).sqrt()
    }
}

impl Policy for Ucb1 {
    fn n_arms(&self) -> usize {
        self.counts.len()
    }

    fn probabilities_among(&self, _ctx: Option<&[f64]>, candidates: &[usize]) -> Result<Vec<f64>> {
        check_candidates(self.n_arms(), candidates)?;
        Ok(one_hot(
            candidates.len(),
            argmax(candidates, |a| self.index(a)),
        ))
    }

    fn choose_among(
        &mut self,
        _ctx: Option<&[f64]>,
        candidates: &[usize],
        _rng: &mut dyn RngCore,
    ) -> Result<Choice> {
        check_candidates(self.n_arms(), candidates)?;
        Ok(Choice {
            arm: candidates[argmax(candidates, |a| self.index(a))],
            propensity: 1.0,
        })
    }

    fn update(&mut self, arm: usize, _ctx: Option<&[f64]>, reward: f64) -> Result<()> {
        check_arm(self.n_arms(), arm)?;
        check_reward(reward)?;
        self.counts[arm] += 1;
        self.sums[arm] += reward;
        self.total += 1;
        Ok(())
    }
}
