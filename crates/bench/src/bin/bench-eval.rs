//! Evaluation speed: Tastebud's one-pass evaluator against pytrec_eval and ranx on the same run/qrels.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-eval -- [--users 100000] [--python PY] [--repeat 3]
//! ```
//! Generates a seeded run (top-100 per user) and qrels (20 relevant per user) over a 20,000-item catalogue,
//! writes them as TREC files, times the metric computation of each tool (file parsing excluded for all),
//! and checks that every mean agrees to 1e-6.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tastebud_bench::{Table, median};
use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
use tastebud_eval::metrics::{MetricKind, MetricSet, Relevant};
use tastebud_eval::{EvalData, EvalOptions, RankedList, score_lists};

/// Evaluation speed: Tastebud's one-pass evaluator against pytrec_eval and ranx on the same seeded
/// run/qrels (top-100 per user, 20 relevant per user, 20,000 items).
#[derive(Parser, Debug)]
#[command(name = "bench-eval")]
struct Args {
    /// Users in the generated run
    #[arg(long, value_parser = tastebud_bench::args::count, default_value = "100000")]
    users: usize,
    /// The Python with pytrec_eval and ranx
    #[arg(long, value_name = "PY", default_value = "python3")]
    python: String,
    /// Timed repeats per tool (the median is shown)
    #[arg(long, value_name = "N", default_value_t = 3)]
    repeat: usize,
}

fn main() {
    let Args {
        users,
        python,
        repeat,
    } = Args::parse();
    let script = tastebud_bench::script("bench_eval_peers.py");
    let (n_items, depth, n_rel) = (20_000usize, 100usize, 20usize);
    let ks = [10usize, 20, 100];

    // Seeded data: half of each user's relevant items are drawn from their list, so metrics are not ~0.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut lists = Vec::with_capacity(users);
    let mut test = Vec::with_capacity(users * n_rel);
    for u in 0..users as u32 {
        let mut items: Vec<u32> = Vec::with_capacity(depth);
        while items.len() < depth {
            let i = rng.random_range(0..n_items as u32);
            if !items.contains(&i) {
                items.push(i);
            }
        }
        let mut rel: Vec<u32> = Vec::with_capacity(n_rel);
        while rel.len() < n_rel {
            let i = if rel.len().is_multiple_of(2) {
                items[rng.random_range(0..depth)]
            } else {
                rng.random_range(0..n_items as u32)
            };
            if !rel.contains(&i) {
                rel.push(i);
            }
        }
        for &i in &rel {
            test.push((u, i, 1.0f32));
        }
        let scores: Vec<f32> = (0..depth).map(|r| (depth - r) as f32).collect();
        lists.push(RankedList {
            user: UserIdx(u),
            items: items.into_iter().map(ItemIdx).collect(),
            scores,
        });
    }
    let test =
        Interactions::from_triplets(users, n_items, &test, Feedback::Implicit).expect("valid");
    let train = Interactions::empty(users, n_items, Feedback::Implicit);
    let ids = Dataset::from_parts(
        "bench",
        train.clone(),
        (0..users).map(|u| format!("u{u}")),
        (0..n_items).map(|i| format!("i{i}")),
    )
    .expect("ids");
    let dir = std::env::temp_dir().join("tastebud-bench-eval");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (run_path, qrels_path) = (dir.join("run.trec"), dir.join("qrels.trec"));
    tastebud_eval::trec::write_run(&run_path, &ids, &lists, "bench").expect("write run");
    let rel: Vec<(UserIdx, Relevant)> = tastebud_eval::evaluator::relevance(&test, None, false);
    tastebud_eval::trec::write_qrels(&qrels_path, &ids, &rel).expect("write qrels");

    let kinds = [
        MetricKind::Precision,
        MetricKind::Recall,
        MetricKind::Ndcg,
        MetricKind::Map,
        MetricKind::HitRate,
        MetricKind::Mrr,
    ];
    let opts = EvalOptions {
        metrics: MetricSet::new(&kinds, &ks),
        beyond: false,
        ..EvalOptions::default()
    };
    let data = EvalData {
        train: &train,
        test: &test,
        fold_in: None,
        item_features: None,
        user_features: None,
    };
    let mut times = Vec::new();
    let mut ours = None;
    for _ in 0..repeat {
        let t = Instant::now();
        let rel = tastebud_eval::evaluator::relevance(&test, None, false);
        let e = score_lists("bench", &lists, &data, &opts, &rel).expect("scores");
        times.push(t.elapsed().as_secs_f64());
        ours = Some(e);
    }
    times.sort_by(f64::total_cmp);
    let ours_secs = median(times.iter().copied());
    let ours = ours.expect("at least one repeat");
    let mut means: BTreeMap<String, f64> = ours.means.clone();
    // Our MRR is cut at K; on a 100-long run mrr@100 equals trec_eval's recip_rank.
    means.retain(|k, _| !k.starts_with("mrr@") || k == "mrr@100");

    let out = Command::new(&python)
        .arg(&script)
        .arg(&run_path)
        .arg(&qrels_path)
        .arg("10,20,100")
        .arg(repeat.to_string())
        .output()
        .expect("run python");
    if !out.status.success() {
        eprintln!(
            "peer script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    let peers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    println!(
        "{users} users x top-{depth} x {n_rel} relevant, {} metrics at K = 10, 20, 100; {} threads; median of {repeat}",
        means.len(),
        rayon::current_num_threads()
    );
    let mut t = Table::new(&[
        "evaluator",
        "seconds",
        "vs tastebud",
        "max abs diff of means",
    ]);
    t.row([
        "tastebud".to_string(),
        format!("{ours_secs:.3}"),
        "1.0x".into(),
        "-".into(),
    ]);
    for peer in ["pytrec_eval", "ranx"] {
        let p = &peers[peer];
        let secs = p["seconds"].as_f64().unwrap_or(f64::NAN);
        let mut max_diff = 0f64;
        for (k, v) in &means {
            let theirs = p["means"][k].as_f64().unwrap_or(f64::NAN);
            max_diff = max_diff.max((theirs - v).abs());
        }
        t.row([
            format!("{peer} {}", p["version"].as_str().unwrap_or("")),
            format!("{secs:.3}"),
            format!("{:.1}x slower", secs / ours_secs),
            format!("{max_diff:.1e}"),
        ]);
    }
    print!("{t}");
    if let Some(f) = peers["ranx"]["first_call_seconds"].as_f64() {
        println!("(ranx's first call, including numba compilation: {f:.2} s)");
    }
    println!(
        "{}",
        serde_json::json!({ "tastebud_seconds": times, "tastebud_means": means, "peers": peers })
    );
}
