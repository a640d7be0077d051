//! Item-item nearest neighbours for implicit-feedback top-N (implicit's `CosineRecommender`,
//! `TFIDFRecommender`, `BM25Recommender`).

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, Result, Scored, ensure_param, top_k, top_k_sparse};

use super::{Neighbours, SimSpec, Similarity, Space, Weigher, Weighting, row_sums};
use crate::{Explanation, Fit, Progress, Query, Recommender};

/// Hyperparameters of [`ItemKnn`]. Defaults are implicit's `CosineRecommender(K=20)`.
///
/// - implicit's `TFIDFRecommender`: `weighting = tfidf`, `similarity = cosine`.
/// - implicit's `BM25Recommender(K1, B)`: `weighting = bm25`, `similarity = dot`, `k1`, `b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnParams {
    /// Neighbours kept per item, **the item itself included** as in implicit (with cosine an item is its
    /// own best neighbour, so it has `k − 1` others). By default, 20.
    pub k: usize,
    /// Similarity measure. [`Similarity::PearsonBaseline`] is not available here (it needs rating
    /// baselines; see [`super::rating::KnnRating`]). By default, cosine.
    pub similarity: Similarity,
    /// Re-weighting of the item vectors before the similarity. By default, none.
    pub weighting: Weighting,
    /// BM25's term-frequency saturation `K1`. By default, 1.2 (implicit's `BM25Recommender`; implicit's
    /// `bm25_weight` function, used for ALS, defaults to 100).
    pub k1: f32,
    /// BM25's length normalisation `B`, in [0, 1]. By default, 0.75 (implicit's `BM25Recommender`;
    /// `bm25_weight` defaults to 0.8).
    pub b: f32,
    /// Shrinkage: `sim · n / (n + shrinkage)`, `n` the number of users the two items share. By default, 0.
    pub shrinkage: f32,
    /// Minimum number of shared users for a similarity to count. By default, 1.
    pub min_support: usize,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            k: 20,
            similarity: Similarity::Cosine,
            weighting: Weighting::None,
            k1: 1.2,
            b: 0.75,
            shrinkage: 0.0,
            min_support: 1,
        }
    }
}

impl ItemKnnParams {
    /// Sets the number of neighbours per item (itself included). By default, 20.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// Sets the similarity measure. By default, cosine.
    pub fn similarity(mut self, s: Similarity) -> Self {
        self.similarity = s;
        self
    }
    /// Sets the weighting. By default, none.
    pub fn weighting(mut self, w: Weighting) -> Self {
        self.weighting = w;
        self
    }
    /// Sets BM25's `K1`. By default, 1.2.
    pub fn k1(mut self, k1: f32) -> Self {
        self.k1 = k1;
        self
    }
    /// Sets BM25's `B`. By default, 0.75.
    pub fn b(mut self, b: f32) -> Self {
        self.b = b;
        self
    }
    /// Sets the shrinkage. By default, 0.
    pub fn shrinkage(mut self, s: f32) -> Self {
        self.shrinkage = s;
        self
    }
    /// Sets the minimum support. By default, 1.
    pub fn min_support(mut self, m: usize) -> Self {
        self.min_support = m;
        self
    }
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        super::validate_common(self.k, self.shrinkage, self.min_support)?;
        super::validate_bm25(self.k1, self.b)?;
        ensure_param(
            self.similarity != Similarity::PearsonBaseline,
            "similarity",
            "pearson_baseline needs rating baselines; use the KNN rating models (knn_baseline)",
        )
    }
}

/// Item-item KNN: `score(i) = Σ_{j in history} value_j · sim(j, i)` over the stored top-`k` neighbour
/// lists, ranking only items reached from the history (as implicit does).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ItemKnn {
    #[serde(with = "crate::params_body")]
    params: ItemKnnParams,
    n_items: usize,
    /// Per item, its neighbours best first.
    neighbours: Neighbours,
}

impl Fit for ItemKnnParams {
    type Model = ItemKnn;
    /// Computes every item's top-`k` neighbours, in parallel over items (deterministic).
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<ItemKnn> {
        self.validate()?;
        let x = &data.interactions;
        let centre = self.similarity == Similarity::AdjustedCosine;
        let w = Weigher::fit(x, false, self.weighting, self.k1, self.b, centre);
        let sums = if self.weighting == Weighting::Bm25 {
            row_sums(x, false)
        } else {
            Vec::new()
        };
        let space = Space::build(x, false, |r, c, v| {
            w.weigh(c, v, sums.get(r as usize).copied().unwrap_or(0.0))
        });
        let spec = SimSpec {
            measure: self.similarity,
            shrinkage: self.shrinkage,
            min_support: self.min_support as u32,
        };
        let neighbours = space.all_pairs(&spec, Some(self.k), true, false, progress);
        Ok(ItemKnn {
            params: self.clone(),
            n_items: x.n_items(),
            neighbours,
        })
    }
}

impl ItemKnn {
    /// The parameters it was fitted with.
    pub fn params(&self) -> &ItemKnnParams {
        &self.params
    }
    /// The stored neighbours of `item` (itself included when kept), best first.
    pub fn neighbours(&self, item: ItemIdx) -> Result<Vec<Scored>> {
        self.check(item)?;
        let (idx, sim) = self.neighbours.row(item.get());
        Ok(idx
            .iter()
            .zip(sim)
            .map(|(&i, &s)| Scored {
                item: ItemIdx(i),
                score: s,
            })
            .collect())
    }
    /// Number of stored similarities.
    pub fn nnz(&self) -> usize {
        self.neighbours.nnz()
    }

    fn check(&self, item: ItemIdx) -> Result<()> {
        if item.get() < self.n_items {
            Ok(())
        } else {
            Err(tastebud_core::Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: self.n_items,
            })
        }
    }

    /// Dense scores and the items they touch (first-touch order). History items must be in range.
    fn scores(&self, history: &[(ItemIdx, f32)]) -> (Vec<f32>, Vec<u32>) {
        let mut scores = vec![0f32; self.n_items];
        let mut seen = vec![false; self.n_items];
        let mut touched = Vec::new();
        for &(j, v) in history {
            let (idx, sim) = self.neighbours.row(j.get());
            for (&i, &s) in idx.iter().zip(sim) {
                if !seen[i as usize] {
                    seen[i as usize] = true;
                    touched.push(i);
                }
                scores[i as usize] += v * s;
            }
        }
        (scores, touched)
    }
}

impl Recommender for ItemKnn {
    fn name(&self) -> &str {
        "itemknn"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        let (scores, touched) = self.scores(q.history);
        if filter.candidate_list().is_some() {
            // Every candidate is ranked, unreached ones with score 0.
            return top_k(&scores, k, &filter);
        }
        Ok(top_k_sparse(
            touched.iter().map(|&i| (ItemIdx(i), scores[i as usize])),
            k,
            &filter,
        ))
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let mut v = self.neighbours(item)?;
        v.retain(|s| s.item != item);
        v.truncate(k);
        Ok(v)
    }
    /// The history items `j` with the largest `value_j · sim(j, item)`; all of them sum to the score.
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        q.filter(self.n_items)?;
        self.check(item)?;
        let mut because: Vec<(u32, f32)> = Vec::new();
        for &(j, v) in q.history {
            let (idx, sim) = self.neighbours.row(j.get());
            if let Some(p) = idx.iter().position(|&i| i == item.0) {
                match because.iter_mut().find(|b| b.0 == j.0) {
                    Some(b) => b.1 += v * sim[p],
                    None => because.push((j.0, v * sim[p])),
                }
            }
        }
        super::keep_best(&mut because, n);
        Ok(Some(Explanation {
            because: because.into_iter().map(|(j, c)| (ItemIdx(j), c)).collect(),
        }))
    }
}

impl ItemKnn {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): one neighbour list per item, over items.
    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        self.neighbours
            .validate("ItemKNN neighbours", self.n_items, self.n_items, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Exclude, NoProgress};
    use tastebud_core::{Feedback, Interactions};

    fn data() -> Dataset {
        // 4 users x 4 items, binary.
        let x = Interactions::from_triplets(
            4,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (1, 2, 1.0),
                (2, 1, 1.0),
                (2, 2, 1.0),
                (3, 3, 1.0),
                (3, 0, 1.0),
            ],
            Feedback::Implicit,
        )
        .unwrap();
        Dataset::from_parts("t", x, ["a", "b", "c", "d"], ["w", "x", "y", "z"]).unwrap()
    }

    #[test]
    fn scores_are_history_weighted_neighbour_sums_and_explanations_add_up() {
        let d = data();
        let m = ItemKnnParams::default().fit(&d, &NoProgress).unwrap();
        // i0 users {0,1,3}, i1 {0,1,2}, i2 {1,2}, i3 {3}.
        // cos(0,1) = 2/3, cos(0,2) = 1/sqrt(6), cos(1,2) = 2/sqrt(6), cos(0,3) = 1/sqrt(3).
        let h = [(ItemIdx(0), 1.0), (ItemIdx(1), 2.0)];
        let recs = m.recommend(&Query::new(&h), 10).unwrap();
        let s2 = 1.0 / 6f32.sqrt() + 2.0 * 2.0 / 6f32.sqrt();
        let s3 = 1.0 / 3f32.sqrt();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].item, ItemIdx(2));
        assert!((recs[0].score - s2).abs() < 1e-6);
        assert!((recs[1].score - s3).abs() < 1e-6);
        let e = m.explain(&Query::new(&h), ItemIdx(2), 10).unwrap().unwrap();
        assert_eq!(e.because[0].0, ItemIdx(1));
        let total: f32 = e.because.iter().map(|b| b.1).sum();
        assert!((total - recs[0].score).abs() < 1e-6);
        // With re-consumption allowed, the history's own items come back (self-similarity counts).
        let all = m
            .recommend(&Query::new(&h).exclude(Exclude::Nothing), 10)
            .unwrap();
        assert_eq!(all.len(), 4);
        // Candidates are all ranked, unreached ones at 0.
        let c = [ItemIdx(3), ItemIdx(2)];
        let r = m.recommend(&Query::new(&[]).candidates(&c), 5).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|s| s.score == 0.0));
    }

    #[test]
    fn similar_items_excludes_the_item_and_k_prunes() {
        let d = data();
        let m = ItemKnnParams::default().k(2).fit(&d, &NoProgress).unwrap();
        // i0: self 1, then i1 2/3 > i3 0.577 > i2 0.408.
        let s = m.similar_items(ItemIdx(0), 5).unwrap();
        assert_eq!(s.iter().map(|s| s.item.0).collect::<Vec<_>>(), vec![1]);
        assert!(m.similar_items(ItemIdx(9), 5).is_err());
        assert!(m.recommend(&Query::new(&[(ItemIdx(9), 1.0)]), 5).is_err());
    }

    #[test]
    fn invalid_parameters_fail_before_work() {
        let d = data();
        assert!(ItemKnnParams::default().k(0).fit(&d, &NoProgress).is_err());
        assert!(
            ItemKnnParams::default()
                .shrinkage(-1.0)
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            ItemKnnParams::default()
                .similarity(Similarity::PearsonBaseline)
                .validate()
                .is_err()
        );
        let p: ItemKnnParams =
            serde_json::from_str(r#"{"k": 5, "weighting": "bm25", "similarity": "dot"}"#).unwrap();
        assert_eq!(p.k, 5);
        assert!(serde_json::from_str::<ItemKnnParams>(r#"{"kk": 5}"#).is_err());
    }

    #[test]
    fn tfidf_and_bm25_fit_and_rank() {
        let d = data();
        for p in [
            ItemKnnParams::default().weighting(Weighting::Tfidf),
            ItemKnnParams::default()
                .weighting(Weighting::Bm25)
                .similarity(Similarity::Dot),
        ] {
            let m = p.fit(&d, &NoProgress).unwrap();
            let h = [(ItemIdx(0), 1.0)];
            assert!(!m.recommend(&Query::new(&h), 3).unwrap().is_empty());
        }
    }
}
