//! Models by name, with hyperparameters from `key=value` pairs, for the CLI and config files.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tastebud_core::{Dataset, Error, Result};

use crate::als::AlsParams;
use crate::any::AnyModel;
use crate::baseline::BaselineParams;
use crate::bpr::BprParams;
use crate::content::ContentParams;
use crate::ease::EaseParams;
use crate::ensemble::{BlendParams, SwitchParams};
use crate::hybrid::HybridParams;
use crate::knn::{ItemKnnParams, KnnRatingParams, UserKnnParams};
use crate::nmf::NmfParams;
use crate::popularity::PopularityParams;
use crate::random::RandomParams;
use crate::rules::RulesParams;
use crate::slope_one::SlopeOneParams;
use crate::svd::SvdParams;
use crate::svdpp::SvdppParams;
use crate::{Fit, Progress};

/// Names accepted by [`fit`], with a one-line description.
pub const MODELS: &[(&str, &str)] = &[
    (
        "popularity",
        "most interacted-with items; trending with half_life_days; within a genre with genre",
    ),
    ("random", "uniformly random ranking, seeded"),
    (
        "itemknn",
        "item-item neighbours (cosine, tfidf, bm25, pearson, jaccard...), implicit-style top-N",
    ),
    (
        "userknn",
        "user-user neighbours, similarities computed against the query history on the fly",
    ),
    (
        "knn_basic",
        "Surprise KNNBasic rating predictor (msd, user-based, k=40)",
    ),
    ("knn_with_means", "Surprise KNNWithMeans rating predictor"),
    (
        "knn_baseline",
        "Surprise KNNBaseline rating predictor (ALS baselines)",
    ),
    (
        "als",
        "implicit-feedback ALS (Hu, Koren & Volinsky 2008), conjugate gradient, as implicit",
    ),
    (
        "bpr",
        "Bayesian personalised ranking (Rendle et al. 2009), as implicit",
    ),
    ("ease", "EASE linear autoencoder (Steck 2019), closed form"),
    (
        "baseline",
        "Surprise BaselineOnly: global mean + user and item biases (ALS or SGD)",
    ),
    (
        "svd",
        "Surprise SVD: biased matrix factorisation by SGD (Funk / Koren)",
    ),
    (
        "svdpp",
        "Surprise SVD++: SVD with implicit feedback from what users rated",
    ),
    ("nmf", "Surprise NMF: non-negative matrix factorisation"),
    ("slope_one", "Surprise SlopeOne (Lemire & Maclachlan 2005)"),
    (
        "content",
        "content-based: TF-IDF/one-hot item features, cosine to the history's profile; serves untouched items",
    ),
    (
        "lightfm",
        "LightFM-style hybrid factorisation: feature + identity embeddings, WARP or BPR, Adagrad",
    ),
    (
        "blend",
        "weighted blend of per-query normalised scores: models=ease:0.7,popularity:0.3, PART.KEY=VALUE",
    ),
    (
        "switch",
        "cold model below min_history interactions, warm model above: cold=popularity,warm=ease",
    ),
    (
        "rules",
        "association rules (FP-growth) over sessions or baskets: people who watched X also watched Y",
    ),
];

/// A model name with hyperparameters, e.g. from `--model als --param factors=64`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelSpec {
    /// Canonical model name.
    pub name: String,
    /// Hyperparameters as a JSON object (values parsed from text: numbers, booleans, strings).
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl ModelSpec {
    /// A spec with no parameters; aliases (`pop`) are resolved.
    pub fn new(name: &str) -> Result<Self> {
        Ok(ModelSpec {
            name: canonical(name)?.to_string(),
            params: Default::default(),
        })
    }

    /// Adds `key=value` (the value is read as an integer, a number, a boolean, or else a string).
    pub fn param(mut self, kv: &str) -> Result<Self> {
        let (k, v) = kv.split_once('=').ok_or_else(|| Error::InvalidParam {
            name: "param",
            reason: format!("`{kv}` is not key=value"),
        })?;
        let v = v.trim();
        let value = if let Ok(i) = v.parse::<i64>() {
            serde_json::Value::from(i)
        } else if let Ok(f) = v.parse::<f64>() {
            serde_json::Value::from(f)
        } else if let Ok(b) = v.parse::<bool>() {
            serde_json::Value::from(b)
        } else {
            serde_json::Value::from(v)
        };
        self.params.insert(k.trim().to_string(), value);
        Ok(self)
    }
}

fn canonical(name: &str) -> Result<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    let found = match n.as_str() {
        "pop" | "most-popular" => Some("popularity"),
        "rand" => Some("random"),
        "item-knn" | "itemknn_cos" | "cosine" => Some("itemknn"),
        "user-knn" => Some("userknn"),
        "knnbasic" => Some("knn_basic"),
        "knnwithmeans" => Some("knn_with_means"),
        "knnbaseline" => Some("knn_baseline"),
        "baselineonly" | "baseline_only" => Some("baseline"),
        "svd++" | "svd_pp" => Some("svdpp"),
        "slopeone" | "slope-one" => Some("slope_one"),
        "hybrid" | "light_fm" => Some("lightfm"),
        "content-based" | "content_based" => Some("content"),
        "ensemble" => Some("blend"),
        "association_rules" | "apriori" | "fpgrowth" => Some("rules"),
        other => MODELS.iter().map(|m| m.0).find(|m| *m == other),
    };
    found.ok_or_else(|| {
        let known: Vec<&str> = MODELS.iter().map(|m| m.0).collect();
        Error::InvalidParam {
            name: "model",
            reason: format!("unknown model `{name}`; known: {}", known.join(", ")),
        }
    })
}

/// Deserialises `P` from the spec's parameters (unknown keys are errors naming the valid ones), fits it,
/// and returns the model with the full, resolved parameters (defaults included) for the model file.
fn fit_with<P>(
    spec: &ModelSpec,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<(AnyModel, serde_json::Value)>
where
    P: Fit + DeserializeOwned + Serialize + Default,
    P::Model: Into<AnyModel>,
{
    fit_from(P::default(), spec, data, progress)
}

/// Like [`fit_with`] from other starting values than `P::default()` (e.g. KNNWithMeans' preset); the spec's
/// parameters override them.
fn fit_from<P>(
    base: P,
    spec: &ModelSpec,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<(AnyModel, serde_json::Value)>
where
    P: Fit + DeserializeOwned + Serialize,
    P::Model: Into<AnyModel>,
{
    let mut merged = match serde_json::to_value(&base) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    merged.extend(spec.params.clone());
    let params: P = serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| {
        Error::InvalidParam {
            name: "param",
            reason: format!("{}: {e}", spec.name),
        }
    })?;
    let resolved = serde_json::to_value(&params).map_err(|e| Error::Shape(e.to_string()))?;
    Ok((params.fit(data, progress)?.into(), resolved))
}

/// Fits the model a spec names; returns it with its resolved hyperparameters.
///
/// ```
/// # use tastebud_core::{Dataset, Feedback, Interactions};
/// # let x = Interactions::from_triplets(1, 2, &[(0, 0, 1.0)], Feedback::Implicit)?;
/// # let data = Dataset::from_parts("t", x, ["u"], ["a", "b"])?;
/// use tastebud_models::registry::{ModelSpec, fit};
/// let (model, params) = fit(&ModelSpec::new("pop")?, &data, &tastebud_models::NoProgress)?;
/// assert_eq!(model.kind(), "popularity");
/// assert_eq!(params["by_value"], false);
/// assert!(ModelSpec::new("nope").is_err());
/// let bad = ModelSpec::new("random")?.param("sede=3")?;
/// assert!(fit(&bad, &data, &tastebud_models::NoProgress).unwrap_err().to_string().contains("seed"));
/// # Ok::<(), tastebud_core::Error>(())
/// ```
pub fn fit(
    spec: &ModelSpec,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<(AnyModel, serde_json::Value)> {
    match spec.name.as_str() {
        "popularity" => fit_with::<PopularityParams>(spec, data, progress),
        "random" => fit_with::<RandomParams>(spec, data, progress),
        "itemknn" => fit_with::<ItemKnnParams>(spec, data, progress),
        "userknn" => fit_with::<UserKnnParams>(spec, data, progress),
        "als" => fit_with::<AlsParams>(spec, data, progress),
        "bpr" => fit_with::<BprParams>(spec, data, progress),
        "ease" => fit_with::<EaseParams>(spec, data, progress),
        "baseline" => fit_with::<BaselineParams>(spec, data, progress),
        "svd" => fit_with::<SvdParams>(spec, data, progress),
        "svdpp" => fit_with::<SvdppParams>(spec, data, progress),
        "nmf" => fit_with::<NmfParams>(spec, data, progress),
        "slope_one" => fit_with::<SlopeOneParams>(spec, data, progress),
        "content" => fit_with::<ContentParams>(spec, data, progress),
        "lightfm" => fit_with::<HybridParams>(spec, data, progress),
        "knn_basic" => fit_from(KnnRatingParams::basic(), spec, data, progress),
        "knn_with_means" => fit_from(KnnRatingParams::with_means(), spec, data, progress),
        "knn_baseline" => fit_from(KnnRatingParams::baseline(), spec, data, progress),
        "blend" => fit_with::<BlendParams>(&nest_part_params(spec), data, progress),
        "switch" => fit_with::<SwitchParams>(&nest_part_params(spec), data, progress),
        "rules" => fit_with::<RulesParams>(spec, data, progress),
        other => Err(Error::InvalidParam {
            name: "model",
            reason: format!("unknown model `{other}`"),
        }),
    }
}

/// Moves `PART.KEY` parameters of an ensemble (`ease.lambda=200`) into its `params` object
/// (`{"ease": {"lambda": 200}}`), the shape [`BlendParams`] and [`SwitchParams`] read.
fn nest_part_params(spec: &ModelSpec) -> ModelSpec {
    let mut out = ModelSpec {
        name: spec.name.clone(),
        params: serde_json::Map::new(),
    };
    let mut nested = match spec.params.get("params") {
        Some(serde_json::Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, v) in &spec.params {
        match k.split_once('.') {
            Some((part, key)) => {
                let entry = nested
                    .entry(part.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let serde_json::Value::Object(m) = entry {
                    m.insert(key.to_string(), v.clone());
                }
            }
            None if k == "params" => {}
            None => {
                out.params.insert(k.clone(), v.clone());
            }
        }
    }
    if !nested.is_empty() {
        out.params
            .insert("params".into(), serde_json::Value::Object(nested));
    }
    out
}

/// Fits the model called `name` with default parameters.
pub fn fit_by_name(name: &str, data: &Dataset, progress: &dyn Progress) -> Result<AnyModel> {
    Ok(fit(&ModelSpec::new(name)?, data, progress)?.0)
}
