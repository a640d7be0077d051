//! Models fitted before the evaluation (a model file, an imported Spark model), evaluated on a split whose
//! dataset numbers items differently: [`Remapped`] translates item indices through the external ids.

use tastebud_core::{Dataset, Error, ItemIdx, Result, UserIdx};
use tastebud_models::file::ModelFile;
use tastebud_models::{Exclude, PredictRating, Query, Recommender, Scored};

/// A model file's model, answering in the item (and user) numbering of another dataset with the same
/// external ids. Items the model never saw cannot be recommended; their ratings are not predicted (NaN,
/// which the RMSE leaves out, as Spark's `coldStartStrategy = "drop"` does). History items the model does
/// not know are ignored.
///
/// ```no_run
/// # fn f(data: &tastebud_core::Dataset) -> tastebud_core::Result<()> {
/// let file = tastebud_models::file::ModelFile::load(std::path::Path::new("m.tbm"))?;
/// let m = tastebud_eval::pretrained::Remapped::new("m", file, data)?;
/// # Ok(()) }
/// ```
pub struct Remapped {
    name: String,
    model: ModelFile,
    /// Evaluation item index -> model item index.
    to_model: Vec<Option<ItemIdx>>,
    /// Model item index -> evaluation item index.
    to_eval: Vec<Option<ItemIdx>>,
    /// Model items without an evaluation index (asked for on top of `k`, then dropped).
    unmapped: usize,
    /// The two numberings are the same (items and users): queries pass through unchanged.
    identity: bool,
}

impl Remapped {
    /// Wraps `file` for evaluation on `data` (its ids); fails when no item id is shared.
    pub fn new(name: &str, file: ModelFile, data: &Dataset) -> Result<Self> {
        let n_model = file.model.as_recommender().n_items();
        let to_model: Vec<Option<ItemIdx>> = (0..data.n_items() as u32)
            .map(|i| {
                data.items
                    .0
                    .id(i)
                    .and_then(|id| file.context.items.0.get(id))
                    .filter(|&m| (m as usize) < n_model)
                    .map(ItemIdx)
            })
            .collect();
        let mut to_eval = vec![None; n_model];
        for (e, m) in to_model.iter().enumerate() {
            if let Some(m) = m {
                to_eval[m.get()] = Some(ItemIdx(e as u32));
            }
        }
        if to_eval.iter().all(Option::is_none) {
            return Err(Error::InvalidParam {
                name: "model file",
                reason: format!("`{name}`: no item id in common with the evaluation data"),
            });
        }
        let unmapped = to_eval.iter().filter(|m| m.is_none()).count();
        let identity = unmapped == 0
            && to_model.len() == n_model
            && to_model
                .iter()
                .enumerate()
                .all(|(e, m)| *m == Some(ItemIdx(e as u32)))
            && file.context.users == data.users;
        Ok(Remapped {
            name: name.to_string(),
            model: file,
            to_model,
            to_eval,
            unmapped,
            identity,
        })
    }

    fn inner(&self) -> &dyn Recommender {
        self.model.model.as_recommender()
    }

    fn map_items(&self, items: &[ItemIdx]) -> Vec<ItemIdx> {
        items
            .iter()
            .filter_map(|i| self.to_model.get(i.get()).copied().flatten())
            .collect()
    }

    fn map_history(&self, h: &[(ItemIdx, f32)]) -> Vec<(ItemIdx, f32)> {
        h.iter()
            .filter_map(|&(i, v)| {
                self.to_model
                    .get(i.get())
                    .copied()
                    .flatten()
                    .map(|m| (m, v))
            })
            .collect()
    }

    /// The model's answer in evaluation indices: items without one dropped, then cut to `k`.
    fn back(&self, recs: Vec<Scored>, k: usize) -> Vec<Scored> {
        let mut out: Vec<Scored> = recs
            .into_iter()
            .filter_map(|s| {
                self.to_eval[s.item.get()].map(|item| Scored {
                    item,
                    score: s.score,
                })
            })
            .collect();
        out.truncate(k);
        out
    }

    fn user(&self, u: Option<UserIdx>) -> Option<UserIdx> {
        u.filter(|_| self.identity)
    }
}

impl Recommender for Remapped {
    fn name(&self) -> &str {
        &self.name
    }
    fn n_items(&self) -> usize {
        self.to_model.len()
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        q.filter(self.n_items())?; // out-of-range indices are errors, as for any model
        if self.identity {
            return self.inner().recommend(q, k);
        }
        let history = self.map_history(q.history);
        let extra = match q.exclude {
            Exclude::Items(x) | Exclude::SeenAnd(x) => self.map_items(x),
            Exclude::Seen | Exclude::Nothing => Vec::new(),
        };
        let exclude = match q.exclude {
            Exclude::Seen => Exclude::Seen,
            Exclude::Nothing => Exclude::Nothing,
            Exclude::Items(_) => Exclude::Items(&extra),
            Exclude::SeenAnd(_) => Exclude::SeenAnd(&extra),
        };
        let candidates = q.candidates.map(|c| self.map_items(c));
        let sequence = q.sequence.map(|s| self.map_items(s));
        let mq = Query {
            history: &history,
            user: None,
            exclude,
            candidates: candidates.as_deref(),
            sequence: sequence.as_deref(),
        };
        Ok(self.back(self.inner().recommend(&mq, k + self.unmapped)?, k))
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let Some(m) = self.to_model.get(item.get()).copied().flatten() else {
            return Ok(Vec::new());
        };
        Ok(self.back(self.inner().similar_items(m, k + self.unmapped)?, k))
    }
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        self.inner()
            .rating_predictor()
            .map(|_| self as &dyn PredictRating)
    }
}

impl PredictRating for Remapped {
    fn predict(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        let Some(p) = self.inner().rating_predictor() else {
            return Err(Error::InvalidParam {
                name: "model",
                reason: format!("`{}` does not predict ratings", self.name),
            });
        };
        if self.identity {
            return p.predict(user, history, item);
        }
        match self.to_model.get(item.get()).copied().flatten() {
            Some(m) => p.predict(self.user(user), &self.map_history(history), m),
            None => Ok(f32::NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tastebud_core::{Feedback, Interactions};
    use tastebud_models::{Fit, NoProgress};

    fn data(items: &[&str], t: &[(u32, u32, f32)]) -> Dataset {
        let x = Interactions::from_triplets(3, items.len(), t, Feedback::Explicit).unwrap();
        Dataset::from_parts(
            "d",
            x,
            ["a", "b", "c"].iter().map(|s| s.to_string()),
            items.iter().map(|s| s.to_string()),
        )
        .unwrap()
    }

    /// The same model answers the same, whichever numbering the evaluation data gives the items.
    #[test]
    fn answers_in_the_evaluation_numbering() {
        let t = [
            (0, 0, 5.0),
            (0, 1, 3.0),
            (1, 1, 4.0),
            (1, 2, 2.0),
            (2, 0, 1.0),
            (2, 3, 5.0),
        ];
        let train = data(&["w", "x", "y", "z"], &t);
        let m = tastebud_models::spark_als::SparkAlsParams {
            rank: 2,
            ..Default::default()
        }
        .fit(&train, &NoProgress)
        .unwrap();
        let file = ModelFile::new(m.into(), serde_json::Value::Null, &train, false);
        // The evaluation data: items in reverse order, plus one the model never saw.
        let rev = |i: u32| 3 - i;
        let t2: Vec<(u32, u32, f32)> = t.iter().map(|&(u, i, v)| (u, rev(i), v)).collect();
        let mut eval = data(&["z", "y", "x", "w"], &t2);
        eval.items.0.insert("new");
        let eval = eval
            .with_interactions(Interactions::from_triplets(3, 5, &t2, Feedback::Explicit).unwrap());
        let eval = eval.unwrap();
        let r = Remapped::new("m", file.clone(), &eval).unwrap();
        assert_eq!(r.n_items(), 5);
        let h = train.interactions.history(UserIdx(0));
        let direct = file
            .model
            .as_recommender()
            .recommend(&Query::new(&h), 4)
            .unwrap();
        let h2: Vec<(ItemIdx, f32)> = h.iter().map(|&(i, v)| (ItemIdx(rev(i.0)), v)).collect();
        let via = r.recommend(&Query::new(&h2), 4).unwrap();
        assert_eq!(direct.len(), via.len());
        for (a, b) in direct.iter().zip(&via) {
            assert_eq!(ItemIdx(rev(a.item.0)), b.item);
            assert_eq!(a.score, b.score);
        }
        let p = file.model.as_recommender().rating_predictor().unwrap();
        assert_eq!(
            p.predict(None, &h, ItemIdx(1)).unwrap(),
            r.predict(None, &h2, ItemIdx(2)).unwrap()
        );
        assert!(r.predict(None, &h2, ItemIdx(4)).unwrap().is_nan());
    }
}
