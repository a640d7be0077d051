//! ALS at scale: seconds per iteration and peak memory on a 20M-interaction file, beside implicit.
//!
//! ```text
//! cargo run --release -p tastebud-eval --bin bench-als-scale -- DATASET_DIR [--factors 64] [--iterations 3]
//!     [--threads 2] [--python PY]
//! ```
//! Each side runs in its own process (load + fit), so peak resident memory is per side. Ratings are used as
//! confidences on both sides (implicit 0.7 uses values as given; so does Tastebud's ALS).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use tastebud_models::{Fit, Progress};

/// Records the time of every finished iteration.
struct Stamps(Mutex<Vec<Instant>>);

impl Progress for Stamps {
    fn start(&self, _phase: &str, _total: u64) {}
    fn inc(&self, _n: u64) {
        self.0.lock().expect("not poisoned").push(Instant::now());
    }
    fn message(&self, _msg: &str) {}
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
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
                           "peak_rss_mb": peak_rss_mb(), "nnz": data.interactions.nnz()})
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|k| args.get(k + 1))
            .cloned()
    };
    let factors: usize = flag("--factors").and_then(|v| v.parse().ok()).unwrap_or(64);
    let iterations: usize = flag("--iterations")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let threads: usize = flag("--threads").and_then(|v| v.parse().ok()).unwrap_or(2);
    if args.get(1).map(String::as_str) == Some("--child") {
        child(Path::new(&args[2]), factors, iterations, threads);
        return;
    }
    let dir = Path::new(
        args.get(1)
            .expect("usage: bench-als-scale DATASET_DIR [flags]"),
    );
    let python = flag("--python").unwrap_or_else(|| "python3".into());
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
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_als_scale_peer.py");
    let peer = run(Command::new(&python)
        .arg(script)
        .arg(dir.join("ratings.csv"))
        .args([
            factors.to_string(),
            iterations.to_string(),
            threads.to_string(),
        ]));
    let median = |v: &serde_json::Value| -> f64 {
        let mut x: Vec<f64> = v
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.as_f64()).collect())
            .unwrap_or_default();
        x.sort_by(f64::total_cmp);
        x.get(x.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (o, p) = (
        median(&ours["seconds_per_iteration"]),
        median(&peer["seconds_per_iteration"]),
    );
    println!(
        "ALS, {factors} factors, {threads} threads, {} interactions",
        ours["nnz"]
    );
    println!("| | seconds / iteration (median) | peak RSS (MB), load + fit |");
    println!("|---|---|---|");
    println!(
        "| tastebud | {o:.2} | {:.0} |",
        ours["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "| implicit 0.7.3 | {p:.2} | {:.0} |",
        peer["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    println!("implicit / tastebud time per iteration: {:.2}x", p / o);
    println!(
        "{}",
        serde_json::json!({"tastebud": ours, "implicit": peer})
    );
}
