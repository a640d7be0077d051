//! Bandit allocation of visits among policies, with cumulative regret against the best
//! policy's true rate.
//!
//! Each visit draws a user profile uniformly; the bandit ([`tastebud_experiment::bandit`])
//! picks an arm, the user sees that arm's slate, and the reward is 1 when the visit gets at
//! least one click. An arm's true mean is therefore
//! [`Arm::true_visit_click_rate`](crate::world::Arm::true_visit_click_rate), and the
//! pseudo-regret after `T` visits is `Σ_t (μ* - μ_{a_t})`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tastebud_experiment::bandit::{EpsilonGreedy, Policy, ThompsonSampling, Ucb1, UniformRandom};

use crate::error::{Result, ensure};
use crate::world::{Arm, World};

/// How visits are allocated among arms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Allocation {
    /// Thompson sampling with flat Beta(1, 1) priors.
    Thompson,
    /// Epsilon-greedy with this exploration rate.
    EpsilonGreedy(f64),
    /// UCB1.
    Ucb1,
    /// Uniformly random (a classic fixed-split A/B/n test).
    Uniform,
}

impl Allocation {
    /// A short label (`thompson`, `epsilon-greedy(0.1)`, `ucb1`, `uniform`).
    pub fn label(&self) -> String {
        match self {
            Self::Thompson => "thompson".to_owned(),
            Self::EpsilonGreedy(e) => format!("epsilon-greedy({e})"),
            Self::Ucb1 => "ucb1".to_owned(),
            Self::Uniform => "uniform".to_owned(),
        }
    }

    fn policy(&self, n_arms: usize) -> Result<Box<dyn Policy>> {
        Ok(match *self {
            Self::Thompson => Box::new(ThompsonSampling::new(n_arms)?),
            Self::EpsilonGreedy(e) => Box::new(EpsilonGreedy::new(n_arms, e)?),
            Self::Ucb1 => Box::new(Ucb1::new(n_arms)?),
            Self::Uniform => Box::new(UniformRandom::new(n_arms)?),
        })
    }
}

/// One bandit run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanditRun {
    /// Allocation used.
    pub allocation: Allocation,
    /// Visits.
    pub visits: u64,
    /// Cumulative pseudo-regret `Σ_t (μ* - μ_{a_t})`.
    pub regret: f64,
    /// Visits given to each arm.
    pub pulls: Vec<u64>,
    /// Visits with a click.
    pub rewards: u64,
}

/// Runs `visits` visits allocated by `allocation` among `arms`, seeded.
///
/// # Errors
///
/// Fewer than one arm or visit, or an invalid allocation parameter.
pub fn run_bandit(
    world: &World,
    arms: &[&Arm],
    allocation: Allocation,
    visits: u64,
    seed: u64,
) -> Result<BanditRun> {
    ensure(!arms.is_empty(), "arms", "need at least one arm")?;
    ensure(visits >= 1, "visits", "must be at least 1")?;
    let means: Vec<f64> = arms.iter().map(|a| a.true_visit_click_rate()).collect();
    let best = means.iter().copied().fold(f64::MIN, f64::max);
    let mut policy = allocation.policy(arms.len())?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_profiles = world.n_profiles();
    let mut run = BanditRun {
        allocation,
        visits,
        regret: 0.0,
        pulls: vec![0; arms.len()],
        rewards: 0,
    };
    for _ in 0..visits {
        let profile = rng.random_range(0..n_profiles);
        let choice = policy.choose(None, &mut rng)?;
        let clicked = arms[choice.arm]
            .click_probabilities(profile)
            .iter()
            .fold(false, |any, &p| (rng.random::<f64>() < p) | any);
        policy.update(choice.arm, None, f64::from(u8::from(clicked)))?;
        run.pulls[choice.arm] += 1;
        run.rewards += u64::from(clicked);
        run.regret += best - means[choice.arm];
    }
    Ok(run)
}
