//! End-to-end evaluation tests: a toy split with hand-computed answers, and ML-100K's fixed implicit split
//! against the reference numbers in ../shared/bench (numpy, pytrec_eval).

use std::path::PathBuf;

use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, Split, UserIdx};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::run::{EvalPlan, run};
use tastebud_eval::{EvalOptions, Protocol, evaluate};
use tastebud_models::popularity::PopularityParams;
use tastebud_models::{Fit, NoProgress};

fn shared() -> PathBuf {
    let data = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        data.join("ml-100k/u.data").is_file(),
        "real data not found at {} (set TASTEBUD_DATA)",
        data.display()
    );
    data
}

/// 3 users x 4 items. Train: u0 {0}, u1 {0, 1}, u2 {0}. Test: u0 {1}, u1 {3}, u2 {2, 3}.
/// Popularity (train counts 3, 1, 0, 0) recommends: u0 [1, 2, 3], u1 [2, 3], u2 [1, 2, 3].
fn toy() -> (Dataset, Split) {
    let tr = Interactions::from_triplets(
        3,
        4,
        &[(0, 0, 1.0), (1, 0, 1.0), (1, 1, 1.0), (2, 0, 1.0)],
        Feedback::Implicit,
    )
    .unwrap();
    let te = Interactions::from_triplets(
        3,
        4,
        &[(0, 1, 1.0), (1, 3, 1.0), (2, 2, 1.0), (2, 3, 1.0)],
        Feedback::Implicit,
    )
    .unwrap();
    let d = Dataset::from_parts("toy", tr.clone(), ["a", "b", "c"], ["w", "x", "y", "z"]).unwrap();
    (
        d,
        Split {
            train: tr,
            test: te,
            fold_in: None,
        },
    )
}

#[test]
fn toy_popularity_hand_computed() {
    let (d, s) = toy();
    let model = PopularityParams::default().fit(&d, &NoProgress).unwrap();
    let opts = EvalOptions {
        metrics: MetricSet::new(&MetricKind::ALL, &[1, 2]),
        ..EvalOptions::default()
    };
    let data = tastebud_eval::run::eval_data(&d, &s);
    let e = evaluate(&model, &data, &opts, true).unwrap();
    assert_eq!(e.users, vec![UserIdx(0), UserIdx(1), UserIdx(2)]);
    // precision@1: u0 hit (item 1), u1 miss (item 2), u2 miss (item 1) -> 1/3
    assert!((e.means["precision@1"] - 1.0 / 3.0).abs() < 1e-12);
    // precision@2: u0 1/2, u1 1/2 (item 3 at rank 2), u2 1/2 (item 2 at rank 2) -> 1/2
    assert!((e.means["precision@2"] - 0.5).abs() < 1e-12);
    // recall@2: u0 1, u1 1, u2 1/2
    assert!((e.means["recall@2"] - 2.5 / 3.0).abs() < 1e-12);
    // mrr@2: 1, 1/2, 1/2
    assert!((e.means["mrr@2"] - 2.0 / 3.0).abs() < 1e-12);
    // AUC over full rankings: u0 [1,2,3] pos 1 -> 1; u1 [2,3] pos 3 -> 0; u2 [1,2,3] pos {2,3} vs neg {1} -> 0
    assert!((e.means["auc"] - 1.0 / 3.0).abs() < 1e-12);
    // coverage@2: lists [1,2], [2,3], [1,2] -> items 1,2,3 of 4
    assert!((e.global["coverage@2"] - 0.75).abs() < 1e-12);
    // Every list excludes the user's train items.
    for l in &e.lists {
        for i in &l.items {
            assert!(s.train.get(l.user, *i).is_none());
        }
    }
}

#[test]
fn sampled_protocol_is_labelled_and_higher() {
    let (d, s) = toy();
    let model = PopularityParams::default().fit(&d, &NoProgress).unwrap();
    let data = tastebud_eval::run::eval_data(&d, &s);
    let opts = EvalOptions {
        protocol: Protocol::Sampled {
            negatives: 1,
            seed: 3,
        },
        ..EvalOptions::default()
    };
    let e = evaluate(&model, &data, &opts, false).unwrap();
    assert!(opts.protocol.describe().contains("not comparable"));
    assert!(
        e.means["hit_rate@10"] > 0.99,
        "with 1 negative every positive is in the top 10"
    );
}

#[test]
fn bad_options_fail_before_work() {
    let (d, s) = toy();
    let model = PopularityParams::default().fit(&d, &NoProgress).unwrap();
    let data = tastebud_eval::run::eval_data(&d, &s);
    let opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg], &[]),
        ..EvalOptions::default()
    };
    assert!(evaluate(&model, &data, &opts, false).is_err());
    let opts = EvalOptions {
        protocol: Protocol::Sampled {
            negatives: 0,
            seed: 1,
        },
        ..EvalOptions::default()
    };
    assert!(evaluate(&model, &data, &opts, false).is_err());
}

/// ML-100K, the fixed implicit split of ../shared/bench (rating >= 4, per-user 80/20, seed 42): our
/// popularity baseline must reproduce the reference numbers (numpy, ../shared/bench/RESULTS.md) exactly.
#[test]
fn ml100k_fixed_split_popularity_matches_the_reference() {
    let data = shared();
    let split_dir = data.join("../bench/splits/ml-100k");
    let (train, test) = tastebud_data::load_pair(
        Some(&data.join("ml-100k")),
        &split_dir.join("train.tsv"),
        &split_dir.join("test.tsv"),
        &Default::default(),
    )
    .unwrap();
    assert_eq!((train.interactions.nnz(), test.nnz()), (44_679, 10_696));
    let split = Split {
        train: train.interactions.clone(),
        test,
        fold_in: None,
    };
    let plan = EvalPlan {
        models: vec![tastebud_models::registry::ModelSpec::new("popularity").unwrap()],
        runs: vec![],
        opts: EvalOptions {
            metrics: MetricSet::new(
                &[
                    MetricKind::Precision,
                    MetricKind::Recall,
                    MetricKind::Ndcg,
                    MetricKind::Map,
                    MetricKind::Mrr,
                    MetricKind::HitRate,
                ],
                &[5, 10, 20],
            ),
            ..EvalOptions::default()
        },
        split: "fixed".into(),
        seed: 42,
        keep_lists: false,
        pretrained: Vec::new(),
    };
    let out = run(&train, &[split], &plan, &NoProgress).unwrap();
    let m = &out.report.models[0].metrics;
    // ../shared/bench/RESULTS.md, "popularity" row (4 decimals).
    for (name, want) in [
        ("precision@10", 0.1094),
        ("recall@10", 0.1112),
        ("ndcg@10", 0.1499),
        ("map@10", 0.0524),
        ("mrr@10", 0.3107),
        ("hit_rate@10", 0.5672),
    ] {
        let got = m[name].mean;
        assert!(
            (got - want).abs() < 5e-5,
            "{name}: got {got:.6}, reference {want}"
        );
    }
    assert_eq!(out.report.models[0].users, 938);
    // pytrec_eval 0.5.11 (trec_eval's C code) on the run and qrels this evaluator exports
    // (`tastebud evaluate ... --export-run --export-qrels`, then ../shared/bench/eval_crosscheck.py --k K);
    // ranx 0.3.21 gave the same values to the last digit.
    for (name, want) in [
        ("ndcg@5", 0.15741120775549983),
        ("precision@5", 0.13518123667377482),
        ("recall@5", 0.07124971274872356),
        ("map@5", 0.04285737819337554),
        ("ndcg@10", 0.1499454111926372),
        ("precision@10", 0.1093816631130062),
        ("recall@10", 0.11117073443396686),
        ("map@10", 0.05238673844521384),
        ("ndcg@20", 0.16646184091313357),
        ("precision@20", 0.0935501066098077),
        ("recall@20", 0.19232631281461168),
        ("map@20", 0.06448861062453173),
    ] {
        let got = m[name].mean;
        assert!(
            (got - want).abs() < 1e-12,
            "{name}: got {got}, pytrec_eval {want}"
        );
    }
    // Coverage over the 1,682-item catalogue: the reference's 0.029 is over the 1,410 items with a train
    // positive, i.e. 41 distinct items.
    let cov = m["coverage@10"].mean * 1682.0;
    assert!((cov - 0.029 * 1410.0).abs() < 1.0, "{cov} distinct items");
    assert_eq!(ItemIdx(0), train.item("1").unwrap());
}

/// Lists written as a TREC run and read back score exactly as the originals.
#[test]
fn trec_round_trip_preserves_every_metric() {
    let (d, s) = toy();
    let model = PopularityParams::default().fit(&d, &NoProgress).unwrap();
    let opts = EvalOptions {
        metrics: MetricSet::new(&MetricKind::ALL, &[1, 2, 3]),
        ..EvalOptions::default()
    };
    let data = tastebud_eval::run::eval_data(&d, &s);
    let e = evaluate(&model, &data, &opts, true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run_path = dir.path().join("run.trec");
    tastebud_eval::trec::write_run(&run_path, &d, &e.lists, "pop").unwrap();
    let lists = tastebud_eval::trec::read_run(&run_path, &d).unwrap();
    let rel = tastebud_eval::evaluator::relevance(&s.test, None, false);
    let back = tastebud_eval::score_lists("pop", &lists, &data, &opts, &rel).unwrap();
    assert_eq!(back.means, e.means);
    std::fs::write(&run_path, "a Q0 nope 1 1.0 x\n").unwrap();
    let err = tastebud_eval::trec::read_run(&run_path, &d)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("run.trec:1") && err.contains("unknown item"),
        "{err}"
    );
}

/// A model that predicts ratings and has embeddings, to check RMSE/MAE and embedding diversity wiring.
struct Oracle {
    n_items: usize,
    vectors: Vec<f32>,
}

impl tastebud_models::Recommender for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(
        &self,
        q: &tastebud_models::Query<'_>,
        k: usize,
    ) -> tastebud_core::Result<Vec<tastebud_core::Scored>> {
        let scores: Vec<f32> = (0..self.n_items).map(|i| i as f32).collect();
        tastebud_core::top_k(&scores, k, &q.filter(self.n_items)?)
    }
    fn similar_items(
        &self,
        _: ItemIdx,
        _: usize,
    ) -> tastebud_core::Result<Vec<tastebud_core::Scored>> {
        Ok(vec![])
    }
    fn rating_predictor(&self) -> Option<&dyn tastebud_models::PredictRating> {
        Some(self)
    }
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((2, &self.vectors))
    }
}

impl tastebud_models::PredictRating for Oracle {
    fn predict(
        &self,
        _: Option<UserIdx>,
        _: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> tastebud_core::Result<f32> {
        Ok(if item.0 == 3 { 3.0 } else { 1.0 })
    }
}

#[test]
fn rating_errors_embedding_diversity_and_segments() {
    let (d, s) = toy();
    // Test values are all 1: the oracle is off by 2 on item 3 (users 1 and 2) and exact elsewhere.
    let model = Oracle {
        n_items: 4,
        vectors: vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
    };
    let data = tastebud_eval::run::eval_data(&d, &s);
    let opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg], &[2]),
        ..EvalOptions::default()
    };
    let e = evaluate(&model, &data, &opts, false).unwrap();
    // 4 test ratings, errors 0, 2, 0, 2: RMSE = sqrt(8/4), MAE = 1
    assert!((e.global["rmse"] - 2f64.sqrt()).abs() < 1e-12);
    assert!((e.global["mae"] - 1.0).abs() < 1e-12);
    // Lists are [3, 2] for u0, u2 and [3, 2] for u1: items 3 and 2 are orthogonal -> ILD 1.
    assert!((e.means["ild_emb@2"] - 1.0).abs() < 1e-6);
    let segs = tastebud_eval::evaluator::segments(&e, &opts, None);
    let bucket = segs
        .iter()
        .find(|r| r.by == "train interactions" && r.segment == "1-5")
        .unwrap();
    assert_eq!(bucket.users, 3);
    assert!(
        segs.iter()
            .any(|r| r.by == "user type" && r.segment == "returning" && r.users == 3)
    );
    // Every user has at most 5 training interactions: all cold, none warm.
    assert!(
        segs.iter()
            .any(|r| r.by == "cold start" && r.segment == "cold users (<= 5)" && r.users == 3)
    );
    assert!(!segs.iter().any(|r| r.segment.starts_with("warm")));
}
