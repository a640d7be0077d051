//! ALS at scale: seconds per iteration and peak memory on a 20M-interaction file, beside implicit.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-als-scale -- DATASET_DIR [--factors 64] [--iterations 3]
//!     [--threads 2] [--python PY]
//! ```
//! Each side runs in its own process (load + fit), so peak resident memory is per side. Ratings are used as
//! confidences on both sides (implicit 0.7 uses values as given; so does Tastebud's ALS).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use clap::Parser;
use tastebud_bench::{Table, median, peak_rss_kb};
use tastebud_models::{Fit, Progress};

/// ALS at scale: seconds per iteration and peak memory (load + fit, each side in its own process),
/// beside implicit.
#[derive(Parser, Debug)]
#[command(name = "bench-als-scale")]
struct Args {
    /// The dataset folder (its ratings.csv is what implicit reads)
    dataset_dir: PathBuf,
    /// Latent factors
    #[arg(long, default_value_t = 64)]
    factors: usize,
    /// ALS iterations
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Threads on both sides
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The Python with implicit
    #[arg(long, value_name = "PY", default_value = "python3")]
    python: String,
    /// Internal: load and fit DATASET_DIR once and print the measurement as JSON
    #[arg(long, hide = true)]
    child: bool,
}

/// Records the time of every finished iteration.
struct Stamps(Mutex<Vec<Instant>>);

impl Progress for Stamps {
    fn start(&self, _phase: &str, _total: u64) {}
    fn inc(&self, _n: u64) {
        self.0.lock().expect("not poisoned").push(Instant::now());
    }
    fn message(&self, _msg: &str) {}
}

fn child(path: &Path, factors: usize, iterations: usize, threads: usize) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let t = Instant::now();
    let data = tastebud_data::load(path, &Default::default()).expect("load");
    let load = t.elapsed().as_secs_f64();
    let params = tastebud_models::als::AlsParams::default()
        .factors(factors)
        .iterations(iterations);
    let stamps = Stamps(Mutex::new(Vec::new()));
    let t = Instant::now();
    pool.install(|| params.fit(&data, &stamps)).expect("fit");
    let fit = t.elapsed().as_secs_f64();
    let s = stamps.0.lock().expect("not poisoned");
    let mut prev = t;
    let per: Vec<f64> = s
        .iter()
        .map(|&x| {
            let d = x.duration_since(prev).as_secs_f64();
            prev = x;
            d
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({"load_seconds": load, "fit_seconds": fit, "seconds_per_iteration": per,
                           "peak_rss_mb": peak_rss_kb() as f64 / 1024.0, "nnz": data.interactions.nnz()})
    );
}

fn main() {
    let Args {
        dataset_dir,
        factors,
        iterations,
        threads,
        python,
        child: is_child,
    } = Args::parse();
    if is_child {
        child(&dataset_dir, factors, iterations, threads);
        return;
    }
    let dir = dataset_dir.as_path();
    let me = std::env::current_exe().expect("exe");
    let run = |cmd: &mut Command| -> serde_json::Value {
        let out = cmd.output().expect("spawn");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let ours = run(Command::new(&me)
        .args(["--child", dir.to_str().expect("utf-8 path")])
        .args([
            "--factors",
            &factors.to_string(),
            "--iterations",
            &iterations.to_string(),
            "--threads",
            &threads.to_string(),
        ]));
    let script = tastebud_bench::script("bench_als_scale_peer.py");
    let peer = run(Command::new(&python)
        .arg(script)
        .arg(dir.join("ratings.csv"))
        .args([
            factors.to_string(),
            iterations.to_string(),
            threads.to_string(),
        ]));
    let per_iteration = |v: &serde_json::Value| -> f64 {
        median(
            v.as_array()
                .map(|a| a.iter().filter_map(|e| e.as_f64()).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    };
    let (o, p) = (
        per_iteration(&ours["seconds_per_iteration"]),
        per_iteration(&peer["seconds_per_iteration"]),
    );
    println!(
        "ALS, {factors} factors, {threads} threads, {} interactions",
        ours["nnz"]
    );
    let mut t = Table::new(&[
        "",
        "seconds / iteration (median)",
        "peak RSS (MB), load + fit",
    ]);
    for (side, secs, v) in [("tastebud", o, &ours), ("implicit 0.7.3", p, &peer)] {
        t.row([
            side.to_string(),
            format!("{secs:.2}"),
            format!("{:.0}", v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)),
        ]);
    }
    print!("{t}");
    println!("implicit / tastebud time per iteration: {:.2}x", p / o);
    println!(
        "{}",
        serde_json::json!({"tastebud": ours, "implicit": peer})
    );
}
