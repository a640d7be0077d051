//! `tastebud evaluate`: flags -> a validated [`EvalPlan`] -> the report as a table, JSON, CSV, HTML, TREC.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use tastebud_core::{ItemIdx, Split, SplitSpec};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::run::{EvalPlan, eval_data};
use tastebud_eval::sweep::{SweepKind, SweepOptions};
use tastebud_eval::{EvalOptions, Protocol};
use tastebud_models::registry::ModelSpec;

use crate::DataArgs;
use crate::progress::Bar;

/// Output format of `evaluate`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables.
    Table,
    /// The whole report as JSON.
    Json,
    /// One row per model, mean and std columns per metric.
    Csv,
}

/// Flags of `tastebud evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Split protocol: random:0.2, user:0.2, last:1, time:UNIX, time-ratio:0.8, kfold:5, users:0.1:0.2, cold-items:0.2.
    #[arg(long, default_value = "user:0.2")]
    split: String,
    /// Explicit train file (with --test), read in the dataset's rating format; PATH gives the catalogue.
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Explicit test file (with --train).
    #[arg(long, requires = "train")]
    test: Option<PathBuf>,
    /// Seed of the split (and of sampled negatives).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Models, comma-separated; the first is the baseline for significance tests.
    #[arg(long, default_value = "popularity,random", value_delimiter = ',')]
    models: Vec<String>,
    /// A model hyperparameter, `MODEL.KEY=VALUE` (e.g. `als.factors=64`); repeatable.
    #[arg(long = "param", value_name = "MODEL.KEY=VALUE")]
    params: Vec<String>,
    /// TREC run files to evaluate beside the models (scored on the first fold).
    #[arg(long = "run", value_name = "FILE")]
    runs: Vec<PathBuf>,
    /// Model files fitted before (`tastebud train`, `tastebud import spark-als`) to evaluate beside the
    /// models, as they are, on the first fold; items are matched by id. Give the data they were trained
    /// on as --train (and the held-out part as --test), or the numbers include their training data.
    #[arg(long = "model-file", value_name = "FILE")]
    model_files: Vec<PathBuf>,
    /// Cut-offs, comma-separated.
    #[arg(long, default_value = "10", value_delimiter = ',')]
    k: Vec<usize>,
    /// Ranking metrics: precision, recall, ndcg, ndcg_graded, map, mrr, hit_rate, auc.
    #[arg(
        long,
        default_value = "precision,recall,ndcg,map,mrr,hit_rate",
        value_delimiter = ','
    )]
    metrics: Vec<String>,
    /// Skip beyond-accuracy metrics (coverage, diversity, novelty, serendipity, popularity, Gini).
    #[arg(long)]
    no_beyond: bool,
    /// A test interaction is relevant when its value is at least this (e.g. 4 for 4+ stars).
    #[arg(long)]
    threshold: Option<f32>,
    /// Use test values as graded relevance (for ndcg_graded and the qrels grades).
    #[arg(long)]
    graded: bool,
    /// Ranking protocol: full, sampled (100 negatives), sampled:N, or candidates:FILE (one item id per line).
    #[arg(long, default_value = "full")]
    protocol: String,
    /// Categorical user features to break results down by (e.g. gender,occupation).
    #[arg(long, value_delimiter = ',')]
    segment_by: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Write an HTML report with plots to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write the recommendations as a TREC run (one file per model and fold when there are several).
    #[arg(long, value_name = "FILE")]
    export_run: Option<PathBuf>,
    /// Write the held-out truth as TREC qrels (one file per fold when there are several).
    #[arg(long, value_name = "FILE")]
    export_qrels: Option<PathBuf>,
    /// Re-ranker trade-off curves on the first fold: sweep each re-ranker's parameter (mmr, calibration,
    /// fair_share, cap; all when given without a list) and report NDCG against diversity and exposure.
    #[arg(long, value_delimiter = ',', num_args = 0.., value_name = "RERANKERS")]
    rerank_sweep: Option<Vec<String>>,
    /// Candidates the swept re-rankers choose from (the model's top N).
    #[arg(long, default_value_t = 100)]
    sweep_candidates: usize,
    /// Length of the re-ranked lists in the sweep.
    #[arg(long, default_value_t = 10)]
    sweep_k: usize,
    /// Evaluate every model through the serving pipeline configured in this file, so the offline
    /// number is the number of what is served: the same exact or ANN retrieval, freshness, demotion
    /// and re-ranking as `tastebud serve`. A whole server `tastebud.toml` works: its `mode`,
    /// `cold_start`, `[freshness]`, `[events]`, `[hybrid]`, `[ann]`, `[rerank]` and `[explore]` are
    /// read, the rest ignored. Lists are computed in real time without explanations or exploration;
    /// rows are named `MODEL+serving`.
    #[arg(long, value_name = "FILE")]
    serving_config: Option<PathBuf>,
}

fn parse_protocol(s: &str, data: &tastebud_core::Dataset, seed: u64) -> Result<Protocol> {
    let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
    Ok(match kind {
        "full" => Protocol::Full,
        "sampled" => Protocol::Sampled {
            negatives: if arg.is_empty() {
                100
            } else {
                arg.parse().context("sampled:N needs a whole number")?
            },
            seed,
        },
        "candidates" => {
            let text = std::fs::read_to_string(arg)
                .with_context(|| format!("reading candidates file `{arg}`"))?;
            let mut items: Vec<ItemIdx> = Vec::new();
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let id = line.trim();
                items.push(
                    data.item(id)
                        .with_context(|| format!("{arg}:{}: unknown item `{id}`", n + 1))?,
                );
            }
            Protocol::Candidates { items }
        }
        other => bail!("unknown protocol `{other}` (full, sampled[:N], candidates:FILE)"),
    })
}

/// Runs `evaluate`.
pub fn run(args: &EvaluateArgs, out: &mut impl Write) -> Result<()> {
    // Validate everything cheap before loading data.
    let kinds: Vec<MetricKind> = args
        .metrics
        .iter()
        .map(|m| MetricKind::parse(m).with_context(|| format!("unknown metric `{m}`")))
        .collect::<Result<_>>()?;
    if args.k.contains(&0) {
        bail!("--k values must be at least 1");
    }
    let serving = match &args.serving_config {
        Some(path) => Some(tastebud_serve::offline::load_pipeline_config(path)?),
        None => None,
    };
    let spec: Option<SplitSpec> = if args.train.is_some() {
        None
    } else {
        Some(args.split.parse()?)
    };

    let (data, splits): (tastebud_core::Dataset, Vec<Split>) = match (&args.train, &args.test) {
        (Some(train), Some(test)) => {
            let (d, test) = tastebud_data::load_pair(
                Some(args.data.path()),
                train,
                test,
                &args.data.load_options(),
            )?;
            let split = Split {
                train: d.interactions.clone(),
                test,
                fold_in: None,
            };
            (d, vec![split])
        }
        _ => {
            let d = args.data.load()?;
            let splits = spec
                .as_ref()
                .expect("no --train")
                .apply(&d.interactions, args.seed)?;
            (d, splits)
        }
    };
    let split_name = match (&args.train, &args.test) {
        (Some(a), Some(b)) => format!("files {} / {}", a.display(), b.display()),
        _ => args.split.clone(),
    };
    let opts = EvalOptions {
        metrics: MetricSet::new(&kinds, &args.k),
        threshold: args.threshold,
        graded: args.graded,
        protocol: parse_protocol(&args.protocol, &data, args.seed)?,
        beyond: !args.no_beyond,
        segment_features: args.segment_by.clone(),
        ..EvalOptions::default()
    };
    let mut runs = Vec::new();
    for path in &args.runs {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run")
            .to_string();
        runs.push((name, tastebud_eval::trec::read_run(path, &data)?));
    }
    let mut pretrained = Vec::new();
    for path in &args.model_files {
        let file = tastebud_models::file::ModelFile::load(path)
            .with_context(|| format!("loading model file {}", path.display()))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string();
        let m = tastebud_eval::pretrained::Remapped::new(&name, file, &data)?;
        pretrained.push(tastebud_eval::run::Pretrained(std::sync::Arc::new(m)));
    }
    let mut models: Vec<ModelSpec> = Vec::new();
    for name in args
        .models
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
    {
        models.push(ModelSpec::new(name)?);
    }
    for p in &args.params {
        let (model, kv) = p
            .split_once('.')
            .with_context(|| format!("--param `{p}` is not MODEL.KEY=VALUE"))?;
        let canonical = ModelSpec::new(model)?.name;
        let spec = models
            .iter_mut()
            .find(|m| m.name == canonical)
            .with_context(|| format!("--param `{p}`: model `{model}` is not in --models"))?;
        *spec = std::mem::take(spec).param(kv)?;
    }
    let plan = EvalPlan {
        models,
        runs,
        opts,
        split: split_name,
        seed: args.seed,
        keep_lists: args.export_run.is_some(),
        pretrained,
    };
    if plan.models.is_empty() && plan.runs.is_empty() && plan.pretrained.is_empty() {
        bail!("nothing to evaluate: give --models, --model-file or --run");
    }
    let sweep = match &args.rerank_sweep {
        None => None,
        Some(names) => {
            let kinds: Vec<SweepKind> = if names.iter().all(|n| n.trim().is_empty()) {
                SweepKind::ALL.to_vec()
            } else {
                names
                    .iter()
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| SweepKind::parse(n))
                    .collect::<tastebud_core::Result<_>>()?
            };
            let sw = SweepOptions {
                kinds,
                candidates: args.sweep_candidates,
                k: args.sweep_k,
                ..SweepOptions::default()
            };
            sw.validate()?;
            Some(sw)
        }
    };
    if let (Some(c), Some(path)) = (&serving, &args.serving_config) {
        eprintln!(
            "evaluating through the serving pipeline of {}: re-ranker {}{}, ANN retrieval from {} items (ef_search {}, oversample {})",
            path.display(),
            c.rerank.method.as_str(),
            match c.rerank.method {
                tastebud_serve::RerankMethod::None => String::new(),
                _ => format!(" {}", c.rerank.param),
            },
            c.ann.min_items,
            c.ann.ef_search,
            c.ann.oversample
        );
    }
    let adapter = serving.map(tastebud_serve::offline::adapter);
    let adapter = adapter
        .as_ref()
        .map(|a| a as &dyn tastebud_eval::run::ModelAdapter);
    let bar = Bar::new();
    let output =
        tastebud_eval::run::run_adapted(&data, &splits, &plan, sweep.as_ref(), adapter, &bar)?;
    bar.finish();
    let report = &output.report;
    match args.format {
        OutputFormat::Table => write!(out, "{}", report.to_text())?,
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
        OutputFormat::Csv => write!(out, "{}", report.to_csv())?,
    }
    if let Some(path) = &args.report {
        std::fs::write(path, tastebud_eval::html::render(report))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    let multi_fold = splits.len() > 1;
    if let Some(path) = &args.export_qrels {
        for (f, split) in splits.iter().enumerate() {
            let rel = tastebud_eval::evaluator::relevance(
                &split.test,
                plan.opts.threshold,
                plan.opts.graded,
            );
            let p = numbered(path, multi_fold.then_some(f + 1), None);
            tastebud_eval::trec::write_qrels(&p, &data, &rel)?;
            let _ = eval_data(&data, split);
        }
    }
    if let Some(path) = &args.export_run {
        let multi_model = output.evals.len() > 1;
        for per_fold in &output.evals {
            for (f, e) in per_fold.iter().enumerate() {
                let p = numbered(
                    path,
                    multi_fold.then_some(f + 1),
                    multi_model.then_some(e.model.as_str()),
                );
                tastebud_eval::trec::write_run(&p, &data, &e.lists, &e.model)?;
            }
        }
    }
    Ok(())
}

/// `run.trec` -> `run.<model>.fold<k>.trec` when there are several models or folds.
fn numbered(path: &Path, fold: Option<usize>, model: Option<&str>) -> PathBuf {
    if fold.is_none() && model.is_none() {
        return path.to_path_buf();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("out");
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let mut name = stem.to_string();
    if let Some(m) = model {
        name.push('.');
        name.push_str(&m.replace(['/', ' '], "_"));
    }
    if let Some(f) = fold {
        name.push_str(&format!(".fold{f}"));
    }
    path.with_file_name(format!("{name}{ext}"))
}
