//! A two-tower retrieval model (Yi et al. 2019, "Sampling-Bias-Corrected Neural Modeling for Large
//! Corpus Item Recommendations"; Covington et al. 2016 for the history tower).
//!
//! - **Item input**: an item's identity embedding plus the weighted mean of its feature embeddings
//!   (genres, year buckets, any column of the item feature table, encoded as the hybrid model encodes
//!   them; weights sum to 1). An item nobody interacted with in training has no identity embedding: its
//!   features alone represent it, so a new item with features is served at once.
//! - **Item tower**: an MLP over the item input, L2-normalised.
//! - **User tower**: an MLP over the mean of the history's item inputs (plus, for known users, the
//!   weighted mean of their feature embeddings, e.g. age and occupation), L2-normalised. The history is
//!   read at query time, so fresh events and new users need no retraining.
//! - **Score**: the inner product of the two unit vectors, so the server's HNSW index over the item
//!   vectors retrieves the top items ([`Recommender::item_embeddings`], [`Recommender::query_embedding`]).
//!
//! **Training** (`deep` feature, candle): every training interaction `(u, i)` is a positive; the user
//! tower reads `u`'s other training items (at most `max_history`, drawn at random), the item tower `i`.
//! The loss is the **in-batch sampled softmax** over the batch's positives, with the **log-Q
//! correction**: the logit of item `j` is `u . v_j / temperature - ln q_j`, `q_j` the share of training
//! interactions on `j` (the probability that `j` is another row's positive), so that popular items are
//! not over-penalised for being sampled often. A column whose item is the row's own positive, or in the
//! row's history, is masked: an item the user liked is not a negative. During training the identity
//! embedding of each item of a batch is dropped with probability `identity_dropout`, so the towers learn
//! to place an item from its features alone (what a cold item has). AdamW; every random draw from one
//! seeded generator.
//!
//! Scoring is plain Rust over the stored weights (every build serves a model file): `n_items x dim`
//! multiply-adds per query after the user tower.

#[cfg(feature = "deep")]
mod train;

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemFilter, ItemIdx, Result, ensure_param, top_k};

use crate::nn::{Linear, inner_products};
use crate::{Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`TwoTower`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoTowerParams {
    /// Width of the embeddings and of both towers' outputs. By default, 64.
    pub dim: usize,
    /// Width of each tower's hidden layer (ReLU); 0 makes each tower one linear layer. By default, 128.
    pub hidden: usize,
    /// Passes over the training interactions. By default, 10.
    pub epochs: usize,
    /// Positives per batch (each row's negatives are the other rows' positives). By default, 256.
    pub batch_size: usize,
    /// AdamW learning rate. By default, 0.002.
    pub lr: f64,
    /// Decoupled weight decay (AdamW). By default, 0.
    pub weight_decay: f64,
    /// Softmax temperature over the cosine scores. By default, 0.05.
    pub temperature: f64,
    /// Subtract `ln q_j` from each in-batch logit (sampling-bias correction). By default, true.
    pub log_q: bool,
    /// Item feature columns: `auto` (every categorical and numeric column, e.g. genres and year
    /// buckets), `none`, or a comma-separated list (a text column such as `title` adds its words). By
    /// default, auto.
    pub item_features: String,
    /// User feature columns for known users, as `item_features` (e.g. `age,gender,occupation`). By
    /// default, none.
    pub user_features: String,
    /// Give every item an identity embedding (items without training interactions get none). By
    /// default, true.
    pub item_identity: bool,
    /// Probability of dropping an item's identity embedding in a training batch. By default, 0.5.
    pub identity_dropout: f64,
    /// Width of the buckets numeric features fall into (year 1994 into `1990..2000`). By default, 10.
    pub numeric_bucket: f32,
    /// Most history items the user tower reads per training row (drawn at random; 0: all). At query
    /// time the whole history is read. By default, 100.
    pub max_history: usize,
    /// Seed of the initialisation, the order, the history draws and the identity dropout.
    pub seed: u64,
}

impl Default for TwoTowerParams {
    fn default() -> Self {
        TwoTowerParams {
            dim: 64,
            hidden: 128,
            epochs: 10,
            batch_size: 256,
            lr: 2e-3,
            weight_decay: 0.0,
            temperature: 0.05,
            log_q: true,
            item_features: "auto".into(),
            user_features: "none".into(),
            item_identity: true,
            identity_dropout: 0.5,
            numeric_bucket: 10.0,
            max_history: 100,
            seed: 42,
        }
    }
}

impl TwoTowerParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param((1..=1024).contains(&self.dim), "dim", "must be in 1..=1024")?;
        ensure_param(self.hidden <= 8192, "hidden", "must be at most 8192")?;
        ensure_param(self.epochs >= 1, "epochs", "must be at least 1")?;
        ensure_param(self.batch_size >= 2, "batch_size", "must be at least 2")?;
        crate::nn::check_optimizer(self.lr, self.weight_decay)?;
        ensure_param(
            self.temperature.is_finite() && self.temperature > 0.0,
            "temperature",
            "must be a finite number > 0",
        )?;
        crate::nn::check_rate("identity_dropout", self.identity_dropout)?;
        ensure_param(
            self.numeric_bucket.is_finite() && self.numeric_bucket > 0.0,
            "numeric_bucket",
            "must be a finite number > 0",
        )
    }
}

/// One tower: dense layers with ReLU between them, the output L2-normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tower {
    /// The layers, input first.
    pub layers: Vec<Linear>,
}

impl Tower {
    fn validate(&self, what: &str, dim: usize) -> Result<()> {
        if self.layers.is_empty() {
            return Err(Error::Shape(format!("{what}: no layers")));
        }
        let mut width = dim;
        for (k, l) in self.layers.iter().enumerate() {
            let name = format!("{what} layer {k}");
            tastebud_core::validate::len(&name, l.inputs, width)?;
            l.validate(&name)?;
            width = l.outputs;
        }
        tastebud_core::validate::len(what, width, dim)
    }

    /// The unit vector of one input row (a zero output stays zero).
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut x = x.to_vec();
        for (k, l) in self.layers.iter().enumerate() {
            let mut y = vec![0f32; l.outputs];
            l.apply(&x, &mut y);
            if k + 1 < self.layers.len() {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            x = y;
        }
        normalise(&mut x);
        x
    }
}

/// Scales `x` to unit length (the training's epsilon keeps a zero vector at zero).
pub(crate) fn normalise(x: &mut [f32]) {
    let n = (x.iter().map(|v| v * v).sum::<f32>() + NORM_EPS).sqrt();
    x.iter_mut().for_each(|v| *v /= n);
}

/// Added under the square root of every L2 norm, training and inference alike.
pub(crate) const NORM_EPS: f32 = 1e-12;

/// A fitted two-tower model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TwoTower {
    #[serde(with = "crate::params_body")]
    params: TwoTowerParams,
    n_items: usize,
    /// Each item's tower input (identity embedding, zero for items without training interactions, plus
    /// its features' embeddings), `n_items x dim`: what a history is pooled from.
    item_inputs: Vec<f32>,
    /// Each item's unit vector from the item tower, `n_items x dim`: the retrieval table.
    item_vectors: Vec<f32>,
    /// The tower over pooled histories.
    user_tower: Tower,
    /// The tower over item inputs (kept so the vectors can be checked against it).
    item_tower: Tower,
    /// Known users' pooled feature embeddings, `n_users x dim`, added to the pooled history; empty when
    /// no user features are used.
    user_inputs: Vec<f32>,
}

impl TwoTower {
    /// Assembles a model from its parts (the fit's last step; also how weights trained elsewhere come
    /// in): the item vectors are computed from the item inputs by the item tower.
    pub fn new(
        params: TwoTowerParams,
        item_inputs: Vec<f32>,
        user_tower: Tower,
        item_tower: Tower,
        user_inputs: Vec<f32>,
    ) -> Result<TwoTower> {
        let d = params.dim;
        if d == 0 || !item_inputs.len().is_multiple_of(d) {
            return Err(Error::Shape(format!(
                "two-tower item inputs of {} numbers for dim {d}",
                item_inputs.len()
            )));
        }
        item_tower.validate("two-tower item tower", d)?;
        let item_vectors = item_inputs
            .chunks_exact(d)
            .flat_map(|x| item_tower.forward(x))
            .collect();
        let m = TwoTower {
            n_items: item_inputs.len() / d,
            params,
            item_inputs,
            item_vectors,
            user_tower,
            item_tower,
            user_inputs,
        };
        m.validate()?;
        Ok(m)
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &TwoTowerParams {
        &self.params
    }

    /// Each item's unit vector, `n_items x dim` row-major.
    pub fn item_vectors(&self) -> &[f32] {
        &self.item_vectors
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let p = &self.params;
        p.validate()?;
        let d = p.dim;
        tastebud_core::validate::matrix_f32(
            "two-tower item inputs",
            &self.item_inputs,
            self.n_items,
            d,
        )?;
        tastebud_core::validate::matrix_f32(
            "two-tower item vectors",
            &self.item_vectors,
            self.n_items,
            d,
        )?;
        if !self.user_inputs.len().is_multiple_of(d) {
            return Err(Error::Shape(format!(
                "two-tower user inputs of {} numbers for dim {d}",
                self.user_inputs.len()
            )));
        }
        tastebud_core::validate::finite_f32("two-tower user inputs", &self.user_inputs)?;
        self.user_tower.validate("two-tower user tower", d)?;
        self.item_tower.validate("two-tower item tower", d)
    }

    /// The user tower's input for a query: the mean of the history's distinct items' inputs, plus the
    /// known user's feature embeddings.
    fn user_input(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        let d = self.params.dim;
        let mut x = vec![0f32; d];
        let mut items: Vec<ItemIdx> = q.history.iter().map(|h| h.0).collect();
        items.sort_unstable();
        items.dedup();
        if let Some(&last) = items.last()
            && last.get() >= self.n_items
        {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: last.0,
                len: self.n_items,
            });
        }
        if !items.is_empty() {
            let w = 1.0 / items.len() as f32;
            for i in &items {
                for (o, &v) in x.iter_mut().zip(&self.item_inputs[i.get() * d..][..d]) {
                    *o += w * v;
                }
            }
        }
        if let Some(u) = q.user
            && (u.get() + 1) * d <= self.user_inputs.len()
        {
            for (o, &v) in x.iter_mut().zip(&self.user_inputs[u.get() * d..][..d]) {
                *o += v;
            }
        }
        Ok(x)
    }

    /// The query's unit vector: the user tower over the mean of the history's item inputs (plus a known
    /// user's feature embeddings).
    pub fn user_vector(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        Ok(self.user_tower.forward(&self.user_input(q)?))
    }

    /// The score (cosine) of every item for a query.
    pub fn scores(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        Ok(inner_products(&self.item_vectors, &self.user_vector(q)?))
    }
}

impl Recommender for TwoTower {
    fn name(&self) -> &str {
        "twotower"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        top_k(&self.scores(q)?, k, &filter)
    }
    /// Items by the cosine of their item-tower vectors.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let d = self.params.dim;
        let filter = ItemFilter::new(self.n_items).exclude(&[item])?;
        let v = &self.item_vectors[item.get() * d..][..d];
        top_k(&inner_products(&self.item_vectors, v), k, &filter)
    }
    /// The item tower's unit vectors.
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.dim, &self.item_vectors))
    }
    /// The user tower's unit vector.
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.user_vector(q).map(Some)
    }
}

impl Fit for TwoTowerParams {
    type Model = TwoTower;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<TwoTower> {
        self.validate()?;
        #[cfg(feature = "deep")]
        {
            train::fit(self, data, progress)
        }
        #[cfg(not(feature = "deep"))]
        {
            let _ = (data, progress);
            Err(crate::nn::needs_deep_feature())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tower(weights: Vec<f32>) -> Tower {
        Tower {
            layers: vec![Linear {
                inputs: 2,
                outputs: 2,
                weights,
                bias: vec![0.0, 0.0],
            }],
        }
    }

    /// Three items on the unit circle's axes; the identity towers.
    fn tiny(user_inputs: Vec<f32>) -> TwoTower {
        TwoTower::new(
            TwoTowerParams {
                dim: 2,
                ..Default::default()
            },
            vec![1.0, 0.0, 0.0, 1.0, 0.0, -3.0],
            tower(vec![1.0, 0.0, 0.0, 1.0]),
            tower(vec![1.0, 0.0, 0.0, 1.0]),
            user_inputs,
        )
        .unwrap()
    }

    #[test]
    fn scores_are_cosines_of_the_pooled_history_and_the_items() {
        let m = tiny(Vec::new());
        assert_eq!(m.item_vectors(), [1.0, 0.0, 0.0, 1.0, 0.0, -1.0]);
        // History {0, 1}: mean (0.5, 0.5), unit (0.707, 0.707).
        let h = [(ItemIdx(0), 5.0), (ItemIdx(1), 1.0), (ItemIdx(1), 1.0)];
        let s = m.scores(&Query::new(&h)).unwrap();
        let r = std::f32::consts::FRAC_1_SQRT_2;
        assert!((s[0] - r).abs() < 1e-6 && (s[1] - r).abs() < 1e-6 && (s[2] + r).abs() < 1e-6);
        // The query vector's inner products are the scores (what the ANN index relies on).
        let q = m.query_embedding(&Query::new(&h)).unwrap().unwrap();
        assert_eq!(inner_products(m.item_vectors(), &q), s);
        // Unseen items only: item 2 comes last.
        let h = [(ItemIdx(0), 1.0)];
        let top = m.recommend(&Query::new(&h), 2).unwrap();
        assert_eq!(top.iter().map(|s| s.item.0).collect::<Vec<_>>(), [1, 2]);
        assert!(m.scores(&Query::new(&[(ItemIdx(3), 1.0)])).is_err());
        assert_eq!(m.similar_items(ItemIdx(1), 1).unwrap()[0].item, ItemIdx(0));
    }

    #[test]
    fn known_users_add_their_features() {
        let m = tiny(vec![0.0, 0.0, 0.0, -2.0]);
        let h = [(ItemIdx(0), 1.0)];
        let anon = m.scores(&Query::new(&h)).unwrap();
        assert_eq!(
            anon,
            m.scores(&Query::new(&h).user(tastebud_core::UserIdx(0)))
                .unwrap()
        );
        // User 1's features pull towards item 2 ((1, -2) normalised).
        let s = m
            .scores(&Query::new(&h).user(tastebud_core::UserIdx(1)))
            .unwrap();
        assert!(s[2] > s[1] && s[2] > anon[2], "{s:?}");
        // A user the model does not know reads as anonymous.
        let unknown = m
            .scores(&Query::new(&h).user(tastebud_core::UserIdx(7)))
            .unwrap();
        assert_eq!(unknown, anon);
    }

    #[test]
    fn a_model_that_does_not_fit_together_is_refused() {
        assert!(
            TwoTower::new(
                TwoTowerParams {
                    dim: 2,
                    ..Default::default()
                },
                vec![1.0, 0.0, 0.0],
                tower(vec![1.0, 0.0, 0.0, 1.0]),
                tower(vec![1.0, 0.0, 0.0, 1.0]),
                Vec::new(),
            )
            .is_err()
        );
        let mut m = tiny(Vec::new());
        m.item_vectors.pop();
        assert!(m.validate().is_err());
    }

    #[cfg(not(feature = "deep"))]
    #[test]
    fn fitting_without_the_feature_says_which_feature() {
        use tastebud_core::{Feedback, Interactions};
        let x = Interactions::from_triplets(1, 2, &[(0, 0, 1.0)], Feedback::Implicit).unwrap();
        let data = Dataset::from_parts("t", x, ["u"], ["a", "b"]).unwrap();
        let e = TwoTowerParams::default()
            .fit(&data, &crate::NoProgress)
            .unwrap_err();
        assert!(e.to_string().contains("`deep` cargo feature"), "{e}");
    }
}
