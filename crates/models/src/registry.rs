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
use crate::ensemble::{Blend, BlendParams, Switch, SwitchParams};
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

pub use crate::spec::{MODELS, ModelSpec};

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
    let (params, resolved) = parse_params(base, spec)?;
    Ok((params.fit(data, progress)?.into(), resolved))
}

/// Association rules, whose resolved `min_support` is the one the fit used (chosen when unset), so that
/// the model file says what it was and fitting with its parameters gives the same rules.
fn fit_rules(
    spec: &ModelSpec,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<(AnyModel, serde_json::Value)> {
    let (params, mut resolved) = parse_params(RulesParams::default(), spec)?;
    let (model, chosen) = params.fit_with_support(data, progress)?;
    resolved["min_support"] = chosen.min_support.into();
    Ok((model.into(), resolved))
}

/// `base` overridden by the spec's parameters, and the result as JSON.
fn parse_params<P>(base: P, spec: &ModelSpec) -> Result<(P, serde_json::Value)>
where
    P: DeserializeOwned + Serialize,
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
    Ok((params, resolved))
}

/// Whether this build can fit the model `name` (canonical): the deep models (`multvae`, `multdae`,
/// `sasrec`, `gru4rec`, `twotower`) train only with the `deep` cargo feature; every build serves their model files.
///
/// ```
/// use tastebud_models::registry::trainable;
/// assert!(trainable("ease"));
/// assert_eq!(trainable("multvae"), cfg!(feature = "deep"));
/// ```
pub fn trainable(name: &str) -> bool {
    cfg!(feature = "deep")
        || !matches!(
            name,
            "multvae" | "multdae" | "sasrec" | "gru4rec" | "twotower"
        )
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
        "rules" => fit_rules(spec, data, progress),
        "spark_als" => fit_with::<crate::spark_als::SparkAlsParams>(spec, data, progress),
        "multvae" => fit_with::<crate::autoencoder::MultVaeParams>(spec, data, progress),
        "multdae" => fit_with::<crate::autoencoder::MultDaeParams>(spec, data, progress),
        "sasrec" => fit_with::<crate::sequential::sasrec::SasRecParams>(spec, data, progress),
        "gru4rec" => fit_with::<crate::sequential::gru4rec::Gru4RecParams>(spec, data, progress),
        "twotower" => fit_with::<crate::twotower::TwoTowerParams>(spec, data, progress),
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

/// An ensemble's parts are fitted by name, through [`fit`].
impl Fit for BlendParams {
    type Model = Blend<AnyModel>;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Self::Model> {
        self.fit_parts(data, progress, &fit)
    }
}

/// Both parts are fitted by name, through [`fit`].
impl Fit for SwitchParams {
    type Model = Switch<AnyModel>;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Self::Model> {
        self.fit_parts(data, progress, &fit)
    }
}

/// Fits the model called `name` with default parameters.
pub fn fit_by_name(name: &str, data: &Dataset, progress: &dyn Progress) -> Result<AnyModel> {
    Ok(fit(&ModelSpec::new(name)?, data, progress)?.0)
}
