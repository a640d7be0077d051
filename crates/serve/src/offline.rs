//! Offline evaluation of what is served (`tastebud evaluate --serving-config tastebud.toml`): a fitted
//! model wrapped in the online [`Pipeline`] and presented as a [`Recommender`], so the evaluator ranks
//! each test user through the production path (exact or ANN retrieval, blocked and consumed items,
//! demotion, re-ranking) and the offline number is the number of what is served.
//!
//! - [`pipeline_config_from_toml`] reads the pipeline's sections of a configuration file (`mode`,
//!   `cold_start`, `[freshness]`, `[events]`, `[hybrid]`, `[ann]`, `[rerank]`, `[explore]`) and ignores
//!   the server's other keys, so a whole server `tastebud.toml` works as it is.
//! - [`ServingRecommender`] is the pipeline plus a [`Serving`] behind the [`Recommender`] trait;
//!   [`ServingRecommender::fitted`] builds the [`Serving`] in memory from a model just fitted, the way
//!   `tastebud train` builds its model file (training histories kept).
//! - [`adapter`] is what `tastebud_eval::run::run_adapted` takes to evaluate every model this way.
//!
//! What differs from a live server, by construction: the mode is forced to real time (an evaluation
//! has no precomputed lists), explanations and exploration are off, and there is no store, so no item
//! is flagged and no event folds into a history; freshness therefore only blocks the training history
//! (as the evaluator does), and demotion never applies.
//!
//! ```
//! use tastebud_serve::offline::pipeline_config_from_toml;
//! use tastebud_serve::RerankMethod;
//! let c = pipeline_config_from_toml(
//!     "bind = \"0.0.0.0:8080\"\n[cache]\nttl_secs = 30\n[rerank]\nmethod = \"mmr\"\nparam = 0.5\n[ann]\nmin_items = 1",
//! )
//! .unwrap();
//! assert_eq!(c.rerank.method, RerankMethod::Mmr);
//! assert_eq!(c.ann.min_items, 1);
//! assert!(pipeline_config_from_toml("[rerank]\nmethd = \"mmr\"").is_err());
//! ```

use std::path::{Path, PathBuf};

use tastebud_core::{Dataset, ItemIdx, Scored};
use tastebud_models::file::ModelFile;
use tastebud_models::{AnyModel, Exclude, Query, Recommender};

use crate::config::{Mode, PipelineConfig};
use crate::error::{ServeError, ServeResult};
use crate::history::UserView;
use crate::model::Serving;
use crate::pipeline::Pipeline;

/// The top-level keys of a configuration file that configure the pipeline; the others (the server's
/// `bind`, `[cache]`, `[limits]`, ...) are ignored by [`pipeline_config_from_toml`].
pub const PIPELINE_KEYS: [&str; 8] = [
    "mode",
    "cold_start",
    "freshness",
    "events",
    "hybrid",
    "ann",
    "rerank",
    "explore",
];

/// The pipeline configuration in a TOML text: the keys of [`PIPELINE_KEYS`] (unknown fields inside
/// them are errors that name the field's path, e.g. `rerank.methd`), everything else ignored;
/// validated.
pub fn pipeline_config_from_toml(text: &str) -> ServeResult<PipelineConfig> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ServeError::BadRequest(e.to_string()))?;
    let kept: toml::Table = table
        .into_iter()
        .filter(|(k, _)| PIPELINE_KEYS.contains(&k.as_str()))
        .collect();
    let config: PipelineConfig = serde_path_to_error::deserialize(toml::Value::Table(kept))
        .map_err(|e| {
            let path = e.path().to_string();
            ServeError::BadRequest(if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            })
        })?;
    config.validate().map_err(ServeError::BadRequest)?;
    Ok(config)
}

/// [`pipeline_config_from_toml`] of a file; errors name the file.
pub fn load_pipeline_config(path: &Path) -> ServeResult<PipelineConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServeError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
    pipeline_config_from_toml(&text)
        .map_err(|e| ServeError::BadRequest(format!("{}: {e}", path.display())))
}

/// A [`Pipeline`] and the [`Serving`] it ranks with, as a [`Recommender`]: `recommend(q, k)` is
/// [`Pipeline::rank`] of the query's history for `k` items, in real time, without explanations or
/// exploration. The query maps onto the request: its history (and known user) is the [`UserView`],
/// [`Exclude`] becomes `exclude_seen` plus excluded items, candidates stay candidates.
///
/// Its name is the model's with `+serving` (`als+serving`). Item embeddings are the model's (for
/// embedding diversity); it has no query embedding (its scores are no longer plain inner products
/// once re-ranked) and no rating predictor (the pipeline serves lists, not ratings).
pub struct ServingRecommender {
    pipeline: Pipeline,
    serving: Serving,
    name: String,
}

impl std::fmt::Debug for ServingRecommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingRecommender")
            .field("name", &self.name)
            .field("pipeline", &self.pipeline)
            .field("serving", &self.serving)
            .finish()
    }
}

impl ServingRecommender {
    /// The pipeline of `config`, with its mode forced to real time, over `serving` (which should have
    /// been prepared with the same `config.ann`).
    pub fn new(config: PipelineConfig, serving: Serving) -> ServeResult<Self> {
        let pipeline = Pipeline::new(PipelineConfig {
            mode: Mode::Realtime,
            ..config
        })?;
        let name = format!("{}+serving", serving.model().name());
        Ok(ServingRecommender {
            pipeline,
            serving,
            name,
        })
    }

    /// A model just fitted on `train`, wrapped in a model file in memory as `tastebud train` writes it
    /// (ids, item features and the training histories kept) and prepared for serving under `config`
    /// (the ANN index is built when the catalogue has at least `config.ann.min_items` items and the
    /// model has embeddings).
    pub fn fitted(
        config: &PipelineConfig,
        model: AnyModel,
        params: serde_json::Value,
        train: &Dataset,
    ) -> ServeResult<Self> {
        let file = ModelFile::new(model, params, train, true);
        let version = format!("{}-offline", file.header.model);
        let serving = Serving::new(file, version, &config.ann)?;
        Self::new(config.clone(), serving)
    }

    /// The pipeline (mode real time).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The model being served.
    pub fn serving(&self) -> &Serving {
        &self.serving
    }

    /// Whether retrieval goes through the ANN index.
    pub fn uses_ann(&self) -> bool {
        self.serving.index.is_some()
    }

    /// The user's view for a query: its history (positive values, as the event rules keep them) and
    /// its known user. For a known user whose query history is the training history this is the view
    /// [`UserView::build`] makes for a request without events.
    pub fn view(q: &Query<'_>) -> UserView {
        let mut view = UserView::of_history(q.history);
        if let Some(s) = q.sequence {
            view.sequence = s.to_vec();
        }
        if let Some(u) = q.user {
            view.known = Some(u);
            view.changed = false;
        }
        view
    }
}

impl Recommender for ServingRecommender {
    fn name(&self) -> &str {
        &self.name
    }

    fn n_items(&self) -> usize {
        self.serving.model().n_items()
    }

    fn recommend(&self, q: &Query<'_>, k: usize) -> tastebud_core::Result<Vec<Scored>> {
        let (exclude_seen, exclude): (bool, &[ItemIdx]) = match q.exclude {
            Exclude::Seen => (true, &[]),
            Exclude::Nothing => (false, &[]),
            Exclude::Items(x) => (false, x),
            Exclude::SeenAnd(x) => (true, x),
        };
        let mut request = self.pipeline.request(k);
        request.exclude_seen = exclude_seen;
        request.exclude = exclude.to_vec();
        request.candidates = q.candidates.map(<[ItemIdx]>::to_vec);
        request.explain = false;
        let view = Self::view(q);
        let r = self
            .pipeline
            .rank(&self.serving, &view, &request, &[], None)
            .map_err(core_error)?;
        Ok(r.idx
            .iter()
            .zip(&r.items)
            .map(|(&item, it)| Scored {
                item,
                score: it.score,
            })
            .collect())
    }

    fn similar_items(&self, item: ItemIdx, k: usize) -> tastebud_core::Result<Vec<Scored>> {
        self.serving.model().similar_items(item, k)
    }

    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        self.serving.model().item_embeddings()
    }
}

/// A pipeline error as the library error the [`Recommender`] trait returns.
pub fn core_error(e: ServeError) -> tastebud_core::Error {
    tastebud_core::Error::BadInput {
        path: PathBuf::from("serving pipeline"),
        reason: e.to_string(),
    }
}

/// What `tastebud_eval::run::run_adapted` takes to evaluate every fitted model through the pipeline of
/// `config`: each model becomes a [`ServingRecommender::fitted`] on its fold's training data.
pub fn adapter(
    config: PipelineConfig,
) -> impl Fn(AnyModel, serde_json::Value, &Dataset) -> tastebud_core::Result<Box<dyn Recommender>> + Sync
{
    move |model, params, train| {
        let r = ServingRecommender::fitted(&config, model, params, train).map_err(core_error)?;
        Ok(Box::new(r) as Box<dyn Recommender>)
    }
}
