//! A simulated user population with known preferences, driving Tastebud's online-experiment
//! code so that its statistics can be checked against the truth.
//!
//! - [`truth`]: a model fitted on the dataset (ALS by default) scores every unseen item for
//!   every user; a calibrated logistic of the standardised score, times a position bias, is the
//!   true probability of a click at each slate rank ([`truth::TruthParams`] documents the
//!   formula and its defaults).
//! - [`world`]: the dataset, its truth, and each arm's policy (a registry model: `pop`,
//!   `ease`, `als`, ...) with every user's slate and its true per-rank click probabilities
//!   precomputed once, so that one simulated experiment costs a few random draws per visit.
//! - [`ab`]: A/B and A/A experiments: simulated users drawn from the dataset's users arrive on
//!   random days, are assigned by the experiment crate's [`Assigner`](tastebud_experiment::assign::Assigner)
//!   (a fresh salt per replicate), their clicks are Bernoulli draws from the truth, and the
//!   analysis is the server's [`Report`](tastebud_experiment::report::Report) on the same
//!   [`ArmData`](tastebud_experiment::report::ArmData), every day (for peeking) and at the end.
//!   A deliberately biased routing ([`ab::Routing::Drop`]) exercises the sample-ratio check.
//! - [`study`]: rejection rates over many replicates with Wilson intervals, and binomial
//!   acceptance regions to compare them with.
//! - [`revenue`]: simulated purchases with heavy-tailed (lognormal) amounts and a lasting spending level
//!   per user, analysed by the report's revenue section: A/A false-positive rates and A/B power at the
//!   planned users per arm.
//! - [`bandit`]: Thompson sampling, epsilon-greedy, UCB1 and uniform allocation among arms, with
//!   cumulative regret against the best arm's true rate.
//! - [`ope`]: a randomised slate-logging policy with propensities, and IPS / SNIPS / DR
//!   estimates of another policy's CTR next to its true CTR.
//!
//! ```no_run
//! use tastebud_sim::ab::{AbConfig, Simulation};
//! use tastebud_sim::truth::TruthParams;
//! use tastebud_sim::world::World;
//!
//! let data = tastebud_data::load(std::path::Path::new("../shared/data/ml-100k"), &Default::default())?;
//! let world = World::new(data, &TruthParams::default(), 10)?;
//! let (pop, ease) = (world.arm("pop", &[])?, world.arm("ease", &[])?);
//! let sim = Simulation::new(
//!     &world,
//!     vec![("control".into(), &pop), ("treatment".into(), &ease)],
//!     AbConfig::new(2, 2_000, 14, 1),
//! )?;
//! let run = sim.run(0)?;
//! println!("{}", run.report.to_table());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ab;
pub mod bandit;
mod error;
pub mod ope;
pub mod revenue;
pub mod study;
pub mod truth;
pub mod world;

pub use error::{Result, SimError};
