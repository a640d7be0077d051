//! Similarity metrics and the dot-product kernel.

use serde::{Deserialize, Serialize};

use crate::error::{IndexError, Result};

/// How a query is compared with an item. Scores are similarities: **higher is better**.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The dot product `q · x`, unnormalised: what scoring a matrix-factorisation model needs (MIPS).
    InnerProduct,
    /// Cosine similarity `q · x / (|q| |x|)`, in `[-1, 1]`. A zero vector has similarity 0 with everything.
    Cosine,
}

impl Metric {
    /// Prepares a vector (an item or a query) so that the metric becomes a plain dot product: cosine
    /// normalises to unit length (zero vectors stay zero); inner product leaves it unchanged.
    pub fn preprocess(self, v: &mut [f32]) {
        match self {
            Metric::InnerProduct => {}
            Metric::Cosine => {
                let norm = dot(v, v).sqrt();
                if norm > 0.0 {
                    let inv = 1.0 / norm;
                    v.iter_mut().for_each(|x| *x *= inv);
                }
            }
        }
    }

    /// The name used in saved headers and reports: `inner_product` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::InnerProduct => "inner_product",
            Metric::Cosine => "cosine",
        }
    }
}

/// The dot product of two equally long slices.
///
/// Written with 16 independent partial sums because a plain `iter().sum()` of floats must keep its
/// sequential order (no fast-math in Rust) and so never vectorises; 16 lanes let LLVM use full SIMD
/// registers and hide the add latency.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    // Pairwise reduction of the lanes.
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0] + tail
}

/// Checks that `vectors` is an `n x dim` matrix of finite values and returns `n`.
pub(crate) fn check_matrix(vectors: &[f32], dim: usize, what: &'static str) -> Result<usize> {
    if dim == 0 {
        return Err(IndexError::Shape("dimension must be at least 1".into()));
    }
    if !vectors.len().is_multiple_of(dim) {
        return Err(IndexError::Shape(format!(
            "{} values is not a whole number of {dim}-dimensional vectors",
            vectors.len()
        )));
    }
    if u32::try_from(vectors.len() / dim).is_err() {
        return Err(IndexError::Shape(format!(
            "{} vectors: ids are u32, at most {} fit",
            vectors.len() / dim,
            u32::MAX
        )));
    }
    if let Some(pos) = vectors.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::NonFinite {
            what,
            row: pos / dim,
        });
    }
    Ok(vectors.len() / dim)
}

/// Checks one query against the index dimension.
pub(crate) fn check_query(query: &[f32], dim: usize) -> Result<()> {
    if query.len() != dim {
        return Err(IndexError::Dimension {
            expected: dim,
            got: query.len(),
        });
    }
    if query.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::NonFinite {
            what: "query",
            row: 0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_all_remainders() {
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64) * (*y as f64))
                .sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-4, "n = {n}");
        }
    }

    #[test]
    fn cosine_preprocess_normalises_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        Metric::Cosine.preprocess(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        Metric::Cosine.preprocess(&mut z);
        assert_eq!(z, [0.0, 0.0]);
        let mut w = [3.0, 4.0];
        Metric::InnerProduct.preprocess(&mut w);
        assert_eq!(w, [3.0, 4.0]);
    }
}
