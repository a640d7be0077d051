//! Quality of ALS, BPR and EASE on ML-100K's fixed implicit split (../shared/bench/splits/ml-100k), against
//! implicit 0.7.3's numbers in ../shared/bench/RESULTS.md, with the hyperparameters of implicit_bench.py.
//!
//! The peer fits on the **binary** matrix (every rating >= 4 kept as 1.0), so the train values are mapped to
//! 1.0 here before fitting and as the query history. Metrics: full ranking over all items not in the user's
//! train positives, K = 10, tastebud_eval's definitions (checked against pytrec_eval in tastebud-eval's
//! tests). Run with `--release` (the BPR fit is slow without optimisations).

use tastebud_core::{Dataset, Interactions, Result, UserIdx};
use tastebud_models::als::AlsParams;
use tastebud_models::bpr::BprParams;
use tastebud_models::ease::EaseParams;
use tastebud_models::{Fit, NoProgress, Query, Recommender, Scored};

mod common;
use common::{fixed_split_binary as split, ndcg_recall_at_10 as quality};

/// A model queried without the user index: every query goes through the history fold-in.
struct ForgetUser<'a, M>(&'a M);

impl<M: Recommender> Recommender for ForgetUser<'_, M> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn n_items(&self) -> usize {
        self.0.n_items()
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        self.0.recommend(&Query { user: None, ..*q }, k)
    }
    fn similar_items(&self, item: tastebud_core::ItemIdx, k: usize) -> Result<Vec<Scored>> {
        self.0.similar_items(item, k)
    }
}

// implicit 0.7.3, ../shared/bench/RESULTS.md (1 thread).
const ALS_C1: (f64, f64) = (0.2272, 0.1971);
const BPR: (f64, f64) = (0.2127, 0.1824);
// implicit 0.7.3, mean over random_state 0..10, one thread (`scripts/bench_implicit_peer.py --runs 1
// --seeds 0,1,...,9`; over 30 seeds: ALS 0.2281 / 0.1979, BPR 0.2084 / 0.1796, BENCHMARKS.md).
const ALS_SEEDS: (f64, f64) = (0.22836, 0.19795);
const BPR_SEEDS: (f64, f64) = (0.20785, 0.17824);
const SEEDS: u64 = 10;

/// Mean (NDCG@10, Recall@10) over seeds `0..SEEDS`.
fn seed_mean(
    fit: impl Fn(u64) -> Box<dyn Recommender>,
    train: &Dataset,
    test: &Interactions,
) -> (f64, f64) {
    let q: Vec<(f64, f64)> = (0..SEEDS)
        .map(|s| quality(fit(s).as_ref(), train, test))
        .collect();
    let n = SEEDS as f64;
    (
        q.iter().map(|x| x.0).sum::<f64>() / n,
        q.iter().map(|x| x.1).sum::<f64>() / n,
    )
}

#[test]
fn als_matches_implicit_on_ml100k() {
    let (train, test) = split();
    // implicit_bench.py `als_c1`: factors=64, iterations=15, regularization=0.05, alpha=1.0, CG, seed 42.
    let p = AlsParams::default()
        .factors(64)
        .iterations(15)
        .regularization(0.05)
        .alpha(1.0);
    let m = p.clone().fit(&train, &NoProgress).unwrap();
    let (ndcg, recall) = quality(&m, &train, &test);
    eprintln!(
        "als (cg) seed 42: ndcg@10 {ndcg:.4} recall@10 {recall:.4} (implicit seed 42 {ALS_C1:?})"
    );
    // Regression guard on the measured values (0.2259 / 0.1948): within seed noise of implicit's seed-42
    // run (0.2272 / 0.1971); the seed means below are the like-for-like comparison.
    assert!(
        ndcg > 0.2250 && recall > 0.1940,
        "als regressed: {ndcg:.4} / {recall:.4}"
    );
    // Every query is a fold-in already (stored user factors are never read): same numbers without q.user.
    assert_eq!(quality(&ForgetUser(&m), &train, &test), (ndcg, recall));
    let (mn, mr) = seed_mean(
        |s| Box::new(p.clone().seed(s).fit(&train, &NoProgress).unwrap()),
        &train,
        &test,
    );
    eprintln!("als (cg) seeds 0-9: ndcg@10 {mn:.4} recall@10 {mr:.4} (implicit {ALS_SEEDS:?})");
    // Same algorithm as implicit's, so the same distribution over seeds (30 seeds each side in
    // BENCHMARKS.md: difference of the means -0.0003 NDCG, +0.0004 Recall, both CIs around 0). Measured
    // 0.2284 / 0.1997 against implicit's 0.2284 / 0.1980 over these 10 seeds; the seed mean also clears
    // implicit's reference run (0.2272 / 0.1971). The standard error of a 10-seed mean is about 0.0009.
    assert!(
        mn >= ALS_C1.0 && mr >= ALS_C1.1,
        "als seed mean below implicit's reference: {mn:.4} / {mr:.4}"
    );
    assert!(
        mn >= ALS_SEEDS.0 - 0.001 && mr >= ALS_SEEDS.1 - 0.001,
        "als seed mean: {mn:.4} / {mr:.4}"
    );
    // The exact (Cholesky) solver.
    let m = p.clone().use_cg(false).fit(&train, &NoProgress).unwrap();
    let (ndcg, recall) = quality(&m, &train, &test);
    eprintln!("als (cholesky): ndcg@10 {ndcg:.4} recall@10 {recall:.4}");
    assert!(
        ndcg >= ALS_C1.0 - 0.005 && recall >= ALS_C1.1 - 0.005,
        "als exact: {ndcg:.4} / {recall:.4}"
    );
    // With exact_user_factors, a known user's stored factor is the fold-in of their training history.
    let m = p
        .use_cg(false)
        .exact_user_factors(true)
        .fit(&train, &NoProgress)
        .unwrap();
    let h = train.interactions.history(UserIdx(0));
    assert_eq!(m.fold_in(&h).unwrap(), &m.user_factors()[..64]);
}

#[test]
fn bpr_matches_implicit_on_ml100k() {
    let (train, test) = split();
    // implicit_bench.py `bpr`: factors=64, iterations=100, learning_rate=0.01, regularization=0.01, seed 42;
    // one thread (deterministic).
    let p = BprParams::default()
        .factors(64)
        .iterations(100)
        .learning_rate(0.01)
        .regularization(0.01)
        .threads(1);
    let m = p.clone().fit(&train, &NoProgress).unwrap();
    let (ndcg, recall) = quality(&m, &train, &test);
    eprintln!("bpr seed 42: ndcg@10 {ndcg:.4} recall@10 {recall:.4} (implicit seed 42 {BPR:?})");
    // The defaults (uniform negatives redrawn when liked, user vectors refitted by fold-in after training)
    // beat implicit's BPR at the same factors, epochs, learning rate and regularisation (measured 0.2535 /
    // 0.2160 at seed 42).
    assert!(
        ndcg >= BPR.0 && recall >= BPR.1,
        "bpr seed 42 below implicit's: {ndcg:.4} / {recall:.4}"
    );
    let (mn, mr) = seed_mean(
        |s| Box::new(p.clone().seed(s).fit(&train, &NoProgress).unwrap()),
        &train,
        &test,
    );
    eprintln!("bpr seeds 0-9: ndcg@10 {mn:.4} recall@10 {mr:.4} (implicit {BPR_SEEDS:?})");
    // Measured 0.2501 / 0.2115 against implicit's 0.2079 / 0.1782 over the same 10 seeds (30 seeds each
    // side in BENCHMARKS.md: every seed of ours above implicit's best).
    assert!(
        mn >= BPR.0 && mr >= BPR.1 && mn >= BPR_SEEDS.0 && mr >= BPR_SEEDS.1,
        "bpr seed mean: {mn:.4} / {mr:.4}"
    );
    // Configured as implicit (its sampler, no refit) it is implicit's algorithm (30 seeds each side in
    // BENCHMARKS.md: difference of the means -0.0006 NDCG, -0.0001 Recall); at seed 42 measured 0.2097 /
    // 0.1821.
    let imp = p
        .clone()
        .uniform_negatives(false)
        .refit_users(false)
        .fit(&train, &NoProgress)
        .unwrap();
    let (pn, pr) = quality(&imp, &train, &test);
    eprintln!("bpr, implicit's sampler, seed 42: ndcg@10 {pn:.4} recall@10 {pr:.4}");
    assert!(
        pn > 0.2085 && pr > 0.1810,
        "bpr with implicit's sampler regressed: {pn:.4} / {pr:.4}"
    );
    // With the refit, a stored user vector is the fold-in of the training history: the same numbers when
    // every query is folded in (no user index).
    assert_eq!(quality(&ForgetUser(&m), &train, &test), (ndcg, recall));
    // Without it, folding every training history in ranks better than the jointly trained vectors.
    let (sn, sr) = quality(&imp, &train, &test);
    let (fn_, fr) = quality(&ForgetUser(&imp), &train, &test);
    eprintln!("bpr as implicit, fold-in only: ndcg@10 {fn_:.4} recall@10 {fr:.4}");
    assert!(fn_ > sn && fr > sr, "bpr fold-in: {fn_:.4} / {fr:.4}");
}

#[test]
fn ease_beats_als_and_bpr_on_ml100k() {
    let (train, test) = split();
    for lambda in [100.0, 200.0, 500.0, 1000.0] {
        let m = EaseParams::default()
            .lambda(lambda)
            .fit(&train, &NoProgress)
            .unwrap();
        let (ndcg, recall) = quality(&m, &train, &test);
        eprintln!("ease lambda {lambda}: ndcg@10 {ndcg:.4} recall@10 {recall:.4}");
    }
    let m = EaseParams::default().fit(&train, &NoProgress).unwrap();
    let (ndcg, recall) = quality(&m, &train, &test);
    assert!(
        ndcg > ALS_C1.0 && recall > ALS_C1.1,
        "ease: {ndcg:.4} / {recall:.4}"
    );
}

/// Microsoft Recommenders' ML-100K protocol: every rating is a positive, 75/25 split stratified per user,
/// seen items removed, top 10. Their BPR (Cornac, k=200) reaches NDCG@10 0.442. Ours, with its default
/// uniformly drawn negatives (as Cornac draws them), 200 factors, regularisation 0.005 and 200 epochs (one
/// thread, so the number is reproducible), must reach 0.44 (measured 0.4662; Cornac's exact settings give
/// 0.4304).
#[test]
fn ms_recommenders_protocol_bpr_reaches_their_ndcg() {
    use tastebud_eval::metrics::{MetricKind, MetricSet};
    use tastebud_eval::run::{EvalPlan, run};
    use tastebud_models::registry::ModelSpec;
    let dir = std::env::var_os("TASTEBUD_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    assert!(
        dir.join("ml-100k/u.data").is_file(),
        "ML-100K not found at {} (set TASTEBUD_DATA)",
        dir.display()
    );
    let opts = tastebud_data::LoadOptions {
        kind: Some(tastebud_core::Feedback::Implicit),
        ..Default::default()
    };
    let data = tastebud_data::load(&dir.join("ml-100k"), &opts).unwrap();
    let splits = tastebud_core::SplitSpec::PerUser { test_ratio: 0.25 }
        .apply(&data.interactions, 42)
        .unwrap();
    let mut bpr = ModelSpec::new("bpr").unwrap();
    for kv in [
        "uniform_negatives=true",
        "factors=200",
        "regularization=0.005",
        "iterations=200",
        "threads=1",
    ] {
        bpr = bpr.param(kv).unwrap();
    }
    let plan = EvalPlan {
        models: vec![bpr],
        runs: vec![],
        opts: tastebud_eval::EvalOptions {
            metrics: MetricSet::new(&[MetricKind::Ndcg, MetricKind::Precision], &[10]),
            beyond: false,
            ..Default::default()
        },
        split: "user:0.25".into(),
        seed: 42,
        keep_lists: false,
        pretrained: Vec::new(),
    };
    let out = run(&data, &splits, &plan, &tastebud_models::NoProgress).unwrap();
    let ndcg = out.report.models[0].metrics["ndcg@10"].mean;
    assert!(
        ndcg >= 0.44,
        "BPR NDCG@10 {ndcg:.4} < 0.44 on the Microsoft Recommenders protocol"
    );
}
