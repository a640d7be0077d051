//! `tastebud._tastebud`: the Python bindings (PyO3). The public API is the `tastebud` package beside this
//! crate (`tastebud/__init__.py`), which wraps these classes and turns lists into NumPy arrays and
//! pandas DataFrames. Every long call releases the GIL.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use tastebud_core::{Feedback, ItemIdx, Triplets, UserIdx};
use tastebud_data::delimited::{Columns, Delimiter};
use tastebud_data::{DatasetBuilder, Format, GenericSpec, LoadOptions};
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{self, ModelSpec};
use tastebud_models::{NoProgress, Query};

fn err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Interactions with their user and item ids (and item features when the source has them).
#[pyclass(module = "tastebud._tastebud", frozen)]
struct Dataset {
    inner: Arc<tastebud_core::Dataset>,
}

#[pymethods]
impl Dataset {
    /// Loads any dataset the `tastebud` CLI reads: a MovieLens/Goodbooks/Netflix/Amazon folder, a delimited
    /// file (with `columns`, e.g. "user=userId,item=movieId,rating=rating,time=timestamp"), or Parquet.
    #[staticmethod]
    #[pyo3(signature = (path, columns=None, delimiter=None, implicit=false))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        columns: Option<String>,
        delimiter: Option<String>,
        implicit: bool,
    ) -> PyResult<Self> {
        let opts = LoadOptions {
            skip_bad_lines: false,
            kind: implicit.then_some(Feedback::Implicit),
        };
        let d = py.allow_threads(|| -> tastebud_core::Result<_> {
            let format = if columns.is_some() || delimiter.is_some() {
                Format::Generic(GenericSpec {
                    delimiter: delimiter.as_deref().map(Delimiter::parse).transpose()?,
                    columns: columns.as_deref().map(Columns::parse_mapping).transpose()?,
                    header: None,
                    kind: opts.kind,
                })
            } else {
                tastebud_data::detect(&path)?
            };
            tastebud_data::load_as(&path, &format, &opts)
        });
        Ok(Dataset {
            inner: Arc::new(d.map_err(err)?),
        })
    }

    /// A dataset from columns (what `from_pandas` passes): ids as strings, optional ratings (explicit
    /// feedback unless `implicit`) and Unix times.
    #[staticmethod]
    #[pyo3(signature = (users, items, ratings=None, times=None, implicit=false, name="dataframe"))]
    fn from_columns(
        py: Python<'_>,
        users: Vec<String>,
        items: Vec<String>,
        ratings: Option<Vec<f32>>,
        times: Option<Vec<i64>>,
        implicit: bool,
        name: &str,
    ) -> PyResult<Self> {
        let n = users.len();
        if items.len() != n
            || ratings.as_ref().is_some_and(|r| r.len() != n)
            || times.as_ref().is_some_and(|t| t.len() != n)
        {
            return Err(err("users, items, ratings and times must have the same length"));
        }
        let d = py.allow_threads(|| {
            let kind = if implicit || ratings.is_none() {
                Feedback::Implicit
            } else {
                Feedback::Explicit
            };
            let mut b = DatasetBuilder::new(kind, &LoadOptions::default());
            let mut t = Triplets::default();
            for r in 0..n {
                let v = ratings.as_ref().map_or(1.0, |x| x[r]);
                if !v.is_finite() {
                    return Err(tastebud_core::Error::BadInput {
                        path: name.into(),
                        reason: format!("row {r}: rating {v} is not finite"),
                    });
                }
                let u = b.users.insert(&users[r]);
                let i = b.items.insert(&items[r]);
                t.push(u, i, v, times.as_ref().map(|x| x[r]));
            }
            b.blocks.push(t);
            b.finish(name, name)
        });
        Ok(Dataset {
            inner: Arc::new(d.map_err(err)?),
        })
    }

    /// Number of users.
    #[getter]
    fn n_users(&self) -> usize {
        self.inner.n_users()
    }
    /// Number of items.
    #[getter]
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }
    /// Number of interactions (after duplicates are merged).
    #[getter]
    fn n_interactions(&self) -> usize {
        self.inner.interactions.nnz()
    }
    /// The dataset's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.meta.name.clone()
    }
    /// User ids, in index order.
    fn user_ids(&self) -> Vec<String> {
        (0..self.inner.n_users() as u32)
            .map(|u| self.inner.users.0.id(u).unwrap_or("").to_string())
            .collect()
    }
    /// Item ids, in index order.
    fn item_ids(&self) -> Vec<String> {
        (0..self.inner.n_items() as u32)
            .map(|i| self.inner.items.0.id(i).unwrap_or("").to_string())
            .collect()
    }
    fn __repr__(&self) -> String {
        format!(
            "Dataset({:?}, users={}, items={}, interactions={})",
            self.inner.meta.name,
            self.inner.n_users(),
            self.inner.n_items(),
            self.inner.interactions.nnz()
        )
    }
}

/// A fitted model with its ids and training histories: the same file format as `tastebud train`.
#[pyclass(module = "tastebud._tastebud", frozen)]
struct Model {
    file: Arc<ModelFile>,
}

impl Model {
    /// The training history of `user`, or a `KeyError`.
    fn user_history(&self, user: &str) -> PyResult<(UserIdx, Vec<(ItemIdx, f32)>)> {
        let ctx = &self.file.context;
        let u = ctx
            .users
            .get(user)
            .ok_or_else(|| PyKeyError::new_err(format!("unknown user {user:?}")))?;
        let train = ctx.train.as_ref().ok_or_else(|| {
            err("the model file has no training histories; pass history= instead")
        })?;
        Ok((u, train.history(u)))
    }

    /// The value a history item given without one gets: the top rating for explicit data, else 1.
    fn default_value(&self) -> f32 {
        match self.file.context.train.as_ref() {
            Some(t) if t.kind() == Feedback::Explicit => {
                t.values().iter().copied().fold(1.0f32, f32::max)
            }
            _ => 1.0,
        }
    }

    fn named(&self, recs: Vec<tastebud_core::Scored>) -> Vec<(String, f32)> {
        let items = &self.file.context.items;
        recs.into_iter()
            .map(|s| (items.id(s.item).unwrap_or("?").to_string(), s.score))
            .collect()
    }
}

#[pymethods]
impl Model {
    /// Loads a model file written by `save`, `tastebud train` or `tastebud import`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let f = py.allow_threads(|| ModelFile::load(&path)).map_err(err)?;
        Ok(Model { file: Arc::new(f) })
    }

    /// Writes the model file (atomically).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.allow_threads(|| self.file.save(&path)).map_err(err)
    }

    /// The model type, e.g. "ease".
    #[getter]
    fn kind(&self) -> String {
        self.file.header.model.clone()
    }

    /// Every hyperparameter, as JSON text.
    #[getter]
    fn params_json(&self) -> String {
        self.file.header.params.to_string()
    }

    /// The best `k` items, as (item id, score), best first, for a known `user` (their training history)
    /// and/or a `history` of item ids or (item id, value) pairs; seen items are left out unless
    /// `exclude_seen` is false.
    #[pyo3(signature = (user=None, history=None, k=10, exclude_seen=true))]
    fn recommend(
        &self,
        py: Python<'_>,
        user: Option<String>,
        history: Option<Vec<(String, Option<f32>)>>,
        k: usize,
        exclude_seen: bool,
    ) -> PyResult<Vec<(String, f32)>> {
        let (mut uidx, mut h) = (None, Vec::new());
        if let Some(u) = &user {
            let (i, hist) = self.user_history(u)?;
            uidx = Some(i);
            h = hist;
        }
        let default = self.default_value();
        for (id, v) in history.unwrap_or_default() {
            let i = self
                .file
                .context
                .items
                .get(&id)
                .ok_or_else(|| PyKeyError::new_err(format!("unknown item {id:?}")))?;
            h.push((i, v.unwrap_or(default)));
        }
        let recs = py
            .allow_threads(|| {
                let mut q = Query::new(&h);
                if let Some(u) = uidx {
                    q = q.user(u);
                }
                if !exclude_seen {
                    q = q.exclude(tastebud_models::Exclude::Nothing);
                }
                self.file.model.as_recommender().recommend(&q, k)
            })
            .map_err(err)?;
        Ok(self.named(recs))
    }

    /// The top `k` of many known users at once (in parallel, GIL released): (item ids, scores), one row
    /// per user, rows shorter than `k` padded with None / NaN.
    #[pyo3(signature = (users, k=10))]
    #[allow(clippy::type_complexity)]
    fn recommend_batch(
        &self,
        py: Python<'_>,
        users: Vec<String>,
        k: usize,
    ) -> PyResult<(Vec<Vec<Option<String>>>, Vec<Vec<f32>>)> {
        use rayon::prelude::*;
        let queries: Vec<(UserIdx, Vec<(ItemIdx, f32)>)> = users
            .iter()
            .map(|u| self.user_history(u))
            .collect::<PyResult<_>>()?;
        let lists = py
            .allow_threads(|| {
                queries
                    .par_iter()
                    .map(|(u, h)| {
                        self.file
                            .model
                            .as_recommender()
                            .recommend(&Query::new(h).user(*u), k)
                    })
                    .collect::<tastebud_core::Result<Vec<_>>>()
            })
            .map_err(err)?;
        let items = &self.file.context.items;
        let mut ids = Vec::with_capacity(lists.len());
        let mut scores = Vec::with_capacity(lists.len());
        for l in lists {
            let mut row_ids: Vec<Option<String>> = l
                .iter()
                .map(|s| items.id(s.item).map(str::to_string))
                .collect();
            let mut row_scores: Vec<f32> = l.iter().map(|s| s.score).collect();
            row_ids.resize(k, None);
            row_scores.resize(k, f32::NAN);
            ids.push(row_ids);
            scores.push(row_scores);
        }
        Ok((ids, scores))
    }

    /// Items similar to `item`, as (item id, score), best first.
    #[pyo3(signature = (item, k=10))]
    fn similar_items(&self, py: Python<'_>, item: String, k: usize) -> PyResult<Vec<(String, f32)>> {
        let i = self
            .file
            .context
            .items
            .get(&item)
            .ok_or_else(|| PyKeyError::new_err(format!("unknown item {item:?}")))?;
        let recs = py
            .allow_threads(|| self.file.model.as_recommender().similar_items(i, k))
            .map_err(err)?;
        Ok(self.named(recs))
    }

    /// User ids the model knows (with a training history), in index order.
    fn user_ids(&self) -> Vec<String> {
        let users = &self.file.context.users;
        (0..users.len() as u32)
            .map(|u| users.id(UserIdx(u)).unwrap_or("").to_string())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(kind={:?}, dataset={:?}, users={}, items={})",
            self.file.header.model,
            self.file.header.dataset,
            self.file.header.n_users,
            self.file.header.n_items
        )
    }
}

/// Fits a registered model (`tastebud evaluate --help` lists them) with `key=value` parameters.
#[pyfunction]
#[pyo3(signature = (name, data, params=Vec::new()))]
fn fit(py: Python<'_>, name: &str, data: &Dataset, params: Vec<String>) -> PyResult<Model> {
    let mut spec = ModelSpec::new(name).map_err(err)?;
    for p in &params {
        spec = spec.param(p).map_err(err)?;
    }
    let d = data.inner.clone();
    let file = py
        .allow_threads(|| {
            let (model, params) = registry::fit(&spec, &d, &NoProgress)?;
            Ok::<_, tastebud_core::Error>(ModelFile::new(model, params, &d, true))
        })
        .map_err(err)?;
    Ok(Model {
        file: Arc::new(file),
    })
}

/// Evaluates models on a split of `data` as `tastebud evaluate` does; returns the report as JSON text.
#[pyfunction]
#[pyo3(signature = (data, models, split="user:0.2", k=vec![10], metrics=None, params=Vec::new(), seed=42, threshold=None))]
#[allow(clippy::too_many_arguments)]
fn evaluate_json(
    py: Python<'_>,
    data: &Dataset,
    models: Vec<String>,
    split: &str,
    k: Vec<usize>,
    metrics: Option<Vec<String>>,
    params: Vec<String>,
    seed: u64,
    threshold: Option<f32>,
) -> PyResult<String> {
    use tastebud_eval::run::EvalPlan;
    use tastebud_eval::{EvalOptions, MetricKind, MetricSet};
    let spec: tastebud_core::SplitSpec = split.parse().map_err(err)?;
    let names = metrics.unwrap_or_else(|| {
        ["precision", "recall", "ndcg", "map", "mrr", "hit_rate"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let kinds: Vec<MetricKind> = names
        .iter()
        .map(|m| MetricKind::parse(m).ok_or_else(|| err(format!("unknown metric `{m}`"))))
        .collect::<PyResult<_>>()?;
    let mut specs: Vec<ModelSpec> = models
        .iter()
        .map(|m| ModelSpec::new(m).map_err(err))
        .collect::<PyResult<_>>()?;
    for p in &params {
        let (model, kv) = p
            .split_once('.')
            .ok_or_else(|| err(format!("param `{p}` is not MODEL.KEY=VALUE")))?;
        let canonical = ModelSpec::new(model).map_err(err)?.name;
        let s = specs
            .iter_mut()
            .find(|m| m.name == canonical)
            .ok_or_else(|| err(format!("param `{p}`: model `{model}` is not in models")))?;
        *s = std::mem::take(s).param(kv).map_err(err)?;
    }
    let d = data.inner.clone();
    let report = py
        .allow_threads(|| -> tastebud_core::Result<_> {
            let splits = spec.apply(&d.interactions, seed)?;
            let plan = EvalPlan {
                models: specs,
                runs: Vec::new(),
                opts: EvalOptions {
                    metrics: MetricSet::new(&kinds, &k),
                    threshold,
                    ..EvalOptions::default()
                },
                split: split.to_string(),
                seed,
                keep_lists: false,
                pretrained: Vec::new(),
            };
            Ok(tastebud_eval::run::run(&d, &splits, &plan, &NoProgress)?.report)
        })
        .map_err(err)?;
    serde_json::to_string(&report).map_err(err)
}

/// The registered model names with a one-line description each.
#[pyfunction]
fn models() -> Vec<(String, String)> {
    registry::MODELS
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect()
}

#[pymodule]
fn _tastebud(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Dataset>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_json, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
