//! Tastebud's data model.
//!
//! - [`UserIdx`]/[`ItemIdx`] are dense `u32` indices; [`IdMap`] maps external ids (from files) to them and
//!   back, returning `None` for unknown ids.
//! - [`Interactions`] holds (user, item, value, time) as CSR by user and CSC by item; [`Feedback`] says whether
//!   values are explicit ratings or implicit weights and how duplicates are resolved.
//! - [`FeatureTable`] holds item or user side information; [`Dataset`] ties interactions, id maps, features
//!   and metadata together.
//! - [`SplitSpec`] and the functions in [`split`] cut a dataset into train and test without leakage.
//! - [`top_k`], [`TopK`] and [`ItemFilter`] are the one ranking kernel every model uses.
//! - [`fsio::write_atomic`] is the one way a file is replaced (temporary file, fsync, rename).
//!
//! ```
//! use tastebud_core::{Feedback, Interactions, ItemFilter, ItemIdx, SplitSpec, UserIdx, top_k};
//! let x = Interactions::from_triplets(3, 4, &[(0, 0, 1.0), (0, 1, 1.0), (1, 1, 1.0), (2, 3, 1.0)],
//!                                    Feedback::Implicit)?;
//! let split = &SplitSpec::KFold { k: 2 }.apply(&x, 42)?[0];
//! assert_eq!(split.train.nnz() + split.test.nnz(), 4);
//! // Popularity scores, the user's own items excluded.
//! let scores: Vec<f32> = x.item_counts().iter().map(|&c| c as f32).collect();
//! let filter = ItemFilter::new(4).exclude(x.user_items(UserIdx(0)))?;
//! assert_eq!(top_k(&scores, 1, &filter)?[0].item, ItemIdx(3));
//! # Ok::<(), tastebud_core::Error>(())
//! ```

pub mod dataset;
pub mod error;
pub mod features;
pub mod fsio;
pub mod ids;
pub mod interactions;
pub mod split;
pub mod stats;
pub mod topk;
pub mod validate;

pub use dataset::{Dataset, DatasetMeta};
pub use error::{Error, Result, ensure_param};
pub use features::{CategoricalBuilder, FeatureColumn, FeatureTable, FeatureValues};
pub use ids::{IdMap, ItemIdx, ItemMap, UserIdx, UserMap};
pub use interactions::{Feedback, Interaction, Interactions, Triplets};
pub use split::{Split, SplitSpec};
pub use stats::DatasetStats;
pub use topk::{ItemFilter, Scored, TopK, top_k, top_k_sparse};
