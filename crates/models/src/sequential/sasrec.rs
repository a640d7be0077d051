//! SASRec (Kang & McAuley 2018, "Self-Attentive Sequential Recommendation"): the last `max_len` items,
//! embedded (scaled by `sqrt(dim)`) plus a learned position, pass through `blocks` causal self-attention
//! blocks; the last position's output, layer-normalised, is the query whose inner product with an item's
//! embedding (the same table as the input) is the item's score.
//!
//! One block, as the authors' code: `q = LN(x)`, `x = q + MHA(q, x, x)` (causal, `heads` heads), then
//! `y = LN(x)`, `x = y + W2 relu(W1 y + b1) + b2`. Training predicts the next item at every position of
//! windows of `max_len` items covering each user's training sequence, with a full softmax over the
//! catalogue (cross-entropy; RecBole's default loss for SASRec), AdamW and dropout on the embeddings, the
//! attention weights and the feed-forward layers.
//!
//! Inference is plain Rust: for `m` items, about `blocks * (4 m d^2 + m^2 d + 2 m d^2)` multiply-adds
//! (the last block only for the last position), then `n_items * d` for the scores.

use serde::{Deserialize, Serialize};
use tastebud_core::{Error, ItemIdx, Result, ensure_param, top_k};

use super::layers::query_sequence;
use crate::nn::{Linear, Norm, inner_products};
use crate::{Query, Recommender, Scored};

/// Hyperparameters of [`SasRec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SasRecParams {
    /// Width of the embeddings and of every layer. By default, 64.
    pub dim: usize,
    /// Self-attention blocks. By default, 2.
    pub blocks: usize,
    /// Attention heads (must divide `dim`). By default, 1 (the paper's choice).
    pub heads: usize,
    /// Items the model looks back on. By default, 50.
    pub max_len: usize,
    /// Dropout probability. By default, 0.2 (the paper's value for MovieLens-1M).
    pub dropout: f64,
    /// Passes over the training windows. By default, 60.
    pub epochs: usize,
    /// Windows per update. By default, 128.
    pub batch_size: usize,
    /// AdamW learning rate. By default, 0.001.
    pub lr: f64,
    /// Decoupled weight decay (AdamW). By default, 0.
    pub weight_decay: f64,
    /// Seed of the initialisation, the window order and dropout.
    pub seed: u64,
}

impl Default for SasRecParams {
    fn default() -> Self {
        SasRecParams {
            dim: 64,
            blocks: 2,
            heads: 1,
            max_len: 50,
            dropout: 0.2,
            epochs: 60,
            batch_size: 128,
            lr: 1e-3,
            weight_decay: 0.0,
            seed: 42,
        }
    }
}

impl SasRecParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param((1..=1024).contains(&self.dim), "dim", "must be in 1..=1024")?;
        ensure_param(
            (1..=16).contains(&self.blocks),
            "blocks",
            "must be in 1..=16",
        )?;
        ensure_param(
            self.heads >= 1 && self.dim.is_multiple_of(self.heads),
            "heads",
            "must be at least 1 and divide dim",
        )?;
        ensure_param(
            (1..=4096).contains(&self.max_len),
            "max_len",
            "must be in 1..=4096",
        )?;
        crate::nn::check_rate("dropout", self.dropout)?;
        ensure_param(self.epochs >= 1, "epochs", "must be at least 1")?;
        ensure_param(self.batch_size >= 1, "batch_size", "must be at least 1")?;
        crate::nn::check_optimizer(self.lr, self.weight_decay)
    }
}

/// One self-attention block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Layer norm before attention (its output is the query and the residual).
    pub attn_norm: Norm,
    /// Query projection.
    pub q: Linear,
    /// Key projection (of the block's input).
    pub k: Linear,
    /// Value projection (of the block's input).
    pub v: Linear,
    /// Output projection of the heads.
    pub o: Linear,
    /// Layer norm before the feed-forward layers.
    pub ffn_norm: Norm,
    /// First feed-forward layer (ReLU after it).
    pub ffn1: Linear,
    /// Second feed-forward layer.
    pub ffn2: Linear,
}

impl Block {
    fn validate(&self, k: usize, dim: usize) -> Result<()> {
        self.attn_norm
            .validate(&format!("sasrec block {k} norm"), dim)?;
        self.ffn_norm
            .validate(&format!("sasrec block {k} norm"), dim)?;
        for (name, l) in [
            ("q", &self.q),
            ("k", &self.k),
            ("v", &self.v),
            ("o", &self.o),
            ("ffn1", &self.ffn1),
            ("ffn2", &self.ffn2),
        ] {
            let what = format!("sasrec block {k} {name}");
            tastebud_core::validate::len(&what, l.inputs, dim)?;
            tastebud_core::validate::len(&what, l.outputs, dim)?;
            l.validate(&what)?;
        }
        Ok(())
    }
}

/// A fitted SASRec model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SasRec {
    #[serde(with = "crate::params_body")]
    params: SasRecParams,
    n_items: usize,
    /// Item embeddings, `n_items x dim`: the input and the output table.
    items: Vec<f32>,
    /// Position embeddings, `max_len x dim`; the last item of a sequence sits at position `max_len - 1`.
    positions: Vec<f32>,
    blocks: Vec<Block>,
    final_norm: Norm,
}

impl SasRec {
    /// Assembles a model from trained weights (the fit's last step; also how weights trained elsewhere
    /// come in). Check it with the model file's validation before serving it.
    pub fn new(
        params: SasRecParams,
        n_items: usize,
        items: Vec<f32>,
        positions: Vec<f32>,
        blocks: Vec<Block>,
        final_norm: Norm,
    ) -> SasRec {
        SasRec {
            params,
            n_items,
            items,
            positions,
            blocks,
            final_norm,
        }
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &SasRecParams {
        &self.params
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let p = &self.params;
        p.validate()?;
        tastebud_core::validate::matrix_f32("sasrec items", &self.items, self.n_items, p.dim)?;
        tastebud_core::validate::matrix_f32("sasrec positions", &self.positions, p.max_len, p.dim)?;
        tastebud_core::validate::len("sasrec blocks", self.blocks.len(), p.blocks)?;
        for (k, b) in self.blocks.iter().enumerate() {
            b.validate(k, p.dim)?;
        }
        self.final_norm.validate("sasrec final norm", p.dim)
    }

    /// The query state of a sequence (oldest first, at most `max_len` items): the last position's
    /// output, layer-normalised. Its inner product with an item's embedding is the item's score.
    pub fn encode(&self, seq: &[ItemIdx]) -> Result<Vec<f32>> {
        let d = self.params.dim;
        let len = self.params.max_len;
        if seq.len() > len {
            return Err(Error::Shape(format!(
                "a sequence of {} items for max_len {len}",
                seq.len()
            )));
        }
        let m = seq.len();
        if m == 0 {
            // The normalised zero vector: the final norm's bias.
            return Ok(self.final_norm.bias.clone());
        }
        let scale = (d as f32).sqrt();
        let mut x = vec![0f32; m * d];
        for (t, (&i, row)) in seq.iter().zip(x.chunks_exact_mut(d)).enumerate() {
            let e = &self.items[i.get() * d..][..d];
            let p = &self.positions[(len - m + t) * d..][..d];
            for ((r, &e), &p) in row.iter_mut().zip(e).zip(p) {
                *r = e * scale + p;
            }
        }
        let heads = self.params.heads;
        let dh = d / heads;
        let inv_sqrt = 1.0 / (dh as f32).sqrt();
        let mut weights = vec![0f32; m];
        let mut attended = vec![0f32; d];
        let mut proj = vec![0f32; d];
        let mut hidden = vec![0f32; d];
        for (b, blk) in self.blocks.iter().enumerate() {
            // The last block only needs the last position (nothing after it reads the others).
            let first = if b + 1 == self.blocks.len() { m - 1 } else { 0 };
            let keys = blk.k.apply_rows(&x);
            let values = blk.v.apply_rows(&x);
            let mut out = vec![0f32; (m - first) * d];
            for (t, row_out) in (first..m).zip(out.chunks_exact_mut(d)) {
                let mut qn = x[t * d..][..d].to_vec();
                blk.attn_norm.apply(&mut qn);
                let mut q = vec![0f32; d];
                blk.q.apply(&qn, &mut q);
                attended.fill(0.0);
                for h in 0..heads {
                    let qh = &q[h * dh..][..dh];
                    let w = &mut weights[..=t];
                    for (u, wu) in w.iter_mut().enumerate() {
                        let kh = &keys[u * d + h * dh..][..dh];
                        *wu = qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f32>() * inv_sqrt;
                    }
                    let max = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0f32;
                    for wu in w.iter_mut() {
                        *wu = (*wu - max).exp();
                        sum += *wu;
                    }
                    let ah = &mut attended[h * dh..][..dh];
                    for (u, &wu) in w.iter().enumerate() {
                        let vh = &values[u * d + h * dh..][..dh];
                        let c = wu / sum;
                        for (a, &v) in ah.iter_mut().zip(vh) {
                            *a += c * v;
                        }
                    }
                }
                blk.o.apply(&attended, &mut proj);
                // x = q + attention; y = LN(x); x = y + FFN(y)
                for (y, (&a, &b)) in row_out.iter_mut().zip(qn.iter().zip(&proj)) {
                    *y = a + b;
                }
                blk.ffn_norm.apply(row_out);
                blk.ffn1.apply(row_out, &mut hidden);
                hidden.iter_mut().for_each(|v| *v = v.max(0.0));
                blk.ffn2.apply(&hidden, &mut proj);
                for (y, &f) in row_out.iter_mut().zip(&proj) {
                    *y += f;
                }
            }
            x = out;
        }
        let mut last = x[x.len() - d..].to_vec();
        self.final_norm.apply(&mut last);
        Ok(last)
    }

    fn query_state(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        let seq = query_sequence(q, self.n_items, Some(self.params.max_len))?;
        self.encode(&seq)
    }

    /// The score of every item after a query's sequence.
    pub fn scores(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        Ok(inner_products(&self.items, &self.query_state(q)?))
    }
}

impl Recommender for SasRec {
    fn name(&self) -> &str {
        "sasrec"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        top_k(&self.scores(q)?, k, &filter)
    }
    fn similar_items(&self, _item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        Ok(Vec::new())
    }
    /// The item embeddings (the input and output table).
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.dim, &self.items))
    }
    /// The last position's normalised output.
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.query_state(q).map(Some)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A model with random weights (the server tests serve one built the same way).
    pub(crate) fn random(n_items: usize, params: SasRecParams, seed: u64) -> SasRec {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = params.dim;
        let mut v =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-0.5..0.5)).collect() };
        let mut lin = || Linear {
            inputs: d,
            outputs: d,
            weights: v(d * d),
            bias: v(d),
        };
        let norm = || Norm {
            gain: vec![1.0; d],
            bias: vec![0.0; d],
        };
        let blocks = (0..params.blocks)
            .map(|_| Block {
                attn_norm: norm(),
                q: lin(),
                k: lin(),
                v: lin(),
                o: lin(),
                ffn_norm: norm(),
                ffn1: lin(),
                ffn2: lin(),
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
        let mut v =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-0.5..0.5)).collect() };
        let items = v(n_items * d);
        let positions = v(params.max_len * d);
        SasRec::new(params, n_items, items, positions, blocks, norm())
    }

    fn small() -> SasRecParams {
        SasRecParams {
            dim: 8,
            heads: 2,
            max_len: 4,
            ..SasRecParams::default()
        }
    }

    #[test]
    fn order_matters_and_the_window_is_the_last_max_len_items() {
        let m = random(10, small(), 1);
        m.validate().unwrap();
        let h: Vec<(ItemIdx, f32)> = [1, 2, 3].iter().map(|&i| (ItemIdx(i), 1.0)).collect();
        let ab = [ItemIdx(1), ItemIdx(2), ItemIdx(3)];
        let ba = [ItemIdx(2), ItemIdx(1), ItemIdx(3)];
        let s1 = m.scores(&Query::new(&h).sequence(&ab)).unwrap();
        let s2 = m.scores(&Query::new(&h).sequence(&ba)).unwrap();
        assert_ne!(s1, s2, "the order of events changes the scores");
        // Items before the window do not count.
        let long = [ItemIdx(7), ItemIdx(0), ItemIdx(1), ItemIdx(2), ItemIdx(3)];
        let cut = [ItemIdx(0), ItemIdx(1), ItemIdx(2), ItemIdx(3)];
        assert_eq!(
            m.scores(&Query::new(&h).sequence(&long)).unwrap(),
            m.scores(&Query::new(&h).sequence(&cut)).unwrap()
        );
        // Empty: the final norm's bias, and a bad item is an error.
        assert_eq!(m.query_state(&Query::new(&[])).unwrap(), vec![0.0; 8]);
        assert!(m.scores(&Query::new(&[(ItemIdx(10), 1.0)])).is_err());
        let mut bad = m.clone();
        bad.positions.pop();
        assert!(bad.validate().is_err());
    }

    /// The attention computed by hand for one block, one head, dim 1, identity layers.
    #[test]
    fn one_block_by_hand() {
        let p = SasRecParams {
            dim: 1,
            blocks: 1,
            heads: 1,
            max_len: 2,
            ..SasRecParams::default()
        };
        let id = || Linear {
            inputs: 1,
            outputs: 1,
            weights: vec![1.0],
            bias: vec![0.0],
        };
        let zero = || Linear {
            inputs: 1,
            outputs: 1,
            weights: vec![0.0],
            bias: vec![0.0],
        };
        // dim 1: every layer norm gives its bias, so set the biases to see the arithmetic.
        let n = |b: f32| Norm {
            gain: vec![1.0],
            bias: vec![b],
        };
        let blk = Block {
            attn_norm: n(2.0),
            q: id(),
            k: id(),
            v: id(),
            o: id(),
            ffn_norm: n(3.0),
            ffn1: zero(),
            ffn2: zero(),
        };
        let m = SasRec::new(p, 2, vec![1.0, 2.0], vec![0.0, 0.0], vec![blk], n(0.5));
        // Final norm of a dim-1 vector is its bias whatever the input.
        let q = m.encode(&[ItemIdx(0), ItemIdx(1)]).unwrap();
        assert_eq!(q, [0.5]);
        assert_eq!(
            m.scores(&Query::new(&[(ItemIdx(0), 1.0)])).unwrap(),
            [0.5, 1.0]
        );
    }
}
