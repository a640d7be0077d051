//! Ensembles of any models: weighted score blending ([`Blend`]) and switching by history length
//! ([`Switch`]).
//!
//! Both are fitted from sub-model names and hyperparameters through the registry (`registry::fit`, which
//! [`BlendParams::fit_parts`] and [`SwitchParams::fit_parts`] are given), so every registered model can be
//! a part, and both are saved inside the one model file format (each part is nested as its model type and
//! its own body). They are generic over the part type `M` so that this module needs no model of its own:
//! the registry fits them with `M = AnyModel`, and `AnyModel` holds them as `Blend<AnyModel>` and
//! `Switch<AnyModel>`.
//!
//! **Blending.** Model scores live on unrelated scales (EASE's are small reals, popularity's are counts),
//! so each part's scores are normalised **per query** before they are weighted and summed:
//! - [`Normalise::MinMax`] (the default): over the part's returned list, `(s − min) / (max − min)`, so its
//!   best item gets 1 and its worst returned item 0 (all 1 when the scores are equal);
//! - [`Normalise::Rank`]: `(n − r) / n` for the item at 0-based rank `r` of the `n` returned (Borda count),
//!   which ignores score gaps entirely.
//!
//! An item a part does not return (beyond its `depth`, or outside what that part ranks, e.g. another genre
//! for genre popularity) contributes 0 from that part. Every part sees the same query (history, exclusions,
//! candidates), so the blend never returns an item any part would have to leave out.
//!
//! **Switching.** A history with fewer than `min_history` interactions is answered by the `cold` model
//! (e.g. popularity), any other by the `warm` one (e.g. EASE): the usual fix for collaborative models on
//! users they know little about.
//!
//! Parameter syntax (CLI `--param`, also `MODEL.KEY=VALUE` in `evaluate`):
//! `models=ease:0.7,popularity:0.3` (name and weight, weight 1 when left out) and, for a part's own
//! hyperparameters, `PART.KEY=VALUE` (e.g. `ease.lambda=200`), which the registry nests into `params`.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx};
//! use tastebud_models::ensemble::BlendParams;
//! use tastebud_models::{Fit, NoProgress, Query, Recommender};
//! let x = Interactions::from_triplets(3, 3, &[(0, 0, 1.0), (1, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0)],
//!                                    Feedback::Implicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b", "c"], ["x", "y", "z"])?;
//! let blend = BlendParams::default().models("itemknn:0.5,popularity:0.5").fit(&data, &NoProgress)?;
//! let recs = blend.recommend(&Query::new(&[(ItemIdx(0), 1.0)]), 2)?;
//! assert_eq!(recs[0].item, ItemIdx(1)); // co-watched with item 0, and the next most popular
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, ensure_param, top_k};

use crate::reason::Reason;
use crate::rerank::normalised_relevance;
use crate::spec::ModelSpec;
use crate::{Explanation, Progress, Query, Recommender, Scored};

/// Hyperparameters of sub-models: part name -> `{key: value}`.
pub type PartParams = BTreeMap<String, serde_json::Map<String, serde_json::Value>>;

/// Fits one part from its spec and returns it with its resolved hyperparameters: the registry's `fit`.
pub type FitPart<'a, M> =
    &'a dyn Fn(&ModelSpec, &Dataset, &dyn Progress) -> Result<(M, serde_json::Value)>;

/// How a part's scores are put on a common scale before weighting (per query).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalise {
    /// `(s − min) / (max − min)` over the part's returned list. The default.
    #[default]
    #[serde(alias = "minmax", alias = "min-max")]
    MinMax,
    /// `(n − r) / n` for rank `r` (0-based) among the `n` returned (Borda count).
    Rank,
}

/// Hyperparameters of [`Blend`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlendParams {
    /// The parts and their weights, `NAME:WEIGHT,NAME:WEIGHT` (e.g. `ease:0.7,popularity:0.3`; a name
    /// without a weight weighs 1). Names are registry names; a name may appear once. By default, empty
    /// (which is an error: give at least one part).
    pub models: String,
    /// Per-query score normalisation. By default, [`Normalise::MinMax`].
    pub normalise: Normalise,
    /// How many items each part ranks per query before blending; 0 means the whole catalogue. By
    /// default, 0 (exact: every item gets every part's contribution).
    pub depth: usize,
    /// Each part's own hyperparameters, `{"ease": {"lambda": 200}}` (`ease.lambda=200` on the command
    /// line). By default, none (the parts' defaults).
    pub params: PartParams,
}

impl BlendParams {
    /// Sets the parts, `NAME:WEIGHT,...`. By default, none.
    pub fn models(mut self, spec: &str) -> Self {
        self.models = spec.to_string();
        self
    }
    /// Sets the normalisation. By default, min-max.
    pub fn normalise(mut self, n: Normalise) -> Self {
        self.normalise = n;
        self
    }
    /// Sets the per-part depth (0: whole catalogue). By default, 0.
    pub fn depth(mut self, d: usize) -> Self {
        self.depth = d;
        self
    }
    /// Sets one hyperparameter of a part (`part`, `key`, `value`). By default, none.
    pub fn part_param(mut self, part: &str, key: &str, value: serde_json::Value) -> Self {
        self.params
            .entry(part.to_string())
            .or_default()
            .insert(key.to_string(), value);
        self
    }

    /// The parts as `(canonical name, weight)`, validated.
    pub fn parts(&self) -> Result<Vec<(String, f32)>> {
        let mut out: Vec<(String, f32)> = Vec::new();
        for entry in self
            .models
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (name, w) = match entry.rsplit_once(':') {
                Some((n, w)) => {
                    let w: f32 = w.trim().parse().map_err(|_| Error::InvalidParam {
                        name: "models",
                        reason: format!("`{entry}`: weight `{w}` is not a number"),
                    })?;
                    (n.trim(), w)
                }
                None => (entry, 1.0),
            };
            let name = ModelSpec::new(name)?.name;
            ensure_param(
                w.is_finite() && w >= 0.0,
                "models",
                &format!("`{entry}`: weights must be finite and >= 0"),
            )?;
            ensure_param(
                !out.iter().any(|(n, _)| *n == name),
                "models",
                &format!("`{name}` appears twice"),
            )?;
            ensure_nestable(&name)?;
            out.push((name, w));
        }
        ensure_param(
            !out.is_empty(),
            "models",
            "give at least one part, e.g. models=ease:0.7,popularity:0.3",
        )?;
        ensure_param(
            out.iter().any(|(_, w)| *w > 0.0),
            "models",
            "at least one weight must be > 0",
        )?;
        check_part_params(&self.params, out.iter().map(|(n, _)| n.as_str()))?;
        Ok(out)
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        self.parts().map(|_| ())
    }
}

/// Ensembles inside ensembles would make model files recursive without bound; one level is enough.
fn ensure_nestable(name: &str) -> Result<()> {
    ensure_param(
        name != "blend" && name != "switch",
        "models",
        "an ensemble cannot contain another ensemble",
    )
}

/// Every key of `params` must name a part (a typo would otherwise be silently ignored).
fn check_part_params<'a>(params: &PartParams, parts: impl Iterator<Item = &'a str>) -> Result<()> {
    let parts: Vec<&str> = parts.collect();
    for k in params.keys() {
        let canon = ModelSpec::new(k).map(|s| s.name)?;
        ensure_param(
            parts.contains(&canon.as_str()),
            "params",
            &format!(
                "parameters given for `{k}`, which is not a part ({})",
                parts.join(", ")
            ),
        )?;
    }
    Ok(())
}

/// Fits the part `name` with its parameters from `params` (looked up by canonical or given name).
fn fit_part<M>(
    name: &str,
    params: &PartParams,
    data: &Dataset,
    progress: &dyn Progress,
    fit: FitPart<'_, M>,
) -> Result<(M, serde_json::Value)> {
    let mut spec = ModelSpec::new(name)?;
    for (k, v) in params {
        if ModelSpec::new(k)?.name == spec.name {
            spec.params.extend(v.clone());
        }
    }
    fit(&spec, data, progress)
}

/// One fitted part of an ensemble.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Part<M> {
    /// Registry name of the part.
    pub name: String,
    /// Its weight (blends) or 1 (switches).
    pub weight: f32,
    /// Its resolved hyperparameters, as JSON text.
    pub params: String,
    /// The fitted model (boxed: the part type, `AnyModel`, may itself be an ensemble).
    pub model: Box<M>,
}

/// A weighted blend of per-query normalised scores of several models (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Blend<M> {
    parts: Vec<Part<M>>,
    normalise: Normalise,
    depth: usize,
    n_items: usize,
}

impl BlendParams {
    /// Validates the parameters, then fits each part with `fit` (the registry's `fit`, which the
    /// [`Fit`](crate::Fit) implementation passes).
    pub fn fit_parts<M>(
        &self,
        data: &Dataset,
        progress: &dyn Progress,
        fit: FitPart<'_, M>,
    ) -> Result<Blend<M>> {
        let parts = self.parts()?;
        let mut fitted = Vec::with_capacity(parts.len());
        for (name, weight) in parts {
            let (model, resolved) = fit_part(&name, &self.params, data, progress, fit)?;
            fitted.push(Part {
                name,
                weight,
                params: resolved.to_string(),
                model: Box::new(model),
            });
        }
        Ok(Blend {
            parts: fitted,
            normalise: self.normalise,
            depth: self.depth,
            n_items: data.n_items(),
        })
    }
}

/// The normalised scores of a part's list, per [`Normalise`].
fn normalised(recs: &[Scored], how: Normalise) -> Vec<f64> {
    match how {
        Normalise::MinMax => normalised_relevance(recs),
        Normalise::Rank => {
            let n = recs.len() as f64;
            (0..recs.len()).map(|r| (n - r as f64) / n).collect()
        }
    }
}

/// Explanations of several weighted parts merged: each part's contributions are scaled so its largest
/// magnitude is its weight, then summed per history item; largest first, ties by lower item.
fn merge_explanations(parts: &[(f32, Explanation)], n: usize) -> Option<Explanation> {
    if parts.is_empty() {
        return None;
    }
    let mut sum: BTreeMap<ItemIdx, f32> = BTreeMap::new();
    for (w, e) in parts {
        let max = e.because.iter().map(|c| c.1.abs()).fold(0.0f32, f32::max);
        for &(i, c) in &e.because {
            let v = if max > 0.0 { w * c / max } else { 0.0 };
            *sum.entry(i).or_insert(0.0) += v;
        }
    }
    let mut because: Vec<(ItemIdx, f32)> = sum.into_iter().collect();
    because.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    because.truncate(n);
    Some(Explanation { because })
}

impl<M: Recommender> Blend<M> {
    /// The fitted parts.
    pub fn parts(&self) -> &[Part<M>] {
        &self.parts
    }

    /// The blended score of every item for `q` (0 where no part returned the item).
    pub fn scores(&self, q: &Query<'_>) -> Result<Vec<f32>> {
        let depth = if self.depth == 0 {
            self.n_items
        } else {
            self.depth
        };
        let mut total = vec![0f32; self.n_items];
        for p in self.parts.iter().filter(|p| p.weight > 0.0) {
            let recs = p.model.recommend(q, depth)?;
            for (s, v) in recs.iter().zip(normalised(&recs, self.normalise)) {
                if let Some(t) = total.get_mut(s.item.get()) {
                    *t += p.weight * v as f32;
                }
            }
        }
        Ok(total)
    }
}

impl<M: Recommender> Recommender for Blend<M> {
    fn name(&self) -> &str {
        "blend"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        top_k(&self.scores(q)?, k, &filter)
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        if item.get() >= self.n_items {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: self.n_items,
            });
        }
        let depth = if self.depth == 0 {
            self.n_items
        } else {
            self.depth
        };
        let mut total = vec![0f32; self.n_items];
        let mut any = false;
        for p in self.parts.iter().filter(|p| p.weight > 0.0) {
            let sims = p.model.similar_items(item, depth)?;
            any |= !sims.is_empty();
            for (s, v) in sims.iter().zip(normalised(&sims, self.normalise)) {
                if let Some(t) = total.get_mut(s.item.get()) {
                    *t += p.weight * v as f32;
                }
            }
        }
        if !any {
            return Ok(Vec::new());
        }
        let filter = tastebud_core::ItemFilter::new(self.n_items).exclude(&[item])?;
        let mut out = top_k(&total, k, &filter)?;
        out.retain(|s| s.score > 0.0);
        Ok(out)
    }
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        let mut parts = Vec::new();
        for p in self.parts.iter().filter(|p| p.weight > 0.0) {
            if let Some(e) = p.model.explain(q, item, n.max(1) * 4)? {
                parts.push((p.weight, e));
            }
        }
        Ok(merge_explanations(&parts, n))
    }
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<Reason>> {
        // The heaviest part that can say why speaks for the blend.
        let mut by_weight: Vec<&Part<M>> = self.parts.iter().filter(|p| p.weight > 0.0).collect();
        by_weight.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        for p in by_weight {
            if let Some(r) = p.model.reason(q, item)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

/// Hyperparameters of [`Switch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchParams {
    /// The model for short histories. By default, `popularity`.
    pub cold: String,
    /// The model for the others. By default, `ease`.
    pub warm: String,
    /// Histories with fewer interactions than this go to `cold`. By default, 5.
    pub min_history: usize,
    /// Each part's own hyperparameters, `{"ease": {"lambda": 200}}` (`ease.lambda=200` on the command
    /// line; when `cold` and `warm` are the same model, both get them). By default, none.
    pub params: PartParams,
}

impl Default for SwitchParams {
    fn default() -> Self {
        SwitchParams {
            cold: "popularity".into(),
            warm: "ease".into(),
            min_history: 5,
            params: PartParams::new(),
        }
    }
}

impl SwitchParams {
    /// Sets the model for short histories. By default, `popularity`.
    pub fn cold(mut self, name: &str) -> Self {
        self.cold = name.to_string();
        self
    }
    /// Sets the model for the others. By default, `ease`.
    pub fn warm(mut self, name: &str) -> Self {
        self.warm = name.to_string();
        self
    }
    /// Sets the history length from which `warm` answers. By default, 5.
    pub fn min_history(mut self, n: usize) -> Self {
        self.min_history = n;
        self
    }
    /// Sets one hyperparameter of a part. By default, none.
    pub fn part_param(mut self, part: &str, key: &str, value: serde_json::Value) -> Self {
        self.params
            .entry(part.to_string())
            .or_default()
            .insert(key.to_string(), value);
        self
    }
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        let cold = ModelSpec::new(&self.cold)?.name;
        let warm = ModelSpec::new(&self.warm)?.name;
        ensure_nestable(&cold)?;
        ensure_nestable(&warm)?;
        check_part_params(&self.params, [cold.as_str(), warm.as_str()].into_iter())
    }
}

/// One model for short histories, another for the rest (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Switch<M> {
    cold: Part<M>,
    warm: Part<M>,
    min_history: usize,
}

impl SwitchParams {
    /// Validates the parameters, then fits both parts with `fit` (the registry's `fit`, which the
    /// [`Fit`](crate::Fit) implementation passes).
    pub fn fit_parts<M>(
        &self,
        data: &Dataset,
        progress: &dyn Progress,
        fit: FitPart<'_, M>,
    ) -> Result<Switch<M>> {
        self.validate()?;
        let part = |name: &str| -> Result<Part<M>> {
            let (model, resolved) = fit_part(name, &self.params, data, progress, fit)?;
            Ok(Part {
                name: ModelSpec::new(name)?.name,
                weight: 1.0,
                params: resolved.to_string(),
                model: Box::new(model),
            })
        };
        Ok(Switch {
            cold: part(&self.cold)?,
            warm: part(&self.warm)?,
            min_history: self.min_history,
        })
    }
}

impl<M> Switch<M> {
    /// The part that answers `q`.
    pub fn route(&self, q: &Query<'_>) -> &Part<M> {
        if q.history.len() < self.min_history {
            &self.cold
        } else {
            &self.warm
        }
    }
    /// The model for short histories.
    pub fn cold(&self) -> &Part<M> {
        &self.cold
    }
    /// The model for the others.
    pub fn warm(&self) -> &Part<M> {
        &self.warm
    }
}

impl<M: Recommender> Recommender for Switch<M> {
    fn name(&self) -> &str {
        "switch"
    }
    fn n_items(&self) -> usize {
        self.warm.model.n_items()
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        self.route(q).model.recommend(q, k)
    }
    fn recommend_batch(&self, qs: &[Query<'_>], k: usize) -> Result<Vec<Vec<Scored>>> {
        // Each side answers its queries in one batch (EASE and the factor models batch faster).
        let (mut cold, mut warm): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        for (i, q) in qs.iter().enumerate() {
            if q.history.len() < self.min_history {
                cold.push(i);
            } else {
                warm.push(i);
            }
        }
        let mut out: Vec<Vec<Scored>> = vec![Vec::new(); qs.len()];
        for (idx, part) in [(cold, &self.cold), (warm, &self.warm)] {
            let sub: Vec<Query<'_>> = idx.iter().map(|&i| qs[i]).collect();
            let res = part.model.recommend_batch(&sub, k)?;
            for (i, r) in idx.into_iter().zip(res) {
                out[i] = r;
            }
        }
        Ok(out)
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let warm = self.warm.model.similar_items(item, k)?;
        if warm.is_empty() {
            self.cold.model.similar_items(item, k)
        } else {
            Ok(warm)
        }
    }
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        self.route(q).model.explain(q, item, n)
    }
    fn explain_many(
        &self,
        q: &Query<'_>,
        items: &[ItemIdx],
        n: usize,
    ) -> Result<Vec<Option<Explanation>>> {
        self.route(q).model.explain_many(q, items, n)
    }
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<Reason>> {
        self.route(q).model.reason(q, item)
    }
}

impl Blend<crate::AnyModel> {
    /// Checks a decoded blend (see [`crate::AnyModel::validate`]): at least one part, each valid, finite
    /// weights, every part over the same items.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        v::ensure(!self.parts.is_empty(), || "blend has no parts".to_string())?;
        for p in &self.parts {
            p.model.validate()?;
            v::finite_f32(&format!("blend part `{}` weight", p.name), &[p.weight])?;
            v::len(
                &format!("blend part `{}` items", p.name),
                p.model.n_items(),
                self.n_items,
            )?;
        }
        Ok(())
    }
}

impl Switch<crate::AnyModel> {
    /// Checks a decoded switch (see [`crate::AnyModel::validate`]): both parts valid, over the same items.
    pub(crate) fn validate(&self) -> Result<()> {
        self.cold.model.validate()?;
        self.warm.model.validate()?;
        tastebud_core::validate::len(
            "switch cold part items",
            self.cold.model.n_items(),
            self.warm.model.n_items(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fit, NoProgress};
    use tastebud_core::{Feedback, Interactions};

    fn data() -> Dataset {
        // item 0 popular (4 users), item 1 with 2, item 2 with 1; users 0 and 1 share items 0 and 3.
        let t = [
            (0, 0, 1.0),
            (0, 3, 1.0),
            (1, 0, 1.0),
            (1, 3, 1.0),
            (1, 1, 1.0),
            (2, 0, 1.0),
            (2, 1, 1.0),
            (3, 0, 1.0),
            (3, 2, 1.0),
        ];
        let x = Interactions::from_triplets(4, 4, &t, Feedback::Implicit).unwrap();
        Dataset::from_parts("t", x, ["a", "b", "c", "d"], ["w", "x", "y", "z"]).unwrap()
    }

    #[test]
    fn parts_parse_and_validate() {
        let p = BlendParams::default().models("ease:0.7, pop:0.3,itemknn");
        assert_eq!(
            p.parts().unwrap(),
            vec![
                ("ease".into(), 0.7),
                ("popularity".into(), 0.3),
                ("itemknn".into(), 1.0)
            ]
        );
        for bad in [
            "",
            "ease:x",
            "ease:-1",
            "ease,ease",
            "nope:1",
            "ease:0",
            "blend:1",
        ] {
            assert!(
                BlendParams::default().models(bad).validate().is_err(),
                "{bad}"
            );
        }
        let typo = BlendParams::default()
            .models("ease")
            .part_param("als", "factors", 3.into());
        assert!(typo.validate().is_err());
        assert!(SwitchParams::default().cold("switch").validate().is_err());
    }

    /// Hand-computed: popularity scores [4, 2, 1, 2]; a user who saw item 0 gets x=2, z=2, y=1 (ties by lower
    /// index) -> min-max x 1, z 1, y 0; rank x 3/3, z 2/3, y 1/3 (times the weight 2).
    #[test]
    fn normalisation_by_hand() {
        let d = data();
        let h = [(ItemIdx(0), 1.0)];
        let q = Query::new(&h);
        let minmax = BlendParams::default()
            .models("popularity")
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(minmax.scores(&q).unwrap(), vec![0.0, 1.0, 0.0, 1.0]);
        let rank = BlendParams::default()
            .models("popularity:2")
            .normalise(Normalise::Rank)
            .fit(&d, &NoProgress)
            .unwrap();
        let s = rank.scores(&q).unwrap();
        let want = [0.0, 2.0, 2.0 / 3.0, 4.0 / 3.0];
        assert!(
            s.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{s:?}"
        );
    }

    #[test]
    fn a_zero_weight_part_changes_nothing() {
        let d = data();
        let h = [(ItemIdx(3), 1.0)];
        let q = Query::new(&h);
        // itemknn alone: item 3 co-occurs with 0 and 1 -> 0 first; popularity alone: 0 first too.
        let knn = BlendParams::default()
            .models("itemknn:1,popularity:0")
            .fit(&d, &NoProgress)
            .unwrap();
        let only = crate::knn::ItemKnnParams::default()
            .fit(&d, &NoProgress)
            .unwrap();
        let a = knn.recommend(&q, 1).unwrap();
        let b = only.recommend(&q, 1).unwrap();
        assert_eq!(
            a[0].item, b[0].item,
            "a zero weight leaves the other part's choice"
        );
        assert!(knn.explain(&q, a[0].item, 2).unwrap().is_some());
    }

    #[test]
    fn switch_routes_by_history_length() {
        let d = data();
        let s = SwitchParams::default()
            .cold("popularity")
            .warm("itemknn")
            .min_history(2)
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(
            s.route(&Query::new(&[(ItemIdx(1), 1.0)])).name,
            "popularity"
        );
        let h = [(ItemIdx(1), 1.0), (ItemIdx(2), 1.0)];
        assert_eq!(s.route(&Query::new(&h)).name, "itemknn");
        assert_eq!(s.route(&Query::new(&[])).name, "popularity");
    }
}
