//! Offline evaluation of any [`tastebud_models::Recommender`].
//!
//! - [`metrics`]: ranking metrics (Precision, Recall, NDCG binary and graded, MAP, MRR, HitRate at any K, and
//!   AUC), defined as trec_eval defines them, computed for all K in one pass per user.
//! - [`beyond`]: coverage, intra-list diversity (features or embeddings), novelty, serendipity, popularity
//!   bias and exposure Gini.
//! - [`rating`]: RMSE and MAE for models that predict ratings.
//! - [`pretrained`]: a model file (or an imported Spark model) evaluated on data that numbers items differently.
//! - [`evaluator`]: runs a model over a split under a [`evaluator::Protocol`] (full ranking, candidates, or
//!   the clearly labelled sampled protocol), in parallel over users, keeping per-user values for segment
//!   breakdowns and significance tests.
//! - [`significance`]: paired t-test, Wilcoxon signed-rank, bootstrap confidence intervals, Holm correction.
//! - [`report`]: the cross-model, cross-fold report as a table, JSON or CSV; [`html`] renders it with SVG
//!   plots; [`sweep`] draws re-ranker trade-off curves (accuracy against diversity and exposure); [`trec`] writes and reads TREC run/qrels files so any outside tool can recompute the numbers.

pub mod beyond;
pub mod evaluator;
pub mod html;
pub mod metrics;
pub mod pretrained;
pub mod rating;
pub mod report;
pub mod run;
pub mod significance;
pub mod sweep;
mod table;
pub mod trec;

pub use evaluator::{
    EvalData, EvalOptions, ModelEval, Protocol, RankedList, evaluate, score_lists,
};
pub use metrics::{MetricKind, MetricSet, Relevant};
