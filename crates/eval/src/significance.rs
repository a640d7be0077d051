//! Significance tests for comparing two recommenders on paired per-user metric values.
//!
//! Every function takes two slices `a` and `b` holding one metric value per user for model A and
//! model B — the same users in the same order — and works on the paired differences
//! `d_i = a_i - b_i`. The tests reproduce SciPy's defaults so that numbers can be checked against a
//! Python notebook:
//!
//! | function                 | matches                                                          |
//! |--------------------------|------------------------------------------------------------------|
//! | [`paired_t_test`]        | `scipy.stats.ttest_rel(a, b)`                                     |
//! | [`wilcoxon_signed_rank`] | `scipy.stats.wilcoxon(a, b)` (all defaults, SciPy 1.17)           |
//! | [`bootstrap_ci`]         | `scipy.stats.bootstrap((a - b,), np.mean, method="percentile")`   |
//! | [`holm`]                 | `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`  |
//! | [`mean_std`]             | `(np.mean(x), np.std(x, ddof=1))`                                 |
//!
//! All tests are two-sided. Inputs containing NaN or infinities, slices of different lengths and
//! fewer than two pairs are rejected with a [`StatError`] rather than producing NaN; nothing here
//! panics. `scripts/golden_significance.py` prints the SciPy/statsmodels values the unit tests
//! compare against.
//!
//! ```
//! use tastebud_eval::significance::{bootstrap_ci, holm, paired_t_test, wilcoxon_signed_rank};
//! let ndcg_a = [0.62, 0.48, 0.71, 0.55, 0.80, 0.43, 0.67, 0.59];
//! let ndcg_b = [0.58, 0.50, 0.60, 0.57, 0.69, 0.40, 0.61, 0.52];
//! let t = paired_t_test(&ndcg_a, &ndcg_b)?;
//! let w = wilcoxon_signed_rank(&ndcg_a, &ndcg_b)?;
//! assert!((t.p_value - 0.03279329309024212).abs() < 1e-12);
//! assert_eq!(w.p_value, 0.0390625); // exact null distribution, n = 8
//! let ci = bootstrap_ci(&ndcg_a, &ndcg_b, 0.95, 2000, 42)?;
//! assert!(ci.low <= ci.mean_diff && ci.mean_diff <= ci.high);
//! let adjusted = holm(&[t.p_value, w.p_value]);
//! assert!(adjusted[0] >= t.p_value);
//! # Ok::<(), tastebud_eval::significance::StatError>(())
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::erfc;

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatError {
    /// `a` and `b` must hold one value per user for the same users.
    #[error("paired samples differ in length: a has {a} values, b has {b}")]
    LengthMismatch {
        /// Length of `a`.
        a: usize,
        /// Length of `b`.
        b: usize,
    },
    /// At least two pairs are needed.
    #[error("need at least 2 paired values, got {n}")]
    TooFewPairs {
        /// Number of pairs given.
        n: usize,
    },
    /// An input value (or the difference `a[index] - b[index]`) is NaN or infinite.
    #[error("non-finite value (NaN or infinity) in pair {index}")]
    NonFinite {
        /// Position of the offending pair.
        index: usize,
    },
    /// The data carry no information for this test (e.g. every difference is zero, where SciPy
    /// returns NaN).
    #[error("degenerate sample: {0}")]
    Degenerate(&'static str),
    /// A parameter is out of its domain (confidence level, number of resamples).
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
}

/// Outcome of a two-sided paired test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// Test statistic: Student's `t` for [`paired_t_test`], `min(W+, W-)` for
    /// [`wilcoxon_signed_rank`].
    pub statistic: f64,
    /// Two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
    /// Degrees of freedom (`n - 1` for the t-test; `None` for rank tests).
    pub df: Option<f64>,
    /// Mean of the paired differences `a_i - b_i` (positive: A scores higher).
    pub mean_diff: f64,
    /// Number of pairs given (zero differences included).
    pub n: usize,
}

/// Percentile-bootstrap confidence interval of the mean paired difference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    /// Mean of `a_i - b_i` on the full sample (the point estimate).
    pub mean_diff: f64,
    /// Lower bound: the `(1 - confidence) / 2` quantile of the bootstrap means.
    pub low: f64,
    /// Upper bound: the `(1 + confidence) / 2` quantile of the bootstrap means.
    pub high: f64,
}

/// Two-sided paired Student's t-test of `H0: E[a - b] = 0`; matches `scipy.stats.ttest_rel(a, b)`.
///
/// With `d_i = a_i - b_i`, `n` pairs, `d̄ = Σ d_i / n` and `s² = Σ (d_i - d̄)² / (n - 1)`:
///
/// * statistic `t = d̄ / (s / √n)`, `df = n - 1`;
/// * `p = 2·P(T_df ≥ |t|) = I_x(df/2, 1/2)` with `x = df / (df + t²)`, where `I` is the
///   regularized incomplete beta function (evaluated directly, so tiny p-values keep their
///   relative precision).
///
/// If every difference is the same non-zero value (`s = 0`), `t = ±∞` and `p = 0`, as in SciPy.
///
/// # Errors
///
/// [`StatError::LengthMismatch`], [`StatError::TooFewPairs`] (`n < 2`), [`StatError::NonFinite`],
/// and [`StatError::Degenerate`] when every difference is zero (SciPy returns NaN there).
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Result<TestResult, StatError> {
    let d = differences(a, b)?;
    if d.iter().all(|&x| x == 0.0) {
        return Err(StatError::Degenerate(
            "all paired differences are zero, so the t statistic is 0/0",
        ));
    }
    let n = d.len();
    let (mean, sd) = mean_std(&d);
    let df = (n - 1) as f64;
    let se = sd / (n as f64).sqrt();
    let t = if se > 0.0 {
        mean / se
    } else {
        f64::INFINITY.copysign(mean)
    };
    let p = if t.is_finite() {
        let x = df / (df + t * t);
        checked_beta_reg(df / 2.0, 0.5, x)
            .map_err(|_| StatError::Degenerate("t distribution tail probability is undefined"))?
    } else {
        0.0
    };
    Ok(TestResult {
        statistic: t,
        p_value: p.clamp(0.0, 1.0),
        df: Some(df),
        mean_diff: mean,
        n,
    })
}

/// Two-sided Wilcoxon signed-rank test of `H0: the differences are symmetric about 0`; matches
/// `scipy.stats.wilcoxon(a, b)` with its defaults (`zero_method="wilcox"`, `correction=False`,
/// `method="auto"`) as of SciPy 1.17.
///
/// 1. Zero differences are dropped (`zero_method="wilcox"`); let `m` be the number left and `n`
///    the number of pairs given.
/// 2. The `|d_i|` are ranked `1..=m`, tied values getting the average of their ranks.
///    `W+` (`W-`) is the sum of the ranks of the positive (negative) differences;
///    `W+ + W- = m(m+1)/2`. The reported statistic is `min(W+, W-)`.
/// 3. p-value, following SciPy's `method="auto"`:
///    * **exact** when `n ≤ 50` and there are neither ties nor zeros, and also when `n ≤ 13`
///      with ties or zeros (SciPy then runs an exact permutation test over all `2ⁿ` sign
///      flips, which is the same computation). The null distribution of `W+` — every rank
///      independently positive or negative with probability ½ — is built by dynamic
///      programming over rank sums (ranks doubled so average ranks stay integral):
///      `c_0 = [1]`, `c_k[s] = c_{k-1}[s] + c_{k-1}[s - r_k]`. Then
///      `p = min(1, 2·min(P(W+ ≤ w), P(W+ ≥ w)))`.
///    * **normal approximation** otherwise, with tie correction and without continuity
///      correction: `μ = m(m+1)/4`,
///      `σ² = (m(m+1)(2m+1) − Σ_g (t_g³ − t_g)/2) / 24` where `t_g` are the sizes of the tie
///      groups, `z = (W+ − μ)/σ`, `p = 2·(1 − Φ(|z|)) = erfc(|z|/√2)`.
///
/// [`TestResult::df`] is `None`; [`TestResult::n`] counts all pairs, zeros included.
///
/// # Errors
///
/// [`StatError::LengthMismatch`], [`StatError::TooFewPairs`] (`n < 2`), [`StatError::NonFinite`],
/// and [`StatError::Degenerate`] when every difference is zero (SciPy returns NaN there).
pub fn wilcoxon_signed_rank(a: &[f64], b: &[f64]) -> Result<TestResult, StatError> {
    let d = differences(a, b)?;
    let n = d.len();
    let mean_diff = mean(&d);
    let nonzero: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    let m = nonzero.len();
    if m == 0 {
        return Err(StatError::Degenerate(
            "all paired differences are zero, so there is nothing to rank",
        ));
    }
    let has_zeros = m < n;

    // Average ranks of |d|, doubled so they are integers: positions start..end (0-based, end
    // exclusive) share the rank ((start + 1) + end) / 2.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| nonzero[i].abs().total_cmp(&nonzero[j].abs()));
    let mut rank2 = vec![0u64; m];
    let mut tie_term = 0.0_f64;
    let mut has_ties = false;
    let mut start = 0;
    while start < m {
        let value = nonzero[order[start]].abs();
        let mut end = start + 1;
        while end < m && nonzero[order[end]].abs() == value {
            end += 1;
        }
        let size = end - start;
        if size > 1 {
            has_ties = true;
            let t = size as f64;
            tie_term += t * t * t - t;
        }
        for &i in &order[start..end] {
            rank2[i] = (start + 1 + end) as u64;
        }
        start = end;
    }
    let total2 = (m * (m + 1)) as u64;
    let w_plus2: u64 = rank2
        .iter()
        .zip(&nonzero)
        .filter(|&(_, &x)| x > 0.0)
        .map(|(&r, _)| r)
        .sum();
    let w_minus2 = total2 - w_plus2;
    let statistic = w_plus2.min(w_minus2) as f64 / 2.0;

    let exact = (n <= 50 && !has_ties && !has_zeros) || n <= 13;
    let p = if exact {
        exact_signed_rank_p(&rank2, w_plus2)
    } else {
        let mf = m as f64;
        let mu = mf * (mf + 1.0) / 4.0;
        let var = (mf * (mf + 1.0) * (2.0 * mf + 1.0) - tie_term / 2.0) / 24.0;
        let z = (w_plus2 as f64 / 2.0 - mu) / var.sqrt();
        erfc(z.abs() / std::f64::consts::SQRT_2)
    };
    Ok(TestResult {
        statistic,
        p_value: p.clamp(0.0, 1.0),
        df: None,
        mean_diff,
        n,
    })
}

/// Exact two-sided p-value of the signed-rank statistic with doubled ranks `rank2` (at most 50 of
/// them, so the `2^m` sign assignments are counted exactly in `u64`).
fn exact_signed_rank_p(rank2: &[u64], w_plus2: u64) -> f64 {
    let total2: u64 = rank2.iter().sum();
    let Ok(len) = usize::try_from(total2 + 1) else {
        return f64::NAN;
    };
    let mut counts = vec![0u64; len];
    counts[0] = 1;
    let mut reach = 0usize; // highest reachable sum so far
    for &r in rank2 {
        let r = r as usize;
        reach += r;
        for s in (r..=reach).rev() {
            counts[s] += counts[s - r];
        }
    }
    let w = w_plus2 as usize;
    let le: u64 = counts[..=w].iter().sum();
    let ge: u64 = counts[w..].iter().sum();
    let total = (rank2.len() as f64).exp2();
    (2.0 * le.min(ge) as f64 / total).min(1.0)
}

/// Percentile-bootstrap confidence interval of the mean paired difference `mean(a - b)`.
///
/// Users are resampled with replacement (`n` draws from the `n` differences) `resamples` times;
/// each resample's mean `θ*_r` is recorded, and the interval is the `α = (1 − confidence)/2`
/// and `1 − α` quantiles of the `θ*` with linear interpolation (NumPy's default quantile:
/// sorted values `x_0..x_{R-1}`, `h = (R − 1)q`, `x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋)`). This
/// is what `scipy.stats.bootstrap((a - b,), np.mean, method="percentile",
/// confidence_level=confidence, n_resamples=resamples)` computes, with a different random
/// generator.
///
/// Resample `r` draws from `ChaCha8Rng::seed_from_u64(seed)` switched to stream `r`, so the
/// result depends only on the inputs and `seed` — not on the number of threads (resamples run in
/// parallel with rayon).
///
/// # Errors
///
/// [`StatError::LengthMismatch`], [`StatError::TooFewPairs`] (`n < 2`), [`StatError::NonFinite`],
/// and [`StatError::InvalidParameter`] unless `0 < confidence < 1` and `resamples ≥ 1`.
pub fn bootstrap_ci(
    a: &[f64],
    b: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Result<BootstrapCi, StatError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatError::InvalidParameter(
            "confidence must lie strictly between 0 and 1",
        ));
    }
    if resamples == 0 {
        return Err(StatError::InvalidParameter("resamples must be at least 1"));
    }
    let d = differences(a, b)?;
    let n = d.len();
    let mean_diff = mean(&d);
    let mut means: Vec<f64> = (0..resamples)
        .into_par_iter()
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(r as u64);
            let sum: f64 = (0..n).map(|_| d[rng.random_range(0..n)]).sum();
            sum / n as f64
        })
        .collect();
    means.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    Ok(BootstrapCi {
        mean_diff,
        low: quantile_sorted(&means, alpha),
        high: quantile_sorted(&means, 1.0 - alpha),
    })
}

/// Holm–Bonferroni step-down adjusted p-values, in the input order; matches
/// `statsmodels.stats.multitest.multipletests(p_values, method="holm")[1]`.
///
/// With the `m` p-values sorted ascending `p_(1) ≤ … ≤ p_(m)`:
/// `p̃_(i) = min(1, max_{j ≤ i} (m − j + 1)·p_(j))`. The adjusted values are never below the
/// raw ones and are monotone in the raw order. Reject `H_(i)` at family-wise level `α` iff
/// `p̃_(i) ≤ α`.
///
/// NaN entries are handled as statsmodels does: they count towards `m`, sort last and come out
/// as NaN, leaving the other adjusted values unchanged. An empty input gives an empty output.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| {
        let (x, y) = (p_values[i], p_values[j]);
        x.is_nan().cmp(&y.is_nan()).then(x.total_cmp(&y))
    });
    let mut adjusted = vec![f64::NAN; m];
    let mut running = f64::NEG_INFINITY;
    for (rank, &i) in order.iter().enumerate() {
        let p = p_values[i];
        if p.is_nan() {
            continue;
        }
        running = running.max(p * (m - rank) as f64);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

/// Mean and sample standard deviation, e.g. for reporting k-fold results as "mean ± std";
/// matches `(np.mean(x), np.std(x, ddof=1))`.
///
/// `mean = Σ x_i / n`, `std = √(Σ (x_i − mean)² / (n − 1))` (two-pass, with compensated
/// summation). The std is `0` for `n < 2` and when all values are equal; the mean of an empty
/// slice is NaN. NaN or infinite inputs propagate into the result.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    let Some(&first) = values.first() else {
        return (f64::NAN, 0.0);
    };
    if values.iter().all(|&x| x == first) {
        return (first, 0.0);
    }
    let mean = mean(values);
    if n < 2 {
        return (mean, 0.0);
    }
    let ss = neumaier_sum(values.iter().map(|&x| (x - mean) * (x - mean)));
    (mean, (ss / (n - 1) as f64).sqrt())
}

/// Paired differences `a_i - b_i` after validating the inputs.
fn differences(a: &[f64], b: &[f64]) -> Result<Vec<f64>, StatError> {
    if a.len() != b.len() {
        return Err(StatError::LengthMismatch {
            a: a.len(),
            b: b.len(),
        });
    }
    if a.len() < 2 {
        return Err(StatError::TooFewPairs { n: a.len() });
    }
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(index, (&x, &y))| {
            let d = x - y;
            if x.is_finite() && y.is_finite() && d.is_finite() {
                Ok(d)
            } else {
                Err(StatError::NonFinite { index })
            }
        })
        .collect()
}

/// Arithmetic mean with compensated summation (NaN for an empty slice).
fn mean(values: &[f64]) -> f64 {
    neumaier_sum(values.iter().copied()) / values.len() as f64
}

/// Neumaier's improved Kahan summation: error independent of `n` to first order.
fn neumaier_sum(values: impl Iterator<Item = f64>) -> f64 {
    let mut sum = 0.0_f64;
    let mut compensation = 0.0_f64;
    for x in values {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            compensation += (sum - t) + x;
        } else {
            compensation += (x - t) + sum;
        }
        sum = t;
    }
    sum + compensation
}

/// Quantile `q ∈ [0, 1]` of non-empty sorted values with linear interpolation (NumPy's default).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let Some(&last) = sorted.last() else {
        return f64::NAN;
    };
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    if lo + 1 >= sorted.len() {
        return last;
    }
    let frac = h - lo as f64;
    sorted[lo] + frac * (sorted[lo + 1] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ---------------------------------------------------------------------------------------
    // Test data. The literal vectors and the LCG generators mirror
    // scripts/golden_significance.py exactly; the golden numbers below were printed by that
    // script with Python 3.11.7, NumPy 2.4.6, SciPy 1.17.1 and statsmodels 0.15.0.
    // ---------------------------------------------------------------------------------------

    /// 64-bit LCG with Knuth's MMIX constants; mirrors `Lcg` in the Python script.
    struct Lcg(u64);

    impl Lcg {
        fn next_u64(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0
        }
        fn uniform(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / 9_007_199_254_740_992.0
        }
        fn level(&mut self, levels: u64) -> u64 {
            (self.next_u64() >> 40) % levels
        }
    }

    /// `continuous_pair` of the Python script.
    fn continuous_pair(n: usize, seed: u64, effect: f64) -> (Vec<f64>, Vec<f64>) {
        let mut g = Lcg(seed);
        let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let u1 = g.uniform();
            let u2 = g.uniform();
            let u3 = g.uniform();
            let base = 0.2 + 0.6 * u1;
            a.push(base + 0.1 * (u2 - 0.5));
            b.push(base + 0.1 * (u3 - 0.5) - effect);
        }
        (a, b)
    }

    /// `dyadic_pair` of the Python script (values k/8, exact ties).
    fn dyadic_pair(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut g = Lcg(seed);
        let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let k1 = g.level(9);
            let k2 = g.level(9);
            a.push(k1 as f64 / 8.0);
            b.push(k2 as f64 / 8.0);
        }
        (a, b)
    }

    const SMALL8_A: [f64; 8] = [0.62, 0.48, 0.71, 0.55, 0.80, 0.43, 0.67, 0.59];
    const SMALL8_B: [f64; 8] = [0.58, 0.50, 0.60, 0.57, 0.69, 0.40, 0.61, 0.52];
    const TIES10_A: [f64; 10] = [0.5, 0.625, 0.25, 0.75, 0.375, 0.5, 0.875, 0.25, 0.625, 0.5];
    const TIES10_B: [f64; 10] = [
        0.375, 0.625, 0.125, 0.5, 0.375, 0.25, 0.625, 0.375, 0.5, 0.375,
    ];
    const TIES20_A: [f64; 20] = [
        0.5, 0.625, 0.25, 0.75, 0.375, 0.5, 0.875, 0.25, 0.625, 0.5, 0.125, 0.75, 0.5, 0.375, 1.0,
        0.625, 0.25, 0.5, 0.875, 0.75,
    ];
    const TIES20_B: [f64; 20] = [
        0.375, 0.625, 0.125, 0.5, 0.375, 0.25, 0.625, 0.375, 0.5, 0.375, 0.25, 0.5, 0.5, 0.125,
        0.75, 0.75, 0.25, 0.25, 0.625, 0.5,
    ];

    /// A named golden case: the data plus what the script printed.
    struct Golden {
        name: &'static str,
        a: Vec<f64>,
        b: Vec<f64>,
        /// `np.mean(a - b)`.
        mean_diff: f64,
        /// `scipy.stats.ttest_rel(a, b)`: (statistic, pvalue, df).
        ttest: (f64, f64, f64),
        /// `scipy.stats.wilcoxon(a, b)`: (statistic, pvalue).
        wilcoxon: (f64, f64),
        /// Whether SciPy's `method="auto"` used an exact distribution (exact or exhaustive
        /// permutation) rather than the normal approximation.
        wilcoxon_exact: bool,
    }

    fn goldens() -> Vec<Golden> {
        let (c30a, c30b) = continuous_pair(30, 30, 0.01);
        let (c50a, c50b) = continuous_pair(50, 50, 0.005);
        let (c51a, c51b) = continuous_pair(51, 51, 0.005);
        let (c200a, c200b) = continuous_pair(200, 200, 0.004);
        let (s40a, s40b) = continuous_pair(40, 40, 0.03);
        let (s200a, s200b) = continuous_pair(200, 2000, 0.02);
        let (d13a, d13b) = dyadic_pair(13, 13);
        let (d14a, d14b) = dyadic_pair(14, 14);
        let (d300a, d300b) = dyadic_pair(300, 300);
        vec![
            // n = 8, no ties, no zeros: wilcoxon exact.
            Golden {
                name: "small8",
                a: SMALL8_A.to_vec(),
                b: SMALL8_B.to_vec(),
                mean_diff: 0.04750000000000002,
                ttest: (2.6531108560489303, 0.03279329309024212, 7.0),
                wilcoxon: (3.0, 0.0390625),
                wilcoxon_exact: true,
            },
            // n = 10, 2 zeros, ties: SciPy runs an exhaustive permutation test (n <= 13).
            Golden {
                name: "ties10",
                a: TIES10_A.to_vec(),
                b: TIES10_B.to_vec(),
                mean_diff: 0.1125,
                ttest: (2.861994276017172, 0.01871942334987567, 9.0),
                wilcoxon: (3.0, 0.046875),
                wilcoxon_exact: true,
            },
            // n = 20, 4 zeros, ties: normal approximation with tie correction.
            Golden {
                name: "ties20",
                a: TIES20_A.to_vec(),
                b: TIES20_B.to_vec(),
                mean_diff: 0.11875,
                ttest: (3.7074911978268985, 0.0014940110919822473, 19.0),
                wilcoxon: (12.0, 0.0028375448887923154),
                wilcoxon_exact: false,
            },
            Golden {
                name: "lcg_cont30",
                a: c30a,
                b: c30b,
                mean_diff: 0.0051260709347239865,
                ttest: (0.8141982899377693, 0.4221670423064334, 29.0),
                wilcoxon: (200.0, 0.5158484429121017),
                wilcoxon_exact: true,
            },
            // n = 50: the largest n SciPy treats exactly.
            Golden {
                name: "lcg_cont50",
                a: c50a,
                b: c50b,
                mean_diff: -0.003325293514971628,
                ttest: (-0.5836975959330478, 0.5621011746929926, 49.0),
                wilcoxon: (595.0, 0.6876822045635382),
                wilcoxon_exact: true,
            },
            // n = 51: normal approximation even without ties.
            Golden {
                name: "lcg_cont51",
                a: c51a,
                b: c51b,
                mean_diff: 0.00838620397194236,
                ttest: (1.4259430378698381, 0.16009866595985262, 50.0),
                wilcoxon: (509.0, 0.148875760400945),
                wilcoxon_exact: false,
            },
            Golden {
                name: "lcg_cont200",
                a: c200a,
                b: c200b,
                mean_diff: 0.005163738166112968,
                ttest: (1.85930400217538, 0.06446023239607629, 199.0),
                wilcoxon: (8384.0, 0.04207237690321762),
                wilcoxon_exact: false,
            },
            // Strong effects: small p-values.
            Golden {
                name: "lcg_strong40",
                a: s40a,
                b: s40b,
                mean_diff: 0.03917904717509949,
                ttest: (5.313686683743468, 4.6347869066212485e-06, 39.0),
                wilcoxon: (104.0, 1.1274605640210211e-05),
                wilcoxon_exact: true,
            },
            Golden {
                name: "lcg_strong200",
                a: s200a,
                b: s200b,
                mean_diff: 0.020331006886461996,
                ttest: (7.326151347318718, 5.781753529332261e-12, 199.0),
                wilcoxon: (4737.0, 9.005720175741856e-11),
                wilcoxon_exact: false,
            },
            // n = 13 with a zero and ties: exhaustive permutation test (the largest such n).
            Golden {
                name: "lcg_dyadic13",
                a: d13a,
                b: d13b,
                mean_diff: 0.11538461538461539,
                ttest: (0.7554294884508654, 0.46456150599062834, 12.0),
                wilcoxon: (28.5, 0.431640625),
                wilcoxon_exact: true,
            },
            // n = 14 with zeros and ties: normal approximation.
            Golden {
                name: "lcg_dyadic14",
                a: d14a,
                b: d14b,
                mean_diff: -0.08035714285714286,
                ttest: (-0.8298707220429701, 0.4215901926380204, 13.0),
                wilcoxon: (23.5, 0.3947786490172791),
                wilcoxon_exact: false,
            },
            Golden {
                name: "lcg_dyadic300",
                a: d300a,
                b: d300b,
                mean_diff: -0.004583333333333333,
                ttest: (-0.17771159198146966, 0.85906981383844, 299.0),
                wilcoxon: (18022.0, 0.8325413487463156),
                wilcoxon_exact: false,
            },
        ]
    }

    fn assert_rel(actual: f64, expected: f64, tol: f64, what: &str) {
        let err = (actual - expected).abs();
        let scale = expected.abs().max(f64::MIN_POSITIVE);
        assert!(
            err <= tol * scale,
            "{what}: got {actual:e}, expected {expected:e} (rel err {:e} > {tol:e})",
            err / scale
        );
    }

    /// The Rust LCG reproduces the Python vectors: first/last elements are bit-identical and
    /// the sums (NumPy's pairwise `np.sum`) agree, as printed by the script.
    #[test]
    fn significance_lcg_data_matches_python() {
        // (name, (a, b), [a[0], a[-1], sum(a), b[0], b[-1], sum(b)])
        type Case = (&'static str, (Vec<f64>, Vec<f64>), [f64; 6]);
        let cases: [Case; 4] = [
            (
                "lcg_cont30",
                continuous_pair(30, 30, 0.01),
                [
                    0.44023040461698715,
                    0.4480954165801508,
                    13.566364095666943,
                    0.48657502710363976,
                    0.41768996352603266,
                    13.412581967625224,
                ],
            ),
            (
                "lcg_cont200",
                continuous_pair(200, 200, 0.004),
                [
                    0.2613306400255323,
                    0.3166675860762853,
                    102.74085788860936,
                    0.2142408712837669,
                    0.2523574724523094,
                    101.70811025538677,
                ],
            ),
            (
                "lcg_strong200",
                continuous_pair(200, 2000, 0.02),
                [
                    0.24945077964542275,
                    0.5493195641795674,
                    101.25243084006455,
                    0.24529098613217207,
                    0.49125111017272194,
                    97.18622946277213,
                ],
            ),
            (
                "lcg_dyadic300",
                dyadic_pair(300, 300),
                [0.625, 1.0, 149.125, 0.75, 0.375, 150.5],
            ),
        ];
        for (name, (a, b), [a0, a_last, a_sum, b0, b_last, b_sum]) in cases {
            assert_eq!(a[0], a0, "{name} a[0]");
            assert_eq!(*a.last().unwrap(), a_last, "{name} a[-1]");
            assert_eq!(b[0], b0, "{name} b[0]");
            assert_eq!(*b.last().unwrap(), b_last, "{name} b[-1]");
            assert_rel(a.iter().sum(), a_sum, 1e-13, name);
            assert_rel(b.iter().sum(), b_sum, 1e-13, name);
        }
    }

    /// Golden: `scipy.stats.ttest_rel(a, b)` (SciPy 1.17.1) for every case in `goldens()`;
    /// statistic and p-value to 1e-9 relative, df exactly, mean difference vs `np.mean(a - b)`.
    #[test]
    fn significance_t_test_matches_scipy_ttest_rel() {
        for g in goldens() {
            let r = paired_t_test(&g.a, &g.b).unwrap();
            let (t, p, df) = g.ttest;
            assert_rel(r.statistic, t, 1e-9, &format!("{} t", g.name));
            assert_rel(r.p_value, p, 1e-9, &format!("{} p", g.name));
            assert_eq!(r.df, Some(df), "{} df", g.name);
            assert_rel(r.mean_diff, g.mean_diff, 1e-12, &format!("{} mean", g.name));
            assert_eq!(r.n, g.a.len());
        }
    }

    /// Golden: `scipy.stats.wilcoxon(a, b)` with defaults (SciPy 1.17.1, `method="auto"`):
    /// exact/permutation cases to 1e-9, normal-approximation p-values to 1e-6 relative; the
    /// statistic `min(W+, W-)` is a half-integer and must match exactly.
    #[test]
    fn significance_wilcoxon_matches_scipy_wilcoxon() {
        for g in goldens() {
            let r = wilcoxon_signed_rank(&g.a, &g.b).unwrap();
            let (w, p) = g.wilcoxon;
            assert_eq!(r.statistic, w, "{} statistic", g.name);
            let tol = if g.wilcoxon_exact { 1e-9 } else { 1e-6 };
            assert_rel(r.p_value, p, tol, &format!("{} p", g.name));
            assert_eq!(r.df, None);
            assert_rel(r.mean_diff, g.mean_diff, 1e-12, &format!("{} mean", g.name));
            assert_eq!(r.n, g.a.len());
        }
    }

    /// Golden: `scipy.stats.bootstrap((a - b,), np.mean, method="percentile",
    /// confidence_level=0.95, n_resamples=9999, rng=np.random.default_rng(12345))`
    /// (SciPy 1.17.1). The generators differ, so only the interval's geometry is compared:
    /// each side's distance from the mean within 15%.
    #[test]
    fn significance_bootstrap_close_to_scipy_percentile_bootstrap() {
        // (name, data, scipy low, scipy high)
        let cases = [
            (
                "lcg_cont30",
                continuous_pair(30, 30, 0.01),
                -0.007006595038910386,
                0.0172932495001728,
            ),
            (
                "lcg_cont200",
                continuous_pair(200, 200, 0.004),
                -0.00029097301034998024,
                0.010659205984372285,
            ),
            (
                "lcg_strong200",
                continuous_pair(200, 2000, 0.02),
                0.014778440981929852,
                0.025767171539088387,
            ),
            (
                "lcg_dyadic300",
                dyadic_pair(300, 300),
                -0.05458333333333333,
                0.04583333333333333,
            ),
        ];
        for (name, (a, b), lo, hi) in cases {
            let ci = bootstrap_ci(&a, &b, 0.95, 9999, 7).unwrap();
            assert!(
                ci.low <= ci.mean_diff && ci.mean_diff <= ci.high,
                "{name}: {ci:?}"
            );
            assert_rel(ci.high - ci.low, hi - lo, 0.15, &format!("{name} width"));
            assert_rel(
                ci.mean_diff - ci.low,
                ci.mean_diff - lo,
                0.15,
                &format!("{name} lower"),
            );
            assert_rel(
                ci.high - ci.mean_diff,
                hi - ci.mean_diff,
                0.15,
                &format!("{name} upper"),
            );
        }
    }

    /// For a large sample the percentile interval approaches the normal one,
    /// `mean ± 1.96·sd/√n` (within 10% of the half-width), and it narrows like `1/√n`.
    #[test]
    fn significance_bootstrap_large_sample_normal_and_narrows() {
        let (a, b) = continuous_pair(5000, 99, 0.01);
        let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let (mean, sd) = mean_std(&d);
        let half = 1.96 * sd / (d.len() as f64).sqrt();
        let ci = bootstrap_ci(&a, &b, 0.95, 2000, 3).unwrap();
        assert_rel(ci.mean_diff, mean, 1e-12, "mean");
        assert!(
            (ci.low - (mean - half)).abs() <= 0.1 * half,
            "{ci:?} vs ±{half}"
        );
        assert!(
            (ci.high - (mean + half)).abs() <= 0.1 * half,
            "{ci:?} vs ±{half}"
        );

        let small = bootstrap_ci(&a[..100], &b[..100], 0.95, 2000, 3).unwrap();
        let mid = bootstrap_ci(&a[..1000], &b[..1000], 0.95, 2000, 3).unwrap();
        let (w_small, w_mid, w_big) =
            (small.high - small.low, mid.high - mid.low, ci.high - ci.low);
        assert!(
            w_small > w_mid && w_mid > w_big,
            "{w_small} {w_mid} {w_big}"
        );
        // sqrt(1000/100) ≈ 3.16
        assert!(
            (2.5..4.0).contains(&(w_small / w_mid)),
            "{}",
            w_small / w_mid
        );
    }

    #[test]
    fn significance_bootstrap_deterministic_per_seed() {
        let (a, b) = continuous_pair(50, 5, 0.01);
        let x = bootstrap_ci(&a, &b, 0.9, 500, 11).unwrap();
        let y = bootstrap_ci(&a, &b, 0.9, 500, 11).unwrap();
        let z = bootstrap_ci(&a, &b, 0.9, 500, 12).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
        let narrow = bootstrap_ci(&a, &b, 0.5, 500, 11).unwrap();
        assert!(narrow.low >= x.low && narrow.high <= x.high);
        // Zero differences: a zero-width interval, not an error.
        let ci = bootstrap_ci(&a, &a, 0.95, 100, 1).unwrap();
        assert_eq!((ci.mean_diff, ci.low, ci.high), (0.0, 0.0, 0.0));
    }

    /// Golden: `statsmodels.stats.multitest.multipletests(p, method="holm")[1]`
    /// (statsmodels 0.15.0), to 1e-12 relative.
    #[test]
    fn significance_holm_matches_statsmodels() {
        let cases: [(&[f64], &[f64]); 3] = [
            (
                &[0.01, 0.04, 0.03, 0.005, 0.2],
                &[0.04, 0.09, 0.09, 0.025, 0.2],
            ),
            (
                &[0.5, 0.5, 0.01, 0.9, 0.02, 0.02],
                &[1.0, 1.0, 0.06, 1.0, 0.1, 0.1],
            ),
            (&[0.03], &[0.03]),
        ];
        for (raw, expected) in cases {
            let adj = holm(raw);
            assert_eq!(adj.len(), expected.len());
            for (x, e) in adj.iter().zip(expected) {
                assert_rel(*x, *e, 1e-12, &format!("holm({raw:?})"));
            }
        }
        // multipletests([0.01, nan, 0.03, 0.002], method="holm")[1] == [0.03, nan, 0.06, 0.008]
        let adj = holm(&[0.01, f64::NAN, 0.03, 0.002]);
        assert_rel(adj[0], 0.03, 1e-12, "nan case");
        assert!(adj[1].is_nan());
        assert_rel(adj[2], 0.06, 1e-12, "nan case");
        assert_rel(adj[3], 0.008, 1e-12, "nan case");
        assert!(holm(&[]).is_empty());
    }

    /// Golden: `np.mean(x)`, `np.std(x, ddof=1)` for x = [0.3412, 0.3555, 0.3398, 0.3490, 0.3521].
    #[test]
    fn significance_mean_std_matches_numpy() {
        let (m, s) = mean_std(&[0.3412, 0.3555, 0.3398, 0.3490, 0.3521]);
        assert_rel(m, 0.34752, 1e-12, "mean");
        assert_rel(s, 0.00682619952828805, 1e-12, "std");
        assert_eq!(mean_std(&[0.25]), (0.25, 0.0));
        assert_eq!(mean_std(&[0.1, 0.1, 0.1]), (0.1, 0.0));
        let (m, s) = mean_std(&[]);
        assert!(m.is_nan());
        assert_eq!(s, 0.0);
    }

    #[test]
    fn significance_errors() {
        use StatError::*;
        let ok = [0.1, 0.2, 0.3];
        for f in [paired_t_test, wilcoxon_signed_rank] {
            assert_eq!(f(&ok, &ok[..2]), Err(LengthMismatch { a: 3, b: 2 }));
            assert_eq!(f(&[0.1], &[0.2]), Err(TooFewPairs { n: 1 }));
            assert_eq!(f(&[], &[]), Err(TooFewPairs { n: 0 }));
            assert_eq!(f(&[0.1, f64::NAN, 0.3], &ok), Err(NonFinite { index: 1 }));
            assert_eq!(
                f(&ok, &[0.1, 0.2, f64::INFINITY]),
                Err(NonFinite { index: 2 })
            );
            assert_eq!(
                f(&[f64::MAX, 0.0], &[-f64::MAX, 0.0]),
                Err(NonFinite { index: 0 })
            );
            assert!(matches!(f(&ok, &ok), Err(Degenerate(_))));
        }
        let bs = |c, r| bootstrap_ci(&ok, &ok, c, r, 0);
        for c in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert!(matches!(bs(c, 10), Err(InvalidParameter(_))), "{c}");
        }
        assert!(matches!(bs(0.95, 0), Err(InvalidParameter(_))));
        assert_eq!(
            bootstrap_ci(&ok, &[0.0, f64::NAN, 0.0], 0.95, 10, 0),
            Err(NonFinite { index: 1 })
        );
        assert!(!format!("{}", Degenerate("x")).is_empty());
    }

    /// Constant non-zero differences: SciPy's `ttest_rel` gives `t = inf`, `p = 0`.
    #[test]
    fn significance_t_test_zero_variance() {
        let r = paired_t_test(&[1.0, 2.0, 3.0], &[0.0, 1.0, 2.0]).unwrap();
        assert_eq!(r.statistic, f64::INFINITY);
        assert_eq!(r.p_value, 0.0);
        let r = paired_t_test(&[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(r.statistic, f64::NEG_INFINITY);
    }

    /// Small hand-checkable Wilcoxon cases (`scipy.stats.wilcoxon`): `[1,2,3]` vs `[0,1,2]`
    /// gives statistic 0 and p 0.25; a single non-zero difference gives p = 1.
    #[test]
    fn significance_wilcoxon_small() {
        let r = wilcoxon_signed_rank(&[1.0, 2.0, 3.0], &[0.0, 1.0, 2.0]).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 0.25));
        let r = wilcoxon_signed_rank(&[1.0, 0.0], &[0.0, 0.0]).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
        // Exact distribution at n = 50 sums to 2^50 without overflow.
        let a: Vec<f64> = (1..=50).map(f64::from).collect();
        let b = vec![0.0; 50];
        let r = wilcoxon_signed_rank(&a, &b).unwrap();
        assert_eq!(r.p_value, 2.0 / 2f64.powi(50));
    }

    fn paired() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        // Half the cases on a coarse grid (ties and zeros), half continuous.
        (2usize..70, any::<bool>()).prop_flat_map(|(n, coarse)| {
            let value = if coarse {
                (0u8..=8).prop_map(|k| f64::from(k) / 8.0).boxed()
            } else {
                (0.0f64..1.0).boxed()
            };
            (
                prop::collection::vec(value.clone(), n),
                prop::collection::vec(value, n),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// p in [0, 1]; swapping a and b keeps p and the statistic's magnitude and negates the
        /// mean difference.
        #[test]
        fn significance_prop_tests_symmetric((a, b) in paired()) {
            for f in [paired_t_test, wilcoxon_signed_rank] {
                match (f(&a, &b), f(&b, &a)) {
                    (Ok(x), Ok(y)) => {
                        prop_assert!((0.0..=1.0).contains(&x.p_value), "{x:?}");
                        prop_assert!((x.p_value - y.p_value).abs() <= 1e-12, "{x:?} {y:?}");
                        prop_assert_eq!(x.mean_diff, -y.mean_diff);
                        prop_assert_eq!(x.statistic.abs(), y.statistic.abs());
                    }
                    (Err(StatError::Degenerate(_)), Err(StatError::Degenerate(_))) => {
                        prop_assert!(a.iter().zip(&b).all(|(x, y)| x == y));
                    }
                    (x, y) => prop_assert!(false, "{x:?} {y:?}"),
                }
            }
        }

        #[test]
        fn significance_prop_bootstrap_contains_mean((a, b) in paired(), seed in any::<u64>()) {
            let ci = bootstrap_ci(&a, &b, 0.95, 200, seed).unwrap();
            prop_assert!(ci.low <= ci.mean_diff && ci.mean_diff <= ci.high, "{ci:?}");
            let lo = a.iter().zip(&b).map(|(x, y)| x - y).fold(f64::INFINITY, f64::min);
            let hi = a.iter().zip(&b).map(|(x, y)| x - y).fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(lo - 1e-12 <= ci.low && ci.high <= hi + 1e-12);
        }

        /// Holm: adjusted >= raw, <= 1, and monotone in the order of the raw p-values.
        #[test]
        fn significance_prop_holm(p in prop::collection::vec(0.0f64..=1.0, 0..40)) {
            let adj = holm(&p);
            prop_assert_eq!(adj.len(), p.len());
            for i in 0..p.len() {
                prop_assert!(adj[i] >= p[i] && adj[i] <= 1.0);
                for j in 0..p.len() {
                    if p[i] <= p[j] {
                        prop_assert!(adj[i] <= adj[j]);
                    }
                }
            }
        }

        /// Arbitrary (also non-finite) inputs never panic.
        #[test]
        fn significance_prop_no_panic(
            a in prop::collection::vec(any::<f64>(), 0..20),
            b in prop::collection::vec(any::<f64>(), 0..20),
        ) {
            let _ = paired_t_test(&a, &b);
            let _ = wilcoxon_signed_rank(&a, &b);
            let _ = bootstrap_ci(&a, &b, 0.9, 10, 0);
            let _ = holm(&a);
            let _ = mean_std(&a);
        }
    }
}
