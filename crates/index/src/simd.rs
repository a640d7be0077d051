//! The inner-product kernel the HNSW graph calls for every distance, vectorised for the CPU it runs on.
//!
//! The crate is built for the baseline x86-64 target (SSE2), and usearch is built without its SIMD
//! library (NumKong costs minutes of C compile on two cores), so usearch's own inner product runs on
//! 4-lane SSE without FMA. [`ip_distance_fn`] picks, once, an AVX2 + FMA kernel where the CPU has both
//! (checked at run time) and the portable [`dot`](crate::metric::dot) elsewhere; the HNSW index installs
//! it as usearch's metric through usearch's custom-metric hook, which hands it raw pointers. This module
//! is the only place in the crate with `unsafe` code.
#![allow(unsafe_code)]

use crate::metric::dot;

/// usearch's custom metric: a boxed closure over two raw vector pointers, returning a distance.
pub(crate) type RawMetric = Box<dyn Fn(*const f32, *const f32) -> f32 + Send + Sync>;

/// The inner-product distance `1 - a·b` over `dim` floats as usearch's custom metric, on the fastest
/// kernel this CPU has.
pub(crate) fn ip_distance_fn(dim: usize) -> RawMetric {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return Box::new(move |a, b| {
            // SAFETY: usearch calls the metric with pointers to two stored or query vectors of the
            // index's dimension `dim` (checked on every add and search), valid for the call; AVX2 and FMA
            // were detected above.
            1.0 - unsafe { dot_avx2_fma(a, b, dim) }
        });
    }
    portable_ip_distance_fn(dim)
}

/// [`ip_distance_fn`]'s kernel where the CPU lacks AVX2 or FMA: the portable [`dot`].
fn portable_ip_distance_fn(dim: usize) -> RawMetric {
    Box::new(move |a, b| {
        // SAFETY: as in `ip_distance_fn`, `a` and `b` point to `dim` readable floats for the call.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, dim),
                std::slice::from_raw_parts(b, dim),
            )
        };
        1.0 - dot(a, b)
    })
}

/// `a · b` over `n` floats: four 8-lane FMA accumulators, then an 8-lane step, then a scalar tail.
///
/// # Safety
/// `a` and `b` must point to `n` readable floats, and the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_fma(a: *const f32, b: *const f32, n: usize) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY (whole body): every load reads 8 floats at offsets below `n`, which the caller guarantees
    // are readable; unaligned loads need no alignment.
    unsafe {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 8)),
                _mm256_loadu_ps(b.add(i + 8)),
                acc1,
            );
            acc2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 16)),
                _mm256_loadu_ps(b.add(i + 16)),
                acc2,
            );
            acc3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 24)),
                _mm256_loadu_ps(b.add(i + 24)),
                acc3,
            );
            i += 32;
        }
        while i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
            i += 8;
        }
        let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
        let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        let mut sum = _mm_cvtss_f32(s);
        while i < n {
            sum += *a.add(i) * *b.add(i);
            i += 1;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_with_the_portable_dot() {
        for n in [1usize, 7, 8, 9, 31, 32, 33, 64, 100, 257] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 7 + 3) % 11) as f32 * 0.25 - 1.0)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i * 5 + 1) % 13) as f32 * 0.125 - 0.7)
                .collect();
            let want = dot(&a, &b);
            let metric = ip_distance_fn(n);
            let d = metric(a.as_ptr(), b.as_ptr());
            assert!(
                (d - (1.0 - want)).abs() <= 1e-4 * (1.0 + want.abs()),
                "n {n}: {d}"
            );
        }
    }
}
