//! Implicit-feedback models against implicit 0.7.3, side by side, and EASE on a synthetic catalogue.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-implicit -- [--data ../shared/data] \
//!     [--python /work/venv-bench/bin/python] [--runs 3] [--no-peer] [--ease-items 10000,20000] [--seeds N]
//! ```
//! ML-100K's fixed split (../shared/bench/splits/ml-100k), binary train matrix, the hyperparameters of
//! ../shared/bench/implicit_bench.py (ALS factors=64, iterations=15, regularization=0.05, alpha=1; BPR
//! factors=64, iterations=100, learning_rate=0.01, regularization=0.01; seed 42). Fit time is the median
//! wall time of `--runs` fresh fits, with 1 and 2 threads (a rayon pool of that size for Tastebud; the peer,
//! `scripts/bench_implicit_peer.py`, runs in a child process with OMP_NUM_THREADS and num_threads set and
//! BLAS single-threaded). NDCG@10 / Recall@10 are from the first fit (full ranking). BPR on 2 threads is
//! implicit's Hogwild and our stratified SGD (`tastebud_models::bpr`). EASE is timed on synthetic data (`tastebud_data::synth`, 3 users and 100
//! interactions per item) beside the dense f64 matmul rate of faer on this machine.
//!
//! `--seeds N` instead compares quality over seeds `0..N` on both sides (one single-threaded fit per seed
//! and side): mean ± sd, range, and the difference of the means with a Welch 95% interval, for ALS, BPR
//! (Tastebud's defaults) and BPR as implicit does it (`uniform_negatives=false`, `refit_users=false`);
//! `--no-peer` leaves implicit out. The main table also times that implicit-like BPR.
//!
//! `--thread-seeds N` instead fits BPR (both variants) on 1 and 2 threads for every seed `0..N`: the median
//! fit time per thread count and the quality distributions of the two, side by side (the parallel SGD
//! is not the sequential one, so "as good" is a statement about distributions over seeds).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use tastebud_bench::args::{DataArg, List};
use tastebud_bench::{median, table};
use tastebud_core::{Dataset, Interactions};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::als::AlsParams;
use tastebud_models::bpr::BprParams;
use tastebud_models::ease::EaseParams;
use tastebud_models::{Fit, NoProgress, Recommender};

/// ALS and BPR against implicit 0.7.3 on ML-100K's fixed split (fit time with 1 and 2 threads, NDCG@10
/// and Recall@10), and EASE on synthetic catalogues; or, with --seeds, quality over seeds on both sides.
#[derive(Parser, Debug)]
#[command(name = "bench-implicit")]
struct Args {
    #[command(flatten)]
    data: DataArg,
    /// The Python with implicit 0.7.3
    #[arg(long, value_name = "PY", default_value = "/work/venv-bench/bin/python")]
    python: String,
    /// Fits timed per model and thread count (the median is shown)
    #[arg(long, value_name = "N", default_value_t = 3)]
    runs: usize,
    /// Leave implicit out
    #[arg(long)]
    no_peer: bool,
    /// Catalogue sizes of the synthetic EASE runs (empty: none)
    #[arg(long, value_name = "LIST", default_value = "10000,20000")]
    ease_items: List<u32>,
    /// Compare quality over seeds 0..N instead (one single-threaded fit per seed and side)
    #[arg(long, value_name = "N")]
    seeds: Option<u64>,
    /// Instead, BPR on 1 and 2 threads over seeds 0..N: fit times and quality distributions side by side
    #[arg(long, value_name = "N")]
    thread_seeds: Option<u64>,
}

fn quality(model: &dyn Recommender, train: &Dataset, test: &Interactions) -> (f64, f64) {
    let opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg, MetricKind::Recall], &[10]),
        beyond: false,
        ..EvalOptions::default()
    };
    let data = EvalData {
        train: &train.interactions,
        test,
        fold_in: None,
        item_features: None,
        user_features: None,
    };
    let e = evaluate(model, &data, &opts, false).expect("evaluate");
    (e.means["ndcg@10"], e.means["recall@10"])
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Median fit seconds over `runs` and the quality of the first fit.
fn time_fit<M: Recommender>(
    threads: usize,
    runs: usize,
    fit: impl Fn() -> M + Sync,
    train: &Dataset,
    test: &Interactions,
) -> (f64, (f64, f64)) {
    let p = pool(threads);
    let mut times = Vec::new();
    let mut q = None;
    for _ in 0..runs {
        let t = Instant::now();
        let m = p.install(&fit);
        times.push(t.elapsed().as_secs_f64());
        if q.is_none() {
            q = Some(quality(&m, train, test));
        }
    }
    (median(times), q.expect("at least one run"))
}

/// `(model, threads) -> (median fit seconds, ndcg, recall)` from the peer script.
fn peer(
    python: &str,
    data: &Path,
    split: &Path,
    threads: usize,
    runs: usize,
) -> Vec<(String, f64, f64, f64)> {
    peer_json(python, data, split, threads, runs, "42")
        .into_iter()
        .map(|v| {
            let fits: Vec<f64> = v["fit_s"]
                .as_array()
                .expect("fit_s")
                .iter()
                .filter_map(|x| x.as_f64())
                .collect();
            (
                v["model"].as_str().unwrap_or("?").to_string(),
                median(fits),
                v["ndcg10"].as_f64().unwrap_or(f64::NAN),
                v["recall10"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// Quality over seeds `0..n` on both sides (1 thread, one fit per seed): each side's seeds are its own
/// random draws, so the comparison is between the two distributions (difference of means with a Welch 95%
/// interval), not seed by seed.
#[allow(clippy::too_many_arguments)]
fn seed_study(
    n: u64,
    python: Option<&str>,
    data: &Path,
    split: &Path,
    train: &Dataset,
    test: &Interactions,
    als: &AlsParams,
    bpr: &BprParams,
) {
    let seeds: Vec<String> = (0..n).map(|s| s.to_string()).collect();
    let peer: Vec<serde_json::Value> = match python {
        None => vec![],
        Some(python) => {
            eprintln!("implicit over {n} seeds ...");
            peer_json(python, data, split, 1, 1, &seeds.join(","))
        }
    };
    println!(
        "\n## Quality over seeds 0..{n} (1 thread, one fit per seed, each side its own seeds)\n"
    );
    print!(
        "{}",
        table::header(&[
            "model",
            "metric",
            "Tastebud mean ± sd [min, max]",
            "implicit mean ± sd [min, max]",
            "Tastebud − implicit (95% CI)"
        ])
    );
    let p1 = pool(1);
    let variants: [(&str, &str); 3] = [
        ("als", "als"),
        ("bpr", "bpr"),
        ("bpr, implicit's sampler, no user refit", "bpr"),
    ];
    for (label, name) in variants {
        eprintln!("Tastebud {label} over {n} seeds ...");
        let ours: Vec<(f64, f64)> = (0..n)
            .map(|s| {
                p1.install(|| match label {
                    "als" => quality(
                        &als.clone().seed(s).fit(train, &NoProgress).expect("als"),
                        train,
                        test,
                    ),
                    _ => quality(
                        &bpr.clone()
                            .seed(s)
                            .threads(1)
                            .uniform_negatives(label == "bpr")
                            .refit_users(label == "bpr")
                            .fit(train, &NoProgress)
                            .expect("bpr"),
                        train,
                        test,
                    ),
                })
            })
            .collect();
        for (metric, key, pick) in [
            (
                "NDCG@10",
                "ndcg10",
                (|q: &(f64, f64)| q.0) as fn(&(f64, f64)) -> f64,
            ),
            ("R@10", "recall10", |q: &(f64, f64)| q.1),
        ] {
            let a: Vec<f64> = ours.iter().map(pick).collect();
            let b: Vec<f64> = peer
                .iter()
                .filter(|v| v["model"] == name)
                .filter_map(|v| v[key].as_f64())
                .collect();
            println!(
                "{}",
                tastebud_bench::stats::seed_comparison_row(label, metric, &a, &b)
            );
        }
    }
}

/// BPR on 1 and 2 threads over seeds `0..n` (Tastebud's defaults and implicit's sampler without the refit):
/// the median fit time of each thread count over the seeds, their ratio, and the two quality
/// distributions with the difference of their means (Welch 95% interval).
fn thread_seed_study(n: u64, train: &Dataset, test: &Interactions, bpr: &BprParams) {
    println!("\n## BPR on 1 and 2 threads over seeds 0..{n} (one fit per seed and thread count)\n");
    let mut times = Vec::new();
    let mut quality_rows = Vec::new();
    for (label, implicit_like) in [
        ("bpr", false),
        ("bpr, implicit's sampler, no user refit", true),
    ] {
        let mut by_threads = Vec::new();
        for threads in [1usize, 2] {
            eprintln!("Tastebud {label}, {threads} thread(s), {n} seeds ...");
            let p = pool(threads);
            let runs: Vec<(f64, (f64, f64))> = (0..n)
                .map(|s| {
                    let params = bpr
                        .clone()
                        .seed(s)
                        .threads(threads)
                        .uniform_negatives(!implicit_like)
                        .refit_users(!implicit_like);
                    let t = Instant::now();
                    let m = p.install(|| params.fit(train, &NoProgress).expect("bpr"));
                    let secs = t.elapsed().as_secs_f64();
                    (secs, quality(&m, train, test))
                })
                .collect();
            by_threads.push(runs);
        }
        let med = |r: &[(f64, (f64, f64))]| median(r.iter().map(|x| x.0));
        let (t1, t2) = (med(&by_threads[0]), med(&by_threads[1]));
        times.push(format!(
            "| {label} | {:.0} ms | {:.0} ms | {:.2}x |",
            t1 * 1e3,
            t2 * 1e3,
            t1 / t2
        ));
        for (metric, pick) in [
            ("NDCG@10", (|q: &(f64, f64)| q.0) as fn(&(f64, f64)) -> f64),
            ("R@10", |q: &(f64, f64)| q.1),
        ] {
            let two: Vec<f64> = by_threads[1].iter().map(|r| pick(&r.1)).collect();
            let one: Vec<f64> = by_threads[0].iter().map(|r| pick(&r.1)).collect();
            quality_rows.push(tastebud_bench::stats::seed_comparison_row(
                label, metric, &two, &one,
            ));
        }
    }
    print!(
        "{}",
        table::header(&[
            "model",
            "1 thread (median fit)",
            "2 threads (median fit)",
            "speed-up"
        ])
    );
    for r in times {
        println!("{r}");
    }
    println!();
    print!(
        "{}",
        table::header(&[
            "model",
            "metric",
            "2 threads mean ± sd [min, max]",
            "1 thread mean ± sd [min, max]",
            "2 − 1 threads (95% CI)"
        ])
    );
    for r in quality_rows {
        println!("{r}");
    }
}

/// The peer script's JSON lines (one per model and seed), with its BLAS single-threaded.
fn peer_json(
    python: &str,
    data: &Path,
    split: &Path,
    threads: usize,
    runs: usize,
    seeds: &str,
) -> Vec<serde_json::Value> {
    let script = tastebud_bench::script("bench_implicit_peer.py");
    let out = Command::new(python)
        .arg(&script)
        .args(["--data".as_ref(), data.join("ml-100k/u.data").as_os_str()])
        .args(["--split-dir".as_ref(), split.as_os_str()])
        .args(["--threads", &threads.to_string()])
        .args(["--runs", &runs.to_string(), "--seeds", seeds])
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .expect("run the peer script");
    assert!(
        out.status.success(),
        "peer script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// GFLOP/s of a 2000 x 2000 f64 matmul with faer on the current pool (best of 5).
fn matmul_gflops() -> f64 {
    use faer::{Accum, Mat, Par};
    let n = 2000;
    let a = Mat::<f64>::from_fn(n, n, |i, j| ((i * 7 + j * 13) % 17) as f64 * 0.1);
    let b = Mat::<f64>::from_fn(n, n, |i, j| ((i * 3 + j * 5) % 11) as f64 * 0.1);
    let mut c = Mat::<f64>::zeros(n, n);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        faer::linalg::matmul::matmul(
            c.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            1.0,
            Par::rayon(0),
        );
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (n as f64).powi(3) / best / 1e9
}

fn main() {
    let Args {
        data,
        python,
        runs,
        no_peer,
        ease_items: List(ease_items),
        seeds,
        thread_seeds,
    } = Args::parse();
    let data = data.root();

    let split = data.join("../bench/splits/ml-100k");
    let (train, test) = tastebud_data::load_pair(
        Some(&data.join("ml-100k")),
        &split.join("train.tsv"),
        &split.join("test.tsv"),
        &Default::default(),
    )
    .expect("ML-100K fixed split (set --data or TASTEBUD_DATA)");
    let train = train
        .with_interactions(train.interactions.binary())
        .expect("same shape");

    let als = AlsParams::default()
        .factors(64)
        .iterations(15)
        .regularization(0.05)
        .alpha(1.0)
        .seed(42);
    let bpr = BprParams::default()
        .factors(64)
        .iterations(100)
        .learning_rate(0.01)
        .regularization(0.01)
        .seed(42);
    if let Some(n) = thread_seeds {
        thread_seed_study(n, &train, &test, &bpr);
        return;
    }
    if let Some(n) = seeds {
        let python = (!no_peer).then_some(python.as_str());
        seed_study(n, python, &data, &split, &train, &test, &als, &bpr);
        return;
    }
    println!("## ML-100K fixed split, fit time and quality (median of {runs} fits)\n");
    print!(
        "{}",
        table::header(&[
            "model",
            "threads",
            "Tastebud fit",
            "implicit 0.7.3 fit",
            "speed-up",
            "Tastebud NDCG@10 / R@10",
            "implicit NDCG@10 / R@10"
        ])
    );
    for threads in [1usize, 2] {
        let peer_rows = if no_peer {
            vec![]
        } else {
            peer(&python, &data, &split, threads, runs)
        };
        let ours = [
            (
                "als",
                time_fit(
                    threads,
                    runs,
                    || als.fit(&train, &NoProgress).expect("als"),
                    &train,
                    &test,
                ),
            ),
            (
                "bpr",
                time_fit(
                    threads,
                    runs,
                    || {
                        bpr.clone()
                            .threads(threads)
                            .fit(&train, &NoProgress)
                            .expect("bpr")
                    },
                    &train,
                    &test,
                ),
            ),
            (
                "bpr, implicit's sampler, no user refit",
                time_fit(
                    threads,
                    runs,
                    || {
                        bpr.clone()
                            .threads(threads)
                            .uniform_negatives(false)
                            .refit_users(false)
                            .fit(&train, &NoProgress)
                            .expect("bpr")
                    },
                    &train,
                    &test,
                ),
            ),
        ];
        for (name, (secs, (ndcg, recall))) in ours {
            let peer_name = name.split(',').next().unwrap_or(name);
            let p = peer_rows.iter().find(|r| r.0 == peer_name);
            let (pt, pq, ratio) = match p {
                Some((_, t, n, r)) => (
                    format!("{:.0} ms", t * 1e3),
                    format!("{n:.4} / {r:.4}"),
                    format!("{:.1}x", t / secs),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            println!(
                "| {name} | {threads} | {:.0} ms | {pt} | {ratio} | {ndcg:.4} / {recall:.4} | {pq} |",
                secs * 1e3
            );
        }
    }

    if ease_items.is_empty() {
        return;
    }
    println!(
        "\n## EASE on synthetic data (2 threads); reference: faer f64 matmul 2000x2000 (best of 5), \
         measured just before and just after each fit, the higher counted\n"
    );
    print!(
        "{}",
        table::header(&[
            "items",
            "users",
            "interactions",
            "fit",
            "n³ flops / fit time",
            "matmul rate",
            "share of matmul rate"
        ])
    );
    for n in ease_items {
        let users = 3 * n;
        let nnz = 100 * n as u64;
        let dir =
            std::env::temp_dir().join(format!("tastebud-bench-ease-{n}-{}", std::process::id()));
        let params = tastebud_data::synth::SynthParams::new(users, n, nnz, 42);
        tastebud_data::synth::generate(&params, &dir, false).expect("synthetic data");
        let d = tastebud_data::load(&dir, &Default::default()).expect("load synthetic data");
        let _ = std::fs::remove_dir_all(&dir);
        let before = pool(2).install(matmul_gflops);
        let t = Instant::now();
        let m = pool(2)
            .install(|| {
                EaseParams::default()
                    .max_gram_bytes(16 << 30)
                    .fit(&d, &NoProgress)
            })
            .expect("ease");
        let secs = t.elapsed().as_secs_f64();
        drop(m);
        let gflops = before.max(pool(2).install(matmul_gflops));
        let rate = (d.n_items() as f64).powi(3) / secs / 1e9;
        println!(
            "| {} | {users} | {} | {secs:.1} s | {rate:.1} GFLOP/s | {gflops:.1} GFLOP/s | {:.0}% |",
            d.n_items(),
            d.interactions.nnz(),
            100.0 * rate / gflops
        );
    }
}
