use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::linalg::{cholesky, cholesky_solve, dot};
use super::{
    Choice, Policy, argmax, check_arm, check_arms, check_candidates, check_reward, one_hot,
};
use crate::error::{ExperimentError, Result, ensure, ensure_finite};

/// Disjoint LinUCB (Li, Chu, Langford & Schapire 2010, Algorithm 1): one ridge regression per
/// arm, `A_a = λI + Σ x xᵀ`, `b_a = Σ r x`, `θ̂_a = A_a⁻¹ b_a`, and the choice maximises
/// `θ̂_a·x + α·√(xᵀ A_a⁻¹ x)`.
///
/// Every call needs a context of length `dim`. Solves go through a Cholesky factor of `A_a`
/// (`d` is small: `O(d³)` per arm per call). Deterministic: propensity 1, ties to the lower index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinUcb {
    dim: usize,
    alpha: f64,
    /// Row-major `d × d` matrices, one per arm.
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
}

impl LinUcb {
    /// `n_arms` arms over `dim`-dimensional contexts, exploration weight `alpha ≥ 0` (the paper
    /// uses `1 + √(ln(2/δ)/2)`; 0.5–2 is typical) and ridge `lambda > 0` (1 in the paper).
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] for `n_arms == 0`, `dim == 0`, `alpha < 0` or
    /// `lambda <= 0`.
    pub fn new(n_arms: usize, dim: usize, alpha: f64, lambda: f64) -> Result<Self> {
        check_arms(n_arms)?;
        ensure(dim >= 1, "dim", "must be at least 1")?;
        ensure(
            alpha >= 0.0 && alpha.is_finite(),
            "alpha",
            "must be finite and >= 0",
        )?;
        ensure(
            lambda > 0.0 && lambda.is_finite(),
            "lambda",
            "must be positive",
        )?;
        let mut eye = vec![0.0; dim * dim];
        for i in 0..dim {
            eye[i * dim + i] = lambda;
        }
        Ok(Self {
            dim,
            alpha,
            a: vec![eye; n_arms],
            b: vec![vec![0.0; dim]; n_arms],
        })
    }

    fn context<'c>(&self, ctx: Option<&'c [f64]>) -> Result<&'c [f64]> {
        let x = ctx.ok_or_else(|| crate::error::invalid("ctx", "LinUCB needs a context"))?;
        if x.len() != self.dim {
            return Err(ExperimentError::LengthMismatch {
                name: "ctx",
                expected: self.dim,
                got: x.len(),
            });
        }
        ensure_finite(x, "ctx")?;
        Ok(x)
    }

    /// Ridge estimate `θ̂_a` and upper confidence bound of `arm` at context `x`.
    fn ucb(&self, arm: usize, x: &[f64]) -> f64 {
        let d = self.dim;
        // A_a stays positive definite (λI plus outer products), so the factor exists
        let l = cholesky(&self.a[arm], d).expect("ridge matrix is positive definite");
        let theta = cholesky_solve(&l, d, &self.b[arm]);
        let ainv_x = cholesky_solve(&l, d, x);
        dot(&theta, x) + self.alpha * dot(x, &ainv_x).max(0.0).sqrt()
    }

    /// Ridge estimate of the expected reward of `arm` at context `ctx` (no exploration bonus).
    ///
    /// # Errors
    ///
    /// An out-of-range arm or an invalid context.
    pub fn predict(&self, arm: usize, ctx: &[f64]) -> Result<f64> {
        check_arm(self.a.len(), arm)?;
        let x = self.context(Some(ctx))?;
        let l = cholesky(&self.a[arm], self.dim).expect("ridge matrix is positive definite");
        Ok(dot(&cholesky_solve(&l, self.dim, &self.b[arm]), x))
    }
}

impl Policy for LinUcb {
    fn n_arms(&self) -> usize {
        self.a.len()
    }

    fn probabilities_among(&self, ctx: Option<&[f64]>, candidates: &[usize]) -> Result<Vec<f64>> {
        check_candidates(self.n_arms(), candidates)?;
        let x = self.context(ctx)?;
        Ok(one_hot(
            candidates.len(),
            argmax(candidates, |a| self.ucb(a, x)),
        ))
    }

    fn choose_among(
        &mut self,
        ctx: Option<&[f64]>,
        candidates: &[usize],
        _rng: &mut dyn RngCore,
    ) -> Result<Choice> {
        check_candidates(self.n_arms(), candidates)?;
        let x = self.context(ctx)?;
        Ok(Choice {
            arm: candidates[argmax(candidates, |a| self.ucb(a, x))],
            propensity: 1.0,
        })
    }

    fn update(&mut self, arm: usize, ctx: Option<&[f64]>, reward: f64) -> Result<()> {
        check_arm(self.n_arms(), arm)?;
        check_reward(reward)?;
        let x = self.context(ctx)?;
        let d = self.dim;
        let (a, b) = (&mut self.a[arm], &mut self.b[arm]);
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] += x[i] * x[j];
            }
            b[i] += reward * x[i];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_context() {
        let mut p = LinUcb::new(2, 3, 1.0, 1.0).unwrap();
        assert!(p.probabilities(None).is_err());
        assert!(p.probabilities(Some(&[1.0, 2.0])).is_err());
        assert!(p.update(0, Some(&[1.0, f64::NAN, 0.0]), 1.0).is_err());
        p.update(1, Some(&[1.0, 0.0, 0.0]), 2.0).unwrap();
        // ridge estimate with λ = 1 after one observation: θ = x r / (1 + |x|²)
        assert!((p.predict(1, &[1.0, 0.0, 0.0]).unwrap() - 1.0).abs() < 1e-12);
    }
}
