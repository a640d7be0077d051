//! The online recommendation pipeline, with no HTTP in it: what `tastebud serve` answers, what
//! `tastebud batch` precomputes, what the shadow model and off-policy replay rank, and what
//! `tastebud evaluate --serving-config` measures offline, all through one [`Pipeline`].
//!
//! - [`Serving`]: a loaded model file with what is derived from it (popularity order, ANN index, id
//!   maps); loaded from a file or built in memory.
//! - [`UserView`]: the user's history at request time, events folded in by the feedback rules
//!   ([`feedback::EventRules::fold`], shared with retraining).
//! - [`Pipeline::recommend`]: retrieve (exact or ANN) -> block -> demote -> re-rank -> explore -> explain.
//! - [`batch`], [`shadow`], [`ope`]: the same pipeline for precomputed lists, shadow deployment and
//!   off-policy evaluation. Storage comes in through the `tastebud_store` traits.
//! - [`offline`]: the pipeline as a `Recommender`, for `tastebud evaluate --serving-config`.
//! - [`ServeError`]: every failure, typed; the server maps each to one HTTP status.
//!
//! ```
//! use tastebud_serve::{Input, Pipeline, PipelineConfig};
//! use tastebud_store::MemoryStore;
//! # fn serving() -> tastebud_serve::Serving { unimplemented!() }
//! # fn run() -> Result<(), tastebud_serve::ServeError> {
//! let pipeline = Pipeline::new(PipelineConfig::default())?;
//! let model = serving(); // Serving::load(path, &pipeline.config().ann)?
//! let store = MemoryStore::new();
//! let mut request = pipeline.request(10);
//! request.explain = true;
//! let list = pipeline.recommend(&model, &store, &[], Input::User { id: "42", adhoc: None }, &request, 0)?;
//! println!("{:?}", list.items);
//! # Ok(()) }
//! ```

pub mod batch;
pub mod config;
pub mod error;
pub mod feedback;
pub mod history;
pub mod model;
pub mod offline;
pub mod ope;
pub mod pipeline;
pub mod shadow;

pub use config::{ColdStart, Mode, PipelineConfig, Privacy, RerankConfig, RerankMethod};
pub use error::{LoadFailure, ServeError, ServeResult};
pub use history::UserView;
pub use model::{Serving, version_of};
pub use pipeline::{
    Because, Explore, Input, Pipeline, Recommended, RecommendedItem, Request, Strategy,
    flagged_items,
};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
