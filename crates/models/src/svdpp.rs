//! SVD++ ([`Svdpp`]), as Surprise's `SVDpp` (Koren 2008, section 4): matrix factorisation with implicit
//! feedback from *which* items a user rated.
//!
//! `r̂_ui = μ + b_u + b_i + q_iᵀ (p_u + |I_u|^{-1/2} Σ_{j∈I_u} y_j)`. Factors `p`, `q`, `y` start from
//! N(`init_mean`, `init_std_dev`²) (drawn in that order from ChaCha8 seeded with `seed`), biases from 0; with
//! `users_start_at_mean` (the default) the user side, `p` and `y`, is then set to `init_mean` (0 by
//! default), for the reason given in [`Svd`](crate::svd::Svd)'s documentation (ML-100K 5-fold RMSE 0.918 →
//! 0.914; `false` is Surprise's initialisation exactly). Each
//! epoch visits the ratings user by user in one seeded order fixed for all epochs (users shuffled, each
//! user's ratings shuffled, as [`Svd`](crate::svd::Svd)) and applies, with `z = |I_u|^{-1/2} Σ y_j` and
//! `e = r − r̂`, Surprise's updates in Surprise's order:
//!
//! ```text
//! b_u += lr_bu (e − reg_bu b_u);   b_i += lr_bi (e − reg_bi b_i)
//! p_u += lr_pu (e q_i − reg_pu p_u);   q_i += lr_qi (e (p_u + z) − reg_qi q_i)
//! y_j += lr_yj (e q_i |I_u|^{-1/2} − reg_yj y_j)   for every j ∈ I_u        (old p_u, q_i throughout)
//! ```
//!
//! Surprise applies the last line to every `y_j` at every rating, `O(|I_u| k)` per rating. Because a user's
//! ratings are visited consecutively and the update is the same affine map `y ← a y + b` for every
//! `j ∈ I_u`, Tastebud composes the maps over the user's block (`y_j = A y_j⁰ + B`), keeps `z` in closed form
//! and writes the `y_j` once at the end of the block: the same arithmetic up to rounding, in `O(|I_u| k)` per
//! *user*. The fit is sequential, hence deterministic for a given `seed`.
//!
//! Users and items without training ratings are unknown, as in Surprise: their biases and factors are zero.
//! Predictions are clipped to the training rating range.
//!
//! **Fold-in.** The implicit part `z` always comes from the query's history (its items known at training;
//! for a known user whose history is their training row, exactly Surprise's). A user unknown at training
//! time gets `b_u`, `p_u` from 0 by `n_epochs` passes of the SGD updates over the history with every item
//! parameter frozen; a known user uses the stored `b_u`, `p_u`.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
//! use tastebud_models::{Fit, NoProgress, PredictRating, svdpp::SvdppParams};
//! let x = Interactions::from_triplets(2, 3, &[(0, 0, 5.0), (0, 1, 3.0), (1, 0, 4.0), (1, 2, 2.0)],
//!                                    Feedback::Explicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b"], ["x", "y", "z"])?;
//! let model = SvdppParams::default().fit(&data, &NoProgress)?;
//! let r = model.predict(None, &[(ItemIdx(0), 5.0)], ItemIdx(2))?;
//! assert!((2.0..=5.0).contains(&r));
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, Result, UserIdx, ensure_param, top_k};

use crate::baseline::common::{self, dot};
use crate::{Fit, PredictRating, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Svdpp`], named and defaulted as Surprise 1.1.5's `SVDpp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvdppParams {
    /// Number of factors.
    pub n_factors: usize,
    /// Number of SGD epochs (0 is allowed, as in Surprise).
    pub n_epochs: usize,
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
    /// Learning rate of `y_j` (overrides `lr_all`).
    pub lr_yj: Option<f64>,
    /// Regularisation of `b_u` (overrides `reg_all`).
    pub reg_bu: Option<f64>,
    /// Regularisation of `b_i` (overrides `reg_all`).
    pub reg_bi: Option<f64>,
    /// Regularisation of `p_u` (overrides `reg_all`).
    pub reg_pu: Option<f64>,
    /// Regularisation of `q_i` (overrides `reg_all`).
    pub reg_qi: Option<f64>,
    /// Regularisation of `y_j` (overrides `reg_all`).
    pub reg_yj: Option<f64>,
    /// Accepted for compatibility with Surprise, where it trades memory for speed; no effect here (the
    /// ratings are never copied).
    pub cache_ratings: bool,
    /// Seed of the initialisation (Surprise's `random_state`, also accepted under that name).
    #[serde(alias = "random_state")]
    pub seed: u64,
    /// Start the user side (`p_u` and the implicit factors `y_j`, whose normalised sum is part of the
    /// user's vector) at `init_mean`; `q_i` stays random. By default, true; false is Surprise's
    /// initialisation.
    pub users_start_at_mean: bool,
}

impl Default for SvdppParams {
    fn default() -> Self {
        SvdppParams {
            n_factors: 20,
            n_epochs: 20,
            init_mean: 0.0,
            init_std_dev: 0.1,
            lr_all: 0.007,
            reg_all: 0.02,
            lr_bu: None,
            lr_bi: None,
            lr_pu: None,
            lr_qi: None,
            lr_yj: None,
            reg_bu: None,
            reg_bi: None,
            reg_pu: None,
            reg_qi: None,
            reg_yj: None,
            cache_ratings: false,
            seed: 0,
            users_start_at_mean: true,
        }
    }
}

impl SvdppParams {
    /// Sets the number of factors. By default, 20.
    pub fn n_factors(mut self, v: usize) -> Self {
        self.n_factors = v;
        self
    }
    /// Sets the number of epochs. By default, 20.
    pub fn n_epochs(mut self, v: usize) -> Self {
        self.n_epochs = v;
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
    /// Sets the learning rate of every parameter. By default, 0.007.
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
    /// Sets the learning rate of `y_j`. By default, none (`lr_all`).
    pub fn lr_yj(mut self, v: f64) -> Self {
        self.lr_yj = Some(v);
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
    /// Sets the regularisation of `y_j`. By default, none (`reg_all`).
    pub fn reg_yj(mut self, v: f64) -> Self {
        self.reg_yj = Some(v);
        self
    }
    /// Sets Surprise's `cache_ratings` (no effect). By default, false.
    pub fn cache_ratings(mut self, v: bool) -> Self {
        self.cache_ratings = v;
        self
    }
    /// Sets the seed. By default, 0.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Starts `p` and `y` at `init_mean` (else from the normal draw, as Surprise). By default, true.
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
            lr_yj: common::pick("lr_yj", self.lr_yj, self.lr_all)?,
            reg_bu: common::pick("reg_bu", self.reg_bu, self.reg_all)?,
            reg_bi: common::pick("reg_bi", self.reg_bi, self.reg_all)?,
            reg_pu: common::pick("reg_pu", self.reg_pu, self.reg_all)?,
            reg_qi: common::pick("reg_qi", self.reg_qi, self.reg_all)?,
            reg_yj: common::pick("reg_yj", self.reg_yj, self.reg_all)?,
        })
    }
}

#[derive(Copy, Clone, Debug)]
struct Rates {
    lr_bu: f32,
    lr_bi: f32,
    lr_pu: f32,
    lr_qi: f32,
    lr_yj: f32,
    reg_bu: f32,
    reg_bi: f32,
    reg_pu: f32,
    reg_qi: f32,
    reg_yj: f32,
}

/// A fitted SVD++ model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Svdpp {
    #[serde(with = "crate::params_body")]
    params: SvdppParams,
    n_factors: usize,
    global_mean: f32,
    bu: Vec<f32>,
    bi: Vec<f32>,
    pu: Vec<f32>,
    qi: Vec<f32>,
    yj: Vec<f32>,
    user_counts: Vec<u32>,
    item_counts: Vec<u32>,
    rating_min: f32,
    rating_max: f32,
}

/// Mutable state of the SGD.
struct State {
    k: usize,
    bu: Vec<f32>,
    bi: Vec<f32>,
    pu: Vec<f32>,
    qi: Vec<f32>,
    yj: Vec<f32>,
}

/// One epoch (see the module docs for the lazy `y` updates); returns the sum of squared errors.
fn epoch(order: &common::VisitOrder, mu: f32, r: &Rates, s: &mut State) -> f64 {
    let k = s.k;
    let a = 1.0 - r.lr_yj * r.reg_yj; // y ← a y + b at every rating of the user
    let mut sum_y0 = vec![0f32; k]; // Σ_j y_j at the start of the user's block
    let mut big_b = vec![0f32; k]; // accumulated offset B
    let mut z = vec![0f32; k];
    let mut pz = vec![0f32; k];
    let mut sse = 0f64;
    for &(u, start, end) in &order.users {
        let u = u as usize;
        let entries = &order.entries[start..end];
        let n = entries.len() as f32;
        let inv_sqrt = 1.0 / n.sqrt();
        sum_y0.fill(0.0);
        for &(j, _) in entries {
            let y = &s.yj[j as usize * k..(j as usize + 1) * k];
            sum_y0.iter_mut().zip(y).for_each(|(acc, v)| *acc += v);
        }
        let mut big_a = 1f32;
        big_b.fill(0.0);
        let p_u = &mut s.pu[u * k..(u + 1) * k];
        for &(i, rating) in entries {
            let i = i as usize;
            // z = Σ_j (A y_j⁰ + B) / sqrt(n)
            for f in 0..k {
                z[f] = (big_a * sum_y0[f] + n * big_b[f]) * inv_sqrt;
                pz[f] = p_u[f] + z[f];
            }
            let q_i = &mut s.qi[i * k..(i + 1) * k];
            let err = rating - (mu + s.bu[u] + s.bi[i] + dot(q_i, &pz));
            sse += (err * err) as f64;
            s.bu[u] += r.lr_bu * (err - r.reg_bu * s.bu[u]);
            s.bi[i] += r.lr_bi * (err - r.reg_bi * s.bi[i]);
            let c = r.lr_yj * err * inv_sqrt;
            for f in 0..k {
                let (puf, qif) = (p_u[f], q_i[f]);
                p_u[f] = puf + r.lr_pu * (err * qif - r.reg_pu * puf);
                q_i[f] = qif + r.lr_qi * (err * pz[f] - r.reg_qi * qif);
                big_b[f] = a * big_b[f] + c * qif;
            }
            big_a *= a;
        }
        for &(j, _) in entries {
            let y = &mut s.yj[j as usize * k..(j as usize + 1) * k];
            y.iter_mut()
                .zip(&big_b)
                .for_each(|(v, b)| *v = big_a * *v + b);
        }
    }
    sse
}

impl Fit for SvdppParams {
    type Model = Svdpp;
    /// Sequential SGD: deterministic for a given `seed`.
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Svdpp> {
        self.validate()?;
        let rates = self.rates()?;
        let x = &data.interactions;
        let k = self.n_factors;
        let (mean, rating_min, rating_max) = common::rating_stats(x);
        let (user_counts, item_counts) = common::counts(x);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let (m, s) = (self.init_mean, self.init_std_dev);
        let mut pu = common::normal_vec(&mut rng, x.n_users() * k, m, s);
        let qi = common::normal_vec(&mut rng, x.n_items() * k, m, s);
        let mut yj = common::normal_vec(&mut rng, x.n_items() * k, m, s);
        if self.users_start_at_mean {
            pu.fill(m as f32);
            yj.fill(m as f32);
        }
        let mut st = State {
            k,
            bu: vec![0f32; x.n_users()],
            bi: vec![0f32; x.n_items()],
            pu,
            qi,
            yj,
        };
        let order = common::visit_order(x, &mut rng);
        progress.start("epochs", self.n_epochs as u64);
        for _ in 0..self.n_epochs {
            let sse = epoch(&order, mean as f32, &rates, &mut st);
            progress.message(&format!(
                "train rmse {:.4}",
                (sse / x.nnz().max(1) as f64).sqrt()
            ));
            progress.inc(1);
        }
        common::zero_unknown(&mut st.pu, k, &user_counts);
        common::zero_unknown(&mut st.qi, k, &item_counts);
        common::zero_unknown(&mut st.yj, k, &item_counts);
        Ok(Svdpp {
            params: self.clone(),
            n_factors: k,
            global_mean: mean as f32,
            bu: st.bu,
            bi: st.bi,
            pu: st.pu,
            qi: st.qi,
            yj: st.yj,
            user_counts,
            item_counts,
            rating_min,
            rating_max,
        })
    }
}

impl Svdpp {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &SvdppParams {
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
    /// User biases.
    pub fn user_biases(&self) -> &[f32] {
        &self.bu
    }
    /// Item biases.
    pub fn item_biases(&self) -> &[f32] {
        &self.bi
    }
    /// User factors `p`, `n_users x n_factors` row-major.
    pub fn user_factors(&self) -> &[f32] {
        &self.pu
    }
    /// Item factors `q`, `n_items x n_factors` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.qi
    }
    /// Implicit item factors `y`, `n_items x n_factors` row-major.
    pub fn implicit_factors(&self) -> &[f32] {
        &self.yj
    }

    fn row<'a>(&self, m: &'a [f32], i: usize) -> &'a [f32] {
        &m[i * self.n_factors..(i + 1) * self.n_factors]
    }

    /// `(b_u, p_u + z)` for a query (see the module docs).
    fn user_vector(&self, user: Option<UserIdx>, history: &[(ItemIdx, f32)]) -> (f32, Vec<f32>) {
        let k = self.n_factors;
        let known: Vec<(usize, f32)> = history
            .iter()
            .map(|&(i, r)| (i.get(), r))
            .filter(|&(i, _)| self.item_counts[i] > 0)
            .collect();
        let mut z = vec![0f32; k];
        if !known.is_empty() {
            let inv_sqrt = 1.0 / (known.len() as f32).sqrt();
            for &(j, _) in &known {
                z.iter_mut()
                    .zip(self.row(&self.yj, j))
                    .for_each(|(a, y)| *a += y * inv_sqrt);
            }
        }
        let (b, mut p) = if let Some(u) = common::known(user, &self.user_counts) {
            (self.bu[u], self.row(&self.pu, u).to_vec())
        } else {
            let r = self.params.rates().expect("validated at fit");
            // From where training starts `p` (see `Svd`'s fold-in).
            let (mut b, mut p) = (0f32, vec![self.params.init_mean as f32; k]);
            for _ in 0..self.params.n_epochs {
                for &(i, rating) in &known {
                    let q = self.row(&self.qi, i);
                    let pz: f32 = p.iter().zip(&z).zip(q).map(|((a, c), q)| (a + c) * q).sum();
                    let err = rating - (self.global_mean + b + self.bi[i] + pz);
                    b += r.lr_bu * (err - r.reg_bu * b);
                    for (pf, &qf) in p.iter_mut().zip(q) {
                        *pf += r.lr_pu * (err * qf - r.reg_pu * *pf);
                    }
                }
            }
            (b, p)
        };
        p.iter_mut().zip(&z).for_each(|(a, c)| *a += c);
        (b, p)
    }

    fn estimate(&self, b: f32, pz: &[f32], i: usize) -> f32 {
        self.global_mean + b + self.bi[i] + dot(pz, self.row(&self.qi, i))
    }
}

impl PredictRating for Svdpp {
    fn predict(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        common::check_item(item, self.bi.len())?;
        common::check_history(history, self.bi.len())?;
        let (b, pz) = self.user_vector(user, history);
        Ok(self
            .estimate(b, &pz, item.get())
            .clamp(self.rating_min, self.rating_max))
    }
}

impl Recommender for Svdpp {
    fn name(&self) -> &str {
        "svdpp"
    }
    fn n_items(&self) -> usize {
        self.bi.len()
    }
    /// Ranks by the unclipped estimate.
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.bi.len())?;
        let (b, pz) = self.user_vector(q.user, q.history);
        let scores: Vec<f32> = (0..self.bi.len())
            .map(|i| self.estimate(b, &pz, i))
            .collect();
        top_k(&scores, k, &filter)
    }
    /// Cosine similarity of the item factors `q`.
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

impl Svdpp {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): valid hyperparameters, one finite bias
    /// and factor row per user and item (and implicit factor row per item), and a rating range.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        let (nu, ni, k) = (
            self.user_counts.len(),
            self.item_counts.len(),
            self.n_factors,
        );
        v::len("SVD++ factors", k, self.params.n_factors)?;
        v::matrix_f32("SVD++ implicit factors", &self.yj, ni, k)?;
        crate::baseline::common::check_biased_factors(
            "SVD++",
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

    /// Surprise's literal algorithm (every y_j updated at every rating), in f64.
    fn naive_epoch(
        order: &common::VisitOrder,
        mu: f64,
        r: &Rates,
        s: &mut [Vec<f64>; 5],
        k: usize,
    ) {
        let [bu, bi, pu, qi, yj] = s;
        for &(u, start, end) in &order.users {
            let u = u as usize;
            let entries = &order.entries[start..end];
            let items: Vec<usize> = entries.iter().map(|&(i, _)| i as usize).collect();
            let sq = (items.len() as f64).sqrt();
            for &(i, rating) in entries {
                let i = i as usize;
                let mut imp = vec![0f64; k];
                for &j in &items {
                    for f in 0..k {
                        imp[f] += yj[j * k + f] / sq;
                    }
                }
                let dot: f64 = (0..k)
                    .map(|f| qi[i * k + f] * (pu[u * k + f] + imp[f]))
                    .sum();
                let err = rating as f64 - (mu + bu[u] + bi[i] + dot);
                bu[u] += r.lr_bu as f64 * (err - r.reg_bu as f64 * bu[u]);
                bi[i] += r.lr_bi as f64 * (err - r.reg_bi as f64 * bi[i]);
                for f in 0..k {
                    let (puf, qif) = (pu[u * k + f], qi[i * k + f]);
                    pu[u * k + f] += r.lr_pu as f64 * (err * qif - r.reg_pu as f64 * puf);
                    qi[i * k + f] +=
                        r.lr_qi as f64 * (err * (puf + imp[f]) - r.reg_qi as f64 * qif);
                    for &j in &items {
                        yj[j * k + f] +=
                            r.lr_yj as f64 * (err * qif / sq - r.reg_yj as f64 * yj[j * k + f]);
                    }
                }
            }
        }
    }

    #[test]
    fn lazy_implicit_updates_match_surprises_literal_algorithm() {
        let d = toy();
        let k = 4;
        // Surprise's initialisation (random p and y), as the literal algorithm starts.
        let p = SvdppParams::default()
            .n_factors(k)
            .lr_all(0.05)
            .reg_all(0.1)
            .users_start_at_mean(false);
        let rates = p.rates().unwrap();
        let m0 = p.clone().n_epochs(0).fit(&d, &NoProgress).unwrap();
        let x = &d.interactions;
        let to64 = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let mut naive = [
            vec![0f64; 13],
            vec![0f64; 11],
            to64(&m0.pu),
            to64(&m0.qi),
            to64(&m0.yj),
        ];
        // Unknown rows were zeroed after the fit; the fit itself started from the random draws, so redraw.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        naive[2] = to64(&common::normal_vec(&mut rng, 13 * k, 0.0, 0.1));
        naive[3] = to64(&common::normal_vec(&mut rng, 11 * k, 0.0, 0.1));
        naive[4] = to64(&common::normal_vec(&mut rng, 11 * k, 0.0, 0.1));
        let order = common::visit_order(x, &mut rng);
        for _ in 0..3 {
            naive_epoch(&order, m0.global_mean as f64, &rates, &mut naive, k);
        }
        let m = p.n_epochs(3).fit(&d, &NoProgress).unwrap();
        let close = |a: &[f32], b: &[f64], what: &str| {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                assert!((*x as f64 - y).abs() < 1e-4, "{what}[{k}]: {x} vs {y}");
            }
        };
        close(&m.bu[..12], &naive[0][..12], "bu");
        close(&m.bi[..10], &naive[1][..10], "bi");
        close(&m.pu[..12 * k], &naive[2][..12 * k], "pu");
        close(&m.qi[..10 * k], &naive[3][..10 * k], "qi");
        close(&m.yj[..10 * k], &naive[4][..10 * k], "yj");
    }

    #[test]
    fn fold_in_starts_where_training_starts_a_user() {
        // With no epochs a trained user is its starting point; the fold-in of its history must be too.
        let d = toy();
        let m = SvdppParams::default()
            .n_epochs(0)
            .init_mean(0.2)
            .fit(&d, &NoProgress)
            .unwrap();
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
    fn validation_determinism_and_fold_in() {
        let d = toy();
        assert!(
            SvdppParams::default()
                .n_factors(0)
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            SvdppParams::default()
                .reg_yj(-1.0)
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            SvdppParams::default()
                .n_epochs(0)
                .fit(&d, &NoProgress)
                .is_ok()
        );
        let p = SvdppParams::default().n_factors(6);
        let a = p.fit(&d, &NoProgress).unwrap();
        let b = p.fit(&d, &NoProgress).unwrap();
        assert_eq!(a.yj, b.yj);
        let mut diff = 0.0;
        for u in 0..12u32 {
            let h = d.interactions.history(UserIdx(u));
            for i in 0..11u32 {
                let known = a.predict(Some(UserIdx(u)), &h, ItemIdx(i)).unwrap();
                let folded = a.predict(None, &h, ItemIdx(i)).unwrap();
                assert!((1.0..=5.0).contains(&folded));
                diff += (known - folded).abs();
            }
        }
        assert!(
            diff / 132.0 < 0.15,
            "mean |known - folded| = {}",
            diff / 132.0
        );
        assert!(a.predict(None, &[(ItemIdx(20), 1.0)], ItemIdx(0)).is_err());
        assert_eq!(a.similar_items(ItemIdx(1), 4).unwrap().len(), 4);
    }
}
