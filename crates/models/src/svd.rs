//! Biased matrix factorisation by SGD ([`Svd`]), as Surprise's `SVD` (Funk's SVD, Koren et al. 2009, eq. 5).
//!
//! `r̂_ui = μ + b_u + b_i + q_iᵀ p_u` (with `biased = false`, `r̂_ui = q_iᵀ p_u`). Factors start from
//! N(`init_mean`, `init_std_dev`²) (user factors drawn first, then item factors, from ChaCha8 seeded with
//! `seed`), biases from 0; with `users_start_at_mean` (the default) the user factors are then all set to
//! `init_mean` (0 by default).
//!
//! **Why constant user factors.** Surprise starts both sides random. With its defaults (20 epochs at
//! learning rate 0.005) the SGD never washes that noise out: `q_iᵀ p_u` of the initial draws has a standard
//! deviation of `√k · 0.01 = 0.1` stars and much of it survives training. Starting one side at a constant
//! (the random item side still breaks the symmetry, so the user side learns from the first update) removes
//! it: on ML-100K's 5-fold CV the RMSE drops from 0.936 to 0.928 at the same hyperparameters, at no cost
//! (BENCHMARKS.md). A trained user vector is then also what the fold-in below computes for a new user: a
//! vector grown from `init_mean` (0 by default) against the items. `users_start_at_mean = false` is Surprise's procedure exactly.
//!
//! Each epoch visits every training rating once, **user by user**, in one order drawn
//! from the same generator before the first epoch and kept for every epoch (users shuffled, each user's
//! ratings shuffled): the order Surprise's `all_ratings()` yields on a shuffled trainset, which it also never
//! reshuffles. At each rating, with `e = r − r̂`, in this order:
//!
//! ```text
//! b_u += lr_bu (e − reg_bu b_u);   b_i += lr_bi (e − reg_bi b_i)        (biased only)
//! p_u += lr_pu (e q_i − reg_pu p_u);   q_i += lr_qi (e p_u − reg_qi q_i)  (both from the old p_u, q_i)
//! ```
//!
//! The SGD is sequential and in `f32`, so a fit is bit-for-bit deterministic for a given `seed` whatever the
//! thread count. As in Surprise, users and items without training ratings are unknown: their biases and
//! factors are zero (for the unbiased model their predictions fall back to the global mean). Predictions are
//! clipped to the training rating range.
//!
//! **Fold-in.** A user unknown at training time (no `user`, an index out of range, or no training ratings)
//! gets `b_u` and `p_u` fitted on the query's history with every item parameter frozen: both start from 0
//! and follow `n_epochs` passes of the same SGD updates (same learning rates and regularisation) over the
//! history's items known at training time. A known user uses the stored `b_u`, `p_u`.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
//! use tastebud_models::{Fit, NoProgress, PredictRating, svd::SvdParams};
//! let x = Interactions::from_triplets(2, 3, &[(0, 0, 5.0), (0, 1, 3.0), (1, 0, 4.0), (1, 2, 2.0)],
//!                                    Feedback::Explicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b"], ["x", "y", "z"])?;
//! let model = SvdParams::default().n_factors(8).fit(&data, &NoProgress)?;
//! let r = model.predict(Some(UserIdx(1)), &data.interactions.history(UserIdx(1)), ItemIdx(1))?;
//! assert!((2.0..=5.0).contains(&r));
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, Result, UserIdx, ensure_param, top_k};

use crate::baseline::common::{self, dot};
use crate::{Fit, PredictRating, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Svd`], named and defaulted as Surprise 1.1.5's `SVD`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvdParams {
    /// Number of factors.
    pub n_factors: usize,
    /// Number of SGD epochs (0 is allowed, as in Surprise: the initial factors, zero biases).
    pub n_epochs: usize,
    /// Use the baselines `μ + b_u + b_i`.
    pub biased: bool,
    /// Mean of the normal distribution the factors start from.
    pub init_mean: f64,
    /// Standard deviation of the normal distribution the factors start from.
    pub init_std_dev: f64,
    /// Learning rate of every parameter without its own.
    pub lr_all: f64,
    /// Regularisation of every parameter without its own.
    pub reg_all: f64,
    /// Learning rate of `b_u` (overrides `lr_all`).
    pub lr_bu: Option<f64>,
    /// Learning rate of `b_i` (overrides `lr_all`).
    pub lr_bi: Option<f64>,
    /// Learning rate of `p_u` (overrides `lr_all`).
    pub lr_pu: Option<f64>,
    /// Learning rate of `q_i` (overrides `lr_all`).
    pub lr_qi: Option<f64>,
    /// Regularisation of `b_u` (overrides `reg_all`).
    pub reg_bu: Option<f64>,
    /// Regularisation of `b_i` (overrides `reg_all`).
    pub reg_bi: Option<f64>,
    /// Regularisation of `p_u` (overrides `reg_all`).
    pub reg_pu: Option<f64>,
    /// Regularisation of `q_i` (overrides `reg_all`).
    pub reg_qi: Option<f64>,
    /// Seed of the initialisation (Surprise's `random_state`, also accepted under that name).
    #[serde(alias = "random_state")]
    pub seed: u64,
    /// Start every user factor at `init_mean` instead of a draw around it (the item factors stay random).
    /// By default, true; false is Surprise's initialisation.
    pub users_start_at_mean: bool,
}

impl Default for SvdParams {
    fn default() -> Self {
        SvdParams {
            n_factors: 100,
            n_epochs: 20,
            biased: true,
            init_mean: 0.0,
            init_std_dev: 0.1,
            lr_all: 0.005,
            reg_all: 0.02,
            lr_bu: None,
            lr_bi: None,
            lr_pu: None,
            lr_qi: None,
            reg_bu: None,
            reg_bi: None,
            reg_pu: None,
            reg_qi: None,
            seed: 0,
            users_start_at_mean: true,
        }
    }
}

impl SvdParams {
    /// Sets the number of factors. By default, 100.
    pub fn n_factors(mut self, v: usize) -> Self {
        self.n_factors = v;
        self
    }
    /// Sets the number of epochs. By default, 20.
    pub fn n_epochs(mut self, v: usize) -> Self {
        self.n_epochs = v;
        self
    }
    /// Uses the baselines or not. By default, true.
    pub fn biased(mut self, v: bool) -> Self {
        self.biased = v;
        self
    }
    /// Sets the mean of the initial factors. By default, 0.
    pub fn init_mean(mut self, v: f64) -> Self {
        self.init_mean = v;
        self
    }
    /// Sets the standard deviation of the initial factors. By default, 0.1.
    pub fn init_std_dev(mut self, v: f64) -> Self {
        self.init_std_dev = v;
        self
    }
    /// Sets the learning rate of every parameter. By default, 0.005.
    pub fn lr_all(mut self, v: f64) -> Self {
        self.lr_all = v;
        self
    }
    /// Sets the regularisation of every parameter. By default, 0.02.
    pub fn reg_all(mut self, v: f64) -> Self {
        self.reg_all = v;
        self
    }
    /// Sets the learning rate of `b_u`. By default, none (`lr_all`).
    pub fn lr_bu(mut self, v: f64) -> Self {
        self.lr_bu = Some(v);
        self
    }
    /// Sets the learning rate of `b_i`. By default, none (`lr_all`).
    pub fn lr_bi(mut self, v: f64) -> Self {
        self.lr_bi = Some(v);
        self
    }
    /// Sets the learning rate of `p_u`. By default, none (`lr_all`).
    pub fn lr_pu(mut self, v: f64) -> Self {
        self.lr_pu = Some(v);
        self
    }
    /// Sets the learning rate of `q_i`. By default, none (`lr_all`).
    pub fn lr_qi(mut self, v: f64) -> Self {
        self.lr_qi = Some(v);
        self
    }
    /// Sets the regularisation of `b_u`. By default, none (`reg_all`).
    pub fn reg_bu(mut self, v: f64) -> Self {
        self.reg_bu = Some(v);
        self
    }
    /// Sets the regularisation of `b_i`. By default, none (`reg_all`).
    pub fn reg_bi(mut self, v: f64) -> Self {
        self.reg_bi = Some(v);
        self
    }
    /// Sets the regularisation of `p_u`. By default, none (`reg_all`).
    pub fn reg_pu(mut self, v: f64) -> Self {
        self.reg_pu = Some(v);
        self
    }
    /// Sets the regularisation of `q_i`. By default, none (`reg_all`).
    pub fn reg_qi(mut self, v: f64) -> Self {
        self.reg_qi = Some(v);
        self
    }
    /// Sets the seed. By default, 0.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Starts the user factors at `init_mean` (else from the normal draw, as Surprise). By default, true.
    pub fn users_start_at_mean(mut self, v: bool) -> Self {
        self.users_start_at_mean = v;
        self
    }

    /// Checks the parameters: at least one factor; rates, regularisations and the initial spread finite and
    /// non-negative; a finite initial mean.
    pub fn validate(&self) -> Result<()> {
        ensure_param(self.n_factors >= 1, "n_factors", "must be at least 1")?;
        ensure_param(self.init_mean.is_finite(), "init_mean", "must be finite")?;
        common::non_negative("init_std_dev", self.init_std_dev)?;
        self.rates().map(|_| ())
    }

    fn rates(&self) -> Result<Rates> {
        Ok(Rates {
            lr_bu: common::pick("lr_bu", self.lr_bu, self.lr_all)?,
            lr_bi: common::pick("lr_bi", self.lr_bi, self.lr_all)?,
            lr_pu: common::pick("lr_pu", self.lr_pu, self.lr_all)?,
            lr_qi: common::pick("lr_qi", self.lr_qi, self.lr_all)?,
            reg_bu: common::pick("reg_bu", self.reg_bu, self.reg_all)?,
            reg_bi: common::pick("reg_bi", self.reg_bi, self.reg_all)?,
            reg_pu: common::pick("reg_pu", self.reg_pu, self.reg_all)?,
            reg_qi: common::pick("reg_qi", self.reg_qi, self.reg_all)?,
        })
    }
}

/// The learning rates and regularisations in effect.
#[derive(Copy, Clone, Debug)]
struct Rates {
    lr_bu: f32,
    lr_bi: f32,
    lr_pu: f32,
    lr_qi: f32,
    reg_bu: f32,
    reg_bi: f32,
    reg_pu: f32,
    reg_qi: f32,
}

/// A fitted SVD model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Svd {
    #[serde(with = "crate::params_body")]
    params: SvdParams,
    n_factors: usize,
    global_mean: f32,
    bu: Vec<f32>,
    bi: Vec<f32>,
    pu: Vec<f32>,
    qi: Vec<f32>,
    user_counts: Vec<u32>,
    item_counts: Vec<u32>,
    rating_min: f32,
    rating_max: f32,
}

/// One SGD epoch over all ratings in `order` (Surprise's update order); returns the sum of squared errors
/// seen before each update.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn epoch(
    order: &common::VisitOrder,
    k: usize,
    mu: f32,
    biased: bool,
    r: &Rates,
    bu: &mut [f32],
    bi: &mut [f32],
    pu: &mut [f32],
    qi: &mut [f32],
) -> f64 {
    let mut sse = 0f64;
    for &(u, start, end) in &order.users {
        let u = u as usize;
        let p_u = &mut pu[u * k..(u + 1) * k];
        let mut b_u = bu[u];
        let entries = &order.entries[start..end];
        // A user's items are distinct: updating `q_i` never touches the next rating's `q_j`.
        let mut next_dot = match entries.first() {
            Some(&(i, _)) => dot(p_u, &qi[i as usize * k..(i as usize + 1) * k]),
            None => continue,
        };
        for (t, &(i, rating)) in entries.iter().enumerate() {
            let i = i as usize;
            // The next rating's `p_u · q_j` after this update is `cp (p_u · q_j) + lr_pu e (q_i · q_j)` (the
            // update of `p_u` is `cp p_u + lr_pu e q_i`): both inner products are taken before `e` is known,
            // so the SGD's serial chain from one error to the next is a few scalar operations instead of a
            // k-long reduction (the CPU overlaps the inner products with the previous update).
            let (d_pq, d_qq) = match entries.get(t + 1) {
                Some(&(j, _)) => {
                    let q_j = &qi[j as usize * k..(j as usize + 1) * k];
                    (dot(p_u, q_j), dot(&qi[i * k..(i + 1) * k], q_j))
                }
                None => (0.0, 0.0),
            };
            let err = rating - (mu + b_u + bi[i] + next_dot);
            sse += (err * err) as f64;
            if biased {
                b_u += r.lr_bu * (err - r.reg_bu * b_u);
                bi[i] += r.lr_bi * (err - r.reg_bi * bi[i]);
            }
            step(p_u, &mut qi[i * k..(i + 1) * k], err, r);
            next_dot = (1.0 - r.lr_pu * r.reg_pu) * d_pq + r.lr_pu * err * d_qq;
        }
        bu[u] = b_u;
    }
    sse
}

/// `p += lr_pu (e q − reg_pu p); q += lr_qi (e p − reg_qi q)`, both from the old values, written as
/// `p ← (1 − lr_pu reg_pu) p + lr_pu e q` (the same update, fewer operations).
#[inline(always)]
fn step(p: &mut [f32], q: &mut [f32], err: f32, r: &Rates) {
    let (cp, ep) = (1.0 - r.lr_pu * r.reg_pu, r.lr_pu * err);
    let (cq, eq) = (1.0 - r.lr_qi * r.reg_qi, r.lr_qi * err);
    for (pf, qf) in p.iter_mut().zip(q.iter_mut()) {
        let (a, b) = (*pf, *qf);
        *pf = cp * a + ep * b;
        *qf = cq * b + eq * a;
    }
}

impl Fit for SvdParams {
    type Model = Svd;
    /// Sequential SGD: deterministic for a given `seed`.
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Svd> {
        self.validate()?;
        let rates = self.rates()?;
        let x = &data.interactions;
        let k = self.n_factors;
        let (mean, rating_min, rating_max) = common::rating_stats(x);
        let (user_counts, item_counts) = common::counts(x);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut pu = if self.users_start_at_mean {
            // The user draws would be overwritten: skip them (the item draws that follow are the same).
            common::skip_normals(&mut rng, x.n_users() * k);
            vec![self.init_mean as f32; x.n_users() * k]
        } else {
            common::normal_vec(&mut rng, x.n_users() * k, self.init_mean, self.init_std_dev)
        };
        let mut qi =
            common::normal_vec(&mut rng, x.n_items() * k, self.init_mean, self.init_std_dev);
        let mut bu = vec![0f32; x.n_users()];
        let mut bi = vec![0f32; x.n_items()];
        let mu = if self.biased { mean as f32 } else { 0.0 };
        let order = common::visit_order(x, &mut rng);
        progress.start("epochs", self.n_epochs as u64);
        for _ in 0..self.n_epochs {
            // Compiled for the CPU's best instruction set (same results: the kernels' summation order is
            // fixed and nothing is fused).
            let sse = crate::linalg::simd(
                #[inline(always)]
                || {
                    epoch(
                        &order,
                        k,
                        mu,
                        self.biased,
                        &rates,
                        &mut bu,
                        &mut bi,
                        &mut pu,
                        &mut qi,
                    )
                },
            );
            progress.message(&format!(
                "train rmse {:.4}",
                (sse / x.nnz().max(1) as f64).sqrt()
            ));
            progress.inc(1);
        }
        common::zero_unknown(&mut pu, k, &user_counts);
        common::zero_unknown(&mut qi, k, &item_counts);
        Ok(Svd {
            params: self.clone(),
            n_factors: k,
            global_mean: mean as f32,
            bu,
            bi,
            pu,
            qi,
            user_counts,
            item_counts,
            rating_min,
            rating_max,
        })
    }
}

impl Svd {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &SvdParams {
        &self.params
    }
    /// Number of factors.
    pub fn n_factors(&self) -> usize {
        self.n_factors
    }
    /// The global mean μ of the training ratings.
    pub fn global_mean(&self) -> f32 {
        self.global_mean
    }
    /// User biases (zero when `biased` is false).
    pub fn user_biases(&self) -> &[f32] {
        &self.bu
    }
    /// Item biases (zero when `biased` is false).
    pub fn item_biases(&self) -> &[f32] {
        &self.bi
    }
    /// User factors, `n_users x n_factors` row-major.
    pub fn user_factors(&self) -> &[f32] {
        &self.pu
    }
    /// Item factors, `n_items x n_factors` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.qi
    }

    fn q(&self, i: usize) -> &[f32] {
        &self.qi[i * self.n_factors..(i + 1) * self.n_factors]
    }

    /// `(b_u, p_u)` for a query: stored for a known user, folded in from the history otherwise.
    fn user_params(&self, user: Option<UserIdx>, history: &[(ItemIdx, f32)]) -> (f32, Vec<f32>) {
        let k = self.n_factors;
        if let Some(u) = common::known(user, &self.user_counts) {
            return (self.bu[u], self.pu[u * k..(u + 1) * k].to_vec());
        }
        let rates = self.params.rates().expect("validated at fit");
        let mu = if self.params.biased {
            self.global_mean
        } else {
            0.0
        };
        let known: Vec<(usize, f32)> = history
            .iter()
            .map(|&(i, r)| (i.get(), r))
            .filter(|&(i, _)| self.item_counts[i] > 0)
            .collect();
        // From where training starts a user (the mean of the initial draw), so that a history folded
        // in and the same user trained agree however `init_mean` is set.
        let (mut b, mut p) = (0f32, vec![self.params.init_mean as f32; k]);
        for _ in 0..self.params.n_epochs {
            for &(i, r) in &known {
                let q = self.q(i);
                let err = r - (mu + b + self.bi[i] + dot(&p, q));
                if self.params.biased {
                    b += rates.lr_bu * (err - rates.reg_bu * b);
                }
                for (pf, &qf) in p.iter_mut().zip(q) {
                    *pf += rates.lr_pu * (err * qf - rates.reg_pu * *pf);
                }
            }
        }
        (b, p)
    }

    /// The unclipped estimate for `(b_u, p_u)` and a valid item (Surprise's `estimate`).
    fn estimate(&self, user_known: bool, b: f32, p: &[f32], i: usize) -> f32 {
        let item_known = self.item_counts[i] > 0;
        if self.params.biased {
            self.global_mean + b + self.bi[i] + dot(p, self.q(i))
        } else if user_known && item_known {
            dot(p, self.q(i))
        } else {
            self.global_mean // Surprise's default prediction when the estimate is impossible
        }
    }

    fn user_known(&self, user: Option<UserIdx>, history: &[(ItemIdx, f32)]) -> bool {
        common::known(user, &self.user_counts).is_some()
            || history.iter().any(|(i, _)| self.item_counts[i.get()] > 0)
    }
}

impl PredictRating for Svd {
    fn predict(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        common::check_item(item, self.bi.len())?;
        common::check_history(history, self.bi.len())?;
        let (b, p) = self.user_params(user, history);
        let est = self.estimate(self.user_known(user, history), b, &p, item.get());
        Ok(est.clamp(self.rating_min, self.rating_max))
    }
}

impl Recommender for Svd {
    fn name(&self) -> &str {
        "svd"
    }
    fn n_items(&self) -> usize {
        self.bi.len()
    }
    /// Ranks by the unclipped estimate (clipping would tie every item above the top of the scale).
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.bi.len())?;
        let (b, p) = self.user_params(q.user, q.history);
        let known = self.user_known(q.user, q.history);
        let scores: Vec<f32> = (0..self.bi.len())
            .map(|i| self.estimate(known, b, &p, i))
            .collect();
        top_k(&scores, k, &filter)
    }
    /// Cosine similarity of the item factors.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        crate::linalg::cosine_similar_items(&self.qi, self.n_factors, self.n_factors, item, k)
    }
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        Some(self)
    }
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.n_factors, &self.qi))
    }
}

impl Svd {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): valid hyperparameters, one finite bias
    /// and factor row per user and item, and a rating range.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        let (nu, ni, k) = (
            self.user_counts.len(),
            self.item_counts.len(),
            self.n_factors,
        );
        v::len("SVD factors", k, self.params.n_factors)?;
        crate::baseline::common::check_biased_factors(
            "SVD",
            (&self.bu, &self.bi),
            (&self.pu, &self.qi),
            (nu, ni, k),
            (self.global_mean, self.rating_min, self.rating_max),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{Feedback, Interactions};

    /// 12 users x 10 items with a low-rank pattern plus noise-free structure.
    fn toy() -> Dataset {
        let mut t = Vec::new();
        for u in 0..12u32 {
            for i in 0..10u32 {
                if (u * 3 + i * 7) % 4 != 0 {
                    let v = 1.0 + ((u % 3) as f32 + (i % 4) as f32 * 0.8).min(4.0);
                    t.push((u, i, v.round()));
                }
            }
        }
        let x = Interactions::from_triplets(13, 11, &t, Feedback::Explicit).unwrap();
        Dataset::from_parts(
            "toy",
            x,
            (0..13).map(|u| format!("u{u}")),
            (0..11).map(|i| format!("i{i}")),
        )
        .unwrap()
    }

    fn train_rmse(m: &Svd, d: &Dataset) -> f64 {
        let x = &d.interactions;
        let mut sse = 0.0;
        for r in x.iter() {
            let h = x.history(r.user);
            let e = m.predict(Some(r.user), &h, r.item).unwrap() - r.value;
            sse += (e * e) as f64;
        }
        (sse / x.nnz() as f64).sqrt()
    }

    #[test]
    fn one_step_matches_hand_computation() {
        let x = Interactions::from_triplets(1, 1, &[(0, 0, 4.0)], Feedback::Explicit).unwrap();
        let d = Dataset::from_parts("one", x, ["u"], ["i"]).unwrap();
        let p = SvdParams::default().n_factors(2).n_epochs(0).seed(3);
        let m0 = p.fit(&d, &NoProgress).unwrap();
        let m1 = p
            .clone()
            .n_epochs(1)
            .lr_all(0.1)
            .reg_all(0.5)
            .fit(&d, &NoProgress)
            .unwrap();
        let (p0, q0) = (m0.user_factors().to_vec(), m0.item_factors().to_vec());
        let err = 4.0 - (4.0 + p0[0] * q0[0] + p0[1] * q0[1]);
        assert!((m1.user_biases()[0] - 0.1 * err).abs() < 1e-6);
        assert!((m1.item_biases()[0] - 0.1 * err).abs() < 1e-6);
        for f in 0..2 {
            let pf = p0[f] + 0.1 * (err * q0[f] - 0.5 * p0[f]);
            let qf = q0[f] + 0.1 * (err * p0[f] - 0.5 * q0[f]);
            assert!((m1.user_factors()[f] - pf).abs() < 1e-6);
            assert!((m1.item_factors()[f] - qf).abs() < 1e-6);
        }
    }

    #[test]
    fn loss_decreases_and_fits_are_deterministic() {
        let d = toy();
        let p = SvdParams::default().n_factors(5).lr_all(0.02);
        let a = train_rmse(&p.clone().n_epochs(2).fit(&d, &NoProgress).unwrap(), &d);
        let b = train_rmse(&p.clone().n_epochs(60).fit(&d, &NoProgress).unwrap(), &d);
        assert!(b < a, "{b} !< {a}");
        let m1 = p.clone().fit(&d, &NoProgress).unwrap();
        let m2 = p.clone().fit(&d, &NoProgress).unwrap();
        assert_eq!(m1.pu, m2.pu);
        assert_eq!(m1.qi, m2.qi);
        let m3 = p.seed(1).fit(&d, &NoProgress).unwrap();
        assert_ne!(m1.qi, m3.qi);
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let d = toy();
        let bad = [
            SvdParams::default().n_factors(0),
            SvdParams::default().reg_all(-0.1),
            SvdParams::default().lr_qi(f64::INFINITY),
            SvdParams::default().init_std_dev(-1.0),
            SvdParams::default().init_mean(f64::NAN),
        ];
        for p in bad {
            assert!(p.fit(&d, &NoProgress).is_err(), "{p:?}");
        }
        // Zero epochs is allowed, as in Surprise.
        assert!(
            SvdParams::default()
                .n_epochs(0)
                .fit(&d, &NoProgress)
                .is_ok()
        );
    }

    #[test]
    fn unknown_users_and_items_behave_like_surprise() {
        let d = toy();
        let m = SvdParams::default()
            .n_factors(4)
            .fit(&d, &NoProgress)
            .unwrap();
        // User 12 and item 10 have no ratings.
        let r = m.predict(Some(UserIdx(12)), &[], ItemIdx(3)).unwrap();
        assert!((r - (m.global_mean + m.bi[3]).clamp(1.0, 5.0)).abs() < 1e-6);
        let h = d.interactions.history(UserIdx(0));
        let r = m.predict(Some(UserIdx(0)), &h, ItemIdx(10)).unwrap();
        assert!((r - (m.global_mean + m.bu[0]).clamp(1.0, 5.0)).abs() < 1e-6);
        assert!(m.similar_items(ItemIdx(10), 3).unwrap().is_empty());
        assert!(m.predict(None, &h, ItemIdx(11)).is_err());
        let unbiased = SvdParams::default()
            .biased(false)
            .fit(&d, &NoProgress)
            .unwrap();
        let r = unbiased.predict(None, &[], ItemIdx(3)).unwrap();
        assert!((r - unbiased.global_mean).abs() < 1e-6);
    }

    #[test]
    fn fold_in_starts_where_training_starts_a_user() {
        // With no epochs a trained user is its starting point; the fold-in of its history must be too,
        // whatever init_mean is.
        let d = toy();
        let m = SvdParams::default()
            .n_epochs(0)
            .init_mean(0.2)
            .fit(&d, &NoProgress)
            .unwrap();
        // Users 0..12 rated something (user 12 did not: its row is zeroed as unknown).
        assert!(m.user_factors()[..12 * 100].iter().all(|&p| p == 0.2));
        for u in 0..12u32 {
            let h = d.interactions.history(UserIdx(u));
            for i in 0..10u32 {
                let known = m.predict(Some(UserIdx(u)), &h, ItemIdx(i)).unwrap();
                let folded = m.predict(None, &h, ItemIdx(i)).unwrap();
                assert_eq!(known, folded, "user {u} item {i}");
            }
        }
    }

    #[test]
    fn fold_in_is_close_to_the_known_user() {
        let d = toy();
        let m = SvdParams::default()
            .n_factors(10)
            .fit(&d, &NoProgress)
            .unwrap();
        let mut diff = 0.0;
        let mut n = 0;
        for u in 0..12u32 {
            let h = d.interactions.history(UserIdx(u));
            for i in 0..10u32 {
                let known = m.predict(Some(UserIdx(u)), &h, ItemIdx(i)).unwrap();
                let folded = m.predict(None, &h, ItemIdx(i)).unwrap();
                assert!((1.0..=5.0).contains(&folded));
                diff += (known - folded).abs();
                n += 1;
            }
        }
        assert!(
            diff / (n as f32) < 0.15,
            "mean |known - folded| = {}",
            diff / n as f32
        );
        let recs = m
            .recommend(&Query::new(&d.interactions.history(UserIdx(0))), 20)
            .unwrap();
        assert_eq!(recs.len(), 11 - d.interactions.user_len(UserIdx(0)));
        assert_eq!(m.item_embeddings().unwrap().1.len(), 11 * 10);
        let sim = m.similar_items(ItemIdx(0), 3).unwrap();
        assert_eq!(sim.len(), 3);
        assert!(
            sim.iter()
                .all(|s| s.item != ItemIdx(0) && s.score <= 1.0 + 1e-6)
        );
    }
}
