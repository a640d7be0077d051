//! User-user nearest neighbours for top-N, folding in the query history on the fly.

use serde::{Deserialize, Serialize};
use tastebud_core::{
    Dataset, Interactions, ItemIdx, Result, Scored, UserIdx, ensure_param, top_k, top_k_sparse,
};

use super::{Acc, SimSpec, Similarity, Space, Weigher, Weighting, keep_best, row_sums};
use crate::{Explanation, Fit, Progress, Query, Recommender};

/// Hyperparameters of [`UserKnn`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserKnnParams {
    /// Neighbours per query (users with a positive similarity only). By default, 40 (Surprise's `k`).
    pub k: usize,
    /// Similarity measure ([`Similarity::PearsonBaseline`] is not available here). By default, cosine.
    pub similarity: Similarity,
    /// Re-weighting of the user vectors (over items) before the similarity. By default, none.
    pub weighting: Weighting,
    /// BM25's `K1`. By default, 1.2.
    pub k1: f32,
    /// BM25's `B`, in [0, 1]. By default, 0.75.
    pub b: f32,
    /// Shrinkage: `sim · n / (n + shrinkage)`, `n` the number of shared items. By default, 0.
    pub shrinkage: f32,
    /// Minimum number of shared items for a similarity to count. By default, 1.
    pub min_support: usize,
}

impl Default for UserKnnParams {
    fn default() -> Self {
        UserKnnParams {
            k: 40,
            similarity: Similarity::Cosine,
            weighting: Weighting::None,
            k1: 1.2,
            b: 0.75,
            shrinkage: 0.0,
            min_support: 1,
        }
    }
}

impl UserKnnParams {
    /// Sets the number of neighbours. By default, 40.
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

/// User-user KNN: the query history is compared with every stored user, the `k` most similar (positive
/// similarity, the query's own user left out) are kept, and `score(i) = Σ_v sim(h, v) · r_vi`.
///
/// Nothing user-specific is precomputed, so new users and fresh events are served without a refit. Cost per
/// query: `O(Σ_{j in history} |users of j|)` to accumulate the similarities, `O(n_users)` at most to pick
/// the `k` best, and `O(Σ_{v in neighbours} |items of v|)` to score; memory: the weighted matrix twice
/// (by user and by item) plus the raw one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserKnn {
    #[serde(with = "crate::params_body")]
    params: UserKnnParams,
    weigher: Weigher,
    space: Space,
    x: Interactions,
}

impl Fit for UserKnnParams {
    type Model = UserKnn;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<UserKnn> {
        self.validate()?;
        progress.start("index", 1);
        let x = &data.interactions;
        let centre = self.similarity == Similarity::AdjustedCosine;
        let weigher = Weigher::fit(x, true, self.weighting, self.k1, self.b, centre);
        let sums = row_sums(x, true);
        let space = Space::build(x, true, |r, c, v| weigher.weigh(c, v, sums[r as usize]));
        progress.inc(1);
        Ok(UserKnn {
            params: self.clone(),
            weigher,
            space,
            x: x.clone(),
        })
    }
}

impl UserKnn {
    /// The parameters it was fitted with.
    pub fn params(&self) -> &UserKnnParams {
        &self.params
    }

    /// The `k` stored users most similar to the history (best first), leaving out `skip`.
    pub fn neighbours(
        &self,
        history: &[(ItemIdx, f32)],
        skip: Option<UserIdx>,
    ) -> Result<Vec<(UserIdx, f32)>> {
        for &(i, _) in history {
            self.x.check_item(i)?;
        }
        let (idx, val) = self
            .weigher
            .weigh_row(history.iter().map(|&(i, v)| (i.0, v)));
        let spec = SimSpec {
            measure: self.params.similarity,
            shrinkage: self.params.shrinkage,
            min_support: self.params.min_support as u32,
        };
        let mut acc = Acc::new(self.space.n_rows());
        let mut out = Vec::new();
        self.space
            .similarities(&idx, &val, &spec, &mut acc, |v, s| {
                if s > 0.0 && skip.is_none_or(|u| u.0 != v) {
                    out.push((v, s));
                }
            });
        keep_best(&mut out, self.params.k);
        Ok(out.into_iter().map(|(v, s)| (UserIdx(v), s)).collect())
    }
}

impl Recommender for UserKnn {
    fn name(&self) -> &str {
        "userknn"
    }
    fn n_items(&self) -> usize {
        self.x.n_items()
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let n_items = self.x.n_items();
        let filter = q.filter(n_items)?;
        let skip = q.user.filter(|u| u.get() < self.x.n_users());
        let neighbours = self.neighbours(q.history, skip)?;
        let mut scores = vec![0f32; n_items];
        let mut seen = vec![false; n_items];
        let mut touched = Vec::new();
        for (v, s) in neighbours {
            for (&i, &r) in self.x.user_items(v).iter().zip(self.x.user_values(v)) {
                if !seen[i.get()] {
                    seen[i.get()] = true;
                    touched.push(i);
                }
                scores[i.get()] += s * r;
            }
        }
        if filter.candidate_list().is_some() {
            return top_k(&scores, k, &filter);
        }
        Ok(top_k_sparse(
            touched.iter().map(|&i| (i, scores[i.get()])),
            k,
            &filter,
        ))
    }
    fn similar_items(&self, item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        self.x.check_item(item)?;
        Ok(Vec::new())
    }
    /// Each neighbour's vote for `item` (`sim(u, v) · r_vi`) is split equally over the history items the
    /// neighbour shares with the query, so the contributions add up to the item's score.
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        self.x.check_item(item)?;
        let skip = q.user.filter(|u| u.get() < self.x.n_users());
        let mut contrib: Vec<(ItemIdx, f32)> = q.history.iter().map(|&(j, _)| (j, 0.0)).collect();
        for (v, s) in self.neighbours(q.history, skip)? {
            let Some(r) = self.x.get(v, item) else {
                continue;
            };
            let shared: Vec<usize> = (0..contrib.len())
                .filter(|&k| self.x.get(v, contrib[k].0).is_some())
                .collect();
            if shared.is_empty() {
                continue;
            }
            let share = s * r / shared.len() as f32;
            for k in shared {
                contrib[k].1 += share;
            }
        }
        contrib.retain(|c| c.1 != 0.0);
        contrib.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        contrib.truncate(n);
        Ok(Some(Explanation { because: contrib }))
    }
}

impl UserKnn {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): the training interactions, and a user
    /// space and weigher of the same shape.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        self.x.validate()?;
        self.space.validate("UserKNN space")?;
        v::len("UserKNN space rows", self.space.n_rows(), self.x.n_users())?;
        v::len(
            "UserKNN space columns",
            self.space.n_coords(),
            self.x.n_items(),
        )?;
        self.weigher.validate(self.x.n_items())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::Feedback;

    #[test]
    fn explanation_adds_up_to_the_score() {
        let mut t = Vec::new();
        for u in 0..8u32 {
            for i in 0..6u32 {
                if (u + 2 * i) % 3 != 0 {
                    t.push((u, i, ((u + i) % 4 + 1) as f32));
                }
            }
        }
        let x = tastebud_core::Interactions::from_triplets(8, 6, &t, Feedback::Explicit).unwrap();
        let d = Dataset::from_parts(
            "t",
            x,
            (0..8).map(|u| u.to_string()),
            (0..6).map(|i| i.to_string()),
        )
        .unwrap();
        let m = UserKnnParams::default().fit(&d, &NoProgress).unwrap();
        let h = d.interactions.history(UserIdx(0));
        let q = Query::new(&h).user(UserIdx(0));
        for r in m.recommend(&q, 3).unwrap() {
            let e = m.explain(&q, r.item, 100).unwrap().unwrap();
            let total: f32 = e.because.iter().map(|b| b.1).sum();
            assert!((total - r.score).abs() < 1e-4, "{total} vs {}", r.score);
            assert!(e.because.iter().all(|b| h.iter().any(|x| x.0 == b.0)));
        }
    }

    #[test]
    fn scores_by_hand_and_own_user_left_out() {
        // u0 {0, 1}, u1 {0, 1, 2}, u2 {1, 2, 3}, binary.
        let x = Interactions::from_triplets(
            3,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (1, 2, 1.0),
                (2, 1, 1.0),
                (2, 2, 1.0),
                (2, 3, 1.0),
            ],
            Feedback::Implicit,
        )
        .unwrap();
        let d = Dataset::from_parts("t", x.clone(), ["a", "b", "c"], ["w", "x", "y", "z"]).unwrap();
        let m = UserKnnParams::default().fit(&d, &NoProgress).unwrap();
        let h = x.history(UserIdx(0));
        // cos(u0, u1) = 2 / sqrt(6), cos(u0, u2) = 1 / sqrt(6).
        let recs = m.recommend(&Query::new(&h).user(UserIdx(0)), 5).unwrap();
        assert_eq!(recs[0].item, ItemIdx(2));
        assert!((recs[0].score - 3.0 / 6f32.sqrt()).abs() < 1e-6);
        assert_eq!(recs[1].item, ItemIdx(3));
        assert!((recs[1].score - 1.0 / 6f32.sqrt()).abs() < 1e-6);
        // As an anonymous history, u0's own stored row is its best neighbour (similarity 1), adding nothing
        // new; with k = 1 only u0 itself is kept, so nothing is recommended.
        let m1 = UserKnnParams::default().k(1).fit(&d, &NoProgress).unwrap();
        assert!(m1.recommend(&Query::new(&h), 5).unwrap().is_empty());
        assert_eq!(
            m1.recommend(&Query::new(&h).user(UserIdx(0)), 5).unwrap()[0].item,
            ItemIdx(2)
        );
        assert!(UserKnnParams::default().k(0).fit(&d, &NoProgress).is_err());
        assert!(m.recommend(&Query::new(&[(ItemIdx(7), 1.0)]), 5).is_err());
    }
}
