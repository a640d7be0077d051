//! EASE, the embarrassingly shallow autoencoder (Steck 2019): a closed-form item–item linear model.
//!
//! With `X` the user × item matrix (values as given) and `P = (XᵀX + λI)⁻¹`, the weights are
//! `B = I − P · diag(1 / diag(P))`, i.e. `B[j][i] = −P[j][i] / P[i][i]` off the diagonal and `B[i][i] = 0`.
//! A user with history vector `x` scores item `i` with `Σ_j x_j B[j][i]`.
//!
//! The Gram matrix `XᵀX` is built from the sparse interactions in parallel over items (row `i` gets, for each
//! user of `i`, that user's row scaled by `x_ui`), then factorised (Cholesky) and inverted in f64 with faer,
//! in parallel on the current rayon pool; `B` is stored as f32. That is about `n³/3 + 2n³/3 = n³` flops for
//! `n` items, and two dense `n × n` f64 matrices at the peak (`16 n²` bytes), then `4 n²` bytes for the
//! model. Catalogues whose Gram matrix (`8 n²` bytes) exceeds `max_gram_bytes` are refused before any work.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{
    LltParams, cholesky_in_place, cholesky_in_place_scratch,
};
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::linalg::triangular_inverse::invert_lower_triangular;
use faer::{Accum, Auto, MatMut, Par, Spec};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemFilter, ItemIdx, Result, ensure_param, top_k};

use crate::linalg::{axpy, simd};
use crate::{Explanation, Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Ease`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EaseParams {
    /// L2 regularisation `λ` added to the diagonal of `XᵀX` (Steck's λ; also accepted as `l2` or
    /// `regularization`). By default, 500.0 (Steck's setting for ML-20M and Netflix).
    #[serde(alias = "l2", alias = "regularization")]
    pub lambda: f64,
    /// Largest Gram matrix (`8 · n_items²` bytes) the fit accepts; peak memory is about twice this. By
    /// default, 4 GiB (about 23,000 items).
    pub max_gram_bytes: u64,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            lambda: 500.0,
            max_gram_bytes: 4 << 30,
        }
    }
}

impl EaseParams {
    /// Sets the L2 regularisation `λ`. By default, 500.0.
    pub fn lambda(mut self, v: f64) -> Self {
        self.lambda = v;
        self
    }
    /// Sets the largest accepted Gram matrix in bytes. By default, 4 GiB.
    pub fn max_gram_bytes(mut self, v: u64) -> Self {
        self.max_gram_bytes = v;
        self
    }
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param(
            self.lambda.is_finite() && self.lambda > 0.0,
            "lambda",
            "must be a finite number > 0 (XᵀX alone is singular for most data)",
        )
    }
}

/// A fitted EASE model: the dense item–item weight matrix.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ease {
    #[serde(with = "crate::params_body")]
    params: EaseParams,
    n_items: usize,
    /// `B`, `n_items x n_items` row-major: row `j` holds history item `j`'s weight in every item's score.
    weights: Vec<f32>,
}

/// faer's blocked Cholesky with blocks of 256 columns instead of its default 128: 7-14 % faster on
/// 8,000-14,000 items on the 2-core VM (BENCHMARKS.md, "EASE").
fn llt_params() -> Spec<LltParams, f64> {
    let mut p = <LltParams as Auto<f64>>::auto();
    p.block_size = 256;
    p.into()
}

/// `len` zeros whose memory pages are touched first in address order, in parallel.
///
/// `vec![0.0; len]` maps zero pages that the OS supplies on first touch. Left to the Gram's scattered
/// writes, that first touch made the Gram 7x slower (2.3 s instead of 0.33 s for 10,000 items) and the
/// Cholesky factorisation that follows 1.4x slower (6.6 s instead of 4.7 s), measured on the 2-core VM
/// (BENCHMARKS.md, "EASE"); writing the zeros once, in order, costs 0.2 s. (A collect, not `vec!` and a
/// fill: the compiler may drop a fill of zeros over memory it knows is zeroed.)
fn zeroed_in_order(len: usize) -> Vec<f64> {
    (0..len).into_par_iter().map(|_| 0f64).collect()
}

/// `B` (row-major `n x n` f32) from `P`'s lower triangle, stored column-major in `g` (`P[r][c]` for `r >= c`
/// at `g[c * n + r]`): `B[j][i] = −P[j][i] / P[i][i]`, `B[i][i] = 0`.
///
/// Rows of `B` are written in blocks of 64. Their part right of the diagonal is column `j` of `g`, read in
/// order; their part left of it is a 64-wide strip of each earlier column, also read in order (a blocked
/// transpose) rather than one element per column, which would read `n` cache lines and pages per row.
fn weights_from_lower(g: &[f64], n: usize) -> Vec<f32> {
    const BLOCK: usize = 64;
    let inv_diag: Vec<f64> = (0..n).map(|i| 1.0 / g[i * n + i]).collect();
    let mut weights = vec![0f32; n * n];
    if n == 0 {
        return weights;
    }
    weights
        .par_chunks_mut(BLOCK * n)
        .enumerate()
        .for_each(|(b, block)| {
            let j0 = b * BLOCK;
            let rows = block.len() / n;
            for jj in 0..rows {
                let j = j0 + jj;
                let col = &g[j * n..(j + 1) * n];
                let out = &mut block[jj * n..(jj + 1) * n];
                out[j] = 0.0;
                for i in j + 1..n {
                    out[i] = (-col[i] * inv_diag[i]) as f32;
                }
            }
            for (i, &inv) in inv_diag.iter().enumerate().take(j0 + rows) {
                // Rows j0 + jj > i of this block take P[j][i] = g[i * n + j].
                let strip = &g[i * n + j0..i * n + j0 + rows];
                for (jj, &v) in strip.iter().enumerate().skip((i + 1).saturating_sub(j0)) {
                    block[jj * n + i] = (-v * inv) as f32;
                }
            }
        });
    weights
}

/// `XᵀX + λI` as a dense `n x n` f64 matrix (symmetric, so row- and column-major alike).
fn gram(data: &Dataset, lambda: f64) -> Vec<f64> {
    let x = &data.interactions;
    let n = x.n_items();
    let mut g = zeroed_in_order(n * n);
    g.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
        let item = ItemIdx(i as u32);
        for (&u, xi) in x.item_users(item).iter().zip(x.item_values(item)) {
            let xi = xi as f64;
            for (&j, &xj) in x.user_items(u).iter().zip(x.user_values(u)) {
                row[j.get()] += xi * xj as f64;
            }
        }
        row[i] += lambda;
    });
    g
}

impl Fit for EaseParams {
    type Model = Ease;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Ease> {
        self.validate()?;
        let n = data.n_items();
        let bytes = (n as u128) * (n as u128) * 8;
        if bytes > self.max_gram_bytes as u128 {
            return Err(Error::InvalidParam {
                name: "max_gram_bytes",
                reason: format!(
                    "EASE needs a dense {n} x {n} Gram matrix ({:.1} GiB, about twice that at the peak), more than \
                     the limit of {:.1} GiB; raise max_gram_bytes if the memory is there, or prune the catalogue",
                    bytes as f64 / (1u64 << 30) as f64,
                    self.max_gram_bytes as f64 / (1u64 << 30) as f64
                ),
            });
        }
        progress.start("ease", 4);
        let par = Par::rayon(0);
        let mut g = gram(data, self.lambda);
        progress.message("Gram matrix built");
        progress.inc(1);
        {
            let gm = MatMut::from_column_major_slice_mut(&mut g, n, n);
            let params = llt_params();
            let mut buf = MemBuffer::new(cholesky_in_place_scratch::<f64>(n, par, params));
            cholesky_in_place(gm, Default::default(), par, MemStack::new(&mut buf), params)
                .map_err(|e| Error::InvalidParam {
                    name: "lambda",
                    reason: format!("XᵀX + λI is not positive definite ({e:?}); increase lambda"),
                })?;
        }
        progress.message("Cholesky factorisation done");
        progress.inc(1);
        {
            // L⁻¹, then P = L⁻ᵀ L⁻¹ (lower triangle) written over L.
            let mut linv = zeroed_in_order(n * n);
            let mut lm = MatMut::from_column_major_slice_mut(&mut linv, n, n);
            let gm = MatMut::from_column_major_slice_mut(&mut g, n, n);
            invert_lower_triangular(lm.as_mut(), gm.as_ref(), par);
            let li = lm.as_ref();
            matmul(
                gm,
                BlockStructure::TriangularLower,
                Accum::Replace,
                li.transpose(),
                BlockStructure::TriangularUpper,
                li,
                BlockStructure::TriangularLower,
                1.0,
                par,
            );
        }
        progress.message("inverse done");
        progress.inc(1);
        let weights = weights_from_lower(&g, n);
        drop(g);
        progress.inc(1);
        Ok(Ease {
            params: self.clone(),
            n_items: n,
            weights,
        })
    }
}

impl Ease {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &EaseParams {
        &self.params
    }
    /// `B[j][i]`: the weight of history item `j` in item `i`'s score.
    pub fn weight(&self, j: ItemIdx, i: ItemIdx) -> f32 {
        self.weights[j.get() * self.n_items + i.get()]
    }
    /// The score of every item for a history (`Σ_j x_j B[j][·]`). Fails on an out-of-range item.
    pub fn scores(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        let n = self.n_items;
        let mut s = vec![0f32; n];
        for &(j, _) in history {
            check(j, n)?;
        }
        simd(
            #[inline(always)]
            || {
                for &(j, x) in history {
                    axpy(x, &self.weights[j.get() * n..][..n], &mut s);
                }
            },
        );
        Ok(s)
    }
}

fn check(i: ItemIdx, n: usize) -> Result<()> {
    if i.get() < n {
        Ok(())
    } else {
        Err(Error::IndexOutOfRange {
            kind: "item",
            index: i.0,
            len: n,
        })
    }
}

impl Recommender for Ease {
    fn name(&self) -> &str {
        "ease"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        top_k(&self.scores(q.history)?, k, &filter)
    }
    /// Row `item` of `B`: the scores of a user whose history is `item` alone (the item itself left out).
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let filter = ItemFilter::new(self.n_items).exclude(&[item])?;
        let n = self.n_items;
        top_k(&self.weights[item.get() * n..][..n], k, &filter)
    }
    /// The contribution of history item `j` to `item`'s score is `x_j · B[j][item]`; they sum to the score.
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        check(item, self.n_items)?;
        let mut because = Vec::with_capacity(q.history.len());
        for &(j, x) in q.history {
            check(j, self.n_items)?;
            because.push((j, x * self.weight(j, item)));
        }
        because.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        because.truncate(n);
        Ok(Some(Explanation { because }))
    }
}

impl Ease {
    /// `(n_items, B)`, what the ONNX export writes.
    #[cfg_attr(not(feature = "onnx"), allow(dead_code))]
    pub(crate) fn parts(&self) -> (usize, &[f32]) {
        (self.n_items, &self.weights)
    }

    /// A model from a weight matrix (`n x n`, row-major), for the ONNX tests.
    #[cfg(all(test, feature = "onnx"))]
    pub(crate) fn from_parts(n_items: usize, weights: Vec<f32>) -> Ease {
        Ease {
            params: EaseParams::default(),
            n_items,
            weights,
        }
    }

    /// Checks a decoded model (see [`crate::AnyModel::validate`]): an `n_items x n_items` matrix of finite
    /// weights.
    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        tastebud_core::validate::matrix_f32(
            "EASE weights",
            &self.weights,
            self.n_items,
            self.n_items,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{Feedback, Interactions};

    /// X = [[1,1,0],[0,1,1],[1,1,1],[1,0,0]], λ = 1: XᵀX + I = [[4,2,1],[2,4,2],[1,2,3]], whose inverse is
    /// [[8,−4,0],[−4,11,−6],[0,−6,12]] / 24, so B = [[0, 4/11, 0], [1/2, 0, 1/2], [0, 6/11, 0]].
    fn tiny() -> Dataset {
        let t = [
            (0, 0, 1.0),
            (0, 1, 1.0),
            (1, 1, 1.0),
            (1, 2, 1.0),
            (2, 0, 1.0),
            (2, 1, 1.0),
            (2, 2, 1.0),
            (3, 0, 1.0),
        ];
        let x = Interactions::from_triplets(4, 3, &t, Feedback::Implicit).unwrap();
        Dataset::from_parts("tiny", x, ["a", "b", "c", "d"], ["x", "y", "z"]).unwrap()
    }

    #[test]
    fn blocked_weights_equal_the_elementwise_formula_across_blocks() {
        for n in [1usize, 63, 64, 65, 150] {
            // A symmetric matrix with a positive diagonal; only the lower triangle is stored.
            let sym = |r: usize, c: usize| {
                let (r, c) = (r.max(c), r.min(c));
                if r == c {
                    2.0 + r as f64
                } else {
                    ((r * 31 + c * 17) % 23) as f64 / 23.0 - 0.5
                }
            };
            let mut g = vec![f64::NAN; n * n];
            for c in 0..n {
                for r in c..n {
                    g[c * n + r] = sym(r, c);
                }
            }
            let w = weights_from_lower(&g, n);
            for j in 0..n {
                for i in 0..n {
                    let want = if i == j {
                        0.0
                    } else {
                        (-sym(j, i) / sym(i, i)) as f32
                    };
                    assert_eq!(w[j * n + i], want, "n {n}, B[{j}][{i}]");
                }
            }
        }
    }

    #[test]
    fn weights_match_the_hand_computed_inverse() {
        let m = EaseParams::default()
            .lambda(1.0)
            .fit(&tiny(), &NoProgress)
            .unwrap();
        let want = [
            [0.0, 4.0 / 11.0, 0.0],
            [0.5, 0.0, 0.5],
            [0.0, 6.0 / 11.0, 0.0],
        ];
        for (j, row) in want.iter().enumerate() {
            for (i, &w) in row.iter().enumerate() {
                let got = m.weight(ItemIdx(j as u32), ItemIdx(i as u32));
                assert!(
                    (got - w as f32).abs() < 1e-6,
                    "B[{j}][{i}] = {got}, want {w}"
                );
            }
        }
        // User with history {0, 2}: scores [0, 4/11 + 6/11, 0]; item 1 is recommended with score 10/11.
        let h = [(ItemIdx(0), 1.0), (ItemIdx(2), 1.0)];
        let r = m.recommend(&Query::new(&h), 3).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].item, ItemIdx(1));
        assert!((r[0].score - 10.0 / 11.0).abs() < 1e-6);
        let e = m.explain(&Query::new(&h), ItemIdx(1), 5).unwrap().unwrap();
        assert_eq!(e.because[0].0, ItemIdx(2));
        assert!(
            (e.because[0].1 - 6.0 / 11.0).abs() < 1e-6
                && (e.because[1].1 - 4.0 / 11.0).abs() < 1e-6
        );
        let s = m.similar_items(ItemIdx(1), 5).unwrap();
        assert_eq!((s[0].item, s[0].score, s.len()), (ItemIdx(0), 0.5, 2));
        // Errors, not panics.
        assert!(m.recommend(&Query::new(&[(ItemIdx(3), 1.0)]), 1).is_err());
        assert!(m.explain(&Query::new(&h), ItemIdx(3), 1).is_err());
        assert!(m.similar_items(ItemIdx(3), 1).is_err());
    }

    #[test]
    fn params_are_validated_and_large_catalogues_refused() {
        let d = tiny();
        for l in [0.0, -1.0, f64::NAN] {
            assert!(matches!(
                EaseParams::default().lambda(l).fit(&d, &NoProgress),
                Err(Error::InvalidParam { .. })
            ));
        }
        let e = EaseParams::default()
            .max_gram_bytes(71)
            .fit(&d, &NoProgress)
            .unwrap_err();
        assert!(e.to_string().contains("max_gram_bytes"), "{e}");
        assert!(
            EaseParams::default()
                .max_gram_bytes(72)
                .fit(&d, &NoProgress)
                .is_ok()
        );
        let p: EaseParams = serde_json::from_str(r#"{"l2": 250}"#).unwrap();
        assert_eq!(p.lambda, 250.0);
        assert!(serde_json::from_str::<EaseParams>(r#"{"lamda": 250}"#).is_err());
    }
}
