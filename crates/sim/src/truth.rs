//! The simulated users' true preferences: a model fitted on the dataset scores every unseen
//! item for every user, and a calibrated logistic of the user's standardised score, times a
//! position bias, is the probability that the user clicks the item at a slate rank.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, UserIdx};
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_models::{NoProgress, Query};

use crate::error::{Result, ensure};

/// How true click probabilities are made from a model's scores.
///
/// For user `u` and an item `i` the user has not interacted with, let `z(u, i)` be the truth
/// model's score standardised over all of `u`'s unseen items (mean 0, standard deviation 1).
/// The item's *attractiveness* is `a(u, i) = σ(intercept + slope · z(u, i))` (σ the logistic
/// function) and the probability of a click when it is shown at rank `r` (0 = top) is
/// `a(u, i) · b(r)` with the position bias `b(r) = 1 / log2(r + 2)` (the DCG discount:
/// 1, 0.63, 0.5, 0.43, ...). Items the user has already interacted with are never clicked
/// (and never shown: every policy excludes them).
///
/// The defaults (`intercept = -5`, `slope = 0.6`, truth model ALS with its defaults, seed 42)
/// give a random slate a CTR well under 1 % and good personalised slates a few percent, as in
/// production recommendation feeds. ALS is the default truth so that neither arm of the
/// headline A/B test (EASE against popularity) is the truth itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthParams {
    /// Registry name of the truth model. By default, `als`.
    pub model: String,
    /// `key=value` hyperparameters of the truth model. By default, none.
    pub params: Vec<String>,
    /// Logistic intercept. By default, -5.
    pub intercept: f64,
    /// Logistic slope on the standardised score. By default, 0.6.
    pub slope: f64,
}

impl Default for TruthParams {
    fn default() -> Self {
        Self {
            model: "als".to_owned(),
            params: Vec::new(),
            intercept: -5.0,
            slope: 0.6,
        }
    }
}

/// Position bias of rank `r` (0 = top): `1 / log2(r + 2)`.
pub fn position_bias(rank: usize) -> f64 {
    1.0 / ((rank + 2) as f64).log2()
}

/// Every user's attractiveness for every item (see [`TruthParams`]).
#[derive(Debug, Clone)]
pub struct Truth {
    params: TruthParams,
    n_items: usize,
    /// Row-major `n_users × n_items`.
    attractiveness: Vec<f32>,
}

impl Truth {
    /// Fits the truth model on `data` and computes every user's attractiveness.
    ///
    /// # Errors
    ///
    /// An unknown model or parameter, a failed fit, or non-finite intercept / slope.
    pub fn fit(data: &Dataset, params: &TruthParams) -> Result<Self> {
        ensure(params.intercept.is_finite(), "intercept", "must be finite")?;
        ensure(
            params.slope.is_finite() && params.slope >= 0.0,
            "slope",
            "must be finite and non-negative",
        )?;
        let mut spec = ModelSpec::new(&params.model)?;
        for kv in &params.params {
            spec = spec.param(kv)?;
        }
        let (model, _) = fit(&spec, data, &NoProgress)?;
        let n_items = data.n_items();
        let rows: Vec<Vec<f32>> = (0..data.n_users())
            .into_par_iter()
            .map(|u| {
                let u = UserIdx(u as u32);
                let history = data.interactions.history(u);
                let scored = model
                    .as_recommender()
                    .recommend(&Query::new(&history).user(u), n_items)?;
                Ok(attractiveness_row(&scored, n_items, params))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            params: params.clone(),
            n_items,
            attractiveness: rows.concat(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &TruthParams {
        &self.params
    }

    /// `a(u, i)`: the probability that `u` clicks `i` shown at the top.
    pub fn attractiveness(&self, u: UserIdx, i: ItemIdx) -> f64 {
        f64::from(self.attractiveness[u.get() * self.n_items + i.get()])
    }

    /// The click probability of `i` shown to `u` at `rank`.
    pub fn click_probability(&self, u: UserIdx, i: ItemIdx, rank: usize) -> f64 {
        self.attractiveness(u, i) * position_bias(rank)
    }
}

fn attractiveness_row(
    scored: &[tastebud_core::Scored],
    n_items: usize,
    params: &TruthParams,
) -> Vec<f32> {
    let mut row = vec![0.0f32; n_items];
    let n = scored.len() as f64;
    if n == 0.0 {
        return row;
    }
    let mean = scored.iter().map(|s| f64::from(s.score)).sum::<f64>() / n;
    let var = scored
        .iter()
        .map(|s| (f64::from(s.score) - mean).powi(2))
        .sum::<f64>()
        / n;
    let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
    for s in scored {
        let z = (f64::from(s.score) - mean) / sd;
        let x = params.intercept + params.slope * z;
        row[s.item.get()] = (1.0 / (1.0 + (-x).exp())) as f32;
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use tastebud_core::ItemIdx;

    #[test]
    fn position_bias_is_the_dcg_discount() {
        assert_eq!(position_bias(0), 1.0);
        assert!((position_bias(1) - 0.630_929_753_571_457_4).abs() < 1e-15);
        assert_eq!(position_bias(2), 0.5);
    }

    #[test]
    fn attractiveness_is_monotone_in_the_score_and_zero_for_unscored_items() {
        let scored: Vec<tastebud_core::Scored> = [3.0, 2.0, 1.0, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &score)| tastebud_core::Scored {
                item: ItemIdx(i as u32),
                score,
            })
            .collect();
        let row = attractiveness_row(&scored, 5, &TruthParams::default());
        assert!(row[0] > row[1] && row[1] > row[2] && row[2] > row[3]);
        assert_eq!(row[4], 0.0);
        // equal scores: z = 0 everywhere, so every item gets σ(intercept)
        let flat: Vec<tastebud_core::Scored> = scored
            .iter()
            .map(|s| tastebud_core::Scored {
                item: s.item,
                score: 1.0,
            })
            .collect();
        let sigma = 1.0 / (1.0 + 5f64.exp());
        for a in &attractiveness_row(&flat, 5, &TruthParams::default())[..4] {
            assert!((f64::from(*a) - sigma).abs() < 1e-7);
        }
    }
}
