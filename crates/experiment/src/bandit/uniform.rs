use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{Choice, Policy, check_arm, check_arms, check_candidates, check_reward, uniform_index};
use crate::error::Result;

/// Chooses uniformly at random; learns nothing. The baseline every policy should beat, and a
/// good logging policy for off-policy evaluation (propensity `1/K`, never 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniformRandom {
    n_arms: usize,
}

impl UniformRandom {
    /// A uniform policy over `n_arms` arms.
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] when `n_arms == 0`.
    pub fn new(n_arms: usize) -> Result<Self> {
        check_arms(n_arms)?;
        Ok(Self { n_arms })
    }
}

impl Policy for UniformRandom {
    fn n_arms(&self) -> usize {
        self.n_arms
    }

    fn probabilities_among(&self, _ctx: Option<&[f64]>, candidates: &[usize]) -> Result<Vec<f64>> {
        check_candidates(self.n_arms, candidates)?;
        Ok(vec![1.0 / candidates.len() as f64; candidates.len()])
    }

    fn choose_among(
        &mut self,
        _ctx: Option<&[f64]>,
        candidates: &[usize],
        rng: &mut dyn RngCore,
    ) -> Result<Choice> {
        check_candidates(self.n_arms, candidates)?;
        Ok(Choice {
            arm: candidates[uniform_index(rng, candidates.len())],
            propensity: 1.0 / candidates.len() as f64,
        })
    }

    fn update(&mut self, arm: usize, _ctx: Option<&[f64]>, reward: f64) -> Result<()> {
        check_arm(self.n_arms, arm)?;
        check_reward(reward)
    }
}
