//! The candle side of [`super`]'s layers: trainable dense layers and layer norms that export to the
//! plain-Rust ones, seeded initialisation and dropout masks drawn on the host.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tastebud_core::{Error, Result};

use super::{LN_EPS, Linear, Norm};

pub(crate) fn err(e: candle_core::Error) -> Error {
    Error::Shape(format!("training: {e}"))
}

pub(crate) fn uniform_var(
    rng: &mut ChaCha8Rng,
    shape: (usize, usize),
    a: f32,
    dev: &Device,
) -> Result<Var> {
    let v: Vec<f32> = (0..shape.0 * shape.1)
        .map(|_| rng.random_range(-a..a))
        .collect();
    Var::from_tensor(&Tensor::from_vec(v, shape, dev).map_err(err)?).map_err(err)
}

pub(crate) fn const_var(value: f32, n: usize, dev: &Device) -> Result<Var> {
    Var::from_tensor(&Tensor::from_vec(vec![value; n], n, dev).map_err(err)?).map_err(err)
}

pub(crate) fn values(v: &Var) -> Result<Vec<f32>> {
    v.as_tensor()
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .map_err(err)
}

/// Inverted dropout masks drawn from the host generator (`None` in evaluation or at rate 0).
pub(crate) struct Dropout<'r> {
    pub(crate) rng: &'r mut ChaCha8Rng,
    pub(crate) p: f64,
}

impl Dropout<'_> {
    pub(crate) fn apply(&mut self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let scale = (1.0 / keep) as f32;
        let m: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if self.rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        x.mul(&Tensor::from_vec(m, x.shape(), x.device())?)
    }
}

pub(crate) fn maybe_drop(d: &mut Option<Dropout<'_>>, x: Tensor) -> candle_core::Result<Tensor> {
    match d {
        Some(d) => d.apply(&x),
        None => Ok(x),
    }
}

/// A trainable dense layer `x W + b`.
pub(crate) struct Dense {
    pub(crate) w: Var,
    pub(crate) b: Var,
}

impl Dense {
    /// Xavier/Glorot uniform weights, zero bias.
    pub(crate) fn new(
        inputs: usize,
        outputs: usize,
        rng: &mut ChaCha8Rng,
        dev: &Device,
    ) -> Result<Dense> {
        let a = (6.0 / (inputs + outputs) as f64).sqrt() as f32;
        Ok(Dense {
            w: uniform_var(rng, (inputs, outputs), a, dev)?,
            b: Var::zeros(outputs, DType::F32, dev).map_err(err)?,
        })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.broadcast_matmul(self.w.as_tensor())?
            .broadcast_add(self.b.as_tensor())
    }
    pub(crate) fn vars(&self) -> [Var; 2] {
        [self.w.clone(), self.b.clone()]
    }
    pub(crate) fn export(&self) -> Result<Linear> {
        let (inputs, outputs) = self.w.as_tensor().dims2().map_err(err)?;
        Ok(Linear {
            inputs,
            outputs,
            weights: values(&self.w)?,
            bias: values(&self.b)?,
        })
    }
}

/// A trainable layer norm.
pub(crate) struct LayerNorm {
    g: Var,
    b: Var,
}

impl LayerNorm {
    pub(crate) fn new(dim: usize, dev: &Device) -> Result<LayerNorm> {
        Ok(LayerNorm {
            g: const_var(1.0, dim, dev)?,
            b: const_var(0.0, dim, dev)?,
        })
    }
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, self.g.as_tensor(), self.b.as_tensor(), LN_EPS)
    }
    pub(crate) fn vars(&self) -> [Var; 2] {
        [self.g.clone(), self.b.clone()]
    }
    pub(crate) fn export(&self) -> Result<Norm> {
        Ok(Norm {
            gain: values(&self.g)?,
            bias: values(&self.b)?,
        })
    }
}

/// AdamW over `vars` (candle's defaults for the betas and epsilon).
pub(crate) fn adamw(vars: Vec<Var>, lr: f64, weight_decay: f64) -> Result<AdamW> {
    AdamW::new(
        vars,
        ParamsAdamW {
            lr,
            weight_decay,
            ..Default::default()
        },
    )
    .map_err(err)
}
