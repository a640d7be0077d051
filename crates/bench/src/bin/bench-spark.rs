//! Spark MLlib's ALS (`local[2]`) beside Tastebud on one split, in one run: fit time, NDCG@10 and RMSE of
//! Spark's ALS and of Tastebud's `spark_als` (the same algorithm and parameters, fitted here), the same
//! numbers for Spark's model imported into Tastebud (they must equal Spark's), users scored per second on
//! Spark by its own `recommendForAllUsers(10)` vs the `tastebud.spark` job on that same model (one session),
//! and the Python package's `recommend_batch` vs `tastebud batch` (the package's overhead).
//!
//! ```text
//! cargo build --release -p tastebud-cli --features parquet && cargo build --release -p tastebud-bench
//! target/release/bench-spark [DATASET] [--split user:0.2] [--rank 10] [--max-iter 10] [--reg-param 0.1]
//!     [--tastebud target/release/tastebud] [--python PY] [--ranking spark|numpy] [--driver-memory 4g]
//! ```
//! DATASET defaults to `$TASTEBUD_DATA/ml-100k`; PY to the interpreter `scripts/spark/env.sh` prints
//! (installing PySpark when missing). Needs `tastebud` built with the `parquet` feature (the import) and
//! the Python package installed in that interpreter (scripts/python.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use tastebud_bench::{Align, Table, tastebud_binary, tastebud_run, workspace_root};

/// Spark ALS (`local[2]`) vs Tastebud: fit time, NDCG@10, RMSE, users scored per second.
#[derive(Parser, Debug)]
#[command(name = "bench-spark")]
struct Args {
    /// Dataset (folder or file); default `$TASTEBUD_DATA/ml-100k`
    dataset: Option<PathBuf>,
    /// Split protocol (`tastebud datasets split`)
    #[arg(long, default_value = "user:0.2")]
    split: String,
    /// Split seed
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// ALS rank
    #[arg(long, default_value_t = 10)]
    rank: usize,
    /// ALS iterations
    #[arg(long, default_value_t = 10)]
    max_iter: usize,
    /// ALS regParam
    #[arg(long, default_value_t = 0.1)]
    reg_param: f32,
    /// Spark's cores (`local[N]`); Tastebud uses rayon's default (all cores)
    #[arg(long, default_value_t = 2)]
    cores: usize,
    /// How Spark's NDCG@10 ranking is computed: `spark` (recommendForAllUsers over every item, collected
    /// into Python: small data) or `numpy` (the same scores from the model's factors: large data)
    #[arg(long, default_value = "spark")]
    ranking: String,
    /// Timed repetitions of each scoring run, after one warm-up (the median is reported)
    #[arg(long, default_value_t = 3)]
    score_repeat: usize,
    /// Spark driver memory
    #[arg(long, default_value = "4g")]
    driver_memory: String,
    /// The tastebud binary (built with `--features parquet`)
    #[arg(long)]
    tastebud: Option<PathBuf>,
    /// The Python with PySpark; default: what scripts/spark/env.sh prints
    #[arg(long)]
    python: Option<PathBuf>,
    /// Write the results as JSON here too
    #[arg(long)]
    json: Option<PathBuf>,
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn spark_python() -> Result<PathBuf, String> {
    let out = Command::new(workspace_root().join("scripts/spark/env.sh"))
        .output()
        .map_err(|e| format!("scripts/spark/env.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/spark/env.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("python3")
            .trim(),
    ))
}

/// `(fit seconds, NDCG@10, RMSE)` of the report row named `name`.
fn row(report: &serde_json::Value, name: &str) -> Result<(Option<f64>, f64, f64), String> {
    let m = report["models"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["model"] == name))
        .ok_or_else(|| format!("no `{name}` row in the evaluation report"))?;
    let metric = |k: &str| {
        m["metrics"][k]["mean"]
            .as_f64()
            .ok_or_else(|| format!("no {k} for {name}"))
    };
    Ok((
        m["fit_seconds"].as_f64(),
        metric("ndcg@10")?,
        metric("rmse")?,
    ))
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let tb = tastebud_binary(args.tastebud.clone());
    let data = args
        .dataset
        .clone()
        .unwrap_or_else(|| tastebud_data::data_root(None).join("ml-100k"));
    let py = match &args.python {
        Some(p) => p.clone(),
        None => spark_python()?,
    };
    let dir = std::env::temp_dir().join(format!("bench-spark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let split = dir.join("split");
    let seed = args.seed.to_string();
    eprintln!("splitting {} ({})", data.display(), args.split);
    tastebud_run(
        &tb,
        &[
            "datasets",
            "split",
            s(&data),
            "--split",
            &args.split,
            "--seed",
            &seed,
            "--out",
            s(&split),
        ],
    )?;
    let (train, test) = (split.join("train.tsv"), split.join("test.tsv"));
    let (rank, iters, reg) = (
        args.rank.to_string(),
        args.max_iter.to_string(),
        args.reg_param.to_string(),
    );

    eprintln!("Spark: fitting ALS on local[{}]", args.cores);
    let model = dir.join("model");
    let results = dir.join("spark.json");
    let out = Command::new(&py)
        .arg(workspace_root().join("scripts/spark/als.py"))
        .args([
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--model",
            s(&model),
        ])
        .args([
            "--results",
            s(&results),
            "--rank",
            &rank,
            "--max-iter",
            &iters,
        ])
        .args(["--reg-param", &reg, "--cores", &args.cores.to_string()])
        .args([
            "--ranking",
            &args.ranking,
            "--driver-memory",
            &args.driver_memory,
        ])
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/spark/als.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let spark: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let num = |k: &str| spark[k].as_f64().unwrap_or(f64::NAN);

    eprintln!("Tastebud: importing Spark's model, fitting spark_als, evaluating");
    let tbm = dir.join("spark.tbm");
    tastebud_run(
        &tb,
        &[
            "import",
            "spark-als",
            s(&model),
            "--data",
            s(&train),
            "--out",
            s(&tbm),
            "--reg-param",
            &reg,
            "--max-iter",
            &iters,
        ],
    )?;
    let p = |k: &str, v: &str| format!("spark_als.{k}={v}");
    let report: serde_json::Value = serde_json::from_str(&tastebud_run(
        &tb,
        &[
            "evaluate",
            // The split's own train file as the dataset: its format is what `datasets split` writes,
            // whatever the original dataset's (a MovieLens CSV folder reads its ratings.csv with a header).
            s(&train),
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--models",
            "spark_als",
            "--param",
            &p("rank", &rank),
            "--param",
            &p("max_iter", &iters),
            "--param",
            &p("reg_param", &reg),
            "--model-file",
            s(&tbm),
            "--metrics",
            "ndcg",
            "--k",
            "10",
            "--no-beyond",
            "--format",
            "json",
        ],
    )?)
    .map_err(|e| e.to_string())?;
    let (fit, ndcg, rmse) = row(&report, "spark_als")?;
    let (_, imp_ndcg, imp_rmse) = row(&report, "spark")?;

    let lists = dir.join("lists.jsonl");
    let summary: serde_json::Value = serde_json::from_str(&tastebud_run(
        &tb,
        &[
            "batch",
            "--model",
            s(&tbm),
            "--out",
            s(&lists),
            "-k",
            "10",
            "--data-dir",
            s(&dir.join("store")),
            "--json",
        ],
    )?)
    .map_err(|e| e.to_string())?;
    let cli_users = summary["users"].as_f64().unwrap_or(f64::NAN);
    let cli_ups = cli_users / summary["seconds"].as_f64().unwrap_or(f64::NAN);

    eprintln!("Spark: recommendForAllUsers vs the Tastebud job (tastebud.spark) in one session");
    let scored = dir.join("score.json");
    let out = Command::new(&py)
        .arg(workspace_root().join("scripts/spark/score.py"))
        .args(["--spark-model", s(&model), "--tastebud-model", s(&tbm)])
        .args(["--out", s(&dir.join("score")), "--results", s(&scored)])
        .args(["--cores", &args.cores.to_string()])
        .args(["--driver-memory", &args.driver_memory])
        .args(["--repeat", &args.score_repeat.to_string()])
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/spark/score.py failed (is the Python package installed? scripts/python.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let score: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&scored).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let sc = |k: &str| score[k].as_f64().unwrap_or(f64::NAN);
    let users = sc("users");
    let (spark_ups, tb_spark_ups) = (
        users / sc("spark_recommend_for_all_users_seconds"),
        users / sc("tastebud_on_spark_seconds"),
    );
    let py_ups = sc("python_users") / sc("python_recommend_batch_seconds");

    let mut t = Table::aligned(&[
        ("measure", Align::Left),
        ("Spark ALS (local[2])", Align::Right),
        ("Tastebud", Align::Right),
        ("ratio", Align::Right),
    ]);
    let fit = fit.unwrap_or(f64::NAN);
    t.row([
        "fit, spark_als fitted by each (s)".to_string(),
        format!("{:.2}", num("fit_seconds")),
        format!("{fit:.2}"),
        format!("{:.1}x faster", num("fit_seconds") / fit),
    ]);
    t.row([
        "NDCG@10 (unseen items, full ranking), own fits".to_string(),
        format!("{:.4}", num("ndcg_at_10")),
        format!("{ndcg:.4}"),
        format!("{:.3}", ndcg / num("ndcg_at_10")),
    ]);
    t.row([
        "RMSE, own fits".to_string(),
        format!("{:.4}", num("rmse")),
        format!("{rmse:.4}"),
        format!("{:.3}", rmse / num("rmse")),
    ]);
    t.row([
        "NDCG@10 / RMSE of Spark's model imported".to_string(),
        format!("{:.6} / {:.6}", num("ndcg_at_10"), num("rmse")),
        format!("{imp_ndcg:.6} / {imp_rmse:.6}"),
        format!(
            "|diff| {:.1e} / {:.1e}",
            (imp_ndcg - num("ndcg_at_10")).abs(),
            (imp_rmse - num("rmse")).abs()
        ),
    ]);
    t.row([
        "users scored /s on Spark, top 10 written as Parquet: recommendForAllUsers vs the tastebud.spark job"
            .to_string(),
        format!("{spark_ups:.0}"),
        format!("{tb_spark_ups:.0}"),
        format!("{:.1}x", tb_spark_ups / spark_ups),
    ]);
    t.row([
        "users scored /s, one process: Python recommend_batch vs `tastebud batch` (CLI, in the Tastebud column)"
            .to_string(),
        format!("{py_ups:.0} (Python)"),
        format!("{cli_ups:.0}"),
        format!("{:.2}x", py_ups / cli_ups),
    ]);
    println!(
        "Spark {} ALS vs Tastebud on {} ({}, rank {}, {} iterations, regParam {}):\n\n{t}",
        spark["spark_version"].as_str().unwrap_or("?"),
        data.display(),
        args.split,
        args.rank,
        args.max_iter,
        args.reg_param
    );
    if let Some(path) = &args.json {
        let v = serde_json::json!({
            "spark": spark,
            "tastebud": {"fit_seconds": fit, "ndcg_at_10": ndcg, "rmse": rmse,
                          "imported_ndcg_at_10": imp_ndcg, "imported_rmse": imp_rmse,
                          "cli_batch_users_per_second": cli_ups},
            "score": score,
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
