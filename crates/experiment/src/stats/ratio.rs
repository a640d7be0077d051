//! Ratio metrics analysed per user: CTR = Σ clicks / Σ impressions over users, with the delta-method
//! variance (Deng, Knoblich & Lu 2018, "Applying the delta method in metric analytics").
//!
//! Impressions of one user are not independent (a user who likes the slate clicks several of its items),
//! so the binomial variance of a per-impression CTR is too small and its z-test rejects too often in A/A
//! tests (the simulator measures it). Treating the user as the unit fixes that:
//! `Var(R̂) ≈ (s_x² − 2R·s_xy + R²·s_y²) / (n·ȳ²)` with `x` a user's clicks, `y` their impressions, `R̂ = Σx/Σy`.

use serde::{Deserialize, Serialize};

use super::{Interval, Lift, lift_from_moments, norm_isf, norm_sf};
use crate::error::{ExperimentError, Result, ensure, ensure_unit_open};

/// Per-user sums of a ratio metric `Σx / Σy` (clicks over impressions): enough for the delta method.
///
/// ```
/// use tastebud_experiment::stats::RatioSums;
/// let mut s = RatioSums::default();
/// for (clicks, shown) in [(0.0, 10.0), (3.0, 10.0), (1.0, 5.0)] {
///     s.add(clicks, shown);
/// }
/// assert!((s.ratio() - 4.0 / 25.0).abs() < 1e-12);
/// assert!(s.variance_of_ratio()? > 0.0);
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RatioSums {
    /// Users.
    pub users: u64,
    /// `Σ x`.
    pub x: f64,
    /// `Σ y`.
    pub y: f64,
    /// `Σ x²`.
    pub xx: f64,
    /// `Σ y²`.
    pub yy: f64,
    /// `Σ x·y`.
    pub xy: f64,
}

impl RatioSums {
    /// Adds one user's numerator and denominator.
    pub fn add(&mut self, x: f64, y: f64) {
        self.users += 1;
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.yy += y * y;
        self.xy += x * y;
    }

    /// `Σx / Σy` (NaN when `Σy = 0`).
    pub fn ratio(&self) -> f64 {
        self.x / self.y
    }

    /// The delta-method variance of [`Self::ratio`].
    ///
    /// # Errors
    ///
    /// [`ExperimentError::InvalidParam`] for fewer than two users, non-finite sums or `Σy <= 0`.
    pub fn variance_of_ratio(&self) -> Result<f64> {
        let n = self.users as f64;
        ensure(self.users >= 2, "users", "need at least two users")?;
        ensure(
            [self.x, self.y, self.xx, self.yy, self.xy]
                .iter()
                .all(|v| v.is_finite()),
            "sums",
            "must be finite",
        )?;
        ensure(self.y > 0.0, "y", "the denominator sum must be positive")?;
        let (mx, my) = (self.x / n, self.y / n);
        let sxx = (self.xx - n * mx * mx) / (n - 1.0);
        let syy = (self.yy - n * my * my) / (n - 1.0);
        let sxy = (self.xy - n * mx * my) / (n - 1.0);
        let r = self.ratio();
        Ok(((sxx - 2.0 * r * sxy + r * r * syy) / (n * my * my)).max(0.0))
    }
}

/// A test of two ratio metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioTest {
    /// `(R_t − R_c) / √(V_t + V_c)`.
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `R_t − R_c`.
    pub difference: f64,
    /// `√(V_t + V_c)`.
    pub std_error: f64,
    /// `difference ± z · std_error`.
    pub ci: Interval,
}

/// Two-sided z-test of `R_t − R_c` with per-user delta-method variances.
///
/// # Errors
///
/// As [`RatioSums::variance_of_ratio`]; [`ExperimentError::Degenerate`] when both variances are 0.
pub fn ratio_ztest(
    control: &RatioSums,
    treatment: &RatioSums,
    confidence: f64,
) -> Result<RatioTest> {
    ensure_unit_open(confidence, "confidence")?;
    let (vc, vt) = (control.variance_of_ratio()?, treatment.variance_of_ratio()?);
    let se = (vc + vt).sqrt();
    if se == 0.0 {
        return Err(ExperimentError::Degenerate(
            "both arms have zero variance".into(),
        ));
    }
    let d = treatment.ratio() - control.ratio();
    let z = d / se;
    let q = norm_isf((1.0 - confidence) / 2.0);
    Ok(RatioTest {
        z,
        p_value: (2.0 * norm_sf(z.abs())).min(1.0),
        difference: d,
        std_error: se,
        ci: Interval::new(d - q * se, d + q * se),
    })
}

/// Relative lift `R_t / R_c − 1` with its delta-method interval, from per-user sums.
///
/// # Errors
///
/// As [`RatioSums::variance_of_ratio`]; [`ExperimentError::Degenerate`] when `R_c = 0`.
pub fn ratio_lift(control: &RatioSums, treatment: &RatioSums, confidence: f64) -> Result<Lift> {
    lift_from_moments(
        control.ratio(),
        control.variance_of_ratio()?,
        treatment.ratio(),
        treatment.variance_of_ratio()?,
        confidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::welch_t_test_samples;

    #[test]
    fn with_one_impression_per_user_it_is_the_two_sample_mean_test() {
        // y = 1 for every user: the ratio is a mean and its variance s²/n, as in Welch's test.
        let c: Vec<f64> = (0..50).map(|i| f64::from(u8::from(i % 4 == 0))).collect();
        let t: Vec<f64> = (0..60).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
        let sums = |v: &[f64]| {
            let mut s = RatioSums::default();
            v.iter().for_each(|&x| s.add(x, 1.0));
            s
        };
        let r = ratio_ztest(&sums(&c), &sums(&t), 0.95).unwrap();
        let w = welch_t_test_samples(&c, &t, 0.95).unwrap();
        assert!((r.difference - w.difference).abs() < 1e-12);
        assert!((r.std_error - w.std_error).abs() < 1e-12);
    }

    #[test]
    fn clustered_clicks_widen_the_interval() {
        // Users click all or none of their 10 items: per impression the binomial variance is 10x too small.
        let mut s = RatioSums::default();
        for i in 0..100 {
            s.add(if i % 5 == 0 { 10.0 } else { 0.0 }, 10.0);
        }
        let r = s.ratio();
        let binomial = r * (1.0 - r) / s.y;
        let v = s.variance_of_ratio().unwrap();
        assert!(v > 8.0 * binomial, "{v} vs {binomial}");
        assert!(RatioSums::default().variance_of_ratio().is_err());
    }
}
