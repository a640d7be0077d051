//! The model lifecycle, with no HTTP in it: what `tastebud retrain` and `tastebud registry` run, and what
//! the server's background loop and `POST /v1/admin/retrain` call.
//!
//! - [`retrain`]: the training set (base data plus the event log folded by the feedback rules,
//!   [`tastebud_serve::feedback::EventRules::fold`], the same rule serving uses), a candidate, the
//!   promotion gate on a fair holdout, and the registry entry.
//! - [`triggers`]: when to retrain (CTR drop, popularity drift, new users/items/categories, schedule).
//! - [`registry`]: model versions with metrics, lineage and status; `current.tbm` replaced atomically;
//!   rollback.
//! - [`LifecycleError`]: every failure, typed.
//!
//! Events and forgotten users come in through the `tastebud_store` traits ([`tastebud_store::EventLog`],
//! [`tastebud_store::ForgottenUsers`]), so any backend that implements them can feed retraining.
//!
//! ```no_run
//! use tastebud_lifecycle::retrain::{self, RetrainConfig};
//! use tastebud_store::Store;
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = RetrainConfig::load(std::path::Path::new("retrain.toml"))?;
//! let store = Store::open(std::path::Path::new("tastebud-data/events.redb"))?;
//! let now = tastebud_serve::now_unix();
//! let report = retrain::run(&cfg, &store, &store, false, now, &tastebud_models::NoProgress)?;
//! println!("{}: {}", if report.promoted { "promoted" } else { "rejected" }, report.reason);
//! # Ok(()) }
//! ```

pub mod error;
pub mod registry;
pub mod retrain;
pub mod triggers;

pub use error::{LifecycleError, Result};
pub use registry::{Entry, Registry, Status};
pub use retrain::{Gate, RetrainConfig, RetrainReport, Score};
pub use triggers::{TriggerConfig, Verdict};
