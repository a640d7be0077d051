//! Surprise's neighbourhood rating predictors: `KNNBasic`, `KNNWithMeans`, `KNNBaseline` (Surprise 1.1.5,
//! `prediction_algorithms/knns.py`), user- or item-based.

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Interactions, ItemIdx, Result, Scored, TopK, UserIdx, ensure_param};

use super::baseline::{self, Biases};
use super::{Acc, Neighbours, SimSpec, Similarity, Space, rank_cmp};
use crate::{Fit, PredictRating, Progress, Query, Recommender};

/// Which of Surprise's three predictors (user-based shown; item-based swaps the roles).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnKind {
    /// `KNNBasic`: `Σ sim(u, v) · r_vi / Σ sim(u, v)`. This is the default.
    #[default]
    Basic,
    /// `KNNWithMeans`: `μ_u + Σ sim(u, v) · (r_vi − μ_v) / Σ sim(u, v)`.
    WithMeans,
    /// `KNNBaseline`: `b_ui + Σ sim(u, v) · (r_vi − b_vi) / Σ sim(u, v)`, `b_ui = μ + b_u + b_i` fitted by
    /// ALS.
    Baseline,
}

/// Hyperparameters of [`KnnRating`]; the defaults are Surprise 1.1.5's (`k=40, min_k=1`,
/// `sim_options={'name': 'msd', 'user_based': True, 'min_support': 1}`, `bsl_options={'method': 'als',
/// 'reg_i': 10, 'reg_u': 15, 'n_epochs': 10}`, `shrinkage` 100 for `pearson_baseline`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnnRatingParams {
    /// Basic, with means, or with baselines. By default, basic.
    pub kind: KnnKind,
    /// Compare users (true) or items (false). By default, true.
    pub user_based: bool,
    /// Similarity measure. Surprise's `cosine` is [`Similarity::CosineCommon`] here (norms over the co-rated
    /// entries); [`Similarity::Cosine`] uses whole-vector norms. By default, msd.
    pub similarity: Similarity,
    /// Maximum number of neighbours aggregated. By default, 40.
    pub k: usize,
    /// Minimum number of neighbours (positive similarity) below which the neighbourhood term is dropped
    /// (Basic: the global mean is predicted). By default, 1.
    pub min_k: usize,
    /// Minimum number of co-rated entries for a similarity (at least 2 for `pearson_baseline`). By default,
    /// 1.
    pub min_support: usize,
    /// Shrinkage; `None` is Surprise's behaviour: 100 for `pearson_baseline`, none for the other measures.
    /// By default, none.
    pub shrinkage: Option<f32>,
    /// Baseline ALS user regularisation. By default, 15.
    pub reg_u: f32,
    /// Baseline ALS item regularisation. By default, 10.
    pub reg_i: f32,
    /// Baseline ALS epochs. By default, 10.
    pub baseline_epochs: usize,
    /// Predictions are clipped to `(low, high)`; `None` uses the lowest and highest training value. By
    /// default, none.
    pub rating_scale: Option<(f32, f32)>,
}

impl Default for KnnRatingParams {
    fn default() -> Self {
        KnnRatingParams {
            kind: KnnKind::Basic,
            user_based: true,
            similarity: Similarity::Msd,
            k: 40,
            min_k: 1,
            min_support: 1,
            shrinkage: None,
            reg_u: 15.0,
            reg_i: 10.0,
            baseline_epochs: 10,
            rating_scale: None,
        }
    }
}

impl KnnRatingParams {
    /// Surprise's `KNNBasic()` defaults.
    pub fn basic() -> Self {
        Self::default()
    }
    /// Surprise's `KNNWithMeans()` defaults.
    pub fn with_means() -> Self {
        Self::default().kind(KnnKind::WithMeans)
    }
    /// Surprise's `KNNBaseline()` defaults (msd similarity, as Surprise; its docs recommend
    /// `pearson_baseline`).
    pub fn baseline() -> Self {
        Self::default().kind(KnnKind::Baseline)
    }
    /// Sets the predictor kind. By default, basic.
    pub fn kind(mut self, kind: KnnKind) -> Self {
        self.kind = kind;
        self
    }
    /// Sets user- or item-based. By default, true (user-based).
    pub fn user_based(mut self, user_based: bool) -> Self {
        self.user_based = user_based;
        self
    }
    /// Sets the similarity measure. By default, msd.
    pub fn similarity(mut self, s: Similarity) -> Self {
        self.similarity = s;
        self
    }
    /// Sets the maximum number of neighbours. By default, 40.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }
    /// Sets the minimum number of neighbours. By default, 1.
    pub fn min_k(mut self, min_k: usize) -> Self {
        self.min_k = min_k;
        self
    }
    /// Sets the minimum support. By default, 1.
    pub fn min_support(mut self, m: usize) -> Self {
        self.min_support = m;
        self
    }
    /// Sets the shrinkage. By default, none (Surprise's behaviour).
    pub fn shrinkage(mut self, s: Option<f32>) -> Self {
        self.shrinkage = s;
        self
    }
    /// Sets the baseline user regularisation. By default, 15.
    pub fn reg_u(mut self, r: f32) -> Self {
        self.reg_u = r;
        self
    }
    /// Sets the baseline item regularisation. By default, 10.
    pub fn reg_i(mut self, r: f32) -> Self {
        self.reg_i = r;
        self
    }
    /// Sets the baseline ALS epochs. By default, 10.
    pub fn baseline_epochs(mut self, n: usize) -> Self {
        self.baseline_epochs = n;
        self
    }
    /// Sets the rating scale predictions are clipped to. By default, none (training min and max).
    pub fn rating_scale(mut self, scale: Option<(f32, f32)>) -> Self {
        self.rating_scale = scale;
        self
    }

    fn effective_shrinkage(&self) -> f32 {
        self.shrinkage
            .unwrap_or(if self.similarity == Similarity::PearsonBaseline {
                100.0
            } else {
                0.0
            })
    }

    fn needs_biases(&self) -> bool {
        self.kind == KnnKind::Baseline || self.similarity == Similarity::PearsonBaseline
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        super::validate_common(self.k, self.effective_shrinkage(), self.min_support)?;
        ensure_param(
            self.reg_u.is_finite() && self.reg_u >= 0.0,
            "reg_u",
            "must be finite and >= 0",
        )?;
        ensure_param(
            self.reg_i.is_finite() && self.reg_i >= 0.0,
            "reg_i",
            "must be finite and >= 0",
        )?;
        if let Some((lo, hi)) = self.rating_scale {
            ensure_param(
                lo.is_finite() && hi.is_finite() && lo <= hi,
                "rating_scale",
                "must be finite with low <= high",
            )?;
        }
        Ok(())
    }
}

/// A Surprise-style neighbourhood rating predictor (see [`KnnKind`]), also a recommender ranking items by
/// predicted rating.
///
/// It stores every positive similarity between the compared entities (users when user-based): that is what
/// Surprise's dense matrix holds, minus the entries that can never be aggregated (`sim <= 0`). Predictions
/// read the query history: item-based ones use it directly; user-based ones use the stored similarities of
/// `q.user` when the history is that user's training row, and otherwise compute the history's similarity
/// to every user on the fly (`O(Σ_{j in history} |users of j|)`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KnnRating {
    #[serde(with = "crate::params_body")]
    params: KnnRatingParams,
    mu: f64,
    scale: (f32, f32),
    bu: Vec<f64>,
    bi: Vec<f64>,
    /// Mean rating of each compared entity (users when user-based), for `WithMeans`.
    means: Vec<f64>,
    /// Positive similarities per compared entity, by increasing index.
    sims: Neighbours,
    /// User rows over items for on-the-fly user similarities (user-based only).
    space: Option<Space>,
    x: Interactions,
}

impl Fit for KnnRatingParams {
    type Model = KnnRating;
    /// Fits the baselines when needed, then every pairwise similarity (parallel over rows, deterministic).
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<KnnRating> {
        self.validate()?;
        let x = &data.interactions;
        let b = if self.needs_biases() {
            progress.start("baseline epochs", 1);
            let b = baseline::als(
                x,
                self.reg_u as f64,
                self.reg_i as f64,
                self.baseline_epochs,
            );
            progress.inc(1);
            b
        } else {
            let mu = if x.is_empty() {
                0.0
            } else {
                x.values().iter().map(|&v| v as f64).sum::<f64>() / x.nnz() as f64
            };
            Biases {
                mu,
                ..Biases::default()
            }
        };
        let scale = self.rating_scale.unwrap_or_else(|| {
            let lo = x.values().iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.values().iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if lo <= hi { (lo, hi) } else { (0.0, 0.0) }
        });
        let ub = self.user_based;
        let pb = self.similarity == Similarity::PearsonBaseline;
        let space = Space::build(x, ub, |r, c, v| {
            if pb {
                let (bx, by) = if ub {
                    (b.bu[r as usize], b.bi[c as usize])
                } else {
                    (b.bi[r as usize], b.bu[c as usize])
                };
                (v as f64 - b.mu - bx - by) as f32
            } else {
                v
            }
        });
        let means = if ub {
            (0..x.n_users() as u32)
                .map(|u| mean(x.user_values(UserIdx(u)).iter().copied()))
                .collect()
        } else {
            (0..x.n_items() as u32)
                .map(|i| mean(x.item_values(ItemIdx(i))))
                .collect()
        };
        let sims = space.all_pairs(&self.spec(), None, false, true, progress);
        Ok(KnnRating {
            params: self.clone(),
            mu: b.mu,
            scale,
            bu: b.bu,
            bi: b.bi,
            means,
            sims,
            space: ub.then_some(space),
            x: x.clone(),
        })
    }
}

impl KnnRatingParams {
    fn spec(&self) -> SimSpec {
        SimSpec {
            measure: self.similarity,
            shrinkage: self.effective_shrinkage(),
            min_support: self.min_support as u32,
        }
    }
}

fn mean(v: impl Iterator<Item = f32>) -> f64 {
    let (mut s, mut n) = (0f64, 0usize);
    for r in v {
        s += r as f64;
        n += 1;
    }
    if n == 0 { 0.0 } else { s / n as f64 }
}

/// What a prediction needs about the query user, computed once per query.
struct UserCtx<'a> {
    /// The history, sorted by item.
    history: Vec<(ItemIdx, f32)>,
    /// The known user, when given and in range.
    user: Option<UserIdx>,
    /// `b_u` folded in from the history (Baseline, or pearson_baseline).
    bu: f64,
    /// Mean of the history's values.
    mean: f64,
    /// User-based: the history's similarity to each stored user.
    sims: UserSims<'a>,
}

enum UserSims<'a> {
    None,
    /// The stored row of the query's user (sorted by index).
    Stored(&'a [u32], &'a [f32]),
    /// Computed on the fly, dense over users (0 = no positive similarity).
    Dense(Vec<f32>),
}

impl UserSims<'_> {
    fn get(&self, v: u32) -> f32 {
        match self {
            UserSims::None => 0.0,
            UserSims::Stored(idx, sim) => idx.binary_search(&v).map_or(0.0, |p| sim[p]),
            UserSims::Dense(d) => d[v as usize],
        }
    }
}

impl KnnRating {
    /// The parameters it was fitted with.
    pub fn params(&self) -> &KnnRatingParams {
        &self.params
    }
    /// The global mean rating.
    pub fn global_mean(&self) -> f64 {
        self.mu
    }

    fn prepare(&self, user: Option<UserIdx>, history: &[(ItemIdx, f32)]) -> Result<UserCtx<'_>> {
        for &(i, _) in history {
            self.x.check_item(i)?;
        }
        let mut h = history.to_vec();
        h.sort_by_key(|p| p.0);
        let user = user.filter(|u| u.get() < self.x.n_users());
        let bu = if self.params.needs_biases() {
            baseline::user_bias(
                self.mu,
                &self.bi,
                h.iter().copied(),
                self.params.reg_u as f64,
            )
        } else {
            0.0
        };
        let mean_h = mean(h.iter().map(|p| p.1));
        let sims = match (&self.space, user) {
            (None, _) => UserSims::None,
            _ if h.is_empty() => UserSims::None,
            (Some(_), Some(u))
                if self.x.user_items(u).len() == h.len()
                    && self
                        .x
                        .user_items(u)
                        .iter()
                        .zip(self.x.user_values(u))
                        .zip(&h)
                        .all(|((i, v), (hi, hv))| i == hi && v == hv) =>
            {
                let (idx, sim) = self.sims.row(u.get());
                UserSims::Stored(idx, sim)
            }
            (Some(space), _) => {
                let pb = self.params.similarity == Similarity::PearsonBaseline;
                let (idx, val): (Vec<u32>, Vec<f32>) = h
                    .iter()
                    .map(|&(i, v)| {
                        let v = if pb {
                            (v as f64 - self.mu - bu - self.bi[i.get()]) as f32
                        } else {
                            v
                        };
                        (i.0, v)
                    })
                    .unzip();
                let mut dense = vec![0f32; space.n_rows()];
                let mut acc = Acc::new(space.n_rows());
                space.similarities(&idx, &val, &self.params.spec(), &mut acc, |v, s| {
                    if s > 0.0 && user.is_none_or(|u| u.0 != v) {
                        dense[v as usize] = s;
                    }
                });
                UserSims::Dense(dense)
            }
        };
        Ok(UserCtx {
            history: h,
            user,
            bu,
            mean: mean_h,
            sims,
        })
    }

    /// The unclipped estimate for one item (Surprise's `estimate`, with its fallbacks).
    fn estimate(&self, ctx: &UserCtx<'_>, item: ItemIdx) -> f64 {
        let p = &self.params;
        let known_user = !ctx.history.is_empty();
        let known_item = self.x.item_len(item) > 0;
        let bi = self.bi.get(item.get()).copied().unwrap_or(0.0);
        if !(known_user && known_item) {
            return match p.kind {
                // Surprise raises PredictionImpossible: the default prediction is the global mean.
                KnnKind::Basic | KnnKind::WithMeans => self.mu,
                KnnKind::Baseline => {
                    self.mu
                        + if known_user { ctx.bu } else { 0.0 }
                        + if known_item { bi } else { 0.0 }
                }
            };
        }
        // Neighbours (similarity, their rating, their baseline or mean).
        let mut nb: Vec<(u32, f32)> = Vec::new();
        let mut rating_of: Vec<f32> = Vec::new();
        if p.user_based {
            for (v, r) in self.x.item_users(item).iter().zip(self.x.item_values(item)) {
                if ctx.user == Some(*v) {
                    continue;
                }
                let s = ctx.sims.get(v.0);
                if s > 0.0 {
                    nb.push((v.0, s));
                    rating_of.push(r);
                }
            }
        } else {
            for &(j, r) in &ctx.history {
                if j == item {
                    continue;
                }
                if let Some(s) = self.sims.get_sorted(item.get(), j.0)
                    && s > 0.0
                {
                    nb.push((j.0, s));
                    rating_of.push(r);
                }
            }
        }
        // Top k by similarity (ties by lower index); ratings travel with their neighbour.
        let mut order: Vec<usize> = (0..nb.len()).collect();
        order.sort_unstable_by(|&a, &b| rank_cmp(&nb[a], &nb[b]));
        order.truncate(p.k);
        let (mut sum_sim, mut sum_r) = (0f64, 0f64);
        for &o in &order {
            let (n, s) = nb[o];
            let (s, r) = (s as f64, rating_of[o] as f64);
            let base = match p.kind {
                KnnKind::Basic => 0.0,
                KnnKind::WithMeans => self.means[n as usize],
                KnnKind::Baseline => {
                    if p.user_based {
                        self.mu + self.bu[n as usize] + bi
                    } else {
                        self.mu + self.bi[n as usize] + ctx.bu
                    }
                }
            };
            sum_sim += s;
            sum_r += s * (r - base);
        }
        let enough = order.len() >= p.min_k && sum_sim > 0.0;
        match p.kind {
            KnnKind::Basic => {
                if enough {
                    sum_r / sum_sim
                } else {
                    self.mu
                }
            }
            KnnKind::WithMeans | KnnKind::Baseline => {
                let base = if p.kind == KnnKind::Baseline {
                    self.mu + ctx.bu + bi
                } else if p.user_based {
                    ctx.mean
                } else {
                    self.means[item.get()]
                };
                if enough { base + sum_r / sum_sim } else { base }
            }
        }
    }

    fn clip(&self, v: f64) -> f32 {
        (v as f32).clamp(self.scale.0, self.scale.1)
    }
}

impl PredictRating for KnnRating {
    fn predict(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        self.x.check_item(item)?;
        let ctx = self.prepare(user, history)?;
        Ok(self.clip(self.estimate(&ctx, item)))
    }
}

impl Recommender for KnnRating {
    fn name(&self) -> &str {
        match self.params.kind {
            KnnKind::Basic => "knn_basic",
            KnnKind::WithMeans => "knn_with_means",
            KnnKind::Baseline => "knn_baseline",
        }
    }
    fn n_items(&self) -> usize {
        self.x.n_items()
    }
    /// Ranks by predicted (clipped) rating.
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.x.n_items())?;
        let ctx = self.prepare(q.user, q.history)?;
        let mut t = TopK::new(k);
        let mut offer = |i: ItemIdx| {
            if filter.allows(i) {
                t.push(i, self.clip(self.estimate(&ctx, i)));
            }
        };
        match filter.candidate_list() {
            Some(c) => c.iter().copied().for_each(&mut offer),
            None => (0..self.x.n_items() as u32).map(ItemIdx).for_each(offer),
        }
        Ok(t.into_sorted())
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        self.x.check_item(item)?;
        if self.params.user_based {
            return Ok(Vec::new());
        }
        let (idx, sim) = self.sims.row(item.get());
        let mut v: Vec<(u32, f32)> = idx.iter().copied().zip(sim.iter().copied()).collect();
        super::keep_best(&mut v, k);
        Ok(v.into_iter()
            .map(|(i, s)| Scored {
                item: ItemIdx(i),
                score: s,
            })
            .collect())
    }
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        Some(self)
    }
}

impl KnnRating {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): the training interactions, biases and
    /// means absent or one per entity, neighbour lists over the compared entities, a rating range.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        self.x.validate()?;
        let (nu, ni) = (self.x.n_users(), self.x.n_items());
        let n = if self.params.user_based { nu } else { ni };
        let optional = |what: &str, got: usize, want: usize| {
            v::ensure(got == 0 || got == want, || {
                format!("{what} has {got} entries, expected 0 or {want}")
            })
        };
        optional("KNN user biases", self.bu.len(), nu)?;
        optional("KNN item biases", self.bi.len(), ni)?;
        optional("KNN means", self.means.len(), n)?;
        v::finite_f64("KNN biases", &self.bu)?;
        v::finite_f64("KNN biases", &self.bi)?;
        v::finite_f64("KNN means", &self.means)?;
        v::finite_f64("KNN global mean", &[self.mu])?;
        crate::baseline::common::check_scale(self.mu as f32, self.scale.0, self.scale.1)?;
        self.sims
            .validate("KNN neighbours", n, n, self.space.is_some())?;
        if let Some(s) = &self.space {
            s.validate("KNN user space")?;
            v::len("KNN user space rows", s.n_rows(), nu)?;
            v::len("KNN user space columns", s.n_coords(), ni)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::Feedback;

    /// Users x items (ratings):
    /// ```text
    ///        i0 i1 i2
    ///   u0 [  5  3  . ]
    ///   u1 [  4  .  4 ]
    ///   u2 [  1  1  5 ]
    ///   u3 [  .  2  . ]
    /// ```
    fn data() -> Dataset {
        let x = Interactions::from_triplets(
            4,
            3,
            &[
                (0, 0, 5.0),
                (0, 1, 3.0),
                (1, 0, 4.0),
                (1, 2, 4.0),
                (2, 0, 1.0),
                (2, 1, 1.0),
                (2, 2, 5.0),
                (3, 1, 2.0),
            ],
            Feedback::Explicit,
        )
        .unwrap();
        Dataset::from_parts("t", x, ["a", "b", "c", "d"], ["x", "y", "z"]).unwrap()
    }

    #[test]
    fn knn_basic_user_msd_by_hand() {
        let d = data();
        let m = KnnRatingParams::basic().fit(&d, &NoProgress).unwrap();
        // Predict u0 on i2: raters u1 (4), u2 (5).
        // msd(u0, u1) over i0: (5-4)² = 1 -> 1/2; msd(u0, u2) over i0, i1: (16 + 4) / 2 = 10 -> 1/11.
        let h = d.interactions.history(UserIdx(0));
        let p = m.predict(Some(UserIdx(0)), &h, ItemIdx(2)).unwrap();
        let want = (0.5 * 4.0 + 5.0 / 11.0) / (0.5 + 1.0 / 11.0);
        assert!((p as f64 - want).abs() < 1e-5, "{p} vs {want}");
        // The same history as a new user (fold-in, similarities on the fly) predicts the same.
        let q = m.predict(None, &h, ItemIdx(2)).unwrap();
        assert!((p - q).abs() < 1e-6);
        // k = 1 keeps u1 only.
        let m1 = KnnRatingParams::basic().k(1).fit(&d, &NoProgress).unwrap();
        assert!((m1.predict(Some(UserIdx(0)), &h, ItemIdx(2)).unwrap() - 4.0).abs() < 1e-6);
        // Empty history (unknown user): global mean 25 / 8.
        assert!((m.predict(None, &[], ItemIdx(2)).unwrap() - 3.125).abs() < 1e-6);
        // min_k 3 > 2 neighbours: global mean.
        let m3 = KnnRatingParams::basic()
            .min_k(3)
            .fit(&d, &NoProgress)
            .unwrap();
        assert!((m3.predict(Some(UserIdx(0)), &h, ItemIdx(2)).unwrap() - 3.125).abs() < 1e-6);
    }

    #[test]
    fn with_means_and_baseline_item_based_by_hand() {
        let d = data();
        // Item-based WithMeans, u3 (history i1: 2) on i0: neighbour i1, msd(i0, i1) over u0, u2 = 1/3.
        // mu_i0 = 10/3, mu_i1 = 2 -> 10/3 + (2 - 2) = 10/3.
        let m = KnnRatingParams::with_means()
            .user_based(false)
            .fit(&d, &NoProgress)
            .unwrap();
        let h = d.interactions.history(UserIdx(3));
        let p = m.predict(Some(UserIdx(3)), &h, ItemIdx(0)).unwrap();
        assert!((p as f64 - 10.0 / 3.0).abs() < 1e-5, "{p}");
        // Baseline, item-based: b_u3 + b_i0 + mu + (2 - (mu + b_i1 + b_u3)) = mu + b_i0 + 2 - mu - b_i1.
        let m = KnnRatingParams::baseline()
            .user_based(false)
            .fit(&d, &NoProgress)
            .unwrap();
        let b = baseline::als(&d.interactions, 15.0, 10.0, 10);
        let p = m.predict(Some(UserIdx(3)), &h, ItemIdx(0)).unwrap();
        let want = (b.bi[0] + 2.0 - b.bi[1]).clamp(1.0, 5.0);
        assert!((p as f64 - want).abs() < 1e-5, "{p} vs {want}");
        assert!(!m.similar_items(ItemIdx(0), 2).unwrap().is_empty());
    }

    #[test]
    fn predictions_are_clipped_and_validation_fails_early() {
        let d = data();
        let m = KnnRatingParams::baseline()
            .rating_scale(Some((2.0, 3.0)))
            .fit(&d, &NoProgress)
            .unwrap();
        for u in 0..4 {
            let h = d.interactions.history(UserIdx(u));
            for i in 0..3 {
                let p = m.predict(Some(UserIdx(u)), &h, ItemIdx(i)).unwrap();
                assert!((2.0..=3.0).contains(&p));
            }
        }
        assert!(m.predict(None, &[], ItemIdx(3)).is_err());
        assert!(KnnRatingParams::basic().k(0).fit(&d, &NoProgress).is_err());
        assert!(
            KnnRatingParams::basic()
                .shrinkage(Some(-1.0))
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            KnnRatingParams::basic()
                .rating_scale(Some((5.0, 1.0)))
                .validate()
                .is_err()
        );
        let recs = KnnRatingParams::with_means()
            .fit(&d, &NoProgress)
            .unwrap()
            .recommend(&Query::new(&d.interactions.history(UserIdx(3))), 5)
            .unwrap();
        assert_eq!(recs.len(), 2);
    }
}
