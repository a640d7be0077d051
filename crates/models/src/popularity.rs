//! The popularity baselines: all-time most interacted-with items, time-decayed trending items, and the most
//! popular items within a genre.

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, FeatureValues, ItemIdx, Result, ensure_param, top_k};

use crate::reason::Reason;
use crate::{Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Popularity`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopularityParams {
    /// Score by the sum of interaction values instead of the number of interactions. By default, false
    /// (count), as in implicit's and Microsoft Recommenders' popularity baselines.
    pub by_value: bool,
    /// Trending: weigh each interaction by `0.5^(age / half_life)`, its age measured in days back from the
    /// newest training interaction. By default, none (all-time popularity).
    pub half_life_days: Option<f64>,
    /// Rank only items with this label in the `genres` item feature (e.g. `Comedy`). By default, none.
    pub genre: Option<String>,
}

impl PopularityParams {
    /// Scores by summed values. By default, false.
    pub fn by_value(mut self, yes: bool) -> Self {
        self.by_value = yes;
        self
    }
    /// Trending with this half-life in days. By default, none.
    pub fn half_life_days(mut self, days: f64) -> Self {
        self.half_life_days = Some(days);
        self
    }
    /// Only items of this genre. By default, none.
    pub fn genre(mut self, genre: &str) -> Self {
        self.genre = Some(genre.to_string());
        self
    }
    fn validate(&self) -> Result<()> {
        if let Some(h) = self.half_life_days {
            ensure_param(
                h.is_finite() && h > 0.0,
                "half_life_days",
                "must be a positive number of days",
            )?;
        }
        Ok(())
    }
}

/// Ranks items by (optionally time-decayed) training popularity; ties by lower item index.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Popularity {
    scores: Vec<f32>,
    /// Items outside the requested genre, never recommended.
    excluded: Vec<ItemIdx>,
    genre: Option<String>,
    /// The trending half-life, for the reason ("popular this week"); absent in files written before it.
    half_life_days: Option<f64>,
}

/// Model bodies are postcard (a sequence of fields, not self-describing): files written before
/// `half_life_days` existed end after `genre`, so the last field is read as absent when the input ends.
impl<'de> Deserialize<'de> for Popularity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Popularity;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a popularity model")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Popularity, A::Error> {
                let missing = |n| serde::de::Error::invalid_length(n, &"3 or 4 fields");
                let scores = seq.next_element()?.ok_or_else(|| missing(0))?;
                let excluded = seq.next_element()?.unwrap_or_default();
                let genre = seq.next_element()?.unwrap_or_default();
                // An old file ends here: reading past its end is the only error possible.
                let half_life_days = seq.next_element::<Option<f64>>().ok().flatten().flatten();
                Ok(Popularity {
                    scores,
                    excluded,
                    genre,
                    half_life_days,
                })
            }
        }
        d.deserialize_struct(
            "Popularity",
            &["scores", "excluded", "genre", "half_life_days"],
            V,
        )
    }
}

impl Fit for PopularityParams {
    type Model = Popularity;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Popularity> {
        self.validate()?;
        progress.start("popularity", 1);
        let x = &data.interactions;
        let mut scores = vec![0f32; x.n_items()];
        let newest = x.times().and_then(|t| t.iter().max().copied());
        let decay = match (self.half_life_days, newest) {
            (Some(h), Some(newest)) => Some((h * 86_400.0, newest)),
            (Some(_), None) => {
                return Err(tastebud_core::Error::InvalidParam {
                    name: "half_life_days",
                    reason: "trending needs timestamps and the data has none".into(),
                });
            }
            (None, _) => None,
        };
        for (p, r) in x.iter().enumerate() {
            let base = if self.by_value { r.value } else { 1.0 };
            let w = match (decay, r.time) {
                (Some((half, newest)), Some(t)) => 0.5f64.powf((newest - t) as f64 / half) as f32,
                _ => 1.0,
            };
            let _ = p;
            scores[r.item.get()] += base * w;
        }
        let mut excluded = Vec::new();
        if let Some(g) = &self.genre {
            let table = data.item_features.as_ref();
            let Some(FeatureValues::Categorical {
                vocab,
                offsets,
                labels,
                ..
            }) = table.and_then(|t| t.column("genres"))
            else {
                return Err(tastebud_core::Error::InvalidParam {
                    name: "genre",
                    reason: "the dataset has no `genres` item feature".into(),
                });
            };
            let label = vocab
                .get(g)
                .ok_or_else(|| tastebud_core::Error::InvalidParam {
                    name: "genre",
                    reason: format!(
                        "unknown genre `{g}`; known: {}",
                        vocab.ids().collect::<Vec<_>>().join(", ")
                    ),
                })?;
            for i in 0..x.n_items() {
                let has = offsets
                    .get(i + 1)
                    .is_some_and(|&end| labels[offsets[i]..end].contains(&label));
                if !has {
                    excluded.push(ItemIdx(i as u32));
                }
            }
        }
        progress.inc(1);
        Ok(Popularity {
            scores,
            excluded,
            genre: self.genre.clone(),
            half_life_days: self.half_life_days,
        })
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
        let filter = q.filter(self.scores.len())?.exclude(&self.excluded)?;
        top_k(&self.scores, k, &filter)
    }
    fn similar_items(&self, _item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        Ok(Vec::new())
    }
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<Reason>> {
        q.filter(self.scores.len())?.exclude(&[item])?;
        Ok(Some(Reason::Popular {
            genre: self.genre.clone(),
            half_life_days: self.half_life_days,
        }))
    }
}

impl Popularity {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): finite scores, excluded items in range.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        v::finite_f32("popularity scores", &self.scores)?;
        let excluded: Vec<u32> = self.excluded.iter().map(|i| i.0).collect();
        v::indices("popularity excluded items", &excluded, self.scores.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{FeatureTable, Feedback, Interaction, Interactions, UserIdx};

    fn data() -> Dataset {
        // item 0: 3 old interactions; item 1: 2 recent ones; item 2: 1 recent.
        let day = 86_400;
        let recs = [
            (0, 0, 0),
            (1, 0, 0),
            (2, 0, 0),
            (0, 1, 100 * day),
            (1, 1, 100 * day),
            (2, 2, 100 * day),
        ]
        .map(|(u, i, t)| Interaction {
            user: UserIdx(u),
            item: ItemIdx(i),
            value: 1.0,
            time: Some(t),
        });
        let x = Interactions::from_records(4, 3, &recs, Feedback::Implicit).unwrap();
        let mut d = Dataset::from_parts("t", x, ["a", "b", "c", "d"], ["x", "y", "z"]).unwrap();
        let mut t = FeatureTable::new(3);
        let mut g = t.categorical_builder();
        g.push(0, "Drama", 1.0);
        g.push(1, "Comedy", 1.0);
        g.push(2, "Comedy", 1.0);
        t.add("genres", g.finish()).unwrap();
        d.item_features = Some(t);
        d
    }

    fn top(m: &Popularity) -> Vec<u32> {
        m.recommend(&Query::new(&[]).user(UserIdx(3)), 3)
            .unwrap()
            .iter()
            .map(|s| s.item.0)
            .collect()
    }

    #[test]
    fn all_time_trending_and_genre() {
        let d = data();
        assert_eq!(
            top(&PopularityParams::default().fit(&d, &NoProgress).unwrap()),
            vec![0, 1, 2]
        );
        // half-life 10 days: item 0's three 100-day-old interactions weigh 3 * 2^-10.
        let trending = PopularityParams::default()
            .half_life_days(10.0)
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(top(&trending), vec![1, 2, 0]);
        assert!((trending.scores()[0] - 3.0 / 1024.0).abs() < 1e-6);
        let comedy = PopularityParams::default()
            .genre("Comedy")
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(top(&comedy), vec![1, 2]);
        assert!(
            PopularityParams::default()
                .genre("Horror")
                .fit(&d, &NoProgress)
                .is_err()
        );
        assert!(
            PopularityParams::default()
                .half_life_days(0.0)
                .fit(&d, &NoProgress)
                .is_err()
        );
    }
}
