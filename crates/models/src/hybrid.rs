//! A hybrid factorisation model in the manner of LightFM (Kula 2015, "Metadata Embeddings for User and Item
//! Cold-start Recommendations").
//!
//! Every user and item is described by features: its own **identity** feature (one per user or item, as in
//! plain matrix factorisation) and its side information (genres, year bucket, title words; age, gender,
//! occupation). Each feature has an embedding of `no_components` numbers and a bias; a user's or item's
//! representation is the weighted sum of its features' embeddings (and biases), the weights of a row summing
//! to 1 (LightFM's `Dataset` normalisation). The score of an item for a user is `u · i + b_i` (LightFM adds
//! the user's bias too; it is the same for every item of a query, so it is left out of ranking and scores).
//!
//! Training is LightFM's: for each training interaction (every stored interaction is a positive, whatever
//! its value), in a shuffled order per epoch,
//! - **WARP** (the default): draw negatives uniformly until one scores higher than the positive minus 1, at
//!   most `max_sampled` draws; on a violation after `n` draws, step on the pairwise loss weighted by
//!   `ln(max(1, floor((n_items - 1) / n)))` (capped at 10), as LightFM does;
//! - **BPR**: one uniform negative, step on `−ln σ(pos − neg)`;
//!
//! with per-coordinate **Adagrad** (LightFM's default schedule; accumulators start at 1) and L2 penalties
//! `item_alpha`/`user_alpha` on the embeddings a step touches. Differences from LightFM, all deliberate:
//! negatives are drawn only among items with training interactions (nothing says an untouched item is
//! disliked), a drawn negative that the user liked is skipped (LightFM does the same for WARP), and identity
//! embeddings that never received a gradient (items with no training interaction) are set to zero at the
//! end, so an item that nobody touched is represented by its features alone. Such an item is served at once.
//!
//! **Threads.** Fitting runs on one thread and is deterministic for a given `seed`. (LightFM's Hogwild
//! threads are not offered: an epoch on MovieLens 100K takes a few milliseconds.)
//!
//! **Users at query time.** A known user (`q.user`) whose query history is their training history uses the
//! trained representation (from their features, when `user_features` are used). Any other history is
//! **folded in**: a user vector is fitted by the same loss and Adagrad with every item parameter frozen, for
//! `fold_in_epochs` passes over the history, starting from the known user's representation, or for a new
//! user from the mean of the history's item representations; it is seeded from the history (deterministic).
//! An empty history ranks items by their bias.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, UserIdx, ensure_param, top_k};

use crate::featurize::{SparseRows, feature_rows};
use crate::linalg::{dot, fingerprint};
use crate::{Explanation, Fit, Progress, Query, Recommender, Scored};

/// The loss a [`Hybrid`] model is trained on.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HybridLoss {
    /// Weighted Approximate-Rank Pairwise loss (Weston et al. 2011), LightFM's choice for top-k precision.
    #[default]
    Warp,
    /// Bayesian Personalised Ranking (Rendle et al. 2009).
    Bpr,
}

/// Hyperparameters of [`Hybrid`], named as LightFM's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HybridParams {
    /// Embedding dimension. By default, 10 (LightFM's default).
    pub no_components: usize,
    /// Adagrad's initial learning rate. By default, 0.05 (LightFM's default).
    pub learning_rate: f32,
    /// `warp` or `bpr`. By default, warp.
    pub loss: HybridLoss,
    /// L2 penalty on item feature embeddings, per step. By default, 0.
    pub item_alpha: f32,
    /// L2 penalty on user feature embeddings, per step. By default, 0.
    pub user_alpha: f32,
    /// Most negatives WARP draws per positive. By default, 10 (LightFM's default).
    pub max_sampled: usize,
    /// Passes over the training interactions. By default, 10.
    pub epochs: usize,
    /// Item feature columns: `auto` (every categorical and numeric column, e.g. genres and year buckets),
    /// `none`, or a comma-separated list (a text column such as `title` adds its words). By default, auto.
    pub item_features: String,
    /// User feature columns, as `item_features` (e.g. `age,gender,occupation`). By default, none.
    pub user_features: String,
    /// Give every item its own identity feature (plain collaborative filtering when there are no item
    /// features). By default, true.
    pub item_identity: bool,
    /// Give every user their own identity feature. By default, true.
    pub user_identity: bool,
    /// Width of the buckets numeric features fall into (year 1994 into `1990..2000`). By default, 10.
    pub numeric_bucket: f32,
    /// Passes over a folded-in history. By default, 20.
    pub fold_in_epochs: usize,
    /// Seed of the initial embeddings and of the sampling (LightFM's `random_state`). By default, 42.
    #[serde(alias = "random_state")]
    pub seed: u64,
}

impl Default for HybridParams {
    fn default() -> Self {
        HybridParams {
            no_components: 10,
            learning_rate: 0.05,
            loss: HybridLoss::Warp,
            item_alpha: 0.0,
            user_alpha: 0.0,
            max_sampled: 10,
            epochs: 10,
            item_features: "auto".into(),
            user_features: "none".into(),
            item_identity: true,
            user_identity: true,
            numeric_bucket: 10.0,
            fold_in_epochs: 20,
            seed: 42,
        }
    }
}

impl HybridParams {
    /// Sets the embedding dimension. By default, 10.
    pub fn no_components(mut self, v: usize) -> Self {
        self.no_components = v;
        self
    }
    /// Sets the learning rate. By default, 0.05.
    pub fn learning_rate(mut self, v: f32) -> Self {
        self.learning_rate = v;
        self
    }
    /// Sets the loss. By default, WARP.
    pub fn loss(mut self, v: HybridLoss) -> Self {
        self.loss = v;
        self
    }
    /// Sets the item L2 penalty. By default, 0.
    pub fn item_alpha(mut self, v: f32) -> Self {
        self.item_alpha = v;
        self
    }
    /// Sets the user L2 penalty. By default, 0.
    pub fn user_alpha(mut self, v: f32) -> Self {
        self.user_alpha = v;
        self
    }
    /// Sets WARP's most negatives per positive. By default, 10.
    pub fn max_sampled(mut self, v: usize) -> Self {
        self.max_sampled = v;
        self
    }
    /// Sets the number of epochs. By default, 10.
    pub fn epochs(mut self, v: usize) -> Self {
        self.epochs = v;
        self
    }
    /// Sets the item feature columns. By default, auto.
    pub fn item_features(mut self, v: &str) -> Self {
        self.item_features = v.into();
        self
    }
    /// Sets the user feature columns. By default, none.
    pub fn user_features(mut self, v: &str) -> Self {
        self.user_features = v.into();
        self
    }
    /// Turns item identity features on or off. By default, on.
    pub fn item_identity(mut self, v: bool) -> Self {
        self.item_identity = v;
        self
    }
    /// Turns user identity features on or off. By default, on.
    pub fn user_identity(mut self, v: bool) -> Self {
        self.user_identity = v;
        self
    }
    /// Sets the numeric bucket width. By default, 10.
    pub fn numeric_bucket(mut self, v: f32) -> Self {
        self.numeric_bucket = v;
        self
    }
    /// Sets the fold-in passes. By default, 20.
    pub fn fold_in_epochs(mut self, v: usize) -> Self {
        self.fold_in_epochs = v;
        self
    }
    /// Sets the seed. By default, 42.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Checks every parameter (the feature columns are checked against the dataset when fitting).
    pub fn validate(&self) -> Result<()> {
        ensure_param(
            self.no_components >= 1,
            "no_components",
            "must be at least 1",
        )?;
        ensure_param(
            self.learning_rate.is_finite() && self.learning_rate > 0.0,
            "learning_rate",
            "must be a finite number > 0",
        )?;
        for (v, name) in [
            (self.item_alpha, "item_alpha"),
            (self.user_alpha, "user_alpha"),
        ] {
            ensure_param(
                v.is_finite() && v >= 0.0,
                name,
                "must be a finite number >= 0",
            )?;
        }
        ensure_param(self.max_sampled >= 1, "max_sampled", "must be at least 1")?;
        ensure_param(self.epochs >= 1, "epochs", "must be at least 1")?;
        ensure_param(
            self.numeric_bucket.is_finite() && self.numeric_bucket > 0.0,
            "numeric_bucket",
            "must be a finite number > 0",
        )
    }
}

/// Embeddings, biases and their Adagrad accumulators for one side.
struct Side {
    emb: Vec<f32>,
    bias: Vec<f32>,
    g_emb: Vec<f32>,
    g_bias: Vec<f32>,
    touched: Vec<bool>,
}

impl Side {
    fn new(n_features: usize, d: usize, rng: &mut ChaCha8Rng) -> Self {
        Side {
            emb: (0..n_features * d)
                .map(|_| (rng.random::<f32>() - 0.5) / d as f32)
                .collect(),
            bias: vec![0.0; n_features],
            g_emb: vec![1.0; n_features * d],
            g_bias: vec![1.0; n_features],
            touched: vec![false; n_features],
        }
    }
}

/// `out = Σ w_f emb_f` over a row; returns `Σ w_f bias_f`.
fn represent(rows: &SparseRows, e: usize, emb: &[f32], bias: &[f32], out: &mut [f32]) -> f32 {
    let d = out.len();
    out.fill(0.0);
    let (cols, vals) = rows.row(e);
    let mut b = 0.0;
    for (&f, &w) in cols.iter().zip(vals) {
        let f = f as usize;
        for (o, x) in out.iter_mut().zip(&emb[f * d..][..d]) {
            *o += w * x;
        }
        b += w * bias[f];
    }
    b
}

/// One Adagrad step on every feature of a row: the embedding gradient is `grad_c` per component (times the
/// feature weight), the bias gradient `grad_b`.
#[allow(clippy::too_many_arguments)]
fn step(
    rows: &SparseRows,
    e: usize,
    side: &mut Side,
    grad: &[f32],
    grad_b: Option<f32>,
    lr: f32,
    alpha: f32,
) {
    let d = grad.len();
    let (cols, vals) = rows.row(e);
    for (&f, &w) in cols.iter().zip(vals) {
        let f = f as usize;
        side.touched[f] = true;
        let emb = &mut side.emb[f * d..][..d];
        let acc = &mut side.g_emb[f * d..][..d];
        for c in 0..d {
            let g = w * grad[c] + alpha * emb[c];
            emb[c] -= lr / acc[c].sqrt() * g;
            acc[c] += g * g;
        }
        if let Some(gb) = grad_b {
            let g = w * gb;
            side.bias[f] -= lr / side.g_bias[f].sqrt() * g;
            side.g_bias[f] += g * g;
        }
    }
}

/// WARP's rank weight after `sampled` draws, as LightFM (capped at 10).
fn warp_weight(n_items: usize, sampled: usize) -> f32 {
    let r = ((n_items.saturating_sub(1)) / sampled).max(1) as f32;
    r.ln().min(10.0)
}

/// A fitted LightFM-style hybrid model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hybrid {
    #[serde(with = "crate::params_body")]
    params: HybridParams,
    n_items: usize,
    /// Item feature names (`genres=Comedy`, `year=1990..2000`, `identity:7`).
    item_feature_names: Vec<String>,
    /// User feature names.
    user_feature_names: Vec<String>,
    item_rows: SparseRows,
    user_rows: SparseRows,
    /// `n_item_features x no_components`.
    item_feature_emb: Vec<f32>,
    item_feature_bias: Vec<f32>,
    /// `n_user_features x no_components`.
    user_feature_emb: Vec<f32>,
    /// Item representations with the bias last: `n_items x (no_components + 1)` (rebuilt from the above).
    item_repr: Vec<f32>,
    /// Items that negatives are drawn from at fold-in (those with training interactions).
    negatives: Vec<u32>,
    /// Fingerprint of each user's training item list.
    history_fingerprints: Vec<u64>,
}

fn item_fingerprint(items: &[ItemIdx]) -> u64 {
    fingerprint(items.iter().map(|i| (i.0, 0.0)))
}

impl Fit for HybridParams {
    type Model = Hybrid;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Hybrid> {
        self.validate()?;
        let x = &data.interactions;
        let (n_users, n_items, d) = (x.n_users(), x.n_items(), self.no_components);
        let (item_names, item_rows) = feature_rows(
            data.item_features.as_ref(),
            &self.item_features,
            "item_features",
            n_items,
            self.item_identity,
            self.numeric_bucket,
        )?;
        let (user_names, user_rows) = feature_rows(
            data.user_features.as_ref(),
            &self.user_features,
            "user_features",
            n_users,
            self.user_identity,
            self.numeric_bucket,
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut items = Side::new(item_names.len(), d, &mut rng);
        let mut users = Side::new(user_names.len(), d, &mut rng);
        let negatives: Vec<u32> = (0..n_items as u32)
            .filter(|&i| x.item_len(ItemIdx(i)) > 0)
            .collect();
        let pairs: Vec<(u32, u32)> = (0..n_users as u32)
            .flat_map(|u| x.user_items(UserIdx(u)).iter().map(move |i| (u, i.0)))
            .collect();
        let mut order: Vec<u32> = (0..pairs.len() as u32).collect();
        let (mut ur, mut pr, mut nr) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
        let (mut gu, mut gp, mut gn) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
        let lr = self.learning_rate;
        progress.start("epochs", self.epochs as u64);
        for epoch in 0..self.epochs {
            use rand::seq::SliceRandom;
            let mut erng = ChaCha8Rng::seed_from_u64(self.seed);
            erng.set_stream(epoch as u64 + 1);
            order.shuffle(&mut erng);
            let (mut steps, mut loss_sum) = (0u64, 0f64);
            for &o in &order {
                let (u, i) = pairs[o as usize];
                let (u, i) = (u as usize, i as usize);
                let liked = x.user_items(UserIdx(u as u32));
                represent(&user_rows, u, &users.emb, &users.bias, &mut ur);
                let bp = represent(&item_rows, i, &items.emb, &items.bias, &mut pr);
                let pos = dot(&ur, &pr) + bp;
                let mut found = None;
                match self.loss {
                    HybridLoss::Warp => {
                        for sampled in 1..=self.max_sampled {
                            let j = negatives[erng.random_range(0..negatives.len())] as usize;
                            let bn = represent(&item_rows, j, &items.emb, &items.bias, &mut nr);
                            let neg = dot(&ur, &nr) + bn;
                            if neg > pos - 1.0 {
                                if liked.binary_search(&ItemIdx(j as u32)).is_ok() {
                                    continue;
                                }
                                found = Some((j, warp_weight(negatives.len(), sampled)));
                                break;
                            }
                        }
                    }
                    HybridLoss::Bpr => {
                        let j = negatives[erng.random_range(0..negatives.len())] as usize;
                        if liked.binary_search(&ItemIdx(j as u32)).is_err() {
                            let bn = represent(&item_rows, j, &items.emb, &items.bias, &mut nr);
                            let neg = dot(&ur, &nr) + bn;
                            // d/d(pos) of −ln σ(pos − neg) is −σ(neg − pos).
                            found = Some((j, 1.0 / (1.0 + (pos - neg).exp())));
                        }
                    }
                }
                let Some((j, w)) = found else { continue };
                steps += 1;
                loss_sum += w as f64;
                // Pairwise loss w · (neg − pos): gradients for the user, the positive and the negative.
                for c in 0..d {
                    gu[c] = w * (nr[c] - pr[c]);
                    gp[c] = -w * ur[c];
                    gn[c] = w * ur[c];
                }
                step(
                    &item_rows,
                    i,
                    &mut items,
                    &gp,
                    Some(-w),
                    lr,
                    self.item_alpha,
                );
                step(&item_rows, j, &mut items, &gn, Some(w), lr, self.item_alpha);
                step(&user_rows, u, &mut users, &gu, None, lr, self.user_alpha);
            }
            progress.message(&format!(
                "epoch {}: {} updates, mean weight {:.3}",
                epoch + 1,
                steps,
                if steps > 0 {
                    loss_sum / steps as f64
                } else {
                    0.0
                }
            ));
            progress.inc(1);
        }
        if items
            .emb
            .iter()
            .chain(&users.emb)
            .chain(&items.bias)
            .any(|v| !v.is_finite())
        {
            return Err(Error::InvalidParam {
                name: "learning_rate",
                reason: "training diverged (non-finite embeddings); lower the learning rate".into(),
            });
        }
        // Identity embeddings that never moved are their random start: noise, not knowledge.
        for side in [&mut items, &mut users] {
            for (f, &t) in side.touched.iter().enumerate() {
                if !t {
                    side.emb[f * d..][..d].fill(0.0);
                }
            }
        }
        let history_fingerprints = (0..n_users)
            .map(|u| item_fingerprint(x.user_items(UserIdx(u as u32))))
            .collect();
        let mut m = Hybrid {
            params: self.clone(),
            n_items,
            item_feature_names: item_names,
            user_feature_names: user_names,
            item_rows,
            user_rows,
            item_feature_emb: items.emb,
            item_feature_bias: items.bias,
            user_feature_emb: users.emb,
            item_repr: Vec::new(),
            negatives,
            history_fingerprints,
        };
        m.item_repr = m.item_representations();
        Ok(m)
    }
}

impl Hybrid {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &HybridParams {
        &self.params
    }
    /// Item feature names, in embedding order.
    pub fn item_feature_names(&self) -> &[String] {
        &self.item_feature_names
    }
    /// User feature names, in embedding order.
    pub fn user_feature_names(&self) -> &[String] {
        &self.user_feature_names
    }

    fn item_representations(&self) -> Vec<f32> {
        let d = self.params.no_components;
        let mut out = vec![0f32; self.n_items * (d + 1)];
        for (i, row) in out.chunks_exact_mut(d + 1).enumerate() {
            let (v, b) = row.split_at_mut(d);
            b[0] = represent(
                &self.item_rows,
                i,
                &self.item_feature_emb,
                &self.item_feature_bias,
                v,
            );
        }
        out
    }

    /// The user vector of a query (see the module documentation): `no_components` numbers.
    pub fn user_vector(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
    ) -> Result<Vec<f32>> {
        let d = self.params.no_components;
        let mut items: Vec<ItemIdx> = Vec::with_capacity(history.len());
        for &(i, _) in history {
            if i.get() >= self.n_items {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: i.0,
                    len: self.n_items,
                });
            }
            items.push(i);
        }
        items.sort_unstable();
        items.dedup();
        let fp = item_fingerprint(&items);
        let known = user.filter(|u| u.get() < self.user_rows.len());
        let mut v = vec![0f32; d];
        if let Some(u) = known {
            let zeros = vec![0f32; self.user_feature_emb.len() / d];
            represent(
                &self.user_rows,
                u.get(),
                &self.user_feature_emb,
                &zeros,
                &mut v,
            );
            if self.history_fingerprints.get(u.get()) == Some(&fp) {
                return Ok(v);
            }
        } else if !items.is_empty() {
            for i in &items {
                for (a, b) in v.iter_mut().zip(&self.item_repr[i.get() * (d + 1)..][..d]) {
                    *a += b / items.len() as f32;
                }
            }
        }
        if items.is_empty() {
            return Ok(v);
        }
        self.fold_in(&mut v, &items, fp);
        Ok(v)
    }

    fn fold_in(&self, v: &mut [f32], items: &[ItemIdx], fp: u64) {
        let d = v.len();
        let w1 = d + 1;
        let y = &self.item_repr;
        let mut acc = vec![1f32; d];
        let mut rng = ChaCha8Rng::seed_from_u64(fp ^ self.params.seed);
        let lr = self.params.learning_rate;
        let n = self.negatives.len();
        if n == 0 {
            return;
        }
        let score = |v: &[f32], i: usize| dot(v, &y[i * w1..][..d]) + y[i * w1 + d];
        for _ in 0..self.params.fold_in_epochs * items.len() {
            let i = items[rng.random_range(0..items.len())].get();
            let pos = score(v, i);
            let mut found = None;
            match self.params.loss {
                HybridLoss::Warp => {
                    for sampled in 1..=self.params.max_sampled {
                        let j = self.negatives[rng.random_range(0..n)] as usize;
                        if score(v, j) > pos - 1.0 {
                            if items.binary_search(&ItemIdx(j as u32)).is_ok() {
                                continue;
                            }
                            found = Some((j, warp_weight(n, sampled)));
                            break;
                        }
                    }
                }
                HybridLoss::Bpr => {
                    let j = self.negatives[rng.random_range(0..n)] as usize;
                    if items.binary_search(&ItemIdx(j as u32)).is_err() {
                        found = Some((j, 1.0 / (1.0 + (pos - score(v, j)).exp())));
                    }
                }
            }
            let Some((j, w)) = found else { continue };
            for c in 0..d {
                let g = w * (y[j * w1 + c] - y[i * w1 + c]) + self.params.user_alpha * v[c];
                v[c] -= lr / acc[c].sqrt() * g;
                acc[c] += g * g;
            }
        }
    }

    /// The score of every item for a user vector.
    pub fn scores(&self, user: &[f32]) -> Vec<f32> {
        let d = self.params.no_components;
        self.item_repr
            .chunks_exact(d + 1)
            .map(|y| dot(&y[..d], user) + y[d])
            .collect()
    }
}

impl Recommender for Hybrid {
    fn name(&self) -> &str {
        "lightfm"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        let v = self.user_vector(q.user, q.history)?;
        top_k(&self.scores(&v), k, &filter)
    }
    /// Cosine of the item representations (features and identity; the bias left out).
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let d = self.params.no_components;
        crate::linalg::cosine_similar_items(&self.item_repr, d + 1, d, item, k)
    }
    /// `no_components + 1` dimensions: the last is the item bias (pair with a user coordinate of 1).
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.no_components + 1, &self.item_repr))
    }
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        let mut v = self.user_vector(q.user, q.history)?;
        v.push(1.0);
        Ok(Some(v))
    }
    /// The history items whose representations agree most with the item's (inner products), largest first.
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        let d = self.params.no_components;
        if item.get() >= self.n_items {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: self.n_items,
            });
        }
        let yi = &self.item_repr[item.get() * (d + 1)..][..d];
        let mut because = Vec::new();
        for &(h, _) in q.history {
            if h.get() >= self.n_items {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: h.0,
                    len: self.n_items,
                });
            }
            if h == item || because.iter().any(|b: &(ItemIdx, f32)| b.0 == h) {
                continue;
            }
            let s = dot(yi, &self.item_repr[h.get() * (d + 1)..][..d]);
            if s > 0.0 {
                because.push((h, s));
            }
        }
        because.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        because.truncate(n);
        Ok(Some(Explanation { because }))
    }
}

impl Hybrid {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): valid hyperparameters, feature rows over
    /// the embedded features, `n x no_components` finite embeddings, one representation per item.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        let d = self.params.no_components;
        v::ensure(d > 0, || "LightFM has no components".to_string())?;
        v::ensure(
            self.item_feature_emb.len().is_multiple_of(d)
                && self.user_feature_emb.len().is_multiple_of(d),
            || format!("LightFM embeddings are not a multiple of {d} components"),
        )?;
        let (n_if, n_uf) = (
            self.item_feature_emb.len() / d,
            self.user_feature_emb.len() / d,
        );
        v::finite_f32("LightFM item feature embeddings", &self.item_feature_emb)?;
        v::finite_f32("LightFM user feature embeddings", &self.user_feature_emb)?;
        v::len(
            "LightFM item feature biases",
            self.item_feature_bias.len(),
            n_if,
        )?;
        v::finite_f32("LightFM item feature biases", &self.item_feature_bias)?;
        self.item_rows.validate("LightFM item rows", n_if)?;
        self.user_rows.validate("LightFM user rows", n_uf)?;
        v::len("LightFM item rows", self.item_rows.len(), self.n_items)?;
        v::matrix_f32(
            "LightFM item representations",
            &self.item_repr,
            self.n_items,
            d + 1,
        )?;
        v::indices("LightFM negatives", &self.negatives, self.n_items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{FeatureTable, Feedback, Interactions};

    /// 40 users, 24 items in two blocks; items 20..22 (block A genre) and 22..24 (block B genre) have no
    /// interaction. Genre `A` on items 0..10 and 20..22, `B` on 10..20 and 22..24.
    fn blocks() -> Dataset {
        let mut t = Vec::new();
        for u in 0..40u32 {
            let base = if u < 20 { 0 } else { 10 };
            for o in 0..6 {
                t.push((u, base + (u + 3 * o) % 10, 1.0));
            }
        }
        let x = Interactions::from_triplets(40, 24, &t, Feedback::Implicit).unwrap();
        let mut d = Dataset::from_parts(
            "blocks",
            x,
            (0..40).map(|u| format!("u{u}")),
            (0..24).map(|i| format!("i{i}")),
        )
        .unwrap();
        let mut f = FeatureTable::new(24);
        let mut g = f.categorical_builder();
        for i in 0..24 {
            g.push(
                i,
                if i < 10 || (20..22).contains(&i) {
                    "A"
                } else {
                    "B"
                },
                1.0,
            );
        }
        f.add("genres", g.finish()).unwrap();
        d.item_features = Some(f);
        d
    }

    fn auc(m: &Hybrid, d: &Dataset) -> f64 {
        let x = &d.interactions;
        let mut total = 0.0;
        for u in 0..x.n_users() as u32 {
            let s = m.scores(
                &m.user_vector(Some(UserIdx(u)), &x.history(UserIdx(u)))
                    .unwrap(),
            );
            let pos = x.user_items(UserIdx(u));
            let (mut good, mut all) = (0usize, 0usize);
            for &i in pos {
                for j in 0..20u32 {
                    if pos.binary_search(&ItemIdx(j)).is_err() {
                        all += 1;
                        good += usize::from(s[i.get()] > s[j as usize]);
                    }
                }
            }
            total += good as f64 / all as f64;
        }
        total / x.n_users() as f64
    }

    #[test]
    fn params_are_validated_and_named_as_lightfm() {
        let d = blocks();
        for p in [
            HybridParams::default().no_components(0),
            HybridParams::default().learning_rate(0.0),
            HybridParams::default().item_alpha(-1.0),
            HybridParams::default().user_alpha(f32::NAN),
            HybridParams::default().max_sampled(0),
            HybridParams::default().epochs(0),
            HybridParams::default().numeric_bucket(0.0),
            HybridParams::default().item_features("colour"),
            HybridParams::default().user_features("age"),
            HybridParams::default()
                .item_features("none")
                .item_identity(false),
        ] {
            assert!(
                matches!(p.fit(&d, &NoProgress), Err(Error::InvalidParam { .. })),
                "{p:?}"
            );
        }
        let p: HybridParams =
            serde_json::from_str(r#"{"loss": "bpr", "random_state": 3, "no_components": 4}"#)
                .unwrap();
        assert_eq!((p.loss, p.seed, p.no_components), (HybridLoss::Bpr, 3, 4));
        assert!(serde_json::from_str::<HybridParams>(r#"{"loss": "logistic"}"#).is_err());
        assert!(serde_json::from_str::<HybridParams>(r#"{"factors": 4}"#).is_err());
    }

    #[test]
    fn warp_and_bpr_learn_and_fitting_is_deterministic() {
        let d = blocks();
        let untrained = HybridParams::default()
            .epochs(1)
            .learning_rate(1e-6)
            .fit(&d, &NoProgress)
            .unwrap();
        assert!(auc(&untrained, &d) < 0.75, "{}", auc(&untrained, &d));
        for loss in [HybridLoss::Warp, HybridLoss::Bpr] {
            let p = HybridParams::default().loss(loss).epochs(100);
            let m = p.fit(&d, &NoProgress).unwrap();
            assert!(auc(&m, &d) > 0.9, "{loss:?}: {}", auc(&m, &d));
            let again = p.fit(&d, &NoProgress).unwrap();
            assert_eq!(m.item_repr, again.item_repr);
        }
        // Identity off: items are represented by their genre alone, so same-genre items tie.
        let m = HybridParams::default()
            .item_identity(false)
            .epochs(30)
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(m.item_feature_names(), ["genres=A", "genres=B"]);
        let s = m.scores(
            &m.user_vector(Some(UserIdx(0)), &d.interactions.history(UserIdx(0)))
                .unwrap(),
        );
        assert_eq!(s[0], s[5]);
        assert!(s[0] > s[15]);
    }

    #[test]
    fn cold_items_are_served_by_their_features_and_new_users_are_folded_in() {
        let d = blocks();
        let m = HybridParams::default()
            .epochs(30)
            .fit(&d, &NoProgress)
            .unwrap();
        // The untouched items' identity embeddings are zero: their representation is their genre's.
        let dd = m.params.no_components + 1;
        let a = &m.item_feature_emb[..dd - 1];
        for (r, g) in m.item_repr[20 * dd..][..dd - 1].iter().zip(a) {
            assert!((r - 0.5 * g).abs() < 1e-6);
        }
        // Among the cold items, a block-A user gets the genre-A ones first, a block-B user the genre-B ones.
        let cold = [ItemIdx(20), ItemIdx(21), ItemIdx(22), ItemIdx(23)];
        for (u, want) in [(2u32, 20..22), (30, 22..24)] {
            let h = d.interactions.history(UserIdx(u));
            let r = m
                .recommend(&Query::new(&h).user(UserIdx(u)).candidates(&cold), 2)
                .unwrap();
            assert!(
                r.iter().all(|s| want.contains(&s.item.0)),
                "user {u}: {r:?}"
            );
        }
        // A new user with a block-B history is folded in, deterministically, and stays in block B.
        let fresh = [(ItemIdx(12), 1.0), (ItemIdx(15), 1.0), (ItemIdx(17), 1.0)];
        let v = m.user_vector(None, &fresh).unwrap();
        assert_eq!(v, m.user_vector(None, &fresh).unwrap());
        let r = m.recommend(&Query::new(&fresh), 3).unwrap();
        assert!(
            r.iter()
                .all(|s| (10..20).contains(&s.item.0) || s.item.0 >= 22),
            "{r:?}"
        );
        // The known user's training history uses the stored vector; explanations name history items.
        let h = d.interactions.history(UserIdx(30));
        let e = m.explain(&Query::new(&h), r[0].item, 2).unwrap().unwrap();
        assert!(!e.because.is_empty() && e.because.iter().all(|b| h.iter().any(|x| x.0 == b.0)));
        assert!(m.recommend(&Query::new(&[(ItemIdx(24), 1.0)]), 3).is_err());
    }

    #[test]
    fn user_features_alone_represent_users() {
        let mut d = blocks();
        let mut f = FeatureTable::new(40);
        let mut side = f.categorical_builder();
        for u in 0..40 {
            side.push(u, if u < 20 { "left" } else { "right" }, 1.0);
        }
        f.add("side", side.finish()).unwrap();
        d.user_features = Some(f);
        let m = HybridParams::default()
            .user_features("side")
            .user_identity(false)
            .epochs(30)
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(m.user_feature_names(), ["side=left", "side=right"]);
        // Two users of one side share one representation, and it prefers their block.
        let v = |u: u32| {
            m.user_vector(Some(UserIdx(u)), &d.interactions.history(UserIdx(u)))
                .unwrap()
        };
        assert_eq!(v(1), v(7));
        let s = m.scores(&v(1));
        let (a, b): (f32, f32) = (s[..10].iter().sum(), s[10..20].iter().sum());
        assert!(a > b, "{a} <= {b}");
    }

    #[test]
    fn warp_weight_is_lightfms() {
        assert!((warp_weight(1001, 1) - 1000f32.ln()).abs() < 1e-6);
        assert!((warp_weight(1001, 3) - 333f32.ln()).abs() < 1e-6);
        assert_eq!(warp_weight(5, 10), 0.0);
    }
}
