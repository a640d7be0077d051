//! The popularity baseline: every user gets the most interacted-with items they have not seen.

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, Result, top_k};

use crate::{Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Popularity`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PopularityParams {
    /// Score by the sum of interaction values instead of the number of interactions. By default, false
    /// (count), as in implicit's and Microsoft Recommenders' popularity baselines.
    pub by_value: bool,
}

/// Ranks items by how many users interacted with them in training (ties by lower item index).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Popularity {
    scores: Vec<f32>,
}

impl Fit for PopularityParams {
    type Model = Popularity;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Popularity> {
        progress.start("popularity", 1);
        let x = &data.interactions;
        let scores = if self.by_value {
            (0..x.n_items())
                .map(|i| x.item_values(ItemIdx(i as u32)).sum())
                .collect()
        } else {
            x.item_counts().into_iter().map(|c| c as f32).collect()
        };
        progress.inc(1);
        Ok(Popularity { scores })
    }
}

impl Popularity {
    /// The popularity score of every item.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }
}

impl Recommender for Popularity {
    fn name(&self) -> &str {
        "popularity"
    }
    fn n_items(&self) -> usize {
        self.scores.len()
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        top_k(&self.scores, k, &q.filter(self.scores.len())?)
    }
    fn similar_items(&self, _item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        Ok(Vec::new())
    }
}
