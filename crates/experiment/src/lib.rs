//! Online experiments for Tastebud: the statistics of A/B tests, bandit policies that log
//! their propensities, and off-policy evaluation of those logs.
//!
//! - [`stats`]: confidence intervals and tests for rates and means, relative lift, sample-ratio
//!   mismatch, power and sample size, CUPED, always-valid sequential tests (mSPRT), and the
//!   warnings to print beside a result. Every statistic is checked against golden numbers
//!   (`tests/golden/`) from SciPy/statsmodels, or, where neither implements it (delta-method
//!   lift, mSPRT), from a NumPy transcription of the published formula.
//! - [`bandit`]: epsilon-greedy, UCB1, Thompson sampling and LinUCB behind one [`bandit::Policy`]
//!   trait, plus a slate helper.
//! - [`ope`]: IPS, self-normalised IPS and doubly robust estimates of a target policy's value
//!   from logged `(context, action, reward, propensity)` tuples.
//! - [`assign`]: deterministic, stateless traffic assignment (hash-based arms, mutually
//!   exclusive layers, a global holdout, targeting) from JSON experiment definitions.
//! - [`live`]: the live experiments of a server (definitions persisted as a document, allocation,
//!   bandit counts) and their reports from the event log, with a running aggregate.
//! - [`revenue`]: revenue per user and per impression per arm, with a winsorised (and CUPED) Welch
//!   test and the planned sample size for a revenue MDE.
//! - [`report`]: the per-arm analysis of an experiment from aggregated counts (rates, lifts,
//!   tests, SRM, planned sample size, warnings, a decision), as a table or JSON.
//!
//! ```
//! use tastebud_experiment::stats::{Effect, Proportion, sample_size_proportions, two_proportion_ztest};
//!
//! let plan = sample_size_proportions(0.10, Effect::Relative(0.05), 0.05, 0.8)?;
//! let control = Proportion::new(5_720, 57_000)?;
//! let treatment = Proportion::new(6_050, 57_100)?;
//! let result = two_proportion_ztest(control, treatment, 0.95)?;
//! assert!(plan.per_arm > 50_000);
//! assert!(result.p_value < 0.01);
//! # Ok::<(), tastebud_experiment::ExperimentError>(())
//! ```

pub mod assign;
pub mod bandit;
mod error;
pub mod live;
pub mod ope;
pub mod report;
pub mod revenue;
pub mod stats;

pub use error::{ExperimentError, Result};
