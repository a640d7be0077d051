//! Slope One ([`SlopeOne`]), as Surprise's `SlopeOne` (Lemire & Maclachlan 2005).
//!
//! For every pair of items rated by a common user, `dev(i, j) = mean over U_ij of (r_ui − r_uj)` and
//! `freq(i, j) = |U_ij|`. Surprise's estimate (the default here) is the paper's plain Slope One around the
//! user's mean:
//!
//! `r̂_ui = μ_u + (1 / |R_i(u)|) Σ_{j ∈ R_i(u)} dev(i, j)`,
//!
//! where `R_i(u)` are the items of the user's history with at least one common user with `i` (and `μ_u` the
//! mean of the history's ratings). With `weighted = true`, the paper's **weighted** Slope One instead:
//! `r̂_ui = Σ_j (dev(i, j) + r_uj) freq(i, j) / Σ_j freq(i, j)`. As in Surprise, a prediction is impossible
//! (the global mean is returned) for an item without training ratings or a user with no history;
//! predictions are clipped to the training rating range.
//!
//! The model keeps only co-rated pairs, as a sparse item x item matrix (memory grows with the number of
//! co-rated pairs, at most `n_items²`). Fitting runs in parallel over items, each item's row summed in a fixed
//! order: deterministic. The user side is the query's history, always: a known user whose history is their
//! training row gets exactly Surprise's prediction, and a new user needs no fold-in.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx};
//! use tastebud_models::{Fit, NoProgress, PredictRating, slope_one::SlopeOneParams};
//! // The paper's example: A rated i=1, j=0.5; B rated i=2, j=2.5 (dev(j, i) = 1); a new user rated i=3.
//! let x = Interactions::from_triplets(2, 2, &[(0, 0, 1.0), (0, 1, 1.5), (1, 0, 2.0), (1, 1, 2.5)],
//!                                    Feedback::Explicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b"], ["i", "j"])?;
//! let model = SlopeOneParams::default().fit(&data, &NoProgress)?;
//! let r = model.predict(None, &[(ItemIdx(0), 2.0)], ItemIdx(1))?;
//! assert!((r - 2.5).abs() < 1e-6);
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, Result, UserIdx, top_k};

use crate::baseline::common;
use crate::{Fit, PredictRating, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`SlopeOne`]. Surprise's `SlopeOne` has none; `weighted` is an extension whose default
/// is Surprise's behaviour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlopeOneParams {
    /// Use the weighted Slope One estimate (support-weighted, around the user's own ratings) instead of
    /// Surprise's.
    pub weighted: bool,
}

impl SlopeOneParams {
    /// Uses the weighted Slope One estimate. By default, false (Surprise's estimate).
    pub fn weighted(mut self, v: bool) -> Self {
        self.weighted = v;
        self
    }
    /// Checks the parameters (there is nothing that can be invalid).
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// A fitted Slope One model: the sparse deviation matrix.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlopeOne {
    #[serde(with = "crate::params_body")]
    params: SlopeOneParams,
    global_mean: f32,
    /// Row `i` is `cols[ptr[i]..ptr[i + 1]]`, sorted, `i` itself left out.
    ptr: Vec<u64>,
    cols: Vec<u32>,
    /// `dev(i, j)` aligned with `cols`.
    dev: Vec<f32>,
    /// `freq(i, j)` aligned with `cols`.
    freq: Vec<u32>,
    /// Training ratings per item (0: unknown item).
    item_counts: Vec<u32>,
    rating_min: f32,
    rating_max: f32,
}

impl Fit for SlopeOneParams {
    type Model = SlopeOne;
    /// Parallel over items, deterministic.
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<SlopeOne> {
        self.validate()?;
        let x = &data.interactions;
        let n = x.n_items();
        let (mean, rating_min, rating_max) = common::rating_stats(x);
        progress.start("items", n as u64);
        // Each item's row, with a dense scratch per worker.
        let rows: Vec<(Vec<u32>, Vec<f32>, Vec<u32>)> = (0..n)
            .into_par_iter()
            .map_init(
                || (vec![0u32; n], vec![0f64; n], Vec::<u32>::new()),
                |(freq, sum, touched), i| {
                    let it = ItemIdx(i as u32);
                    for (u, r_ui) in x.item_users(it).iter().zip(x.item_values(it)) {
                        let uu = UserIdx(u.0);
                        for (j, &r_uj) in x.user_items(uu).iter().zip(x.user_values(uu)) {
                            let j = j.get();
                            if freq[j] == 0 {
                                touched.push(j as u32);
                            }
                            freq[j] += 1;
                            sum[j] += r_ui as f64 - r_uj as f64;
                        }
                    }
                    // Sorted co-rated items: a scan of the scratch when dense, a sort when sparse.
                    if touched.len() * 16 > n {
                        touched.clear();
                        touched.extend((0..n as u32).filter(|&j| freq[j as usize] > 0));
                    } else {
                        touched.sort_unstable();
                    }
                    let mut row = (
                        Vec::with_capacity(touched.len()),
                        Vec::with_capacity(touched.len()),
                        Vec::with_capacity(touched.len()),
                    );
                    for &j in touched.iter() {
                        let ju = j as usize;
                        if ju != i {
                            row.0.push(j);
                            row.1.push((sum[ju] / freq[ju] as f64) as f32);
                            row.2.push(freq[ju]);
                        }
                        freq[ju] = 0;
                        sum[ju] = 0.0;
                    }
                    touched.clear();
                    progress.inc(1);
                    row
                },
            )
            .collect();
        let total: usize = rows.iter().map(|r| r.0.len()).sum();
        let mut model = SlopeOne {
            params: self.clone(),
            global_mean: mean as f32,
            ptr: Vec::with_capacity(n + 1),
            cols: Vec::with_capacity(total),
            dev: Vec::with_capacity(total),
            freq: Vec::with_capacity(total),
            item_counts: common::counts(x).1,
            rating_min,
            rating_max,
        };
        model.ptr.push(0);
        for (c, d, f) in rows {
            model.cols.extend(c);
            model.dev.extend(d);
            model.freq.extend(f);
            model.ptr.push(model.cols.len() as u64);
        }
        Ok(model)
    }
}

impl SlopeOne {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &SlopeOneParams {
        &self.params
    }
    /// `(dev(i, j), freq(i, j))` when `i` and `j` have a common user (`None` otherwise, and for `i == j`).
    pub fn deviation(&self, i: ItemIdx, j: ItemIdx) -> Option<(f32, u32)> {
        let (cols, dev, freq) = self.row(i.get())?;
        cols.binary_search(&j.0).ok().map(|k| (dev[k], freq[k]))
    }
    /// Number of stored co-rated pairs `(i, j)`, `i != j`.
    pub fn n_pairs(&self) -> usize {
        self.cols.len()
    }

    fn row(&self, i: usize) -> Option<(&[u32], &[f32], &[u32])> {
        let r = self.ptr[i] as usize..*self.ptr.get(i + 1)? as usize;
        Some((&self.cols[r.clone()], &self.dev[r.clone()], &self.freq[r]))
    }
    fn n(&self) -> usize {
        self.ptr.len() - 1
    }
    fn item_known(&self, i: usize) -> bool {
        self.item_counts[i] > 0
    }

    /// Scores every item for a history (unclipped estimates; the global mean where impossible).
    fn scores(&self, history: &[(ItemIdx, f32)]) -> Vec<f32> {
        let n = self.n();
        if history.is_empty() {
            return vec![self.global_mean; n];
        }
        let mean_u =
            (history.iter().map(|&(_, r)| r as f64).sum::<f64>() / history.len() as f64) as f32;
        // dev(i, j) = −dev(j, i): walk the rows of the history's items.
        let mut num = vec![0f64; n];
        let mut den = vec![0f64; n];
        for &(j, r_uj) in history {
            let (cols, dev, freq) = self.row(j.get()).expect("checked");
            for ((&i, &d), &f) in cols.iter().zip(dev).zip(freq) {
                let i = i as usize;
                if self.params.weighted {
                    num[i] += (r_uj as f64 - d as f64) * f as f64;
                    den[i] += f as f64;
                } else {
                    num[i] -= d as f64;
                    den[i] += 1.0;
                }
            }
        }
        (0..n)
            .map(|i| {
                if !self.item_known(i) {
                    self.global_mean
                } else if den[i] == 0.0 {
                    mean_u
                } else if self.params.weighted {
                    (num[i] / den[i]) as f32
                } else {
                    mean_u + (num[i] / den[i]) as f32
                }
            })
            .collect()
    }
}

impl PredictRating for SlopeOne {
    fn predict(
        &self,
        _user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        common::check_item(item, self.n())?;
        common::check_history(history, self.n())?;
        let i = item.get();
        let est = if history.is_empty() || !self.item_known(i) {
            self.global_mean
        } else {
            let mean_u = history.iter().map(|&(_, r)| r as f64).sum::<f64>() / history.len() as f64;
            let (cols, dev, freq) = self.row(i).expect("checked");
            let (mut num, mut den) = (0f64, 0f64);
            for &(j, r_uj) in history {
                if let Ok(k) = cols.binary_search(&j.0) {
                    if self.params.weighted {
                        num += (dev[k] as f64 + r_uj as f64) * freq[k] as f64;
                        den += freq[k] as f64;
                    } else {
                        num += dev[k] as f64;
                        den += 1.0;
                    }
                }
            }
            (if den == 0.0 {
                mean_u
            } else if self.params.weighted {
                num / den
            } else {
                mean_u + num / den
            }) as f32
        };
        Ok(est.clamp(self.rating_min, self.rating_max))
    }
}

impl Recommender for SlopeOne {
    fn name(&self) -> &str {
        "slope_one"
    }
    fn n_items(&self) -> usize {
        self.n()
    }
    /// Ranks by the unclipped estimate for the history.
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n())?;
        top_k(&self.scores(q.history), k, &filter)
    }
    /// Deviations are not similarities (two items one star apart for everybody are as related as two
    /// items rated alike): always empty.
    fn similar_items(&self, item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        common::check_item(item, self.n())?;
        Ok(Vec::new())
    }
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        Some(self)
    }
}

impl SlopeOne {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): a CSR of deviations over the items, with
    /// column indices in range and finite values, and a rating range.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        let n = self.item_counts.len();
        v::offsets("Slope One rows", &self.ptr, n, self.cols.len())?;
        v::indices("Slope One columns", &self.cols, n)?;
        v::len("Slope One deviations", self.dev.len(), self.cols.len())?;
        v::len("Slope One frequencies", self.freq.len(), self.cols.len())?;
        v::finite_f32("Slope One deviations", &self.dev)?;
        crate::baseline::common::check_scale(self.global_mean, self.rating_min, self.rating_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{Feedback, Interactions};

    /// The 3-user, 3-item example of Lemire & Maclachlan (2005), section 4 (weighted Slope One):
    /// John rated A=5, B=3, C=2; Mark A=3, B=4; Lucy B=2, C=5. Predict Lucy's rating of A.
    fn paper() -> Dataset {
        let x = Interactions::from_triplets(
            3,
            3,
            &[
                (0, 0, 5.0),
                (0, 1, 3.0),
                (0, 2, 2.0),
                (1, 0, 3.0),
                (1, 1, 4.0),
                (2, 1, 2.0),
                (2, 2, 5.0),
            ],
            Feedback::Explicit,
        )
        .unwrap();
        Dataset::from_parts("paper", x, ["john", "mark", "lucy"], ["a", "b", "c"]).unwrap()
    }

    #[test]
    fn deviations_and_the_papers_weighted_example() {
        let d = paper();
        let m = SlopeOneParams::default()
            .weighted(true)
            .fit(&d, &NoProgress)
            .unwrap();
        // dev(A, B) = ((5 - 3) + (3 - 4)) / 2 = 0.5 over 2 users; dev(A, C) = 5 - 2 = 3 over 1 user.
        assert_eq!(m.deviation(ItemIdx(0), ItemIdx(1)), Some((0.5, 2)));
        assert_eq!(m.deviation(ItemIdx(0), ItemIdx(2)), Some((3.0, 1)));
        assert_eq!(m.deviation(ItemIdx(1), ItemIdx(0)), Some((-0.5, 2)));
        assert_eq!(m.deviation(ItemIdx(0), ItemIdx(0)), None);
        // The paper: ((2 + 0.5) * 2 + (5 + 3) * 1) / (2 + 1) = 13 / 3 = 4.33.
        let lucy = d.interactions.history(UserIdx(2));
        let r = m.predict(Some(UserIdx(2)), &lucy, ItemIdx(0)).unwrap();
        assert!((r - 13.0 / 3.0).abs() < 1e-5, "{r}");
        // Surprise's (unweighted, around the user mean 3.5): 3.5 + (0.5 + 3) / 2 = 5.25, clipped to 5.
        let s = SlopeOneParams::default().fit(&d, &NoProgress).unwrap();
        assert_eq!(s.predict(None, &lucy, ItemIdx(0)).unwrap(), 5.0);
        // Mark's C: mean 3.5 + (dev(C, A) + dev(C, B)) / 2 = 3.5 + (-3 + 1) / 2 = 2.5.
        let mark = d.interactions.history(UserIdx(1));
        assert_eq!(s.predict(None, &mark, ItemIdx(2)).unwrap(), 2.5);
        // The ranking uses the unclipped estimates: Lucy's A is 5.25.
        assert!((s.scores(&lucy)[0] - 5.25).abs() < 1e-6);
        let recs = s.recommend(&Query::new(&mark), 3).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].item, ItemIdx(2));
    }

    #[test]
    fn impossible_predictions_fall_back_to_the_global_mean() {
        let x = Interactions::from_triplets(
            2,
            3,
            &[(0, 0, 4.0), (0, 1, 2.0), (1, 0, 3.0)],
            Feedback::Explicit,
        )
        .unwrap();
        let d = Dataset::from_parts("t", x, ["a", "b"], ["x", "y", "z"]).unwrap();
        let m = SlopeOneParams::default().fit(&d, &NoProgress).unwrap();
        let mu = 3.0;
        assert_eq!(m.predict(None, &[], ItemIdx(0)).unwrap(), mu);
        assert_eq!(
            m.predict(None, &[(ItemIdx(0), 4.0)], ItemIdx(2)).unwrap(),
            mu
        );
        assert!(m.predict(None, &[(ItemIdx(0), 4.0)], ItemIdx(3)).is_err());
        assert!(m.predict(None, &[(ItemIdx(5), 4.0)], ItemIdx(0)).is_err());
        // No co-rated item in the history: the user's mean.
        let x2 = Interactions::from_triplets(2, 2, &[(0, 0, 4.0), (1, 1, 2.0)], Feedback::Explicit)
            .unwrap();
        let d2 = Dataset::from_parts("t", x2, ["a", "b"], ["x", "y"]).unwrap();
        let m2 = SlopeOneParams::default().fit(&d2, &NoProgress).unwrap();
        assert_eq!(m2.n_pairs(), 0);
        let r = m2.predict(None, &[(ItemIdx(0), 4.0)], ItemIdx(1)).unwrap();
        assert_eq!(r, 4.0);
    }
}
