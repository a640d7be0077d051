//! The [`Recommender`] trait every model implements, and the models.
//!
//! Every model recommends **from a user's interaction history** given at query time ([`Query::history`]), so
//! a known user, a user whose newest clicks arrived a second ago and a brand-new user share one code path,
//! and offline evaluation uses the same path as production.
//!
//! - [`Query`] carries the history, exclusions and an optional candidate restriction.
//! - [`Recommender::recommend`] returns [`Scored`] items, higher score first, ranked by the one kernel in
//!   [`tastebud_core::topk`].
//! - [`Fit`] turns validated hyperparameters and a [`Dataset`] into a model.
//! - [`popularity`] and [`random`] are the baselines every other model must beat.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
//! use tastebud_models::{Fit, NoProgress, Query, Recommender, popularity::PopularityParams};
//! let x = Interactions::from_triplets(3, 3, &[(0, 0, 1.0), (1, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)],
//!                                    Feedback::Implicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b", "c"], ["x", "y", "z"])?;
//! let model = PopularityParams::default().fit(&data, &NoProgress)?;
//! let history = data.interactions.history(UserIdx(2));
//! let recs = model.recommend(&Query::new(&history), 2)?;
//! assert_eq!(recs[0].item, ItemIdx(0)); // the most popular item the user has not seen
//! # Ok::<(), tastebud_core::Error>(())
//! ```

pub mod als;
pub mod any;
pub mod autoencoder;
pub mod baseline;
pub mod bpr;
mod compat;
pub mod content;
pub mod ease;
pub mod ensemble;
pub mod file;
pub mod hybrid;
pub mod knn;
pub mod knowledge;
pub mod nmf;
pub mod nn;
pub mod onnx;
mod params_body;
pub mod popularity;
pub mod random;
pub mod reason;
pub mod registry;
pub mod rerank;
pub mod rules;
pub mod sequential;
pub mod slope_one;
pub mod spark_als;
mod spec;
pub mod svd;
pub mod svdpp;
pub mod twotower;

mod featurize;
mod linalg;

use tastebud_core::{Dataset, Error, ItemFilter, ItemIdx, Result, UserIdx};

pub use any::AnyModel;

pub use tastebud_core::Scored;

/// Which items a recommendation must leave out.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub enum Exclude<'a> {
    /// The items in the query's history (the usual choice). This is the default.
    #[default]
    Seen,
    /// Nothing: items already seen may come back (re-consumption: music, groceries).
    Nothing,
    /// Exactly these items (the history is allowed).
    Items(&'a [ItemIdx]),
    /// The history and these items.
    SeenAnd(&'a [ItemIdx]),
}

/// A recommendation request: what the user did, and what may be returned.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Query<'a> {
    /// The user's interactions as `(item, value)`, the input every model folds in.
    pub history: &'a [(ItemIdx, f32)],
    /// The user's index when known at training time (models may use stored state for them).
    pub user: Option<UserIdx>,
    /// Items to leave out.
    pub exclude: Exclude<'a>,
    /// When set, rank only these items.
    pub candidates: Option<&'a [ItemIdx]>,
    /// The user's items in the order they happened, oldest first, repeats included, when known: what
    /// the sequential models ([`sequential`]) read; the others read [`Self::history`]. When `None`, the
    /// sequential models take the history's order.
    pub sequence: Option<&'a [ItemIdx]>,
}

impl<'a> Query<'a> {
    /// A query from a history, excluding seen items, over the whole catalogue.
    pub fn new(history: &'a [(ItemIdx, f32)]) -> Self {
        Query {
            history,
            user: None,
            exclude: Exclude::Seen,
            candidates: None,
            sequence: None,
        }
    }
    /// Sets the known user. By default, none.
    pub fn user(mut self, u: UserIdx) -> Self {
        self.user = Some(u);
        self
    }
    /// Sets the exclusions. By default, [`Exclude::Seen`].
    pub fn exclude(mut self, e: Exclude<'a>) -> Self {
        self.exclude = e;
        self
    }
    /// Restricts ranking to candidates. By default, the whole catalogue.
    pub fn candidates(mut self, c: &'a [ItemIdx]) -> Self {
        self.candidates = Some(c);
        self
    }
    /// Sets the order of events (oldest first) for the sequential models. By default, none: the
    /// history's order.
    pub fn sequence(mut self, s: &'a [ItemIdx]) -> Self {
        self.sequence = Some(s);
        self
    }
    /// The items in the order they happened: [`Self::sequence`] when set, else the history's items.
    pub fn items_in_order(&self) -> std::borrow::Cow<'a, [ItemIdx]> {
        match self.sequence {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.history.iter().map(|&(i, _)| i).collect()),
        }
    }
    /// The [`ItemFilter`] this query implies for a catalogue of `n_items`; fails on an out-of-range item in
    /// the history, exclusions or candidates (a 4xx for the caller, never a panic).
    pub fn filter(&self, n_items: usize) -> Result<ItemFilter> {
        let seen: Vec<ItemIdx> = self.history.iter().map(|&(i, _)| i).collect();
        let mut f = ItemFilter::new(n_items);
        f = match self.exclude {
            Exclude::Seen => f.exclude(&seen)?,
            Exclude::Nothing => {
                check_items(&seen, n_items)?;
                f
            }
            Exclude::Items(items) => {
                check_items(&seen, n_items)?;
                f.exclude(items)?
            }
            Exclude::SeenAnd(items) => f.exclude(&seen)?.exclude(items)?,
        };
        if let Some(c) = self.candidates {
            f = f.candidates(c)?;
        }
        Ok(f)
    }
}

fn check_items(items: &[ItemIdx], n_items: usize) -> Result<()> {
    match items.iter().find(|i| i.get() >= n_items) {
        Some(i) => Err(Error::IndexOutOfRange {
            kind: "item",
            index: i.0,
            len: n_items,
        }),
        None => Ok(()),
    }
}

/// A fitted model that ranks items for a query. `Send + Sync`: one model serves many threads.
pub trait Recommender: Send + Sync {
    /// Short model name, e.g. `popularity`.
    fn name(&self) -> &str;
    /// Catalogue size the model was fitted on.
    fn n_items(&self) -> usize;
    /// The best `k` items for `q`, best first (higher score is better; ties by lower item index).
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>>;
    /// Many queries at once. Override when one matrix product beats one call per query.
    fn recommend_batch(&self, qs: &[Query<'_>], k: usize) -> Result<Vec<Vec<Scored>>> {
        qs.iter().map(|q| self.recommend(q, k)).collect()
    }
    /// Items similar to `item`, best first; `Ok(vec![])` when the model has no notion of similarity.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>>;
    /// The model as a rating predictor, when it predicts ratings (for RMSE/MAE). By default, none.
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        None
    }
    /// Item embeddings `(dim, n_items x dim row-major)`, when the model has them (for ANN retrieval and
    /// embedding diversity). By default, none.
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        None
    }
    /// The query's vector in the space of [`Self::item_embeddings`]: the inner product with an item's row
    /// is exactly the item's score, so an inner-product ANN index over the item embeddings retrieves the
    /// model's top items. `Ok(None)` (the default) when scores are not such inner products.
    fn query_embedding(&self, _q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        Ok(None)
    }
    /// Why `item` is recommended for `q`: the history items that contributed most to its score, largest
    /// contribution first, at most `n`. `Ok(None)` when the model has no such explanation.
    fn explain(&self, _q: &Query<'_>, _item: ItemIdx, _n: usize) -> Result<Option<Explanation>> {
        Ok(None)
    }
    /// Why `item` is recommended for `q`, as a [`reason::Reason`] to show a person (see
    /// [`reason::reason_for`], which adds the generic fallback). By default, the positively contributing
    /// history items of [`Self::explain`]; models with another kind of reason (popularity, rules, random)
    /// override it.
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<reason::Reason>> {
        Ok(self
            .explain(q, item, 3)?
            .and_then(|e| reason::Reason::from_explanation(&e, q.history)))
    }
    /// [`Self::explain`] for several items of one query (a served list). Override when the items share
    /// work (ALS factorises the user's system once).
    fn explain_many(
        &self,
        q: &Query<'_>,
        items: &[ItemIdx],
        n: usize,
    ) -> Result<Vec<Option<Explanation>>> {
        items.iter().map(|&i| self.explain(q, i, n)).collect()
    }
    /// The top `k` and the explanation of each (at most `n` history items each): one call when the
    /// model can share work between ranking and explaining (ALS: one factorisation for both).
    fn recommend_explained(
        &self,
        q: &Query<'_>,
        k: usize,
        n: usize,
    ) -> Result<(Vec<Scored>, Vec<Option<Explanation>>)> {
        let recs = self.recommend(q, k)?;
        let items: Vec<ItemIdx> = recs.iter().map(|s| s.item).collect();
        let e = self.explain_many(q, &items, n)?;
        Ok((recs, e))
    }
}

/// The history items behind a recommendation, with their contribution to its score.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    /// `(history item, contribution)`, largest first.
    pub because: Vec<(ItemIdx, f32)>,
}

/// Models that predict a rating for a (user, item) pair (for RMSE/MAE).
pub trait PredictRating: Send + Sync {
    /// The predicted rating of `item` for the user with `history` (and index `user` when known).
    fn predict(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32>;
}

/// Progress of a long job (fitting epochs, evaluation over users). The CLI shows it with indicatif.
pub trait Progress: Sync {
    /// A new phase with `total` steps (0 when unknown).
    fn start(&self, phase: &str, total: u64);
    /// `n` more steps done.
    fn inc(&self, n: u64);
    /// A status line (e.g. the loss after an epoch).
    fn message(&self, msg: &str);
    /// A result worth keeping after the job, unlike a status line (e.g. a hyperparameter the fit chose:
    /// the CLI prints it, the evaluator adds it to its report's notes). By default, dropped.
    fn note(&self, _msg: &str) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _phase: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn message(&self, _msg: &str) {}
}

/// Validated hyperparameters that fit a model on a dataset.
pub trait Fit {
    /// The fitted model.
    type Model: Recommender;
    /// Validates the parameters, then fits. Fails before any work on invalid parameters.
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Self::Model>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_autotraits<T: Send + Sync>() {}

    #[test]
    fn models_are_send_and_sync() {
        has_autotraits::<popularity::Popularity>();
        has_autotraits::<random::RandomModel>();
        has_autotraits::<Box<dyn Recommender>>();
    }

    #[test]
    fn query_filter_rejects_out_of_range_items() {
        let h = [(ItemIdx(7), 1.0)];
        assert!(Query::new(&h).filter(5).is_err());
        assert!(Query::new(&[]).candidates(&[ItemIdx(9)]).filter(5).is_err());
        assert!(Query::new(&h).exclude(Exclude::Nothing).filter(5).is_err());
        let f = Query::new(&[(ItemIdx(1), 1.0)])
            .exclude(Exclude::SeenAnd(&[ItemIdx(2)]))
            .filter(5)
            .unwrap();
        assert!(!f.allows(ItemIdx(1)) && !f.allows(ItemIdx(2)) && f.allows(ItemIdx(3)));
    }
}
