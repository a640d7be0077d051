//! Plain-Rust layers of the deep models (dense layers, layer norms, inner-product scoring), what their
//! model files store and serve with no feature; with the `deep` feature, `train`'s candle counterparts
//! train them.

use serde::{Deserialize, Serialize};
use tastebud_core::Result;

#[cfg(feature = "deep")]
pub(crate) mod train;

/// Epsilon of the layer norms (training and inference alike).
pub(crate) const LN_EPS: f32 = 1e-6;

/// A dense layer `y = x W + b`, `W` row-major `inputs x outputs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// `inputs x outputs`, row-major.
    pub weights: Vec<f32>,
    /// `outputs`.
    pub bias: Vec<f32>,
}

impl Linear {
    pub(crate) fn validate(&self, what: &str) -> Result<()> {
        tastebud_core::validate::matrix_f32(what, &self.weights, self.inputs, self.outputs)?;
        tastebud_core::validate::len(what, self.bias.len(), self.outputs)?;
        tastebud_core::validate::finite_f32(what, &self.bias)
    }

    /// `x W + b` for one row `x` (length `inputs`) into `y` (length `outputs`).
    pub(crate) fn apply(&self, x: &[f32], y: &mut [f32]) {
        y.copy_from_slice(&self.bias);
        for (&xi, row) in x.iter().zip(self.weights.chunks_exact(self.outputs)) {
            for (o, &w) in y.iter_mut().zip(row) {
                *o += xi * w;
            }
        }
    }

    /// `x W + b` for each row of `x` (`rows x inputs`), as `rows x outputs`.
    pub(crate) fn apply_rows(&self, x: &[f32]) -> Vec<f32> {
        let rows = x.len() / self.inputs;
        let mut y = vec![0f32; rows * self.outputs];
        for (xr, yr) in x
            .chunks_exact(self.inputs)
            .zip(y.chunks_exact_mut(self.outputs))
        {
            self.apply(xr, yr);
        }
        y
    }
}

/// Layer normalisation over the last dimension, with a gain and a bias.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Norm {
    /// Per-feature gain.
    pub gain: Vec<f32>,
    /// Per-feature bias.
    pub bias: Vec<f32>,
}

impl Norm {
    pub(crate) fn validate(&self, what: &str, dim: usize) -> Result<()> {
        tastebud_core::validate::len(what, self.gain.len(), dim)?;
        tastebud_core::validate::len(what, self.bias.len(), dim)?;
        tastebud_core::validate::finite_f32(what, &self.gain)?;
        tastebud_core::validate::finite_f32(what, &self.bias)
    }

    /// Normalises one row in place.
    pub(crate) fn apply(&self, x: &mut [f32]) {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + LN_EPS).sqrt();
        for ((v, g), b) in x.iter_mut().zip(&self.gain).zip(&self.bias) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// The optimiser's hyperparameters every deep model shares: a finite learning rate above 0 and a finite
/// weight decay of at least 0.
pub(crate) fn check_optimizer(lr: f64, weight_decay: f64) -> Result<()> {
    tastebud_core::ensure_param(
        lr.is_finite() && lr > 0.0,
        "lr",
        "must be a finite number > 0",
    )?;
    tastebud_core::ensure_param(
        weight_decay.is_finite() && weight_decay >= 0.0,
        "weight_decay",
        "must be a finite number >= 0",
    )
}

/// A drop probability in `[0, 1)`.
pub(crate) fn check_rate(name: &'static str, p: f64) -> Result<()> {
    tastebud_core::ensure_param((0.0..1.0).contains(&p), name, "must be in [0, 1)")
}

/// The error of fitting a deep model in a build without the `deep` feature.
#[cfg(not(feature = "deep"))]
pub(crate) fn needs_deep_feature() -> tastebud_core::Error {
    tastebud_core::Error::InvalidParam {
        name: "model",
        reason:
            "the deep models are trained with the `deep` cargo feature (cargo build --features \
                 deep); this build can serve their model files but not train them"
                .into(),
    }
}

/// Scores of every item as the inner product of `query` with each row of `rows` (`n x query.len()`).
pub(crate) fn inner_products(rows: &[f32], query: &[f32]) -> Vec<f32> {
    rows.chunks_exact(query.len())
        .map(|r| r.iter().zip(query).map(|(a, b)| a * b).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_norm_compute_what_they_say() {
        let l = Linear {
            inputs: 2,
            outputs: 3,
            weights: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            bias: vec![0.5, 0.0, -0.5],
        };
        assert_eq!(
            l.apply_rows(&[1.0, 1.0, 0.0, 2.0]),
            [5.5, 7.0, 8.5, 8.5, 10.0, 11.5]
        );
        let n = Norm {
            gain: vec![2.0, 2.0],
            bias: vec![1.0, 1.0],
        };
        let mut x = [1.0, 3.0];
        n.apply(&mut x);
        assert!(
            (x[0] + 1.0).abs() < 1e-5 && (x[1] - 3.0).abs() < 1e-5,
            "{x:?}"
        );
    }
}
