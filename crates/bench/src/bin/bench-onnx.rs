//! `bench-onnx`: scoring latency of the models Tastebud exports to ONNX, native (plain Rust) against the
//! same model's ONNX file run by tract in process, and by onnxruntime (Python, one thread) beside it.
//!
//! ```text
//! cargo run --release -p tastebud-bench --features onnx --bin bench-onnx -- [--data DIR] [--users 200] \
//!     [--repeat 5] [--json]
//! ```
//!
//! EASE is fitted on ML-100K; the autoencoder is Mult-VAE's shape on ML-100K's catalogue (1682-600-200-
//! 600-1682, tanh) with fixed weights (latency does not depend on their values). Each query is one
//! user's training history (the first `--users` users); "score" is every item's score, "top 10" adds the
//! ranking with the history excluded. onnxruntime runs `scripts/onnx/peer.py score` (installed by
//! `scripts/onnx/env.sh`): a Python loop, one `session.run` per query, so its times include Python's
//! per-call overhead.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use tastebud_bench::{Align, Table};
use tastebud_core::{ItemIdx, UserIdx};
use tastebud_models::autoencoder::{Autoencoder, AutoencoderParams, Layer, MultVae};
use tastebud_models::ease::EaseParams;
use tastebud_models::onnx::{OnnxModel, export};
use tastebud_models::{AnyModel, Fit, NoProgress, Query, Recommender};

/// Native vs tract vs onnxruntime scoring latency.
#[derive(Parser, Debug)]
#[command(name = "bench-onnx")]
struct Cli {
    /// ML-100K folder [default: ml-100k in $TASTEBUD_DATA, else in ../shared/data]
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Users whose histories are the queries
    #[arg(long, default_value_t = 200)]
    users: u32,
    /// Passes over the queries (the median pass counts)
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Print JSON instead of Markdown
    #[arg(long)]
    json: bool,
}

fn autoencoder(n: usize) -> MultVae {
    let w = |r: usize, c: usize, s: f32| -> Vec<f32> {
        (0..r * c)
            .map(|k| ((k as f32 * 0.618 + s) % 1.0 - 0.5) * 0.2)
            .collect()
    };
    let layer = |i, o, s, tanh| Layer {
        inputs: i,
        outputs: o,
        weights: w(i, o, s),
        bias: w(1, o, s + 0.3),
        tanh,
    };
    MultVae(Autoencoder::new(
        AutoencoderParams::vae(),
        n,
        vec![
            layer(n, 600, 0.1, true),
            layer(600, 200, 0.2, true),
            layer(200, 600, 0.3, true),
        ],
        layer(600, n, 0.4, false),
    ))
}

/// Median over passes of the mean microseconds per query.
fn time_per_query(repeat: usize, queries: usize, mut pass: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..repeat)
        .map(|_| {
            let s = Instant::now();
            pass();
            s.elapsed().as_secs_f64() * 1e6 / queries as f64
        })
        .collect();
    tastebud_bench::stats::median(t.drain(..))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.data.clone().unwrap_or_else(|| {
        std::env::var_os("TASTEBUD_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| tastebud_bench::workspace_root().join("../shared/data"))
            .join("ml-100k")
    });
    let data = match tastebud_data::load(&dir, &Default::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench-onnx: {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let n = data.n_items();
    let x = &data.interactions;
    let histories: Vec<Vec<(ItemIdx, f32)>> = (0..cli.users.min(x.n_users() as u32))
        .map(|u| x.history(UserIdx(u)))
        .collect();
    let cases: Vec<serde_json::Value> = histories
        .iter()
        .map(|h| {
            json!({"items": h.iter().map(|x| x.0.0).collect::<Vec<_>>(),
                   "weights": h.iter().map(|x| x.1).collect::<Vec<_>>()})
        })
        .collect();
    let tmp = std::env::temp_dir().join(format!("bench-onnx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let cases_path = tmp.join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let py = Command::new(tastebud_bench::script("onnx/env.sh"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let ease = EaseParams::default().fit(&data, &NoProgress).unwrap();
    let models = [
        ("EASE (fitted)", AnyModel::Ease(ease)),
        (
            "autoencoder (1682-600-200-600-1682)",
            AnyModel::MultVae(autoencoder(n)),
        ),
    ];
    let mut t = Table::aligned(&[
        ("model", Align::Left),
        ("native score", Align::Right),
        ("tract score", Align::Right),
        ("onnxruntime score", Align::Right),
        ("native top 10", Align::Right),
        ("tract top 10", Align::Right),
        ("tract / native", Align::Right),
    ]);
    let mut rows = Vec::new();
    let q = histories.len();
    for (name, model) in &models {
        let bytes = export(model).unwrap();
        let tract = OnnxModel::new(bytes.clone(), n).unwrap();
        let native_scores = |h: &[(ItemIdx, f32)]| match model {
            AnyModel::Ease(m) => m.scores(h).unwrap(),
            AnyModel::MultVae(m) => m.inner().scores(h).unwrap(),
            _ => unreachable!(),
        };
        let ns = time_per_query(cli.repeat, q, || {
            histories.iter().for_each(|h| {
                std::hint::black_box(native_scores(h));
            })
        });
        let ts = time_per_query(cli.repeat, q, || {
            histories.iter().for_each(|h| {
                std::hint::black_box(tract.scores(h).unwrap());
            })
        });
        let nk = time_per_query(cli.repeat, q, || {
            histories.iter().for_each(|h| {
                std::hint::black_box(model.recommend(&Query::new(h), 10).unwrap());
            })
        });
        let tk = time_per_query(cli.repeat, q, || {
            histories.iter().for_each(|h| {
                std::hint::black_box(tract.recommend(&Query::new(h), 10).unwrap());
            })
        });
        let ort = py.as_ref().and_then(|py| {
            let path = tmp.join("model.onnx");
            std::fs::write(&path, &bytes).ok()?;
            let out = tmp.join("out.json");
            let ok = Command::new(py)
                .arg(tastebud_bench::script("onnx/peer.py"))
                .args(["score", path.to_str()?, cases_path.to_str()?, out.to_str()?])
                .args(["--repeat", &cli.repeat.to_string()])
                .status()
                .ok()?
                .success();
            let timing: serde_json::Value =
                serde_json::from_slice(&std::fs::read(tmp.join("out.json.timing")).ok()?).ok()?;
            ok.then(|| timing["ort_us_per_query"].as_f64())?
        });
        let us = |v: f64| format!("{v:.0} µs");
        t.row([
            name.to_string(),
            us(ns),
            us(ts),
            ort.map_or("–".into(), us),
            us(nk),
            us(tk),
            format!("{:.2}x", tk / nk),
        ]);
        rows.push(
            json!({"model": name, "native_score_us": ns, "tract_score_us": ts,
                         "onnxruntime_score_us": ort, "native_top10_us": nk, "tract_top10_us": tk,
                         "onnx_bytes": bytes.len()}),
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
    } else {
        println!(
            "{q} queries (ML-100K users' histories), median of {} passes, one thread each\n\n{t}",
            cli.repeat
        );
        if py.is_none() {
            println!("(onnxruntime: scripts/onnx/env.sh failed, column left empty)");
        }
    }
    ExitCode::SUCCESS
}
