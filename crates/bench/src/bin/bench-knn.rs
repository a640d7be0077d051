//! KNN speed beside the peers, in one run: ItemKNN cosine (K=20) vs implicit's `CosineRecommender` on
//! ML-100K's fixed implicit split (fit, and top-10 for every test user), and KNNBaseline vs Surprise's
//! `KNNBaseline` on one 5-fold CV fold of u.data (fit, and predicting the fold's 20,000 test ratings).
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-knn -- [--data ../shared/data] \
//!     [--python /work/venv-bench/bin/python] [--repeat 3] [--threads 1,2] [--dump DIR]
//! ```
//! Prints a markdown table (medians over `--repeat` runs, ratio = peer time / ours) and the quality of both
//! sides. `--dump DIR` also writes our top-10 lists and neighbour lists, and the peer's, as TSV for a diff.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use rayon::prelude::*;
use tastebud_bench::args::{DataArg, List};
use tastebud_bench::{Table, fmt_secs, median};
use tastebud_core::{Dataset, Feedback, Interactions, SplitSpec, UserIdx};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::knn::{ItemKnnParams, KnnRatingParams};
use tastebud_models::{Fit, NoProgress, Query, Recommender};

/// KNN speed beside the peers: ItemKNN cosine vs implicit's CosineRecommender on ML-100K's fixed
/// split, KNNBaseline vs Surprise's on one 5-fold CV fold.
#[derive(Parser, Debug)]
#[command(name = "bench-knn")]
struct Args {
    #[command(flatten)]
    data: DataArg,
    /// The Python with implicit and Surprise
    #[arg(long, value_name = "PY", default_value = "/work/venv-bench/bin/python")]
    python: String,
    /// Runs per measurement (the median is shown)
    #[arg(long, value_name = "N", default_value_t = 3)]
    repeat: usize,
    /// Thread counts to measure ours with
    #[arg(long, value_name = "LIST", default_value = "1,2")]
    threads: List<usize>,
    /// Also write both sides' top-10 and neighbour lists as TSV to DIR
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
}

/// `user item rating` rows of a tab-separated file (u.data layout).
fn read_tsv(path: &Path) -> Vec<(u32, u32, f32)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let mut next = || f.next().expect("4 columns").trim();
            let (u, i, r) = (next(), next(), next());
            (u.parse().unwrap(), i.parse().unwrap(), r.parse().unwrap())
        })
        .collect()
}

/// Dense indices in increasing order of the numeric ids of u.data (as the ML-100K reader and the peers).
struct Ml100k {
    users: Vec<u32>,
    items: Vec<u32>,
}

impl Ml100k {
    fn new(rows: &[(u32, u32, f32)]) -> Self {
        let mut users: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let mut items: Vec<u32> = rows.iter().map(|r| r.1).collect();
        users.sort_unstable();
        users.dedup();
        items.sort_unstable();
        items.dedup();
        Ml100k { users, items }
    }
    fn matrix(&self, rows: &[(u32, u32, f32)], kind: Feedback, ones: bool) -> Interactions {
        let t: Vec<(u32, u32, f32)> = rows
            .iter()
            .map(|&(u, i, r)| {
                (
                    self.users.binary_search(&u).expect("known user") as u32,
                    self.items.binary_search(&i).expect("known item") as u32,
                    if ones { 1.0 } else { r },
                )
            })
            .collect();
        Interactions::from_triplets(self.users.len(), self.items.len(), &t, kind).expect("valid")
    }
    fn dataset(&self, x: Interactions) -> Dataset {
        Dataset::from_parts(
            "ml-100k",
            x,
            self.users.iter().map(u32::to_string),
            self.items.iter().map(u32::to_string),
        )
        .expect("shape")
    }
}

fn main() {
    let Args {
        data,
        python,
        repeat,
        threads: List(threads),
        dump,
    } = Args::parse();
    let data = data.root();
    assert!(
        data.join("ml-100k/u.data").is_file(),
        "ML-100K not found under {}",
        data.display()
    );

    // ---- ours: ItemKNN ----
    let all = read_tsv(&data.join("ml-100k/u.data"));
    let ml = Ml100k::new(&all);
    let split_dir = data.join("../bench/splits/ml-100k");
    let train = ml.dataset(ml.matrix(
        &read_tsv(&split_dir.join("train.tsv")),
        Feedback::Implicit,
        true,
    ));
    let test = ml.matrix(
        &read_tsv(&split_dir.join("test.tsv")),
        Feedback::Implicit,
        true,
    );
    let users: Vec<UserIdx> = (0..test.n_users() as u32)
        .map(UserIdx)
        .filter(|&u| test.user_len(u) > 0)
        .collect();
    let histories: Vec<_> = users
        .iter()
        .map(|&u| train.interactions.history(u))
        .collect();
    let mut rows = Vec::new();
    let mut model = None;
    let mut ours_item = Vec::new();
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("pool");
        let (mut fits, mut recs) = (Vec::new(), Vec::new());
        for _ in 0..repeat {
            let t0 = Instant::now();
            let m = pool.install(|| ItemKnnParams::default().fit(&train, &NoProgress).unwrap());
            let t1 = Instant::now();
            let lists: Vec<_> = pool.install(|| {
                users
                    .par_iter()
                    .zip(&histories)
                    .map(|(&u, h)| m.recommend(&Query::new(h).user(u), 10).unwrap())
                    .collect()
            });
            let t2 = Instant::now();
            std::hint::black_box(&lists);
            fits.push((t1 - t0).as_secs_f64());
            recs.push((t2 - t1).as_secs_f64());
            model = Some(m);
        }
        ours_item.push((t, median(fits), median(recs)));
    }
    let model = model.expect("at least one run");
    let opts = EvalOptions {
        metrics: MetricSet::new(
            &[MetricKind::Precision, MetricKind::Recall, MetricKind::Ndcg],
            &[10],
        ),
        ..EvalOptions::default()
    };
    let eval_data = EvalData {
        train: &train.interactions,
        test: &test,
        fold_in: None,
        item_features: None,
        user_features: None,
    };
    let e = evaluate(&model, &eval_data, &opts, false).expect("evaluate");

    // ---- ours: KNNBaseline, fold 1 of 5 ----
    let full = ml.dataset(ml.matrix(&all, Feedback::Explicit, false));
    let fold = SplitSpec::KFold { k: 5 }
        .apply(&full.interactions, 42)
        .expect("folds")
        .swap_remove(0);
    let fold_data = full.with_interactions(fold.train.clone()).expect("shape");
    let fold_eval = EvalData {
        train: &fold.train,
        test: &fold.test,
        fold_in: None,
        item_features: None,
        user_features: None,
    };
    let mut ours_bsl = Vec::new();
    let mut our_rmse = 0.0;
    for &t in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("pool");
        let (mut fits, mut tests) = (Vec::new(), Vec::new());
        for _ in 0..repeat {
            let t0 = Instant::now();
            let m = pool.install(|| {
                KnnRatingParams::baseline()
                    .fit(&fold_data, &NoProgress)
                    .unwrap()
            });
            let t1 = Instant::now();
            let (rmse, _) = pool.install(|| {
                tastebud_eval::evaluator::rating_errors(m.rating_predictor().unwrap(), &fold_eval)
                    .unwrap()
            });
            let t2 = Instant::now();
            our_rmse = rmse.unwrap();
            fits.push((t1 - t0).as_secs_f64());
            tests.push((t2 - t1).as_secs_f64());
        }
        ours_bsl.push((t, median(fits), median(tests)));
    }

    // ---- peers ----
    let script = tastebud_bench::script("bench_knn_peer.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg("--data")
        .arg(&data)
        .arg("--repeat")
        .arg(repeat.to_string())
        .arg("--threads")
        .arg(
            threads
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    if let Some(d) = &dump {
        cmd.arg("--dump").arg(d);
    }
    let out = cmd.output().expect("run the peer script");
    assert!(
        out.status.success(),
        "peer script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peer: serde_json::Value = serde_json::from_slice(
        out.stdout
            .split(|&b| b == b'\n')
            .rfind(|l| l.starts_with(b"{"))
            .expect("peer JSON"),
    )
    .expect("peer JSON");
    let peer_median = |v: &serde_json::Value| {
        median(
            v.as_array()
                .expect("array")
                .iter()
                .map(|x| x.as_f64().expect("number")),
        )
    };

    for &(t, fit, rec) in &ours_item {
        let p = &peer["itemknn"]["threads"][t.to_string()];
        let (pf, pr) = (peer_median(&p["fit_s"]), peer_median(&p["recommend_s"]));
        rows.push((
            "ItemKNN cosine K=20 vs implicit CosineRecommender",
            "fit",
            t,
            fit,
            pf,
        ));
        rows.push((
            "ItemKNN cosine K=20 vs implicit CosineRecommender",
            "top-10 for 938 users",
            t,
            rec,
            pr,
        ));
    }
    let (pf, pt) = (
        peer_median(&peer["knnbaseline"]["fit_s"]),
        peer_median(&peer["knnbaseline"]["test_s"]),
    );
    for &(t, fit, test_s) in &ours_bsl {
        rows.push((
            "KNNBaseline (msd, user) vs Surprise KNNBaseline",
            "fit",
            t,
            fit,
            pf,
        ));
        rows.push((
            "KNNBaseline (msd, user) vs Surprise KNNBaseline",
            "predict 20,000 ratings",
            t,
            test_s,
            pt,
        ));
        rows.push((
            "KNNBaseline (msd, user) vs Surprise KNNBaseline",
            "fit + predict",
            t,
            fit + test_s,
            pf + pt,
        ));
    }
    let mut table = Table::new(&[
        "model",
        "task",
        "threads",
        "Tastebud",
        "peer",
        "peer / Tastebud",
    ]);
    for (m, task, t, ours, theirs) in rows {
        let peer_threads = if m.starts_with("ItemKNN") {
            t.to_string()
        } else {
            "1".into()
        };
        table.row([
            m.to_string(),
            task.to_string(),
            format!("{t} (peer: {peer_threads})"),
            fmt_secs(ours),
            fmt_secs(theirs),
            format!("{:.1}x", theirs / ours),
        ]);
    }
    print!("{table}");
    println!();
    println!(
        "Quality: ItemKNN P@10 {:.4} R@10 {:.4} NDCG@10 {:.4} (implicit {:.4} / {:.4} / {:.4}); \
         KNNBaseline fold-1 RMSE {:.4} (Surprise, its own fold 1: {:.4}).",
        e.means["precision@10"],
        e.means["recall@10"],
        e.means["ndcg@10"],
        peer["itemknn"]["p10"].as_f64().unwrap_or(f64::NAN),
        peer["itemknn"]["r10"].as_f64().unwrap_or(f64::NAN),
        peer["itemknn"]["ndcg10"].as_f64().unwrap_or(f64::NAN),
        our_rmse,
        peer["knnbaseline"]["rmse"].as_f64().unwrap_or(f64::NAN),
    );
    println!("Peers: {}", peer["versions"]);

    if let Some(d) = dump {
        use std::io::Write;
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(d.join("ours_recs.tsv")).unwrap());
        for (&u, h) in users.iter().zip(&histories) {
            for (r, s) in model
                .recommend(&Query::new(h).user(u), 10)
                .unwrap()
                .iter()
                .enumerate()
            {
                let uid = train.users.id(u).unwrap_or("?");
                let iid = train.items.id(s.item).unwrap_or("?");
                writeln!(f, "{uid}\t{iid}\t{r}\t{}", s.score).unwrap();
            }
        }
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(d.join("ours_sims.tsv")).unwrap());
        for i in 0..train.n_items() as u32 {
            let item = tastebud_core::ItemIdx(i);
            for s in model.neighbours(item).unwrap() {
                let a = train.items.id(item).unwrap_or("?");
                let b = train.items.id(s.item).unwrap_or("?");
                writeln!(f, "{a}\t{b}\t{}", s.score).unwrap();
            }
        }
        eprintln!("lists written to {}", d.display());
    }
}
