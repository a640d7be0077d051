//! A whole evaluation run: fit every model on every fold, evaluate, and build the [`Report`].

use std::time::Instant;

use tastebud_core::{Dataset, Result, Split};
use tastebud_models::registry::{self, ModelSpec};
use tastebud_models::{AnyModel, Progress, Recommender};

use crate::evaluator::{
    EvalData, EvalOptions, ModelEval, RankedList, evaluate, relevance, score_lists,
};
use crate::report::{Report, build};
use crate::sweep::SweepOptions;

/// The progress of one fit inside an evaluation: silent, except that its notes (e.g. a support the fit
/// chose) are kept for the report.
#[derive(Default)]
struct FitNotes(std::sync::Mutex<Vec<String>>);

impl Progress for FitNotes {
    fn start(&self, _phase: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn message(&self, _msg: &str) {}
    fn note(&self, msg: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg.to_owned());
    }
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalPlan {
    /// Models with their hyperparameters (see [`tastebud_models::registry::MODELS`]); the first is the
    /// baseline for comparisons.
    pub models: Vec<ModelSpec>,
    /// Runs read from TREC files: `(name, lists)`, scored against the first fold.
    pub runs: Vec<(String, Vec<RankedList>)>,
    /// Evaluation options.
    pub opts: EvalOptions,
    /// Split description, for the report.
    pub split: String,
    /// Split seed, for the report.
    pub seed: u64,
    /// Keep the lists (for TREC export).
    pub keep_lists: bool,
    /// Models fitted before the run (model files), scored on the first fold as they are, after the fitted
    /// models and before the runs.
    pub pretrained: Vec<Pretrained>,
}

/// A model fitted before the run (e.g. [`crate::pretrained::Remapped`] over a model file).
#[derive(Clone)]
pub struct Pretrained(pub std::sync::Arc<dyn Recommender>);

impl std::fmt::Debug for Pretrained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pretrained").field(&self.0.name()).finish()
    }
}

/// The report plus the raw per-fold results (`evals[model][fold]`), for exports.
#[derive(Debug)]
pub struct EvalOutput {
    /// The report.
    pub report: Report,
    /// Per model, per fold.
    pub evals: Vec<Vec<ModelEval>>,
}

/// Turns each fitted model into what is evaluated in its place. `tastebud evaluate --serving-config`
/// wraps it in the online pipeline (`tastebud_serve::offline::ServingRecommender`: ANN retrieval,
/// freshness, demotion, re-ranking), so that the offline number is the number of what is served. The
/// wrapper's [`Recommender::name`] names the row of the report (e.g. `als+serving`).
pub trait ModelAdapter: Sync {
    /// Wraps `model`, fitted on `train` with `params` (every hyperparameter, as
    /// [`registry::fit`] returns them).
    fn adapt(
        &self,
        model: AnyModel,
        params: serde_json::Value,
        train: &Dataset,
    ) -> Result<Box<dyn Recommender>>;
}

/// Any `Fn(model, params, train) -> Result<Box<dyn Recommender>>` is an adapter (e.g.
/// `tastebud_serve::offline::adapter(config)`).
impl<F> ModelAdapter for F
where
    F: Fn(AnyModel, serde_json::Value, &Dataset) -> Result<Box<dyn Recommender>> + Sync,
{
    fn adapt(
        &self,
        model: AnyModel,
        params: serde_json::Value,
        train: &Dataset,
    ) -> Result<Box<dyn Recommender>> {
        self(model, params, train)
    }
}

/// Fits and evaluates every model of `plan` on every split of `data`.
pub fn run(
    data: &Dataset,
    splits: &[Split],
    plan: &EvalPlan,
    progress: &dyn Progress,
) -> Result<EvalOutput> {
    run_with_sweep(data, splits, plan, None, progress)
}

/// [`run`], plus the re-ranker trade-off curves of every model on the first split when `sweep` is given
/// (in the report's `sweeps`).
pub fn run_with_sweep(
    data: &Dataset,
    splits: &[Split],
    plan: &EvalPlan,
    sweep: Option<&SweepOptions>,
    progress: &dyn Progress,
) -> Result<EvalOutput> {
    run_adapted(data, splits, plan, sweep, None, progress)
}

/// [`run_with_sweep`], with every fitted model passed through `adapter` before it is evaluated (and
/// swept) when one is given; TREC runs are scored as they are.
pub fn run_adapted(
    data: &Dataset,
    splits: &[Split],
    plan: &EvalPlan,
    sweep: Option<&SweepOptions>,
    adapter: Option<&dyn ModelAdapter>,
    progress: &dyn Progress,
) -> Result<EvalOutput> {
    plan.opts.validate()?;
    if let Some(sw) = sweep {
        sw.validate()?;
    }
    let mut sweeps = Vec::new();
    let mut evals: Vec<Vec<ModelEval>> = Vec::new();
    let mut fit_seconds: Vec<Option<f64>> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    progress.start(
        "evaluate",
        (plan.models.len() * splits.len() + plan.pretrained.len() + plan.runs.len()) as u64,
    );
    for spec in &plan.models {
        let name = &spec.name;
        let mut per_fold = Vec::new();
        let mut fit_total = 0.0;
        for split in splits {
            let train = data.with_interactions(split.train.clone())?;
            let t = Instant::now();
            let fit_notes = FitNotes::default();
            let (fitted, params) = registry::fit(spec, &train, &fit_notes)?;
            for n in fit_notes.0.into_inner().unwrap_or_else(|e| e.into_inner()) {
                progress.note(&n);
                // A note names its model already ("rules: min_support ... chosen").
                notes.push(if splits.len() > 1 {
                    format!("fold {}: {n}", per_fold.len() + 1)
                } else {
                    n
                });
            }
            let owned = match adapter {
                Some(a) => Evaluated::Adapted(a.adapt(fitted, params, &train)?),
                None => Evaluated::Plain(Box::new(fitted)),
            };
            let model = owned.get();
            fit_total += t.elapsed().as_secs_f64();
            let d = eval_data(data, split);
            per_fold.push(evaluate(model, &d, &plan.opts, plan.keep_lists)?);
            if let Some(sw) = sweep
                && per_fold.len() == 1
            {
                progress.message(&format!("{name}: re-ranker sweep"));
                let mut s = crate::sweep::sweep(model, &d, &plan.opts, sw)?;
                s.model = if adapter.is_some() {
                    model.name().to_string()
                } else {
                    name.clone()
                };
                sweeps.push(s);
            }
            progress.message(&format!(
                "{name}: fold {} of {}",
                per_fold.len(),
                splits.len()
            ));
            progress.inc(1);
        }
        evals.push(per_fold);
        fit_seconds.push(Some(fit_total));
    }
    if let Some(first) = splits.first() {
        for Pretrained(model) in &plan.pretrained {
            let t = Instant::now();
            let d = eval_data(data, first);
            evals.push(vec![evaluate(
                model.as_ref(),
                &d,
                &plan.opts,
                plan.keep_lists,
            )?]);
            fit_seconds.push(None);
            progress.message(&format!(
                "{}: scored in {:.1} s",
                model.name(),
                t.elapsed().as_secs_f64()
            ));
            progress.inc(1);
        }
        for (name, lists) in &plan.runs {
            let d = eval_data(data, first);
            let rel = relevance(d.test, plan.opts.threshold, plan.opts.graded);
            let mut e = score_lists(name, lists, &d, &plan.opts, &rel)?;
            if plan.keep_lists {
                e.lists = lists.clone();
            }
            // A run covers one fold: it is compared on that fold only.
            evals.push(vec![e]);
            fit_seconds.push(None);
            progress.inc(1);
        }
    }
    let user_features: Vec<Option<&tastebud_core::FeatureTable>> =
        splits.iter().map(|_| data.user_features.as_ref()).collect();
    let mut report = build(
        &data.meta.name,
        &plan.split,
        plan.seed,
        &plan.opts,
        &evals,
        &fit_seconds,
        &user_features,
    );
    report.sweeps = sweeps;
    report.notes = notes;
    Ok(EvalOutput { report, evals })
}

/// The model evaluated: the fitted one, or what the [`ModelAdapter`] made of it.
enum Evaluated {
    Plain(Box<AnyModel>),
    Adapted(Box<dyn Recommender>),
}

impl Evaluated {
    fn get(&self) -> &dyn Recommender {
        match self {
            Evaluated::Plain(m) => m.as_recommender(),
            Evaluated::Adapted(m) => m.as_ref(),
        }
    }
}

/// The evaluator's view of one split of `data`.
pub fn eval_data<'a>(data: &'a Dataset, split: &'a Split) -> EvalData<'a> {
    EvalData {
        train: &split.train,
        test: &split.test,
        fold_in: split.fold_in.as_ref(),
        item_features: data.item_features.as_ref(),
        user_features: data.user_features.as_ref(),
    }
}
