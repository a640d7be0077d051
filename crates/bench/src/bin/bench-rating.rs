//! Explicit-rating models beside Surprise 1.1.5, in one run and on the same folds: SVD, SVD++,
//! BaselineOnly (ALS and SGD), NMF and SlopeOne with default parameters on ML-100K's 5-fold CV.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-rating -- [--data ../shared/data] \
//!     [--python /work/venv-bench/bin/python] [--algos SVD,SVDpp,...] [--threads 1]
//! ```
//! `scripts/bench_rating_peer.py` runs Surprise's protocol (`KFold(n_splits=5, random_state=0,
//! shuffle=True)`, default parameters, `random_state=0`), times each fold's fit and writes the folds; this
//! program then fits our models on exactly those folds (in a rayon pool of `--threads`, default 1, as
//! Surprise is single-threaded) and prints a markdown table: total fit time over the 5 folds, the ratios
//! Surprise / ours of the totals and of the median folds (less sensitive to a busy machine), and the mean
//! RMSE and MAE of both (ours from `tastebud_eval::evaluator::rating_errors`), then the raw per-fold JSON.
//! `--python none` skips Surprise and uses our own seeded folds (quick runs of our side only).

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use tastebud_bench::args::DataArg;
use tastebud_bench::{fmt_secs, mean, median, table};
use tastebud_core::{Dataset, Split};
use tastebud_eval::evaluator::rating_errors;
use tastebud_eval::run::eval_data;
use tastebud_models::baseline::{BaselineMethod, BaselineParams};
use tastebud_models::nmf::NmfParams;
use tastebud_models::slope_one::SlopeOneParams;
use tastebud_models::svd::SvdParams;
use tastebud_models::svdpp::SvdppParams;
use tastebud_models::{Fit, NoProgress, Recommender};

/// Explicit-rating models (SVD, SVD++, BaselineOnly, NMF, SlopeOne) beside Surprise 1.1.5 on the same
/// 5 CV folds of ML-100K: fit time, RMSE and MAE.
#[derive(Parser, Debug)]
#[command(name = "bench-rating")]
struct Args {
    #[command(flatten)]
    data: DataArg,
    /// The Python with Surprise; `none` skips Surprise and uses our own seeded folds
    #[arg(long, value_name = "PY", default_value = "python3")]
    python: String,
    /// The algorithms, by Surprise's names
    #[arg(
        long,
        value_name = "LIST",
        default_value = "SVD,SVDpp,BaselineOnly,BaselineOnlySGD,NMF,SlopeOne"
    )]
    algos: String,
    /// Threads for our fits
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
    /// With more than 1, also compare the seeded algorithms over seeds 0..N
    #[arg(long, value_name = "N", default_value_t = 1)]
    seeds: u64,
}

/// Per fold: fit seconds, RMSE, MAE.
type Runs = Vec<(f64, f64, f64)>;

fn cv<P: Fit>(params: &P, data: &Dataset, splits: &[Split]) -> Runs
where
    P::Model: Recommender,
{
    splits
        .iter()
        .map(|split| {
            let train = data
                .with_interactions(split.train.clone())
                .expect("same shape");
            let t = Instant::now();
            let model = params.fit(&train, &NoProgress).expect("fit");
            let secs = t.elapsed().as_secs_f64();
            let p = model.rating_predictor().expect("rating model");
            let (rmse, mae) = rating_errors(p, &eval_data(data, split)).expect("errors");
            (
                secs,
                rmse.expect("test ratings"),
                mae.expect("test ratings"),
            )
        })
        .collect()
}

/// Runs the peer script; returns its JSON and Surprise's folds mapped onto `data`.
fn surprise_and_folds(
    python: &str,
    script: &std::path::Path,
    data_dir: &std::path::Path,
    algos: &str,
    seeds: u64,
    data: &Dataset,
) -> (serde_json::Value, Vec<Split>) {
    let folds_path =
        std::env::temp_dir().join(format!("tastebud-bench-rating-{}.tsv", std::process::id()));
    eprintln!("running Surprise ({algos}) ...");
    let out = Command::new(python)
        .arg(script)
        .arg("--data")
        .arg(data_dir.join("u.data"))
        .arg("--folds-out")
        .arg(&folds_path)
        .arg("--algos")
        .arg(algos)
        .arg("--seeds")
        .arg(
            (0..seeds.max(1))
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .output()
        .expect("run python");
    if !out.status.success() {
        eprintln!(
            "peer script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // Surprise's folds, by raw (user, item) ids, onto our CSR positions.
    let text = std::fs::read_to_string(&folds_path).expect("folds file");
    let _ = std::fs::remove_file(&folds_path);
    let mut fold_of: HashMap<(u32, u32), u32> = HashMap::new();
    let mut k = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let u = data.require_user(f[0]).expect("user").0;
        let i = data.require_item(f[1]).expect("item").0;
        let fold: u32 = f[2].parse().expect("fold");
        k = k.max(fold as usize + 1);
        fold_of.insert((u, i), fold);
    }
    let x = &data.interactions;
    let fold: Vec<u32> = x.iter().map(|r| fold_of[&(r.user.0, r.item.0)]).collect();
    assert_eq!(fold.len(), fold_of.len(), "every rating is in one fold");
    let splits = (0..k as u32)
        .map(|f| Split {
            train: x.filter_positions(|p| fold[p] != f),
            test: x.filter_positions(|p| fold[p] == f),
            fold_in: None,
        })
        .collect();
    (peer, splits)
}

fn main() {
    let Args {
        data,
        python,
        algos,
        threads,
        seeds,
    } = Args::parse();
    let data_dir = data.root().join("ml-100k");
    let script = tastebud_bench::script("bench_rating_peer.py");

    let data = tastebud_data::load(&data_dir, &Default::default()).expect("ML-100K");
    let (peer, splits) = if python == "none" {
        // Ours only, on our own seeded folds (for quick iterations).
        let splits = tastebud_core::SplitSpec::KFold { k: 5 }
            .apply(&data.interactions, 0)
            .expect("folds");
        (
            serde_json::json!({"version": "not run", "algos": {}}),
            splits,
        )
    } else {
        surprise_and_folds(&python, &script, &data_dir, &algos, seeds, &data)
    };

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let ours: Vec<(String, Runs)> = pool.install(|| {
        algos
            .split(',')
            .map(|name| {
                eprintln!("fitting ours: {name} ...");
                let runs = match name {
                    "SVD" => cv(&SvdParams::default(), &data, &splits),
                    "SVDpp" => cv(&SvdppParams::default(), &data, &splits),
                    "BaselineOnly" => cv(&BaselineParams::default(), &data, &splits),
                    "BaselineOnlySGD" => cv(
                        &BaselineParams::default().method(BaselineMethod::Sgd),
                        &data,
                        &splits,
                    ),
                    "NMF" => cv(&NmfParams::default(), &data, &splits),
                    "SlopeOne" => cv(&SlopeOneParams::default(), &data, &splits),
                    other => panic!("unknown algorithm {other}"),
                };
                (name.to_string(), runs)
            })
            .collect()
    });

    println!(
        "ML-100K, Surprise's 5 CV folds (KFold random_state=0), default parameters; fit time summed over the \
         folds; ours on {threads} thread(s), Surprise {} single-threaded; same machine, same run",
        peer["version"].as_str().unwrap_or("?")
    );
    print!(
        "{}",
        table::header(&[
            "algorithm",
            "Surprise fit (5 folds)",
            "Tastebud fit (5 folds)",
            "speed-up (total)",
            "speed-up (median fold)",
            "Surprise RMSE",
            "Tastebud RMSE",
            "Surprise MAE",
            "Tastebud MAE"
        ])
    );
    let mut raw = serde_json::Map::new();
    for (name, runs) in &ours {
        let p = &peer["algos"][name.as_str()];
        let nums = |key: &str| -> Vec<f64> {
            p[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default()
        };
        let (p_fit, p_rmse, p_mae) = (nums("fit_s"), nums("rmse"), nums("mae"));
        let o_fit: f64 = runs.iter().map(|r| r.0).sum();
        let s_fit: f64 = p_fit.iter().sum();
        println!(
            "| {name} | {} | {} | {:.1}x | {:.1}x | {:.4} | {:.4} | {:.4} | {:.4} |",
            fmt_secs(s_fit),
            fmt_secs(o_fit),
            s_fit / o_fit,
            median(p_fit.clone()) / median(runs.iter().map(|r| r.0)),
            mean(p_rmse.iter().copied()),
            mean(runs.iter().map(|r| r.1)),
            mean(p_mae.iter().copied()),
            mean(runs.iter().map(|r| r.2)),
        );
        raw.insert(
            name.clone(),
            serde_json::json!({
                "tastebud_fit_s": runs.iter().map(|r| r.0).collect::<Vec<_>>(),
                "tastebud_rmse": runs.iter().map(|r| r.1).collect::<Vec<_>>(),
                "tastebud_mae": runs.iter().map(|r| r.2).collect::<Vec<_>>(),
                "surprise_fit_s": p_fit,
                "surprise_rmse": p_rmse,
                "surprise_mae": p_mae,
            }),
        );
    }
    println!("{}", serde_json::Value::Object(raw));
    if seeds > 1 {
        pool.install(|| seed_study(&peer, &algos, seeds, &data, &splits));
    }
}

/// The seeded algorithms (SVD, SVD++, NMF) over seeds `0..n` on both sides, on the same folds: the
/// distribution of the 5-fold mean RMSE / MAE per seed, and the difference of the means with a Welch 95%
/// interval (each side draws its own random numbers, so seeds are not paired).
fn seed_study(peer: &serde_json::Value, algos: &str, n: u64, data: &Dataset, splits: &[Split]) {
    println!("\n## Seeded algorithms over seeds 0..{n} (5-fold mean per seed, same folds)\n");
    print!(
        "{}",
        table::header(&[
            "algorithm",
            "metric",
            "Tastebud mean ± sd [min, max]",
            "Surprise mean ± sd [min, max]",
            "Tastebud − Surprise (95% CI)"
        ])
    );
    // (row label, algorithm, Surprise's initialisation): each also runs with Surprise's own random user
    // start (`users_start_at_mean = false`), the like-for-like check of the procedure.
    let rows: Vec<(String, &str, bool)> = algos
        .split(',')
        .flat_map(|name| match name {
            "SVD" | "SVDpp" => vec![
                (name.to_string(), name, false),
                (format!("{name}, Surprise's init"), name, true),
            ],
            "NMF" => vec![
                (name.to_string(), name, false),
                (format!("{name}, Surprise's init"), name, true),
            ],
            _ => vec![],
        })
        .collect();
    for (label, name, surprise_init) in rows {
        let ours: Vec<(f64, f64)> = (0..n)
            .map(|seed| {
                eprintln!("{label} seed {seed} ...");
                let runs = match name {
                    "SVD" => cv(
                        &SvdParams::default()
                            .seed(seed)
                            .users_start_at_mean(!surprise_init),
                        data,
                        splits,
                    ),
                    "SVDpp" => cv(
                        &SvdppParams::default()
                            .seed(seed)
                            .users_start_at_mean(!surprise_init),
                        data,
                        splits,
                    ),
                    _ => cv(
                        &NmfParams::default()
                            .seed(seed)
                            .users_start_at_mean(!surprise_init),
                        data,
                        splits,
                    ),
                };
                (
                    mean(runs.iter().map(|r| r.1)),
                    mean(runs.iter().map(|r| r.2)),
                )
            })
            .collect();
        for (metric, key) in [("RMSE", "rmse"), ("MAE", "mae")] {
            let a: Vec<f64> = ours
                .iter()
                .map(|q| if key == "rmse" { q.0 } else { q.1 })
                .collect();
            let b: Vec<f64> = peer["seeds"][name]
                .as_array()
                .map(|v| v.iter().filter_map(|r| r[key].as_f64()).collect())
                .unwrap_or_default();
            println!(
                "{}",
                tastebud_bench::stats::seed_comparison_row(&label, metric, &a, &b)
            );
        }
    }
}
