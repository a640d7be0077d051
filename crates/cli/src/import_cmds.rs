//! `tastebud import`: models trained elsewhere, turned into Tastebud model files that serve, explain and
//! evaluate like any other: Apache Spark MLlib's `ALSModel` (feature `parquet`), ONNX scoring models
//! (feature `onnx`); and `tastebud export onnx`, the other way.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

#[cfg(feature = "parquet")]
use crate::DataArgs;

/// Models trained by other systems.
#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// A Spark MLlib ALS model saved with `ALSModel.save` / `model.write().save(DIR)`.
    ///
    /// Spark's integer ids are the ids of --data (its training interactions) written as integers;
    /// Spark's saved model does not keep the estimator's `regParam`, `implicitPrefs` and `alpha`, so pass
    /// the ones it was trained with (Spark's defaults otherwise). Recommendations fold each history in
    /// with Spark's own solve; the import checks that this reproduces Spark's user factors.
    SparkAls(SparkAlsArgs),
    /// An ONNX scoring model (feature `onnx`): inputs `items` (`int64 [n]`, the history's item indices
    /// in --data's item order) and `weights` (`float32 [n]`), first output every item's score
    /// (`[n_items]` or `[1, n_items]`), or a user vector and an item table (see the `onnx` module). The
    /// model file serves and evaluates like any other.
    Onnx(OnnxArgs),
}

/// Model files written in other formats.
#[derive(Subcommand, Debug)]
pub enum ExportCmd {
    /// Write a model file as ONNX (feature `onnx`): EASE, Mult-VAE and Mult-DAE, in the contract
    /// `tastebud import onnx` reads (onnxruntime gives the same scores).
    Onnx(ExportOnnxArgs),
}

/// Arguments of `tastebud import onnx`.
#[derive(Args, Debug)]
pub struct OnnxArgs {
    /// The ONNX file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The catalogue the model scores, in its item order (and the users' histories), as in `tastebud train`.
    #[command(flatten)]
    data: crate::DataArgs,
    /// Output model file.
    #[arg(long)]
    out: PathBuf,
    /// User feature columns of --data fed to the model's third input, `user_features` (comma-separated;
    /// categorical columns one value per label, numeric ones their value; the layout is printed).
    #[arg(long, value_name = "COLUMNS")]
    user_features: Option<String>,
}

/// Arguments of `tastebud export onnx`.
#[derive(Args, Debug)]
pub struct ExportOnnxArgs {
    /// The model file (ease, multvae or multdae).
    #[arg(long)]
    model: PathBuf,
    /// Output ONNX file.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `tastebud import spark-als`.
#[derive(Args, Debug)]
pub struct SparkAlsArgs {
    /// The folder the model was saved to (`metadata/`, `userFactors/`, `itemFactors/`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The interactions the model was trained on (any file or folder `tastebud` reads; Parquet too).
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// Column mapping of --data, as in `tastebud train`.
    #[arg(long)]
    columns: Option<String>,
    /// Field delimiter of --data, as in `tastebud train`.
    #[arg(long)]
    delimiter: Option<String>,
    /// Output model file.
    #[arg(long)]
    out: PathBuf,
    /// The `regParam` the model was trained with.
    #[arg(long, default_value_t = 0.1)]
    reg_param: f32,
    /// The model was trained with `implicitPrefs=True`.
    #[arg(long)]
    implicit_prefs: bool,
    /// The `alpha` the model was trained with (implicit preferences).
    #[arg(long, default_value_t = 1.0)]
    alpha: f32,
    /// The `maxIter` it was trained with (recorded in the model file).
    #[arg(long, default_value_t = 10)]
    max_iter: usize,
    /// Largest median relative difference between Spark's user factors and their fold-in before the
    /// import fails (wrong --reg-param, --implicit-prefs, --alpha or --data).
    #[arg(long, default_value_t = 1e-3)]
    tolerance: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `tastebud import`.
pub fn run(cmd: &ImportCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        ImportCmd::SparkAls(args) => spark_als(args, out),
        ImportCmd::Onnx(args) => onnx(args, out),
    }
}

/// Runs `tastebud export`.
pub fn export(cmd: &ExportCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        ExportCmd::Onnx(args) => export_onnx(args, out),
    }
}

#[cfg(feature = "onnx")]
fn onnx(args: &OnnxArgs, out: &mut impl Write) -> Result<()> {
    use tastebud_models::file::ModelFile;
    use tastebud_models::onnx::OnnxModel;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let data = args.data.load()?;
    let model = match &args.user_features {
        None => OnnxModel::new(bytes, data.n_items()),
        Some(cols) => {
            let users = data
                .user_features
                .as_ref()
                .context("--user-features: --data has no user features")?;
            OnnxModel::with_user_features(bytes, data.n_items(), users, cols)
        }
    }
    .with_context(|| {
        format!(
            "{} does not follow the scoring contract",
            args.file.display()
        )
    })?;
    if !model.user_feature_names().is_empty() {
        writeln!(
            out,
            "user_features input ({} values): {}",
            model.user_feature_names().len(),
            model.user_feature_names().join(", ")
        )?;
    }
    let file = ModelFile::new(model.into(), serde_json::json!({}), &data, true);
    file.save(&args.out)?;
    writeln!(
        out,
        "imported ONNX scoring model {} ({} items) -> {}",
        args.file.display(),
        data.n_items(),
        args.out.display()
    )?;
    Ok(())
}

#[cfg(feature = "onnx")]
fn export_onnx(args: &ExportOnnxArgs, out: &mut impl Write) -> Result<()> {
    let file = tastebud_models::file::ModelFile::load(&args.model)?;
    let bytes = tastebud_models::onnx::export(&file.model)?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    writeln!(
        out,
        "exported {} ({}, {} items) -> {} ({} bytes)",
        args.model.display(),
        file.model.kind(),
        file.context.items.len(),
        args.out.display(),
        bytes.len()
    )?;
    Ok(())
}

#[cfg(not(feature = "onnx"))]
fn onnx(_args: &OnnxArgs, _out: &mut impl Write) -> Result<()> {
    bail!(NEEDS_ONNX)
}

#[cfg(not(feature = "onnx"))]
fn export_onnx(_args: &ExportOnnxArgs, _out: &mut impl Write) -> Result<()> {
    bail!(NEEDS_ONNX)
}

#[cfg(not(feature = "onnx"))]
const NEEDS_ONNX: &str = "ONNX models need Tastebud built with the `onnx` feature (cargo install --path \
                          crates/cli --features onnx)";

/// What an import did, for people (a table) and machines (JSON).
#[cfg(feature = "parquet")]
#[derive(Debug, serde::Serialize)]
struct SparkAlsSummary {
    out: String,
    rank: usize,
    spark_version: String,
    users_in_model: usize,
    users_matched: usize,
    items_in_model: usize,
    items_matched: usize,
    items_without_factors: usize,
    /// Relative difference `|fold-in − Spark| / |Spark|` over the matched users: median and maximum.
    fold_in_median_rel_diff: f64,
    fold_in_max_rel_diff: f64,
}

/// The `metadata/part-00000` JSON line of a saved Spark model.
fn spark_metadata(dir: &Path) -> Result<serde_json::Value> {
    let meta_dir = dir.join("metadata");
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&meta_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("part-"))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    let file = parts.into_iter().next().with_context(|| {
        format!(
            "{}: no metadata/part-* file; is this a folder written by ALSModel.save?",
            dir.display()
        )
    })?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let line = text.lines().next().unwrap_or("");
    let meta: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("{}: not Spark model metadata (JSON)", file.display()))?;
    let class = meta["class"].as_str().unwrap_or("");
    if class != "org.apache.spark.ml.recommendation.ALSModel" {
        bail!(
            "{}: the model class is `{class}`, not org.apache.spark.ml.recommendation.ALSModel",
            file.display()
        );
    }
    Ok(meta)
}

#[cfg(feature = "parquet")]
fn spark_als(args: &SparkAlsArgs, out: &mut impl Write) -> Result<()> {
    use tastebud_core::UserIdx;
    use tastebud_models::file::ModelFile;
    use tastebud_models::spark_als::{SparkAls, SparkAlsParams};

    let meta = spark_metadata(&args.dir)?;
    let rank = meta["rank"]
        .as_u64()
        .with_context(|| format!("{}: metadata has no `rank`", args.dir.display()))?
        as usize;
    let data = DataArgs {
        path: None,
        data: Some(args.data.clone()),
        columns: args.columns.clone(),
        delimiter: args.delimiter.clone(),
        implicit: false,
        skip_bad_lines: false,
    }
    .load()?;
    let factors = |side: &str| {
        tastebud_data::parquet::read_factors(&args.dir.join(side), rank)
            .with_context(|| format!("reading {side} of {}", args.dir.display()))
    };
    let (users, items) = (factors("userFactors")?, factors("itemFactors")?);
    let place = |rows: &[(i64, Vec<f32>)], map: &tastebud_core::IdMap, n: usize| {
        let mut m = vec![0f32; n * rank];
        let mut matched = 0;
        for (id, v) in rows {
            if let Some(i) = map.get(&id.to_string()) {
                m[i as usize * rank..][..rank].copy_from_slice(v);
                matched += 1;
            }
        }
        (m, matched)
    };
    let (uf, users_matched) = place(&users, &data.users.0, data.n_users());
    let (yf, items_matched) = place(&items, &data.items.0, data.n_items());
    if users_matched == 0 || items_matched == 0 {
        bail!(
            "none of Spark's {} ids match the ids of {} (Spark's ids must be the data's ids as integers)",
            if users_matched == 0 { "user" } else { "item" },
            args.data.display()
        );
    }
    let params = SparkAlsParams {
        rank,
        reg_param: args.reg_param,
        max_iter: args.max_iter,
        implicit_prefs: args.implicit_prefs,
        alpha: args.alpha,
        ..Default::default()
    };
    let model = SparkAls::from_factors(params.clone(), data.n_users(), data.n_items(), uf, yf)?;

    // Spark's last half-step solved every user against the final item factors: the fold-in of the
    // training history must give the same factor back.
    let mut diffs: Vec<f64> = (0..data.n_users())
        .filter_map(|u| {
            let s = &model.user_factors()[u * rank..][..rank];
            let norm = s.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            if norm == 0.0 {
                return None; // a user Spark did not see
            }
            let h = data.interactions.history(UserIdx(u as u32));
            let x = model.fold_in(&h).ok()?;
            let d = x
                .iter()
                .zip(s)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            Some(d / norm)
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let median = diffs.get(diffs.len() / 2).copied().unwrap_or(0.0);
    let max = diffs.last().copied().unwrap_or(0.0);
    if median > args.tolerance {
        bail!(
            "folding the training histories in does not reproduce Spark's user factors (median relative \
             difference {median:.3e} > --tolerance {:.0e}): pass the --reg-param, --implicit-prefs and \
             --alpha the model was trained with, and its training data as --data",
            args.tolerance
        );
    }
    let params_json = serde_json::to_value(&params)?;
    let file = ModelFile::new(model.into(), params_json, &data, true);
    file.save(&args.out)?;
    let summary = SparkAlsSummary {
        out: args.out.display().to_string(),
        rank,
        spark_version: meta["sparkVersion"].as_str().unwrap_or("?").to_string(),
        users_in_model: users.len(),
        users_matched,
        items_in_model: items.len(),
        items_matched,
        items_without_factors: data.n_items() - items_matched,
        fold_in_median_rel_diff: median,
        fold_in_max_rel_diff: max,
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["", "in Spark's model", "matched in --data", "note"]);
    t.add_row([
        "users".to_string(),
        summary.users_in_model.to_string(),
        summary.users_matched.to_string(),
        format!("fold-in vs Spark's factors: median {median:.1e}, max {max:.1e} (relative)"),
    ]);
    t.add_row([
        "items".to_string(),
        summary.items_in_model.to_string(),
        summary.items_matched.to_string(),
        format!(
            "{} item(s) of --data without factors score 0",
            summary.items_without_factors
        ),
    ]);
    writeln!(
        out,
        "imported Spark {} ALS (rank {rank}, regParam {}, implicitPrefs {}) -> {}\n{t}",
        summary.spark_version, args.reg_param, args.implicit_prefs, summary.out
    )?;
    Ok(())
}

#[cfg(not(feature = "parquet"))]
fn spark_als(args: &SparkAlsArgs, _out: &mut impl Write) -> Result<()> {
    spark_metadata(&args.dir)?;
    bail!(
        "reading Spark's factor tables (Parquet) needs Tastebud built with the `parquet` feature \
         (cargo install --path crates/cli --features parquet)"
    )
}
