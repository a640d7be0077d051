//! What the serving pipeline costs offline: NDCG@10 of ALS on ML-100K scored exactly (the direct
//! evaluation) against the same fitted model evaluated through the pipeline (`tastebud evaluate
//! --serving-config`) with HNSW retrieval at several search breadths and oversampling factors, and
//! with the re-rankers at their default request parameters.
//!
//! ```sh
//! cargo run --release -p tastebud-serve --example eval_serving -- [--data DIR] [--split user:0.2] \
//!     [--seed 42] [--param als.KEY=VALUE ...] [--config FILE ...]
//! ```
//!
//! `--data` defaults to `$TASTEBUD_DATA` (or `../shared/data`); relevance is 4+ stars, full ranking.
//! Each `--config FILE` adds a row for that pipeline configuration (a whole server `tastebud.toml`
//! works) after the built-in rows.

use std::time::Instant;

use tastebud_core::SplitSpec;
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::run::eval_data;
use tastebud_eval::{EvalOptions, ModelEval, evaluate};
use tastebud_models::NoProgress;
use tastebud_models::registry::{self, ModelSpec};
use tastebud_serve::offline::{ServingRecommender, pipeline_config_from_toml};

const ROWS: &[(&str, &str)] = &[
    (
        "pipeline, exact, no re-ranking",
        "[rerank]\nmethod = \"none\"",
    ),
    (
        "HNSW ef_search 128, oversample 4 (default)",
        "[ann]\nmin_items = 1",
    ),
    (
        "HNSW ef_search 128, oversample 1",
        "[ann]\nmin_items = 1\noversample = 1",
    ),
    (
        "HNSW ef_search 16, oversample 4",
        "[ann]\nmin_items = 1\nef_search = 16",
    ),
    (
        "HNSW ef_search 16, oversample 1",
        "[ann]\nmin_items = 1\nef_search = 16\noversample = 1",
    ),
    (
        "HNSW ef_search 4, oversample 1",
        "[ann]\nmin_items = 1\nef_search = 4\noversample = 1",
    ),
    ("exact + mmr 0.7", "[rerank]\nmethod = \"mmr\"\nparam = 0.7"),
    (
        "exact + calibration 0.5",
        "[rerank]\nmethod = \"calibration\"\nparam = 0.5",
    ),
    (
        "HNSW default + mmr 0.7",
        "[ann]\nmin_items = 1\n[rerank]\nmethod = \"mmr\"\nparam = 0.7",
    ),
    (
        "HNSW default + calibration 0.5",
        "[ann]\nmin_items = 1\n[rerank]\nmethod = \"calibration\"\nparam = 0.5",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data_flag = None;
    let mut split = "user:0.2".to_string();
    let mut seed = 42u64;
    let mut spec = ModelSpec::new("als")?;
    let mut configs: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data_flag = Some(val()?),
            "--split" => split = val()?,
            "--seed" => seed = val()?.parse()?,
            "--param" => {
                let v = val()?;
                spec = spec.param(v.strip_prefix("als.").unwrap_or(&v))?;
            }
            "--config" => {
                let path = val()?;
                let text = std::fs::read_to_string(&path)?;
                configs.push((path, text));
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let dir = tastebud_data::data_root(data_flag).join("ml-100k");
    let data = tastebud_data::load(&dir, &tastebud_data::LoadOptions::default())?;
    let spec_split: SplitSpec = split.parse()?;
    let split_data = spec_split.apply(&data.interactions, seed)?.remove(0);
    let train = data.with_interactions(split_data.train.clone())?;
    let opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg, MetricKind::Recall], &[10]),
        threshold: Some(4.0),
        beyond: true,
        ..EvalOptions::default()
    };
    let d = eval_data(&data, &split_data);
    let t = Instant::now();
    let (model, params) = registry::fit(&spec, &train, &NoProgress)?;
    let fit_s = t.elapsed().as_secs_f64();
    let direct = evaluate(model.as_recommender(), &d, &opts, true)?;
    println!(
        "ALS on {} ({}), split {split} seed {seed}, 4+ stars relevant, {} users, params {params}; fit {fit_s:.2} s; {} rayon threads",
        data.meta.name,
        dir.display(),
        direct.users.len(),
        rayon::current_num_threads()
    );
    println!();
    println!(
        "| evaluation | ANN | NDCG@10 | Δ NDCG@10 | Recall@10 | ILD@10 | lists changed | eval s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let row = |name: &str, ann: bool, e: &ModelEval, changed: usize| {
        println!(
            "| {name} | {} | {:.4} | {:+.4} | {:.4} | {:.4} | {changed} | {:.2} |",
            if ann { "yes" } else { "no" },
            e.means["ndcg@10"],
            e.means["ndcg@10"] - direct.means["ndcg@10"],
            e.means["recall@10"],
            e.means.get("ild@10").copied().unwrap_or(f64::NAN),
            e.seconds
        );
    };
    row("direct (exact scoring)", false, &direct, 0);
    let builtin = ROWS.iter().map(|(n, t)| (n.to_string(), t.to_string()));
    for (name, toml) in builtin.chain(configs) {
        let config = pipeline_config_from_toml(&toml)?;
        let s = ServingRecommender::fitted(&config, model.clone(), params.clone(), &train)?;
        let e = evaluate(&s, &d, &opts, true)?;
        let changed = e
            .lists
            .iter()
            .zip(&direct.lists)
            .filter(|(a, b)| a.items != b.items)
            .count();
        row(&name, s.uses_ann(), &e, changed);
    }
    Ok(())
}
