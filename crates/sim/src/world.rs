//! The simulated world: a dataset, the truth fitted on it, and the arms' policies with every
//! user's slate and per-rank click probabilities precomputed once.

use rayon::prelude::*;
use tastebud_core::{Dataset, ItemIdx, UserIdx};
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_models::{NoProgress, Query};

use crate::error::{Result, ensure};
use crate::truth::{Truth, TruthParams};

/// A dataset with its truth; the population of simulated users is drawn from its users.
#[derive(Debug, Clone)]
pub struct World {
    data: Dataset,
    truth: Truth,
    slate_size: usize,
}

impl World {
    /// Fits the truth on `data`; every slate will hold `slate_size` items.
    ///
    /// # Errors
    ///
    /// As [`Truth::fit`]; `slate_size` must be at least 1 and the dataset must have users.
    pub fn new(data: Dataset, truth: &TruthParams, slate_size: usize) -> Result<Self> {
        ensure(slate_size >= 1, "slate_size", "must be at least 1")?;
        ensure(data.n_users() >= 1, "data", "has no users")?;
        let truth = Truth::fit(&data, truth)?;
        Ok(Self {
            data,
            truth,
            slate_size,
        })
    }

    /// The dataset.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The truth.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Items per slate.
    pub fn slate_size(&self) -> usize {
        self.slate_size
    }

    /// Number of distinct preference profiles (the dataset's users).
    pub fn n_profiles(&self) -> usize {
        self.data.n_users()
    }

    /// Fits the policy `model` (a registry name such as `pop`, `ease`, `als`, with optional
    /// `key=value` parameters) on the users' histories and precomputes every user's slate
    /// (from their history, seen items excluded) and its true click probabilities.
    ///
    /// # Errors
    ///
    /// An unknown model or parameter, or a failed fit or recommendation.
    pub fn arm(&self, model: &str, params: &[String]) -> Result<Arm> {
        let mut spec = ModelSpec::new(model)?;
        for kv in params {
            spec = spec.param(kv)?;
        }
        let (fitted, _) = fit(&spec, &self.data, &NoProgress)?;
        let k = self.slate_size;
        let rows: Vec<(Vec<ItemIdx>, Vec<f64>)> = (0..self.data.n_users())
            .into_par_iter()
            .map(|u| {
                let u = UserIdx(u as u32);
                let history = self.data.interactions.history(u);
                let recs = fitted
                    .as_recommender()
                    .recommend(&Query::new(&history).user(u), k)?;
                let items: Vec<ItemIdx> = recs.iter().map(|s| s.item).collect();
                let probs = items
                    .iter()
                    .enumerate()
                    .map(|(r, &i)| self.truth.click_probability(u, i, r))
                    .collect();
                Ok((items, probs))
            })
            .collect::<Result<_>>()?;
        let mut arm = Arm {
            model: spec.name.clone(),
            slate_size: k,
            items: Vec::with_capacity(rows.len() * k),
            probs: Vec::with_capacity(rows.len() * k),
            lens: Vec::with_capacity(rows.len()),
        };
        for (items, probs) in rows {
            arm.lens.push(items.len());
            arm.items.extend(items.iter().copied());
            arm.items
                .extend(std::iter::repeat_n(ItemIdx(0), k - items.len()));
            arm.probs.extend(probs.iter().copied());
            arm.probs.extend(std::iter::repeat_n(0.0, k - probs.len()));
        }
        Ok(arm)
    }
}

/// One policy's precomputed slates: for every user, the items it shows and each one's true
/// click probability at its rank.
#[derive(Debug, Clone)]
pub struct Arm {
    model: String,
    slate_size: usize,
    items: Vec<ItemIdx>,
    probs: Vec<f64>,
    lens: Vec<usize>,
}

impl Arm {
    /// Canonical registry name of the policy's model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The slate shown to profile `u` (top first; shorter than the slate size when the user
    /// has seen almost every item).
    pub fn slate(&self, u: usize) -> &[ItemIdx] {
        &self.items[u * self.slate_size..u * self.slate_size + self.lens[u]]
    }

    /// The true click probability of each slot of profile `u`'s slate.
    pub fn click_probabilities(&self, u: usize) -> &[f64] {
        &self.probs[u * self.slate_size..u * self.slate_size + self.lens[u]]
    }

    /// True CTR per impression over the population (profiles equally likely):
    /// expected clicks over expected impressions.
    pub fn true_ctr(&self) -> f64 {
        let impressions: usize = self.lens.iter().sum();
        if impressions == 0 {
            return 0.0;
        }
        self.probs.iter().sum::<f64>() / impressions as f64
    }

    /// True probability that a visit gets at least one click (profiles equally likely).
    pub fn true_visit_click_rate(&self) -> f64 {
        let n = self.lens.len();
        (0..n).map(|u| self.visit_click_probability(u)).sum::<f64>() / n as f64
    }

    /// Design effect of the per-impression CTR z-test: the variance of the CTR over visits
    /// (users drawn uniformly, clicks independent given the user) divided by the binomial
    /// variance the test assumes, `E[(c - p̄n)²] / (n̄ p̄(1-p̄))` with `c` a visit's clicks, `n`
    /// its impressions and `p̄` the true CTR. Above 1 the test's p-values are too small: an
    /// A/A test rejects at about `2Φ(-z_{1-α/2}/√deff)` instead of `α`.
    pub fn design_effect(&self) -> f64 {
        let p = self.true_ctr();
        let n_profiles = self.lens.len() as f64;
        let mean_len = self.lens.iter().sum::<usize>() as f64 / n_profiles;
        if p <= 0.0 || p >= 1.0 || mean_len == 0.0 {
            return 1.0;
        }
        let e_sq = (0..self.lens.len())
            .map(|u| {
                let probs = self.click_probabilities(u);
                let within: f64 = probs.iter().map(|q| q * (1.0 - q)).sum();
                let between = probs.iter().sum::<f64>() - p * probs.len() as f64;
                within + between * between
            })
            .sum::<f64>()
            / n_profiles;
        e_sq / (mean_len * p * (1.0 - p))
    }

    /// Probability that profile `u` clicks at least one item of its slate.
    pub fn visit_click_probability(&self, u: usize) -> f64 {
        1.0 - self
            .click_probabilities(u)
            .iter()
            .map(|p| 1.0 - p)
            .product::<f64>()
    }
}
