//! Mult-VAE and Mult-DAE (Liang, Krishnan, Hoffman & Jebara 2018, "Variational Autoencoders for
//! Collaborative Filtering"): a user's click vector, L2-normalised, is encoded by a small tanh network and
//! decoded into a multinomial distribution over every item; training maximises the multinomial
//! log-likelihood of the user's clicks (Mult-VAE adds the KL term of a Gaussian latent, its weight β
//! annealed from 0 to `anneal_cap`; Mult-DAE corrupts the input with dropout only).
//!
//! - `multvae`: `[I -> 600 -> 200 -> 600 -> I]`, tanh, dropout 0.5 on the input, β annealed to 0.2.
//! - `multdae`: `[I -> 200 -> I]`, tanh, dropout 0.5, weight decay 0.01.
//!
//! Training (autograd, AdamW, seeded host-side initialisation, dropout and noise) needs the `deep` cargo
//! feature (candle); a fitted model is plain weights, so **scoring needs no feature**: the first layer is
//! applied sparsely (one row of weights per history item), the rest as small dense products, about
//! `(h + 1) * n_items` multiply-adds for the output layer. A new user's history, or a known user's newest
//! clicks, are folded in at query time with no retraining. The output layer is stored item-major with its
//! bias as one more column, so the last hidden state with a trailing 1 is a query embedding whose inner
//! product with an item's row is exactly the item's score (ANN retrieval in the server).

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, ensure_param, top_k};

use crate::{Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`MultVae`] and [`MultDae`] (one struct, two sets of defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoencoderParams {
    /// Width of the hidden tanh layer on each side of the latent layer (0: none, as Mult-DAE's
    /// `[I -> 200 -> I]`). VAE default 600, DAE default 0.
    pub hidden: usize,
    /// Width of the latent layer. By default, 200.
    pub latent: usize,
    /// Passes over the training users. By default, 50 (VAE) and 100 (DAE).
    pub epochs: usize,
    /// Users per update. By default, 100.
    pub batch_size: usize,
    /// AdamW learning rate. By default, 0.001.
    pub lr: f64,
    /// Decoupled weight decay (AdamW). VAE default 0, DAE default 0.01.
    pub weight_decay: f64,
    /// Input dropout probability. By default, 0.5.
    pub dropout: f64,
    /// Largest weight β of the KL term (VAE only). By default, 0.2.
    pub anneal_cap: f64,
    /// β grows as `min(anneal_cap, step / total_anneal_steps)` (VAE only; Liang et al.'s schedule). By
    /// default (`None`), half of all updates, so β reaches the cap early in training whatever the data's
    /// size (Liang et al. set 200,000 for ML-20M's 116,677 training users; on ML-100K that keeps β near 0
    /// and the model overfits: BENCHMARKS.md, "Deep models").
    pub total_anneal_steps: Option<usize>,
    /// Seed of the initialisation, the user order, dropout and the latent noise.
    pub seed: u64,
}

impl Default for AutoencoderParams {
    /// Mult-VAE's defaults.
    fn default() -> Self {
        Self::vae()
    }
}

impl AutoencoderParams {
    /// Mult-VAE's defaults.
    pub fn vae() -> Self {
        AutoencoderParams {
            hidden: 600,
            latent: 200,
            epochs: 50,
            batch_size: 100,
            lr: 1e-3,
            weight_decay: 0.0,
            dropout: 0.5,
            anneal_cap: 0.2,
            total_anneal_steps: None,
            seed: 42,
        }
    }
    /// Mult-DAE's defaults.
    pub fn dae() -> Self {
        AutoencoderParams {
            hidden: 0,
            epochs: 100,
            weight_decay: 0.01,
            anneal_cap: 0.0,
            ..Self::vae()
        }
    }
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param(
            (1..=4096).contains(&self.latent),
            "latent",
            "must be in 1..=4096",
        )?;
        ensure_param(self.hidden <= 8192, "hidden", "must be at most 8192")?;
        ensure_param(self.epochs >= 1, "epochs", "must be at least 1")?;
        ensure_param(self.batch_size >= 1, "batch_size", "must be at least 1")?;
        crate::nn::check_optimizer(self.lr, self.weight_decay)?;
        crate::nn::check_rate("dropout", self.dropout)?;
        ensure_param(
            self.anneal_cap.is_finite() && self.anneal_cap >= 0.0,
            "anneal_cap",
            "must be a finite number >= 0",
        )
    }
}

/// `multvae` parameters (a newtype so the registry and model files tell the two apart); the default is
/// [`AutoencoderParams::vae`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MultVaeParams(pub AutoencoderParams);

/// `multdae` parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MultDaeParams(pub AutoencoderParams);

impl Default for MultDaeParams {
    fn default() -> Self {
        MultDaeParams(AutoencoderParams::dae())
    }
}

/// One dense layer `y = act(x W + b)`, `W` row-major `inputs x outputs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `inputs x outputs`, row-major.
    pub weights: Vec<f32>,
    /// `outputs`.
    pub bias: Vec<f32>,
    /// tanh after the product (false: linear).
    pub tanh: bool,
}

impl Layer {
    fn validate(&self, what: &str) -> Result<()> {
        tastebud_core::validate::matrix_f32(what, &self.weights, self.inputs, self.outputs)?;
        tastebud_core::validate::len(what, self.bias.len(), self.outputs)?;
        tastebud_core::validate::finite_f32(what, &self.bias)
    }

    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = self.bias.clone();
        for (i, &xi) in x.iter().enumerate() {
            if xi != 0.0 {
                let row = &self.weights[i * self.outputs..][..self.outputs];
                for (o, &w) in y.iter_mut().zip(row) {
                    *o += xi * w;
                }
            }
        }
        if self.tanh {
            y.iter_mut().for_each(|v| *v = v.tanh());
        }
        y
    }
}

/// A fitted autoencoder: the encoder's mean path and the decoder, as plain weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Autoencoder {
    #[serde(with = "crate::params_body")]
    params: AutoencoderParams,
    n_items: usize,
    /// Encoder (the VAE's mean path) then decoder, up to the last hidden state; the first layer's inputs
    /// are the items.
    layers: Vec<Layer>,
    /// Output layer, item-major: `n_items x (dim + 1)`, row `i` = item `i`'s weights then its bias.
    items: Vec<f32>,
    /// Width of the last hidden state.
    dim: usize,
}

/// A fitted Mult-VAE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultVae(pub Autoencoder);

/// A fitted Mult-DAE.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultDae(pub Autoencoder);

impl Autoencoder {
    /// Assembles a model from trained weights (the fit's last step; also how weights trained elsewhere
    /// come in): `layers` up to the last hidden state, the first taking the `n_items` inputs, and the
    /// output layer (`inputs x n_items` weights, `n_items` biases). [`MultVae`] and [`MultDae`] wrap it;
    /// check the result with the model file's validation before serving it.
    pub fn new(
        params: AutoencoderParams,
        n_items: usize,
        layers: Vec<Layer>,
        out: Layer,
    ) -> Autoencoder {
        let dim = out.inputs;
        let mut items = vec![0f32; n_items * (dim + 1)];
        for i in 0..n_items {
            let row = &mut items[i * (dim + 1)..][..dim + 1];
            for (d, r) in row[..dim].iter_mut().enumerate() {
                *r = out.weights[d * n_items + i];
            }
            row[dim] = out.bias[i];
        }
        Autoencoder {
            params,
            n_items,
            layers,
            items,
            dim,
        }
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &AutoencoderParams {
        &self.params
    }

    /// `(layers, item-major output rows, dim, n_items)`, what the ONNX export writes.
    #[cfg_attr(not(feature = "onnx"), allow(dead_code))]
    pub(crate) fn parts(&self) -> (&[Layer], &[f32], usize, usize) {
        (&self.layers, &self.items, self.dim, self.n_items)
    }

    /// The last hidden state of a history, with a trailing 1 (the query embedding). The input is the
    /// history's values L2-normalised, as in training.
    fn embed(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        for &(i, _) in history {
            if i.get() >= self.n_items {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: i.0,
                    len: self.n_items,
                });
            }
        }
        let first = &self.layers[0];
        // Clicks are binary in training: every history item counts 1 (a repeated item once).
        let mut seen = vec![false; self.n_items];
        let mut rows: Vec<usize> = Vec::with_capacity(history.len());
        for &(i, _) in history {
            if !std::mem::replace(&mut seen[i.get()], true) {
                rows.push(i.get());
            }
        }
        let norm = if rows.is_empty() {
            1.0
        } else {
            1.0 / (rows.len() as f32).sqrt()
        };
        let mut h = first.bias.clone();
        for &i in &rows {
            let row = &first.weights[i * first.outputs..][..first.outputs];
            for (o, &w) in h.iter_mut().zip(row) {
                *o += norm * w;
            }
        }
        if first.tanh {
            h.iter_mut().for_each(|v| *v = v.tanh());
        }
        for l in &self.layers[1..] {
            h = l.forward(&h);
        }
        h.push(1.0);
        Ok(h)
    }

    /// The score (logit) of every item for a history.
    pub fn scores(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        let q = self.embed(history)?;
        let d = self.dim + 1;
        Ok(self
            .items
            .chunks_exact(d)
            .map(|row| row.iter().zip(&q).map(|(a, b)| a * b).sum())
            .collect())
    }

    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        top_k(&self.scores(q.history)?, k, &filter)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        let Some(first) = self.layers.first() else {
            return Err(Error::Shape("autoencoder without layers".into()));
        };
        tastebud_core::validate::len("autoencoder input", first.inputs, self.n_items)?;
        let mut width = first.inputs;
        for (k, l) in self.layers.iter().enumerate() {
            tastebud_core::validate::len("autoencoder layer input", l.inputs, width)?;
            l.validate(&format!("autoencoder layer {k}"))?;
            width = l.outputs;
        }
        tastebud_core::validate::len("autoencoder output input", self.dim, width)?;
        tastebud_core::validate::matrix_f32(
            "autoencoder output layer",
            &self.items,
            self.n_items,
            self.dim + 1,
        )
    }
}

macro_rules! autoencoder_model {
    ($model:ident, $params:ident, $name:literal) => {
        impl Recommender for $model {
            fn name(&self) -> &str {
                $name
            }
            fn n_items(&self) -> usize {
                self.0.n_items
            }
            fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
                self.0.recommend(q, k)
            }
            fn similar_items(&self, _item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
                Ok(Vec::new())
            }
            /// Output-layer rows: the item's weights then its bias.
            fn item_embeddings(&self) -> Option<(usize, &[f32])> {
                Some((self.0.dim + 1, &self.0.items))
            }
            /// The last hidden state and a 1: its inner product with an item's row is the item's score.
            fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
                self.0.embed(q.history).map(Some)
            }
        }

        impl $model {
            /// The autoencoder inside.
            pub fn inner(&self) -> &Autoencoder {
                &self.0
            }
            pub(crate) fn validate(&self) -> Result<()> {
                self.0.validate()
            }
        }

        impl Fit for $params {
            type Model = $model;
            fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<$model> {
                self.0.validate()?;
                fit_autoencoder(&self.0, $name == "multvae", data, progress).map($model)
            }
        }
    };
}

autoencoder_model!(MultVae, MultVaeParams, "multvae");
autoencoder_model!(MultDae, MultDaeParams, "multdae");

#[cfg(not(feature = "deep"))]
fn fit_autoencoder(
    _p: &AutoencoderParams,
    _variational: bool,
    _data: &Dataset,
    _progress: &dyn Progress,
) -> Result<Autoencoder> {
    Err(crate::nn::needs_deep_feature())
}

#[cfg(feature = "deep")]
fn fit_autoencoder(
    p: &AutoencoderParams,
    variational: bool,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<Autoencoder> {
    train::fit(p, variational, data, progress)
}

#[cfg(feature = "deep")]
mod train {
    //! Training with candle: autograd and AdamW on the CPU; every random draw (initialisation, user
    //! order, dropout masks, latent noise) comes from one seeded ChaCha generator on the host.

    use candle_core::{D, DType, Device, Tensor, Var};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tastebud_core::{Dataset, Error, Result, UserIdx};

    use super::{Autoencoder, AutoencoderParams, Layer};
    use crate::Progress;

    use crate::nn::train::err;

    /// A trainable dense layer: `W` (`inputs x outputs`) and `b`.
    struct Dense {
        w: Var,
        b: Var,
        inputs: usize,
        outputs: usize,
    }

    impl Dense {
        /// Xavier/Glorot uniform weights (as Liang et al.), zero bias.
        fn new(inputs: usize, outputs: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Dense> {
            let a = (6.0 / (inputs + outputs) as f64).sqrt() as f32;
            let w: Vec<f32> = (0..inputs * outputs)
                .map(|_| rng.random_range(-a..a))
                .collect();
            let w = Var::from_tensor(&Tensor::from_vec(w, (inputs, outputs), dev).map_err(err)?)
                .map_err(err)?;
            let b = Var::zeros(outputs, DType::F32, dev).map_err(err)?;
            Ok(Dense {
                w,
                b,
                inputs,
                outputs,
            })
        }
        fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            x.matmul(self.w.as_tensor())?
                .broadcast_add(self.b.as_tensor())
        }
        fn export(&self, tanh: bool) -> Result<Layer> {
            Ok(Layer {
                inputs: self.inputs,
                outputs: self.outputs,
                weights: self
                    .w
                    .as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1())
                    .map_err(err)?,
                bias: self.b.as_tensor().to_vec1().map_err(err)?,
                tanh,
            })
        }
    }

    pub(super) fn fit(
        p: &AutoencoderParams,
        variational: bool,
        data: &Dataset,
        progress: &dyn Progress,
    ) -> Result<Autoencoder> {
        let x = &data.interactions;
        let (n_users, n) = (x.n_users(), x.n_items());
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        // Encoder: [I -> hidden (tanh)] -> latent (mean; VAE also log-variance); decoder: latent ->
        // [hidden (tanh)] -> I. Mult-DAE's latent layer is tanh.
        let enc_in = if p.hidden > 0 { p.hidden } else { p.latent };
        let enc1 = Dense::new(n, enc_in, &mut rng, &dev)?;
        let mu = (p.hidden > 0).then(|| Dense::new(p.hidden, p.latent, &mut rng, &dev));
        let mu = mu.transpose()?;
        let logvar = if variational {
            Some(Dense::new(enc_in, p.latent, &mut rng, &dev)?)
        } else {
            None
        };
        let dec1 = (p.hidden > 0).then(|| Dense::new(p.latent, p.hidden, &mut rng, &dev));
        let dec1 = dec1.transpose()?;
        let out = Dense::new(
            if p.hidden > 0 { p.hidden } else { p.latent },
            n,
            &mut rng,
            &dev,
        )?;
        let mut vars = vec![enc1.w.clone(), enc1.b.clone(), out.w.clone(), out.b.clone()];
        for d in [&mu, &logvar, &dec1].into_iter().flatten() {
            vars.extend([d.w.clone(), d.b.clone()]);
        }
        let mut opt = AdamW::new(
            vars,
            ParamsAdamW {
                lr: p.lr,
                weight_decay: p.weight_decay,
                ..Default::default()
            },
        )
        .map_err(err)?;
        let users: Vec<UserIdx> = (0..n_users as u32)
            .map(UserIdx)
            .filter(|&u| !x.user_items(u).is_empty())
            .collect();
        if users.is_empty() {
            return Err(Error::Shape(
                "no user has an interaction to train on".into(),
            ));
        }
        let batches = users.len().div_ceil(p.batch_size);
        progress.start(
            if variational {
                "Mult-VAE epochs"
            } else {
                "Mult-DAE epochs"
            },
            p.epochs as u64,
        );
        let keep = 1.0 - p.dropout;
        let anneal_steps = p
            .total_anneal_steps
            .unwrap_or(p.epochs * batches / 2)
            .max(1);
        let mut order = users.clone();
        let mut step = 0usize;
        for epoch in 0..p.epochs {
            order.shuffle(&mut rng);
            let mut total = 0f64;
            for batch in order.chunks(p.batch_size) {
                let b = batch.len();
                // Binary clicks, and the input: L2-normalised, dropped out, rescaled by 1/keep.
                let mut clicks = vec![0f32; b * n];
                let mut input = vec![0f32; b * n];
                for (r, &u) in batch.iter().enumerate() {
                    let items = x.user_items(u);
                    let norm = 1.0 / (items.len() as f32).sqrt();
                    for i in items {
                        clicks[r * n + i.get()] = 1.0;
                        if p.dropout == 0.0 || rng.random::<f64>() < keep {
                            input[r * n + i.get()] = norm / keep as f32;
                        }
                    }
                }
                let clicks = Tensor::from_vec(clicks, (b, n), &dev).map_err(err)?;
                let input = Tensor::from_vec(input, (b, n), &dev).map_err(err)?;
                // Liang et al.'s schedule: β = min(cap, step / total_anneal_steps).
                let beta = if variational {
                    p.anneal_cap.min(step as f64 / anneal_steps as f64)
                } else {
                    0.0
                };
                let eps: Option<Tensor> = if variational {
                    let e: Vec<f32> = (0..b * p.latent)
                        .map(|_| {
                            rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng)
                        })
                        .collect();
                    Some(Tensor::from_vec(e, (b, p.latent), &dev).map_err(err)?)
                } else {
                    None
                };
                let loss = (|| -> candle_core::Result<Tensor> {
                    let h = enc1.forward(&input)?.tanh()?;
                    let (z, kl) = match (&mu, &logvar, &eps) {
                        (m, Some(lv), Some(eps)) => {
                            let mean = match m {
                                Some(m) => m.forward(&h)?,
                                None => h.clone(),
                            };
                            let lv = lv.forward(&h)?;
                            let std = (&lv * 0.5)?.exp()?;
                            let z = (&mean + eps.mul(&std)?)?;
                            // KL(q(z|x) || N(0, I)) = -1/2 sum(1 + logvar - mean^2 - exp(logvar)).
                            let kl = ((lv.exp()? + mean.sqr()?)? - lv)?
                                .affine(1.0, -1.0)?
                                .sum(D::Minus1)?
                                .affine(0.5, 0.0)?
                                .mean_all()?;
                            (z, Some(kl))
                        }
                        (Some(m), _, _) => (m.forward(&h)?, None),
                        (None, _, _) => (h, None),
                    };
                    let h2 = match &dec1 {
                        Some(d) => d.forward(&z)?.tanh()?,
                        None => z,
                    };
                    let logits = out.forward(&h2)?;
                    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
                    let nll = (logp * &clicks)?.sum(D::Minus1)?.mean_all()?.neg()?;
                    match kl {
                        Some(kl) => nll + (kl * beta)?,
                        None => Ok(nll),
                    }
                })()
                .map_err(err)?;
                opt.backward_step(&loss).map_err(err)?;
                total += loss.to_scalar::<f32>().map_err(err)? as f64;
                step += 1;
            }
            progress.inc(1);
            progress.message(&format!(
                "epoch {}/{}: loss {:.3}",
                epoch + 1,
                p.epochs,
                total / batches as f64
            ));
        }
        // Inference keeps the mean path: [enc1 (tanh)] [mu] [dec1 (tanh)]; DAE: [enc1 (tanh)].
        let mut layers = vec![enc1.export(true)?];
        if let Some(m) = &mu {
            layers.push(m.export(false)?);
        }
        if let Some(d) = &dec1 {
            layers.push(d.export(true)?);
        }
        let out = out.export(false)?;
        Ok(Autoencoder::new(p.clone(), n, layers, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-item model by hand: one tanh layer of width 1 with weight 1 per item, output `2 h + bias_i`.
    fn tiny() -> Autoencoder {
        let first = Layer {
            inputs: 3,
            outputs: 1,
            weights: vec![1.0, 1.0, 0.0],
            bias: vec![0.0],
            tanh: true,
        };
        let out = Layer {
            inputs: 1,
            outputs: 3,
            weights: vec![2.0, -1.0, 0.5],
            bias: vec![0.0, 0.1, 0.2],
            tanh: false,
        };
        Autoencoder::new(AutoencoderParams::dae(), 3, vec![first], out)
    }

    #[test]
    fn scores_are_the_network_and_the_embedding_inner_product() {
        let m = tiny();
        m.validate().unwrap();
        // History {0, 1} (a repeat of 0 counts once): input 1/sqrt(2) each, h = tanh(sqrt(2)).
        let h = (2f32).sqrt().tanh();
        let s = m
            .scores(&[(ItemIdx(0), 5.0), (ItemIdx(1), 1.0), (ItemIdx(0), 3.0)])
            .unwrap();
        let want = [2.0 * h, -h + 0.1, 0.5 * h + 0.2];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{s:?} vs {want:?}");
        }
        let q = m.embed(&[(ItemIdx(0), 1.0), (ItemIdx(1), 1.0)]).unwrap();
        assert_eq!(q.len(), 2);
        for (row, score) in m.items.chunks_exact(2).zip(&s) {
            let dot: f32 = row.iter().zip(&q).map(|(a, b)| a * b).sum();
            assert!((dot - score).abs() < 1e-6);
        }
        assert!(m.scores(&[(ItemIdx(3), 1.0)]).is_err());
        let mut bad = tiny();
        bad.items.pop();
        assert!(bad.validate().is_err());
    }

    #[cfg(not(feature = "deep"))]
    #[test]
    fn fitting_without_the_feature_says_which_feature() {
        use tastebud_core::{Feedback, Interactions};
        let x = Interactions::from_triplets(1, 2, &[(0, 0, 1.0)], Feedback::Implicit).unwrap();
        let d = Dataset::from_parts("t", x, ["u"], ["a", "b"]).unwrap();
        let e = MultVaeParams::default()
            .fit(&d, &crate::NoProgress)
            .unwrap_err();
        assert!(e.to_string().contains("`deep` cargo feature"), "{e}");
    }
}
