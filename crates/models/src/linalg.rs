//! Small dense helpers shared by the factor models (ALS, BPR, EASE).
//!
//! The vector kernels are written with a fixed summation order (16 partial sums), so their results do not
//! depend on the instruction set; [`simd`] runs a closure compiled for the best instruction set the CPU has
//! (AVX2/FMA when present, detected at run time), so these kernels vectorise without `-C target-cpu`.

use faer::traits::pulp::Arch;
use faer::{Accum, MatRef, Par};

/// Runs `f` with the CPU's best SIMD instruction set enabled (functions it inlines vectorise with it).
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    Arch::new().dispatch(f)
}

const LANES: usize = 16;

/// `a · b` with 16 partial sums (fixed order: deterministic whatever the instruction set).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    // Pairwise reduction (fixed order).
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            acc[l] += acc[l + w];
        }
    }
    acc[0]
}

/// The `k` items whose factor rows are most cosine-similar to `item`'s, best first, the item itself left
/// out; empty when `item`'s row is zero (an item without training data). Rows are `stride` apart and the
/// first `dim` values of each are compared (BPR stores a bias after its factors). Shared by every factor
/// model's `similar_items`.
pub(crate) fn cosine_similar_items(
    factors: &[f32],
    stride: usize,
    dim: usize,
    item: tastebud_core::ItemIdx,
    k: usize,
) -> tastebud_core::Result<Vec<tastebud_core::Scored>> {
    use tastebud_core::{Error, ItemIdx, TopK};
    let n = factors.len().checked_div(stride).unwrap_or(0);
    if item.get() >= n {
        return Err(Error::IndexOutOfRange {
            kind: "item",
            index: item.0,
            len: n,
        });
    }
    let row = |i: usize| &factors[i * stride..i * stride + dim];
    simd(
        #[inline(always)]
        || {
            let q = row(item.get());
            let qn = dot(q, q).sqrt();
            let mut top = TopK::new(k);
            if qn == 0.0 {
                return Ok(Vec::new());
            }
            for i in (0..n).filter(|&i| i != item.get()) {
                let r = row(i);
                let rn = dot(r, r).sqrt();
                if rn > 0.0 {
                    top.push(ItemIdx(i as u32), dot(q, r) / (qn * rn));
                }
            }
            Ok(top.into_sorted())
        },
    )
}

/// `y += alpha * x`.
#[inline(always)]
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out = A x` for a **symmetric** row-major `k x k` matrix `a`, computed as `Σ_j x_j A[j][·]` (row
/// updates vectorise without horizontal sums).
#[inline(always)]
pub(crate) fn symv(a: &[f32], x: &[f32], out: &mut [f32]) {
    let k = x.len();
    out.fill(0.0);
    for (&xj, row) in x.iter().zip(a.chunks_exact(k)) {
        axpy(xj, row, out);
    }
}

/// `Yᵀ Y` of a row-major `n x k` matrix, in f64, row-major `k x k`.
///
/// Blocks of rows are multiplied in f32 (faer's SIMD matmul) in parallel, then summed in f64 in block order,
/// so the result does not depend on the number of threads.
pub(crate) fn gram(y: &[f32], k: usize) -> Vec<f64> {
    use rayon::prelude::*;
    const BLOCK: usize = 2048;
    let partial: Vec<Vec<f32>> = y
        .par_chunks(BLOCK * k)
        .map(|rows| {
            let n = rows.len() / k;
            let m = MatRef::from_row_major_slice(rows, n, k);
            let mut out = vec![0f32; k * k];
            let dst = faer::MatMut::from_row_major_slice_mut(&mut out, k, k);
            faer::linalg::matmul::matmul(dst, Accum::Replace, m.transpose(), m, 1.0f32, Par::Seq);
            out
        })
        .collect();
    let mut g = vec![0f64; k * k];
    for p in &partial {
        for (gi, &pi) in g.iter_mut().zip(p) {
            *gi += pi as f64;
        }
    }
    // Exactly symmetric.
    for i in 0..k {
        for j in 0..i {
            let v = 0.5 * (g[i * k + j] + g[j * k + i]);
            g[i * k + j] = v;
            g[j * k + i] = v;
        }
    }
    g
}

/// `a · b` in f64 with 8 partial sums (fixed order: deterministic whatever the instruction set).
#[inline(always)]
pub(crate) fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `a · b` in f64 of an f64 and an f32 vector, with 8 partial sums (fixed order).
#[inline(always)]
pub(crate) fn dot64_32(a: &[f64], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l] as f64;
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * *y as f64;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// In-place Cholesky factorisation `A = L Lᵀ` of a row-major symmetric `n x n` matrix (the lower triangle
/// is read and overwritten with `L`, row by row; the strict upper triangle is left alone). Returns false
/// when `A` is not positive definite. The inner products are [`dot64`]s of contiguous row prefixes, so it
/// vectorises and its result does not depend on the instruction set.
pub(crate) fn cholesky(a: &mut [f64], n: usize) -> bool {
    simd(
        #[inline(always)]
        || {
            for i in 0..n {
                let (done, rest) = a.split_at_mut(i * n);
                let row = &mut rest[..n];
                for j in 0..i {
                    let lj = &done[j * n..][..=j];
                    let s = row[j] - dot64(&row[..j], &lj[..j]);
                    row[j] = s / lj[j];
                }
                let d = row[i] - dot64(&row[..i], &row[..i]);
                if d <= 0.0 || !d.is_finite() {
                    return false;
                }
                row[i] = d.sqrt();
            }
            true
        },
    )
}

/// Solves `L Lᵀ x = b` in place, `l` from [`cholesky`] (forward by row inner products, backward by row
/// updates: both read `L` row by row).
pub(crate) fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    simd(
        #[inline(always)]
        || {
            for i in 0..n {
                let li = &l[i * n..][..=i];
                b[i] = (b[i] - dot64(&li[..i], &b[..i])) / li[i];
            }
            for i in (0..n).rev() {
                let li = &l[i * n..][..=i];
                let x = b[i] / li[i];
                b[i] = x;
                for (bp, &lp) in b[..i].iter_mut().zip(&li[..i]) {
                    *bp -= lp * x;
                }
            }
        },
    )
}

/// Factorises `a` (row-major symmetric positive semi-definite `n x n`), adding a small ridge to the diagonal
/// when it is singular (regularisation 0 with fewer interactions than factors).
pub(crate) fn cholesky_robust(a: &mut [f64], n: usize) {
    let backup = a.to_vec();
    cholesky_robust_with(a, n, |a| a.copy_from_slice(&backup));
}

/// [`cholesky_robust`] of the matrix that `fill` writes (called again, then given a growing ridge, while the
/// factorisation fails): no copy of the matrix is kept.
pub(crate) fn cholesky_robust_with(a: &mut [f64], n: usize, mut fill: impl FnMut(&mut [f64])) {
    fill(a);
    if cholesky(a, n) {
        return;
    }
    fill(a);
    let trace: f64 = (0..n).map(|i| a[i * n + i].abs()).sum::<f64>() / n.max(1) as f64;
    let mut ridge = (trace * 1e-10).max(1e-12);
    loop {
        fill(a);
        for i in 0..n {
            a[i * n + i] += ridge;
        }
        if cholesky(a, n) {
            return;
        }
        ridge *= 100.0;
    }
}

/// 64-bit FNV-1a over a history's items and values: a fingerprint to recognise a training history.
pub(crate) fn fingerprint(items: impl Iterator<Item = (u32, f32)>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, v) in items {
        for b in i.to_le_bytes().into_iter().chain(v.to_bits().to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 / (1.0 + i as f32)).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(
            (simd(
                #[inline(always)]
                || dot(&a, &b)
            ) - want)
                .abs()
                < 1e-4
        );
        let mut y = b.clone();
        axpy(2.0, &a, &mut y);
        assert!((y[5] - (b[5] + 2.0 * a[5])).abs() < 1e-6);
    }

    #[test]
    fn gram_and_cholesky_solve_a_small_system() {
        // Y = [[1, 2], [3, 4], [0, 1]]: YᵀY = [[10, 14], [14, 21]].
        let g = gram(&[1.0, 2.0, 3.0, 4.0, 0.0, 1.0], 2);
        assert_eq!(g, vec![10.0, 14.0, 14.0, 21.0]);
        let mut l = g.clone();
        assert!(cholesky(&mut l, 2));
        let mut b = vec![1.0, 2.0];
        cholesky_solve(&l, 2, &mut b);
        // [[10, 14], [14, 21]]⁻¹ [1, 2] = [-7/14, 4/14]... check by substitution.
        assert!((10.0 * b[0] + 14.0 * b[1] - 1.0).abs() < 1e-12);
        assert!((14.0 * b[0] + 21.0 * b[1] - 2.0).abs() < 1e-12);
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(!cholesky(&mut singular.clone(), 2));
        cholesky_robust(&mut singular, 2);
        assert!(singular[3] > 0.0);
    }
}
