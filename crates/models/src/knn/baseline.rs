//! Surprise's baseline estimates `b_ui = μ + b_u + b_i` fitted by alternating least squares
//! (`bsl_options = {'method': 'als', 'reg_i': 10, 'reg_u': 15, 'n_epochs': 10}`), for KNNBaseline and the
//! `pearson_baseline` similarity.
//!
//! Private and minimal on purpose: once the shared `baseline.rs` (BaselineOnly) lands, KNN should use it and
//! this file goes (TODO: dedupe).

use tastebud_core::{Interactions, ItemIdx, UserIdx};

/// Fitted biases.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Biases {
    pub mu: f64,
    pub bu: Vec<f64>,
    pub bi: Vec<f64>,
}

/// Surprise's `baseline_als`: each epoch sets every `b_i` from the current `b_u`, then every `b_u` from the
/// new `b_i`, starting from zeros.
pub(crate) fn als(x: &Interactions, reg_u: f64, reg_i: f64, epochs: usize) -> Biases {
    let n = x.nnz();
    let mu = if n == 0 {
        0.0
    } else {
        x.values().iter().map(|&v| v as f64).sum::<f64>() / n as f64
    };
    let mut bu = vec![0f64; x.n_users()];
    let mut bi = vec![0f64; x.n_items()];
    for _ in 0..epochs {
        for (i, b) in bi.iter_mut().enumerate() {
            let it = ItemIdx(i as u32);
            let dev: f64 = x
                .item_users(it)
                .iter()
                .zip(x.item_values(it))
                .map(|(u, r)| r as f64 - mu - bu[u.get()])
                .sum();
            *b = dev / (reg_i + x.item_len(it) as f64);
        }
        for (u, b) in bu.iter_mut().enumerate() {
            let us = UserIdx(u as u32);
            *b = user_bias(
                mu,
                &bi,
                x.user_items(us)
                    .iter()
                    .copied()
                    .zip(x.user_values(us).iter().copied()),
                reg_u,
            );
        }
    }
    Biases { mu, bu, bi }
}

/// A user's bias from their ratings given item biases: the last half-step of [`als`], so it folds in a new
/// history and equals the stored `b_u` for an unchanged one.
pub(crate) fn user_bias(
    mu: f64,
    bi: &[f64],
    history: impl Iterator<Item = (ItemIdx, f32)>,
    reg_u: f64,
) -> f64 {
    let (mut dev, mut n) = (0f64, 0usize);
    for (i, r) in history {
        dev += r as f64 - mu - bi[i.get()];
        n += 1;
    }
    dev / (reg_u + n as f64)
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
