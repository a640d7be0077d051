//! Surprise's baseline estimates `b_ui = μ + b_u + b_i` fitted by alternating least squares
//! (`bsl_options = {'method': 'als', 'reg_i': 10, 'reg_u': 15, 'n_epochs': 10}`), for KNNBaseline and the
//! `pearson_baseline` similarity.
//!
//! The algorithm lives in [`crate::baseline`] (BaselineOnly); this module keeps KNN's f64 view of it.

use tastebud_core::Interactions;

pub(crate) use crate::baseline::user_bias;

/// Fitted biases.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Biases {
    pub mu: f64,
    pub bu: Vec<f64>,
    pub bi: Vec<f64>,
}

/// Surprise's `baseline_als` (see [`crate::baseline::als_biases`]).
pub(crate) fn als(x: &Interactions, reg_u: f64, reg_i: f64, epochs: usize) -> Biases {
    let (mu, bu, bi) = crate::baseline::als_biases(x, reg_u, reg_i, epochs, |_, _, _| {});
    Biases { mu, bu, bi }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tastebud_core::Feedback;

    #[test]
    fn one_epoch_by_hand() {
        // u0: i0 5, i1 3; u1: i0 4. mu = 4.
        let x = Interactions::from_triplets(
            2,
            2,
            &[(0, 0, 5.0), (0, 1, 3.0), (1, 0, 4.0)],
            Feedback::Explicit,
        )
        .unwrap();
        let b = als(&x, 15.0, 10.0, 1);
        assert!((b.mu - 4.0).abs() < 1e-12);
        // bi0 = (1 + 0) / 12, bi1 = -1 / 11
        assert!((b.bi[0] - 1.0 / 12.0).abs() < 1e-12);
        assert!((b.bi[1] + 1.0 / 11.0).abs() < 1e-12);
        // bu0 = ((5 - 4 - 1/12) + (3 - 4 + 1/11)) / 17
        let want = ((1.0 - 1.0 / 12.0) + (-1.0 + 1.0 / 11.0)) / 17.0;
        assert!((b.bu[0] - want).abs() < 1e-12);
    }
}
