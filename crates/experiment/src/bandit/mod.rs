//! Multi-armed and contextual bandits that log the propensity of every choice, so that their
//! logs can be evaluated off-policy (the `ope` module).
//!
//! Every policy implements [`Policy`]. Randomness comes from the `rng` the caller passes, so a
//! policy driven by a seeded generator (`rand_chacha::ChaCha8Rng::seed_from_u64(seed)`) makes
//! the same choices on every run; its state is plain data (serde) and can be saved between
//! requests.
//!
//! | Policy | Choice | Propensity |
//! |---|---|---|
//! | [`UniformRandom`] | uniform | `1/K`, exact |
//! | [`EpsilonGreedy`] | best mean w.p. `1-ε`, else uniform | `1-ε+ε/K` or `ε/K`, exact |
//! | [`Ucb1`] | highest upper confidence bound | `1` (deterministic) |
//! | [`ThompsonSampling`] | argmax of one Beta posterior draw per arm | `P(arm is the argmax)`, by numerical integration |
//! | [`LinUcb`] | highest `θ̂ₐ·x + α·√(xᵀAₐ⁻¹x)` | `1` (deterministic) |
//!
//! Deterministic policies give the other arms propensity 0, so their logs cannot evaluate a
//! policy that would choose differently: log with a randomised policy when you plan to use OPE.
//!
//! ```
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use tastebud_experiment::bandit::{Policy, ThompsonSampling};
//!
//! let mut policy = ThompsonSampling::new(3)?;
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! let choice = policy.choose(None, &mut rng)?;
//! assert!((choice.propensity - 1.0 / 3.0).abs() < 1e-6); // flat priors: all arms equally likely
//! policy.update(choice.arm, None, 1.0)?;
//! # Ok::<(), tastebud_experiment::ExperimentError>(())
//! ```

mod epsilon_greedy;
mod linalg;
mod linucb;
mod slate;
mod thompson;
mod ucb1;
mod uniform;

use rand::RngCore;
use serde::{Deserialize, Serialize};

pub use epsilon_greedy::EpsilonGreedy;
pub use linucb::LinUcb;
pub use slate::{Slate, SlateItem, choose_slate};
pub use thompson::ThompsonSampling;
pub use ucb1::Ucb1;
pub use uniform::UniformRandom;

use crate::assign::Allocation;
use crate::error::{Result, ensure, invalid};

/// One decision: the arm shown and the probability the policy had of showing it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Index of the chosen arm.
    pub arm: usize,
    /// Probability the policy had of choosing `arm` among the candidates, given its state and
    /// the context (log it: off-policy evaluation, the `ope` module, divides by it).
    pub propensity: f64,
}

/// A bandit policy over arms `0..n_arms()`.
///
/// `ctx` is the context vector for contextual policies ([`LinUcb`] requires one); context-free
/// policies ignore it. `candidates` restricts a choice to some arms (distinct indices, not
/// empty), as needed to fill a slate ([`choose_slate`]).
pub trait Policy {
    /// Number of arms.
    fn n_arms(&self) -> usize;

    /// The policy's probability of choosing each of `candidates` (same order; sums to 1).
    ///
    /// # Errors
    ///
    /// Invalid candidates or context.
    fn probabilities_among(&self, ctx: Option<&[f64]>, candidates: &[usize]) -> Result<Vec<f64>>;

    /// Chooses one of `candidates`.
    ///
    /// # Errors
    ///
    /// Invalid candidates or context.
    fn choose_among(
        &mut self,
        ctx: Option<&[f64]>,
        candidates: &[usize],
        rng: &mut dyn RngCore,
    ) -> Result<Choice>;

    /// Records the reward observed after showing `arm` in context `ctx`.
    ///
    /// # Errors
    ///
    /// An out-of-range arm, a reward outside the policy's domain, or an invalid context.
    fn update(&mut self, arm: usize, ctx: Option<&[f64]>, reward: f64) -> Result<()>;

    /// Chooses one of all arms.
    ///
    /// # Errors
    ///
    /// Invalid context.
    fn choose(&mut self, ctx: Option<&[f64]>, rng: &mut dyn RngCore) -> Result<Choice> {
        let all: Vec<usize> = (0..self.n_arms()).collect();
        self.choose_among(ctx, &all, rng)
    }

    /// The policy's probability of choosing each arm (`π(a | ctx)`, the target policy's input
    /// to off-policy evaluation in the `ope` module).
    ///
    /// # Errors
    ///
    /// Invalid context.
    fn probabilities(&self, ctx: Option<&[f64]>) -> Result<Vec<f64>> {
        let all: Vec<usize> = (0..self.n_arms()).collect();
        self.probabilities_among(ctx, &all)
    }
}

/// The bandit of an adaptive experiment's [`Allocation`], in the state its counts give (`trials[a]`
/// items shown by arm `a`, `successes[a]` of them clicked); `None` for [`Allocation::Fixed`].
///
/// ```
/// use tastebud_experiment::assign::Allocation;
/// use tastebud_experiment::bandit::allocation_policy;
///
/// let p = allocation_policy(&Allocation::Thompson, &[1000, 1000], &[10, 60])?.unwrap();
/// let probs = p.probabilities(None)?;
/// assert!(probs[1] > 0.99); // 6% beats 1% with near certainty
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
///
/// # Errors
///
/// Mismatched counts or more successes than trials, or an invalid epsilon.
pub fn allocation_policy(
    allocation: &Allocation,
    trials: &[u64],
    successes: &[u64],
) -> Result<Option<Box<dyn Policy + Send + Sync>>> {
    Ok(match *allocation {
        Allocation::Fixed => None,
        Allocation::Thompson => Some(Box::new(ThompsonSampling::from_counts(trials, successes)?)),
        Allocation::Ucb1 => Some(Box::new(Ucb1::from_counts(trials, successes)?)),
        Allocation::EpsilonGreedy { epsilon } => Some(Box::new(EpsilonGreedy::from_counts(
            trials, successes, epsilon,
        )?)),
    })
}

pub(crate) fn check_counts(trials: &[u64], successes: &[u64]) -> Result<()> {
    ensure(
        trials.len() == successes.len(),
        "successes",
        "needs one count per arm, as trials",
    )?;
    ensure(
        trials.iter().zip(successes).all(|(t, s)| s <= t),
        "successes",
        "an arm has more successes than trials",
    )
}

pub(crate) fn check_arms(n_arms: usize) -> Result<()> {
    ensure(n_arms >= 1, "n_arms", "need at least one arm")
}

pub(crate) fn check_candidates(n_arms: usize, candidates: &[usize]) -> Result<()> {
    ensure(!candidates.is_empty(), "candidates", "must not be empty")?;
    match candidates.iter().find(|&&a| a >= n_arms) {
        Some(a) => Err(invalid(
            "candidates",
            format!("arm {a} out of range for {n_arms} arms"),
        )),
        None => Ok(()),
    }
}

pub(crate) fn check_arm(n_arms: usize, arm: usize) -> Result<()> {
    if arm < n_arms {
        Ok(())
    } else {
        Err(invalid(
            "arm",
            format!("{arm} out of range for {n_arms} arms"),
        ))
    }
}

pub(crate) fn check_reward(reward: f64) -> Result<()> {
    ensure(reward.is_finite(), "reward", "must be finite")
}

/// Position in `candidates` of the highest score; ties go to the lower arm index.
pub(crate) fn argmax(candidates: &[usize], score: impl Fn(usize) -> f64) -> usize {
    let mut best = 0;
    let mut best_score = f64::NEG_INFINITY;
    for (i, &a) in candidates.iter().enumerate() {
        let s = score(a);
        if i == 0 || s > best_score || (s == best_score && a < candidates[best]) {
            best = i;
            best_score = s;
        }
    }
    best
}

/// One-hot probabilities for a deterministic choice.
pub(crate) fn one_hot(len: usize, at: usize) -> Vec<f64> {
    let mut p = vec![0.0; len];
    p[at] = 1.0;
    p
}

/// Uniform index below `n` (Lemire's method through `rand`).
pub(crate) fn uniform_index(rng: &mut dyn RngCore, n: usize) -> usize {
    use rand::Rng;
    rng.random_range(0..n)
}
