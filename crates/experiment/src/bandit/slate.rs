use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::Policy;
use crate::error::Result;

/// One slot of a [`Slate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlateItem {
    /// The arm (item) placed in this slot.
    pub arm: usize,
    /// Probability of placing `arm` here given the items placed above it.
    pub propensity: f64,
}

/// A ranked list of arms, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slate {
    /// Slots, top first.
    pub items: Vec<SlateItem>,
}

impl Slate {
    /// Probability of the whole ordered slate: the product of the slot propensities.
    pub fn propensity(&self) -> f64 {
        self.items.iter().map(|s| s.propensity).product()
    }

    /// The arms, top first.
    pub fn arms(&self) -> Vec<usize> {
        self.items.iter().map(|s| s.arm).collect()
    }
}

/// Fills `k` slots (at most `n_arms`) by asking the policy for one arm at a time among the arms
/// not yet placed.
///
/// For deterministic policies ([`super::Ucb1`], [`super::LinUcb`]) this is exactly the top-`k`
/// arms by the policy's score, each with propensity 1. **Simplification:** for randomised
/// policies every slot is a fresh randomised choice among the remaining arms (epsilon-greedy
/// explores per slot; Thompson sampling draws a new posterior sample per slot) rather than,
/// for example, ranking one posterior draw. This sequential ("cascade") construction makes
/// each slot's propensity exact (`P(slot j = arm | slots above)`) and the slate's probability
/// their product ([`Slate::propensity`]); position effects on the reward are not modelled.
///
/// # Errors
///
/// Whatever the policy returns for an invalid context.
pub fn choose_slate(
    policy: &mut dyn Policy,
    ctx: Option<&[f64]>,
    k: usize,
    rng: &mut dyn RngCore,
) -> Result<Slate> {
    let mut remaining: Vec<usize> = (0..policy.n_arms()).collect();
    let mut items = Vec::with_capacity(k.min(remaining.len()));
    while items.len() < k && !remaining.is_empty() {
        let choice = policy.choose_among(ctx, &remaining, rng)?;
        remaining.retain(|&a| a != choice.arm);
        items.push(SlateItem {
            arm: choice.arm,
            propensity: choice.propensity,
        });
    }
    Ok(Slate { items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bandit::{EpsilonGreedy, Ucb1, UniformRandom};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn deterministic_policy_gives_top_k() {
        let mut p = Ucb1::new(4).unwrap();
        for (arm, r) in [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.7)] {
            for _ in 0..100 {
                p.update(arm, None, r).unwrap();
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = choose_slate(&mut p, None, 3, &mut rng).unwrap();
        assert_eq!(s.arms(), vec![1, 3, 2]);
        assert_eq!(s.propensity(), 1.0);
    }

    #[test]
    fn uniform_slate_propensity_is_one_over_permutations() {
        let mut p = UniformRandom::new(5).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = choose_slate(&mut p, None, 10, &mut rng).unwrap();
        assert_eq!(s.items.len(), 5);
        assert!((s.propensity() - 1.0 / 120.0).abs() < 1e-15);
    }

    #[test]
    fn epsilon_greedy_slot_propensities() {
        let mut p = EpsilonGreedy::new(3, 0.3).unwrap();
        for arm in 0..3 {
            p.update(arm, None, arm as f64).unwrap();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let s = choose_slate(&mut p, None, 2, &mut rng).unwrap();
        for (slot, item) in s.items.iter().enumerate() {
            let m = (3 - slot) as f64;
            let greedy = if slot == 0 {
                2
            } else if s.items[0].arm == 2 {
                1
            } else {
                2
            };
            let expected = if item.arm == greedy {
                0.7 + 0.3 / m
            } else {
                0.3 / m
            };
            assert!((item.propensity - expected).abs() < 1e-15);
        }
    }
}
