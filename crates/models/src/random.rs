//! The random baseline: a uniformly random ranking, reproducible for a given seed and query.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, ItemIdx, Result, top_k};

use crate::{Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`RandomModel`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomParams {
    /// Seed. By default, 42.
    pub seed: u64,
}

impl Default for RandomParams {
    fn default() -> Self {
        RandomParams { seed: 42 }
    }
}

/// Ranks items uniformly at random. The permutation depends on the seed and the query (user or history),
/// so the same query always gets the same list and different users get different ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomModel {
    n_items: usize,
    seed: u64,
}

impl Fit for RandomParams {
    type Model = RandomModel;
    fn fit(&self, data: &Dataset, _progress: &dyn Progress) -> Result<RandomModel> {
        Ok(RandomModel {
            n_items: data.n_items(),
            seed: self.seed,
        })
    }
}

/// SplitMix64 finaliser: mixes the query into the seed.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Recommender for RandomModel {
    fn name(&self) -> &str {
        "random"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<crate::reason::Reason>> {
        q.filter(self.n_items)?;
        check_item(item, self.n_items)?;
        Ok(Some(crate::reason::Reason::Random))
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let mut key = self.seed;
        match q.user {
            Some(u) => key = mix(key ^ (u.0 as u64 + 1)),
            None => {
                for &(i, _) in q.history {
                    key = mix(key ^ (i.0 as u64 + 0x9e37_79b9));
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        let scores: Vec<f32> = (0..self.n_items).map(|_| rng.random::<f32>()).collect();
        top_k(&scores, k, &q.filter(self.n_items)?)
    }
    fn similar_items(&self, _item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        Ok(Vec::new())
    }
}

fn check_item(item: ItemIdx, n: usize) -> Result<()> {
    if item.get() < n {
        Ok(())
    } else {
        Err(tastebud_core::Error::IndexOutOfRange {
            kind: "item",
            index: item.0,
            len: n,
        })
    }
}

impl RandomModel {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): nothing can be inconsistent (the item
    /// count is checked against the file's ids).
    pub(crate) fn validate(&self) -> Result<()> {
        Ok(())
    }
}
