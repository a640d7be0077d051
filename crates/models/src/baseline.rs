//! Baseline estimates `r̂ = μ + b_u + b_i` ([`BaselineOnly`]), as in Surprise's `BaselineOnly`.
//!
//! The biases minimise the regularised squared error of Koren (2010), section 2.1, by one of the two
//! procedures of Surprise's `optimize_baselines`, in the same update order:
//!
//! - **ALS** (the default): `n_epochs` rounds of, first, every item
//!   `b_i = Σ_u (r_ui − μ − b_u) / (reg_i + |U_i|)`, then every user
//!   `b_u = Σ_i (r_ui − μ − b_i) / (reg_u + |I_u|)`;
//! - **SGD**: `n_epochs` passes over the ratings (user by user in index order, each user's items in index
//!   order: Surprise's `BaselineOnly` has no seed, so neither has this order) of
//!   `e = r − (μ + b_u + b_i); b_u += lr (e − reg b_u); b_i += lr (e − reg b_i)`.
//!
//! [`baselines`] exposes the fitted `(μ, b_u, b_i)` for models built on them (KNNBaseline).
//!
//! **Fold-in.** A user unknown at training time (no `user`, an index out of range, or a user without training
//! ratings) gets a bias fitted on the query's history with the item biases frozen: the ALS user step
//! `b_u = Σ (r − μ − b_i) / (reg_u + n)` (what ALS would compute for them), or `n_epochs` SGD passes over the
//! history for the SGD method. A known user uses the stored bias. Items without training ratings have
//! `b_i = 0` and are skipped in fold-in, as Surprise treats unknown items.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
//! use tastebud_models::{Fit, NoProgress, PredictRating, baseline::BaselineParams};
//! let x = Interactions::from_triplets(2, 2, &[(0, 0, 5.0), (0, 1, 3.0), (1, 0, 4.0)],
//!                                    Feedback::Explicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b"], ["x", "y"])?;
//! let model = BaselineParams::default().fit(&data, &NoProgress)?;
//! let r = model.predict(Some(UserIdx(1)), &[(ItemIdx(0), 4.0)], ItemIdx(1))?;
//! assert!((3.0..=5.0).contains(&r));
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Interactions, ItemIdx, Result, UserIdx, top_k};

use crate::{Fit, PredictRating, Progress, Query, Recommender, Scored};

/// How [`BaselineOnly`] fits the biases (Surprise's `bsl_options['method']`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineMethod {
    /// Alternating least squares (the default).
    #[default]
    Als,
    /// Stochastic gradient descent.
    Sgd,
}

/// Hyperparameters of [`BaselineOnly`]: Surprise's `bsl_options`, with the same names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineParams {
    /// `als` or `sgd`.
    pub method: BaselineMethod,
    /// Number of epochs; `None` means the method's default (10 for ALS, 20 for SGD). Zero is allowed (all
    /// biases stay 0, as in Surprise).
    pub n_epochs: Option<usize>,
    /// ALS regularisation of the user biases.
    pub reg_u: f64,
    /// ALS regularisation of the item biases.
    pub reg_i: f64,
    /// SGD regularisation.
    pub reg: f64,
    /// SGD learning rate.
    pub learning_rate: f64,
}

impl Default for BaselineParams {
    fn default() -> Self {
        BaselineParams {
            method: BaselineMethod::Als,
            n_epochs: None,
            reg_u: 15.0,
            reg_i: 10.0,
            reg: 0.02,
            learning_rate: 0.005,
        }
    }
}

impl BaselineParams {
    /// Sets the method. By default, ALS.
    pub fn method(mut self, m: BaselineMethod) -> Self {
        self.method = m;
        self
    }
    /// Sets the number of epochs. By default, 10 for ALS and 20 for SGD.
    pub fn n_epochs(mut self, n: usize) -> Self {
        self.n_epochs = Some(n);
        self
    }
    /// Sets the ALS user regularisation. By default, 15.
    pub fn reg_u(mut self, v: f64) -> Self {
        self.reg_u = v;
        self
    }
    /// Sets the ALS item regularisation. By default, 10.
    pub fn reg_i(mut self, v: f64) -> Self {
        self.reg_i = v;
        self
    }
    /// Sets the SGD regularisation. By default, 0.02.
    pub fn reg(mut self, v: f64) -> Self {
        self.reg = v;
        self
    }
    /// Sets the SGD learning rate. By default, 0.005.
    pub fn learning_rate(mut self, v: f64) -> Self {
        self.learning_rate = v;
        self
    }
    /// The number of epochs in effect (the method's default when unset).
    pub fn epochs(&self) -> usize {
        self.n_epochs.unwrap_or(match self.method {
            BaselineMethod::Als => 10,
            BaselineMethod::Sgd => 20,
        })
    }
    /// Checks the parameters: regularisations and the learning rate finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        common::non_negative("reg_u", self.reg_u)?;
        common::non_negative("reg_i", self.reg_i)?;
        common::non_negative("reg", self.reg)?;
        common::non_negative("learning_rate", self.learning_rate)
    }
}

/// Fits the baselines `(μ, b_u, b_i)` of `x` with `params` (validated first), exactly as [`BaselineOnly`]
/// does; for models that start from baselines, such as KNNBaseline. Users and items without ratings get 0.
///
/// ```
/// use tastebud_core::{Feedback, Interactions};
/// use tastebud_models::baseline::{BaselineParams, baselines};
/// let x = Interactions::from_triplets(1, 1, &[(0, 0, 4.0)], Feedback::Explicit)?;
/// let (mu, bu, bi) = baselines(&x, &BaselineParams::default())?;
/// assert_eq!((mu, bu.len(), bi.len()), (4.0, 1, 1));
/// # Ok::<(), tastebud_core::Error>(())
/// ```
pub fn baselines(x: &Interactions, params: &BaselineParams) -> Result<(f32, Vec<f32>, Vec<f32>)> {
    params.validate()?;
    let b = fit_biases(x, params, &crate::NoProgress);
    Ok((b.0 as f32, b.1, b.2))
}

/// `(μ, b_u, b_i)` in f64 for μ; the per-epoch work reported on `progress`.
fn fit_biases(
    x: &Interactions,
    params: &BaselineParams,
    progress: &dyn Progress,
) -> (f64, Vec<f32>, Vec<f32>) {
    let mu = common::rating_stats(x).0;
    let (nu, ni) = (x.n_users(), x.n_items());
    let mut bu = vec![0f64; nu];
    let mut bi = vec![0f64; ni];
    let epochs = params.epochs();
    progress.start("epochs", epochs as u64);
    match params.method {
        BaselineMethod::Als => {
            (_, bu, bi) = als_biases(x, params.reg_u, params.reg_i, epochs, |mu, bu, bi| {
                progress.message(&format!("train rmse {:.4}", train_rmse(x, mu, bu, bi)));
                progress.inc(1);
            });
        }
        BaselineMethod::Sgd => {
            let (lr, reg) = (params.learning_rate, params.reg);
            for _ in 0..epochs {
                let mut sse = 0.0;
                for (u, b) in bu.iter_mut().enumerate() {
                    let uu = UserIdx(u as u32);
                    for (i, &r) in x.user_items(uu).iter().zip(x.user_values(uu)) {
                        let bi = &mut bi[i.get()];
                        let err = r as f64 - (mu + *b + *bi);
                        sse += err * err;
                        *b += lr * (err - reg * *b);
                        *bi += lr * (err - reg * *bi);
                    }
                }
                progress.message(&format!(
                    "train rmse {:.4}",
                    (sse / x.nnz().max(1) as f64).sqrt()
                ));
                progress.inc(1);
            }
        }
    }
    let f = |v: Vec<f64>| v.into_iter().map(|b| b as f32).collect();
    (mu, f(bu), f(bi))
}

/// Surprise's `baseline_als`: each epoch sets every `b_i = Σ(r - μ - b_u) / (reg_i + |U_i|)` from the current
/// `b_u`, then every `b_u` from the new `b_i` ([`user_bias`]), starting from zeros; `on_epoch(μ, b_u, b_i)`
/// runs after each epoch. Shared by BaselineOnly and the KNN models' baselines.
pub(crate) fn als_biases(
    x: &Interactions,
    reg_u: f64,
    reg_i: f64,
    epochs: usize,
    mut on_epoch: impl FnMut(f64, &[f64], &[f64]),
) -> (f64, Vec<f64>, Vec<f64>) {
    let mu = common::rating_stats(x).0;
    let mut bu = vec![0f64; x.n_users()];
    let mut bi = vec![0f64; x.n_items()];
    for _ in 0..epochs {
        for (i, b) in bi.iter_mut().enumerate() {
            let it = ItemIdx(i as u32);
            let dev: f64 = x
                .item_users(it)
                .iter()
                .zip(x.item_values(it))
                .map(|(u, r)| r as f64 - mu - bu[u.get()])
                .sum();
            *b = dev / (reg_i + x.item_len(it) as f64);
        }
        for (u, b) in bu.iter_mut().enumerate() {
            let uu = UserIdx(u as u32);
            let history = x
                .user_items(uu)
                .iter()
                .copied()
                .zip(x.user_values(uu).iter().copied());
            *b = user_bias(mu, &bi, history, reg_u);
        }
        on_epoch(mu, &bu, &bi);
    }
    (mu, bu, bi)
}

/// A user's bias from their ratings given item biases, `Σ(r - μ - b_i) / (reg_u + n)`: the user half-step
/// of [`als_biases`], so it folds in a new history and equals the stored `b_u` for an unchanged one.
pub(crate) fn user_bias(
    mu: f64,
    bi: &[f64],
    history: impl Iterator<Item = (ItemIdx, f32)>,
    reg_u: f64,
) -> f64 {
    let (mut dev, mut n) = (0f64, 0usize);
    for (i, r) in history {
        dev += r as f64 - mu - bi[i.get()];
        n += 1;
    }
    dev / (reg_u + n as f64)
}

fn train_rmse(x: &Interactions, mu: f64, bu: &[f64], bi: &[f64]) -> f64 {
    let sse: f64 = x
        .iter()
        .map(|r| {
            let e = r.value as f64 - mu - bu[r.user.get()] - bi[r.item.get()];
            e * e
        })
        .sum();
    (sse / x.nnz().max(1) as f64).sqrt()
}

/// The fitted baseline model `r̂ = μ + b_u + b_i`, clipped to the training rating range.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaselineOnly {
    #[serde(with = "crate::params_body")]
    params: BaselineParams,
    global_mean: f32,
    bu: Vec<f32>,
    bi: Vec<f32>,
    user_counts: Vec<u32>,
    item_counts: Vec<u32>,
    rating_min: f32,
    rating_max: f32,
}

impl Fit for BaselineParams {
    type Model = BaselineOnly;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<BaselineOnly> {
        self.validate()?;
        let x = &data.interactions;
        let (mu, bu, bi) = fit_biases(x, self, progress);
        let (_, rating_min, rating_max) = common::rating_stats(x);
        let (user_counts, item_counts) = common::counts(x);
        Ok(BaselineOnly {
            params: self.clone(),
            global_mean: mu as f32,
            bu,
            bi,
            user_counts,
            item_counts,
            rating_min,
            rating_max,
        })
    }
}

impl BaselineOnly {
    /// The global mean μ of the training ratings.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }
    /// The user biases `b_u` (0 for users without training ratings).
    pub fn user_biases(&self) -> &[f32] {
        &self.bu
    }
    /// The item biases `b_i` (0 for items without training ratings).
    pub fn item_biases(&self) -> &[f32] {
        &self.bi
    }
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &BaselineParams {
        &self.params
    }

    /// The user bias for a query: stored for a known user, fitted on the history otherwise.
    fn user_bias(&self, user: Option<UserIdx>, history: &[(ItemIdx, f32)]) -> f32 {
        if let Some(u) = common::known(user, &self.user_counts) {
            return self.bu[u];
        }
        let mu = self.global_mean as f64;
        let known = history
            .iter()
            .filter(|(i, _)| self.item_counts[i.get()] > 0);
        match self.params.method {
            BaselineMethod::Als => {
                let (mut dev, mut n) = (0f64, 0usize);
                for &(i, r) in known {
                    dev += r as f64 - mu - self.bi[i.get()] as f64;
                    n += 1;
                }
                if self.params.epochs() == 0 {
                    0.0
                } else {
                    (dev / (self.params.reg_u + n as f64)) as f32
                }
            }
            BaselineMethod::Sgd => {
                let (lr, reg) = (self.params.learning_rate, self.params.reg);
                let known: Vec<(ItemIdx, f32)> = known.copied().collect();
                let mut b = 0f64;
                for _ in 0..self.params.epochs() {
                    for &(i, r) in &known {
                        let err = r as f64 - (mu + b + self.bi[i.get()] as f64);
                        b += lr * (err - reg * b);
                    }
                }
                b as f32
            }
        }
    }
}

impl PredictRating for BaselineOnly {
    fn predict(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        common::check_item(item, self.bi.len())?;
        common::check_history(history, self.bi.len())?;
        let est = self.global_mean + self.user_bias(user, history) + self.bi[item.get()];
        Ok(est.clamp(self.rating_min, self.rating_max))
    }
}

impl Recommender for BaselineOnly {
    fn name(&self) -> &str {
        "baseline"
    }
    fn n_items(&self) -> usize {
        self.bi.len()
    }
    /// Ranks by `b_i` (the user bias shifts every item equally): unseen items with the highest estimate.
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.bi.len())?;
        let bu = self.user_bias(q.user, q.history);
        let scores: Vec<f32> = self.bi.iter().map(|b| self.global_mean + bu + b).collect();
        top_k(&scores, k, &filter)
    }
    /// Ranked by item bias: the item is rated highly by everyone.
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<crate::reason::Reason>> {
        q.filter(self.bi.len())?;
        common::check_item(item, self.bi.len())?;
        Ok(Some(crate::reason::Reason::HighlyRated))
    }
    /// Biases give no notion of item similarity: always empty.
    fn similar_items(&self, item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        common::check_item(item, self.bi.len())?;
        Ok(Vec::new())
    }
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        Some(self)
    }
}

/// Helpers shared by the explicit-rating models (baseline, SVD, SVD++, NMF, Slope One).
pub(crate) mod common {
    use rand::Rng;
    use tastebud_core::{Error, Interactions, ItemIdx, Result, UserIdx, ensure_param};

    /// `(global mean in f64, min rating, max rating)`; `(0, 0, 0)` for no ratings.
    pub(crate) fn rating_stats(x: &Interactions) -> (f64, f32, f32) {
        let (mut sum, mut lo, mut hi) = (0f64, f32::INFINITY, f32::NEG_INFINITY);
        for u in 0..x.n_users() {
            for &r in x.user_values(UserIdx(u as u32)) {
                sum += r as f64;
                lo = lo.min(r);
                hi = hi.max(r);
            }
        }
        if x.nnz() == 0 {
            (0.0, 0.0, 0.0)
        } else {
            (sum / x.nnz() as f64, lo, hi)
        }
    }

    /// A decoded model's global mean and rating range: finite, `min <= max` (`clamp` panics otherwise).
    pub(crate) fn check_scale(mean: f32, min: f32, max: f32) -> Result<()> {
        tastebud_core::validate::finite_f32("global mean and rating range", &[mean, min, max])?;
        tastebud_core::validate::ensure(min <= max, || {
            format!("rating range {min}..{max} is empty")
        })
    }

    /// The parts SVD, SVD++ and NMF share, as decoded: a bias and a factor row per user and item (`k`
    /// factors), all finite, and the rating scale. `name` prefixes every message.
    pub(crate) fn check_biased_factors(
        name: &str,
        (bu, bi): (&[f32], &[f32]),
        (pu, qi): (&[f32], &[f32]),
        (nu, ni, k): (usize, usize, usize),
        (mean, min, max): (f32, f32, f32),
    ) -> Result<()> {
        use tastebud_core::validate as v;
        v::len(&format!("{name} user biases"), bu.len(), nu)?;
        v::len(&format!("{name} item biases"), bi.len(), ni)?;
        v::finite_f32(&format!("{name} user biases"), bu)?;
        v::finite_f32(&format!("{name} item biases"), bi)?;
        v::matrix_f32(&format!("{name} user factors"), pu, nu, k)?;
        v::matrix_f32(&format!("{name} item factors"), qi, ni, k)?;
        check_scale(mean, min, max)
    }

    /// Number of training ratings per user and per item.
    pub(crate) fn counts(x: &Interactions) -> (Vec<u32>, Vec<u32>) {
        let users = (0..x.n_users())
            .map(|u| x.user_len(UserIdx(u as u32)) as u32)
            .collect();
        let items = (0..x.n_items())
            .map(|i| x.item_len(ItemIdx(i as u32)) as u32)
            .collect();
        (users, items)
    }

    /// The user's index when it is in range and had training ratings (Surprise's "known user").
    pub(crate) fn known(user: Option<UserIdx>, user_counts: &[u32]) -> Option<usize> {
        user.map(UserIdx::get)
            .filter(|&u| user_counts.get(u).is_some_and(|&c| c > 0))
    }

    pub(crate) fn check_item(item: ItemIdx, n_items: usize) -> Result<()> {
        if item.get() < n_items {
            Ok(())
        } else {
            Err(Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: n_items,
            })
        }
    }

    pub(crate) fn check_history(history: &[(ItemIdx, f32)], n_items: usize) -> Result<()> {
        history
            .iter()
            .try_for_each(|&(i, _)| check_item(i, n_items))
    }

    pub(crate) fn non_negative(name: &'static str, v: f64) -> Result<()> {
        ensure_param(v.is_finite() && v >= 0.0, name, "must be finite and >= 0")
    }

    /// `Some(v)` overrides `all`; both must be finite and non-negative.
    pub(crate) fn pick(name: &'static str, v: Option<f64>, all: f64) -> Result<f32> {
        let v = v.unwrap_or(all);
        non_negative(name, v)?;
        Ok(v as f32)
    }

    /// Dot product with eight independent accumulators (vectorises on any x86-64).
    #[inline(always)]
    pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let mut ca = a.chunks_exact(8);
        let mut cb = b.chunks_exact(8);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for k in 0..8 {
                acc[k] += x[k] * y[k];
            }
        }
        let mut s = 0f32;
        for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
            s += x * y;
        }
        s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
    }

    /// `len` draws of N(mean, std²) by Box–Muller.
    /// Advances `rng` past the draws of `normal_vec(rng, len, ..)` without computing them (two `f64`s, four
    /// 32-bit words, per pair of values): what comes next is what would have come after them.
    pub(crate) fn skip_normals(rng: &mut rand_chacha::ChaCha8Rng, len: usize) {
        let words = 4 * len.div_ceil(2) as u128;
        rng.set_word_pos(rng.get_word_pos() + words);
    }

    pub(crate) fn normal_vec(rng: &mut impl Rng, len: usize, mean: f64, std: f64) -> Vec<f32> {
        let mut v = Vec::with_capacity(len + 1);
        while v.len() < len {
            let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
            let u2 = rng.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = std::f64::consts::TAU * u2;
            v.push((mean + std * r * t.cos()) as f32);
            v.push((mean + std * r * t.sin()) as f32);
        }
        v.truncate(len);
        v
    }

    /// The ratings in the order the SGD models visit them: user by user, users in a seeded random order and
    /// each user's ratings in a seeded random order, fixed for every epoch. This is the order Surprise's
    /// `all_ratings()` yields on a shuffled trainset (users by first appearance, ratings in input order).
    pub(crate) struct VisitOrder {
        /// `(user, start, end)` into `entries`, in visiting order; users without ratings are left out.
        pub(crate) users: Vec<(u32, usize, usize)>,
        /// `(item, rating)`.
        pub(crate) entries: Vec<(u32, f32)>,
    }

    pub(crate) fn visit_order(x: &Interactions, rng: &mut impl Rng) -> VisitOrder {
        use rand::seq::SliceRandom;
        let mut order: Vec<u32> = (0..x.n_users() as u32)
            .filter(|&u| x.user_len(UserIdx(u)) > 0)
            .collect();
        order.shuffle(rng);
        let mut users = Vec::with_capacity(order.len());
        let mut entries = Vec::with_capacity(x.nnz());
        for u in order {
            let uu = UserIdx(u);
            let start = entries.len();
            entries.extend(
                x.user_items(uu)
                    .iter()
                    .zip(x.user_values(uu))
                    .map(|(i, &r)| (i.0, r)),
            );
            entries[start..].shuffle(rng);
            users.push((u, start, entries.len()));
        }
        VisitOrder { users, entries }
    }

    /// Sets the rows of `m` (`dim` wide) whose count is 0 to zero: what Surprise does for unknown users/items.
    pub(crate) fn zero_unknown(m: &mut [f32], dim: usize, counts: &[u32]) {
        if dim == 0 {
            return;
        }
        for (row, &c) in m.chunks_exact_mut(dim).zip(counts) {
            if c == 0 {
                row.fill(0.0);
            }
        }
    }
}

impl BaselineOnly {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): one finite bias per user and item, and
    /// a rating range.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        v::len(
            "baseline user biases",
            self.bu.len(),
            self.user_counts.len(),
        )?;
        v::len(
            "baseline item biases",
            self.bi.len(),
            self.item_counts.len(),
        )?;
        v::finite_f32("baseline user biases", &self.bu)?;
        v::finite_f32("baseline item biases", &self.bi)?;
        common::check_scale(self.global_mean, self.rating_min, self.rating_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::Feedback;

    fn toy() -> Dataset {
        // 3 users x 3 items.
        let x = Interactions::from_triplets(
            3,
            3,
            &[
                (0, 0, 5.0),
                (0, 1, 3.0),
                (1, 0, 4.0),
                (1, 2, 1.0),
                (2, 1, 2.0),
            ],
            Feedback::Explicit,
        )
        .unwrap();
        Dataset::from_parts("toy", x, ["a", "b", "c"], ["x", "y", "z"]).unwrap()
    }

    /// Skipping the normal draws leaves the generator where drawing them does, for odd and even counts and
    /// from an odd word position.
    #[test]
    fn skip_normals_lands_where_the_draws_end() {
        use rand::{Rng, SeedableRng};
        for (len, offset) in [(0, 0), (1, 0), (7, 1), (300, 3)] {
            let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            for _ in 0..offset {
                a.random::<u32>();
            }
            let mut b = a.clone();
            common::normal_vec(&mut a, len, 0.0, 1.0);
            common::skip_normals(&mut b, len);
            assert_eq!(
                a.random::<u64>(),
                b.random::<u64>(),
                "len {len}, offset {offset}"
            );
        }
    }

    /// One ALS epoch computed by hand: items first (with b_u = 0), then users.
    #[test]
    fn als_one_epoch_matches_hand_computation() {
        let p = BaselineParams::default().n_epochs(1).reg_i(1.0).reg_u(2.0);
        let (mu, bu, bi) = baselines(&toy().interactions, &p).unwrap();
        let m = 15.0 / 5.0;
        assert_eq!(mu, 3.0);
        let bi_h = [
            ((5.0 - m) + (4.0 - m)) / (1.0 + 2.0),
            ((3.0 - m) + (2.0 - m)) / (1.0 + 2.0),
            (1.0 - m) / (1.0 + 1.0),
        ];
        let bu_h = [
            ((5.0 - m - bi_h[0]) + (3.0 - m - bi_h[1])) / (2.0 + 2.0),
            ((4.0 - m - bi_h[0]) + (1.0 - m - bi_h[2])) / (2.0 + 2.0),
            (2.0 - m - bi_h[1]) / (2.0 + 1.0),
        ];
        for k in 0..3 {
            assert!((bi[k] as f64 - bi_h[k]).abs() < 1e-6, "bi[{k}]");
            assert!((bu[k] as f64 - bu_h[k]).abs() < 1e-6, "bu[{k}]");
        }
    }

    /// Two SGD steps by hand (user 0's two ratings, in item order).
    #[test]
    fn sgd_steps_match_hand_computation() {
        let x = Interactions::from_triplets(1, 2, &[(0, 0, 5.0), (0, 1, 3.0)], Feedback::Explicit)
            .unwrap();
        let p = BaselineParams::default()
            .method(BaselineMethod::Sgd)
            .n_epochs(1)
            .learning_rate(0.1)
            .reg(0.5);
        let (mu, bu, bi) = baselines(&x, &p).unwrap();
        assert_eq!(mu, 4.0);
        // step 1: err = 1; bu = 0.1, bi0 = 0.1
        let (mut b, b0) = (0.1f64, 0.1f64);
        // step 2: err = 3 - (4 + 0.1 + 0) = -1.1
        let err = 3.0 - (4.0 + b);
        let b1 = 0.1 * err;
        b += 0.1 * (err - 0.5 * b);
        assert!((bu[0] as f64 - b).abs() < 1e-6);
        assert!((bi[0] as f64 - b0).abs() < 1e-6);
        assert!((bi[1] as f64 - b1).abs() < 1e-6);
    }

    #[test]
    fn training_error_decreases_with_epochs() {
        let d = toy();
        let mse = |p: &BaselineParams| {
            let m = p.fit(&d, &NoProgress).unwrap();
            train_rmse(
                &d.interactions,
                m.global_mean as f64,
                &m.bu.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                &m.bi.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            )
        };
        let sgd = BaselineParams::default()
            .method(BaselineMethod::Sgd)
            .learning_rate(0.05);
        assert!(mse(&sgd.clone().n_epochs(20)) < mse(&sgd.n_epochs(2)));
        let als = BaselineParams::default().reg_u(0.1).reg_i(0.1);
        assert!(mse(&als.clone().n_epochs(5)) < mse(&als.n_epochs(0)));
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let d = toy();
        assert!(
            BaselineParams::default()
                .reg_u(-1.0)
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            BaselineParams::default()
                .reg(f64::NAN)
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            BaselineParams::default()
                .learning_rate(-0.1)
                .fit(&d, &NoProgress)
                .is_err()
        );
        // Zero epochs is allowed, as in Surprise: every bias stays 0.
        let m = BaselineParams::default()
            .n_epochs(0)
            .fit(&d, &NoProgress)
            .unwrap();
        assert!(m.bu.iter().chain(&m.bi).all(|&b| b == 0.0));
        assert_eq!(
            BaselineParams::default()
                .method(BaselineMethod::Sgd)
                .epochs(),
            20
        );
    }

    #[test]
    fn fold_in_matches_the_als_user_step_and_stays_in_range() {
        let d = toy();
        let m = BaselineParams::default().fit(&d, &NoProgress).unwrap();
        let h = d.interactions.history(UserIdx(1));
        // ALS ends with the user step, so folding in the training row reproduces the stored bias.
        assert!((m.user_bias(None, &h) - m.bu[1]).abs() < 1e-6);
        for i in 0..3 {
            let r = m.predict(None, &h, ItemIdx(i)).unwrap();
            assert!((1.0..=5.0).contains(&r));
        }
        assert!(m.predict(None, &h, ItemIdx(9)).is_err());
        assert!(m.predict(None, &[(ItemIdx(7), 1.0)], ItemIdx(0)).is_err());
        // A new user with no history gets mu + b_i.
        let r = m.predict(None, &[], ItemIdx(0)).unwrap();
        assert!((r - (m.global_mean + m.bi[0]).clamp(1.0, 5.0)).abs() < 1e-6);
        let recs = m.recommend(&Query::new(&h), 3).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].item, ItemIdx(1));
    }
}
