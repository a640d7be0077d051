//! GRU4Rec (Hidasi, Karatzoglou, Baltrunas & Tikk 2016, "Session-based Recommendations with Recurrent
//! Neural Networks"): a GRU reads the items one by one (one-hot input, so the input weights are one row of
//! `3 x hidden` gate inputs per item) and its state after the last item scores every item through an
//! output layer (`score_i = h . w_i + b_i`).
//!
//! Trained with **session-parallel mini-batches**, as the paper: `batch_size` lanes each hold a user's
//! sequence; at every step each lane feeds its current item and predicts its next one; a lane whose
//! sequence ends takes the next sequence and its state restarts at zero; the state is carried from step
//! to step and back-propagated through the last `bptt` steps (1: the paper's truncation). The loss is the
//! cross-entropy over the whole catalogue (the paper samples its negatives from the mini-batch; on
//! catalogues of a few thousand items the full softmax is exact and cheap), with AdamW.
//!
//! Inference is plain Rust: `3 hidden^2` multiply-adds per item of the sequence, then
//! `n_items * (hidden + 1)` for the scores. A user's whole sequence is read (the state carries it all).

use serde::{Deserialize, Serialize};
use tastebud_core::{ItemIdx, Result, ensure_param, top_k};

use super::layers::query_sequence;
use crate::nn::{Linear, inner_products};
use crate::{Query, Recommender, Scored};

/// Hyperparameters of [`Gru4Rec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gru4RecParams {
    /// Width of the GRU state. By default, 100 (the paper's).
    pub hidden: usize,
    /// Passes over the training sequences. By default, 3 (on ML-100K, 10 overfit: NDCG@10 0.076 against
    /// 0.089; BENCHMARKS.md, "Sequential models").
    pub epochs: usize,
    /// Parallel sessions (lanes) per mini-batch. By default, 128 (with 32, an epoch on ML-100K takes
    /// four times as long for a similar result: BENCHMARKS.md, "Sequential models").
    pub batch_size: usize,
    /// Steps back-propagated through (truncated BPTT). By default, 1, as the paper.
    pub bptt: usize,
    /// AdamW learning rate. By default, 0.005.
    pub lr: f64,
    /// Decoupled weight decay (AdamW). By default, 0.
    pub weight_decay: f64,
    /// Dropout on the state before the output layer. By default, 0.1.
    pub dropout: f64,
    /// Seed of the initialisation, the session order and dropout.
    pub seed: u64,
}

impl Default for Gru4RecParams {
    fn default() -> Self {
        Gru4RecParams {
            hidden: 100,
            epochs: 3,
            batch_size: 128,
            bptt: 1,
            lr: 5e-3,
            weight_decay: 0.0,
            dropout: 0.1,
            seed: 42,
        }
    }
}

impl Gru4RecParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param(
            (1..=4096).contains(&self.hidden),
            "hidden",
            "must be in 1..=4096",
        )?;
        ensure_param(self.epochs >= 1, "epochs", "must be at least 1")?;
        ensure_param(self.batch_size >= 1, "batch_size", "must be at least 1")?;
        ensure_param((1..=256).contains(&self.bptt), "bptt", "must be in 1..=256")?;
        crate::nn::check_optimizer(self.lr, self.weight_decay)?;
        crate::nn::check_rate("dropout", self.dropout)
    }
}

/// A fitted GRU4Rec model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Gru4Rec {
    #[serde(with = "crate::params_body")]
    params: Gru4RecParams,
    n_items: usize,
    /// Gate inputs of each item (the one-hot input's weights plus the input bias), `n_items x 3 hidden`,
    /// in the order reset, update, candidate.
    inputs: Vec<f32>,
    /// The state's gate weights, `hidden -> 3 hidden` (same order).
    recurrent: Linear,
    /// Output layer, item-major: `n_items x (hidden + 1)`, row `i` = item `i`'s weights then its bias.
    items: Vec<f32>,
}

impl Gru4Rec {
    /// Assembles a model from trained weights: `inputs` (`n_items x 3 hidden`), `recurrent`
    /// (`hidden -> 3 hidden`), the output weights (`n_items x hidden`) and biases (`n_items`). Check it
    /// with the model file's validation before serving it.
    pub fn new(
        params: Gru4RecParams,
        n_items: usize,
        inputs: Vec<f32>,
        recurrent: Linear,
        out_weights: &[f32],
        out_bias: &[f32],
    ) -> Gru4Rec {
        let h = params.hidden;
        let mut items = Vec::with_capacity(n_items * (h + 1));
        for (w, &b) in out_weights.chunks_exact(h).zip(out_bias) {
            items.extend_from_slice(w);
            items.push(b);
        }
        Gru4Rec {
            params,
            n_items,
            inputs,
            recurrent,
            items,
        }
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &Gru4RecParams {
        &self.params
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let h = self.params.hidden;
        self.params.validate()?;
        tastebud_core::validate::matrix_f32("gru4rec inputs", &self.inputs, self.n_items, 3 * h)?;
        tastebud_core::validate::len("gru4rec recurrent", self.recurrent.inputs, h)?;
        tastebud_core::validate::len("gru4rec recurrent", self.recurrent.outputs, 3 * h)?;
        self.recurrent.validate("gru4rec recurrent")?;
        tastebud_core::validate::matrix_f32("gru4rec output", &self.items, self.n_items, h + 1)
    }

    /// The GRU state after a sequence (oldest first), with a trailing 1: its inner product with an item's
    /// output row is the item's score.
    pub fn encode(&self, seq: &[ItemIdx]) -> Vec<f32> {
        let h = self.params.hidden;
        let mut state = vec![0f32; h];
        let mut gh = vec![0f32; 3 * h];
        for &i in seq {
            let gx = &self.inputs[i.get() * 3 * h..][..3 * h];
            self.recurrent.apply(&state, &mut gh);
            for j in 0..h {
                let r = sigmoid(gx[j] + gh[j]);
                let z = sigmoid(gx[h + j] + gh[h + j]);
                let n = (gx[2 * h + j] + r * gh[2 * h + j]).tanh();
                state[j] = (1.0 - z) * n + z * state[j];
            }
        }
        state.push(1.0);
        state
    }

    fn query_state(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        Ok(self.encode(&query_sequence(q, self.n_items, None)?))
    }

    /// The score of every item after a query's sequence.
    pub fn scores(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        Ok(inner_products(&self.items, &self.query_state(q)?))
    }
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Recommender for Gru4Rec {
    fn name(&self) -> &str {
        "gru4rec"
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
    /// Output-layer rows: the item's weights then its bias.
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.hidden + 1, &self.items))
    }
    /// The GRU state and a 1.
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.query_state(q).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand_and_order_matters() {
        // hidden 1, two items; recurrent weights 0.5 on every gate.
        let p = Gru4RecParams {
            hidden: 1,
            ..Gru4RecParams::default()
        };
        let rec = Linear {
            inputs: 1,
            outputs: 3,
            weights: vec![0.5, 0.5, 0.5],
            bias: vec![0.0, 0.0, 0.0],
        };
        let inputs = vec![0.0, 0.0, 1.0, 1.0, -1.0, -1.0];
        let m = Gru4Rec::new(p, 2, inputs, rec, &[1.0, -1.0], &[0.0, 0.5]);
        m.validate().unwrap();
        // One step from h = 0 with item 0: r = z = 1/2, n = tanh(1), h = n / 2.
        let h1 = 1f32.tanh() / 2.0;
        let s = m.scores(&Query::new(&[(ItemIdx(0), 1.0)])).unwrap();
        assert!(
            (s[0] - h1).abs() < 1e-6 && (s[1] - (0.5 - h1)).abs() < 1e-6,
            "{s:?}"
        );
        // The state after [0, 1] differs from [1, 0].
        let h = [(ItemIdx(0), 1.0), (ItemIdx(1), 1.0)];
        let a = m
            .scores(&Query::new(&h).sequence(&[ItemIdx(0), ItemIdx(1)]))
            .unwrap();
        let b = m
            .scores(&Query::new(&h).sequence(&[ItemIdx(1), ItemIdx(0)]))
            .unwrap();
        assert_ne!(a, b);
        // No history: the output biases.
        assert_eq!(m.scores(&Query::new(&[])).unwrap(), [0.0, 0.5]);
        assert!(m.scores(&Query::new(&[(ItemIdx(2), 1.0)])).is_err());
    }
}
