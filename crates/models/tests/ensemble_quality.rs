//! Blends and switches against their parts on ML-100K's fixed implicit split (../shared/bench/splits/ml-100k,
//! the split of ../shared/bench/RESULTS.md): NDCG@10 and Recall@10, full ranking, binary train values as in
//! `implicit_quality.rs`. Run with `--release -- --nocapture` for the table.

use std::path::PathBuf;

use tastebud_core::{Dataset, Feedback, Interactions};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_models::{NoProgress, Recommender};

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

fn split() -> (Dataset, Interactions) {
    let data = shared();
    let dir = data.join("../bench/splits/ml-100k");
    let (train, test) = tastebud_data::load_pair(
        Some(&data.join("ml-100k")),
        &dir.join("train.tsv"),
        &dir.join("test.tsv"),
        &Default::default(),
    )
    .unwrap();
    assert_eq!((train.interactions.nnz(), test.nnz()), (44_679, 10_696));
    let t: Vec<(u32, u32, f32)> = train
        .interactions
        .iter()
        .map(|r| (r.user.0, r.item.0, 1.0))
        .collect();
    let x = Interactions::from_triplets(
        train.n_users(),
        train.n_items(),
        &t,
        Feedback::Implicit,
    )
    .unwrap();
    (train.with_interactions(x).unwrap(), test)
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
    let e = evaluate(model, &data, &opts, false).unwrap();
    assert_eq!(e.users.len(), 938);
    (e.means["ndcg@10"], e.means["recall@10"])
}

fn spec(name: &str, params: &[&str]) -> ModelSpec {
    params
        .iter()
        .fold(ModelSpec::new(name).unwrap(), |s, p| s.param(p).unwrap())
}

#[test]
fn blends_against_their_parts_on_ml100k() {
    let (train, test) = split();
    let run = |s: &ModelSpec| {
        let (m, _) = fit(s, &train, &NoProgress).unwrap();
        quality(m.as_recommender(), &train, &test)
    };
    let ease = run(&spec("ease", &["lambda=200"]));
    let knn = run(&spec("itemknn", &[]));
    let pop = run(&spec("popularity", &[]));
    let blends = [
        ("ease:0.7,popularity:0.3", "minmax"),
        ("ease:0.5,itemknn:0.5", "minmax"),
        ("ease:0.5,itemknn:0.5", "rank"),
        ("ease:0.7,itemknn:0.3", "minmax"),
    ];
    println!("| model | NDCG@10 | Recall@10 |\n|---|---|---|");
    println!("| ease (lambda 200) | {:.4} | {:.4} |", ease.0, ease.1);
    println!("| itemknn | {:.4} | {:.4} |", knn.0, knn.1);
    println!("| popularity | {:.4} | {:.4} |", pop.0, pop.1);
    let mut got = Vec::new();
    for (models, norm) in blends {
        let s = spec(
            "blend",
            &[
                &format!("models={models}"),
                &format!("normalise={norm}"),
                "ease.lambda=200",
            ],
        );
        let q = run(&s);
        println!("| blend {models} ({norm}) | {:.4} | {:.4} |", q.0, q.1);
        got.push(q);
    }
    for (models, min) in [("popularity", 5), ("itemknn", 5), ("popularity", 20)] {
        let s = spec(
            "switch",
            &[
                &format!("cold={models}"),
                "warm=ease",
                &format!("min_history={min}"),
                "ease.lambda=200",
            ],
        );
        let q = run(&s);
        println!("| switch {models} below {min}, ease above | {:.4} | {:.4} |", q.0, q.1);
    }
    // EASE and item-kNN make different mistakes: their equal blend beats both parts (measured
    // 0.xxxx against 0.xxxx and 0.xxxx).
    let best = ease.0.max(knn.0);
    assert!(
        got[1].0 > best,
        "blend ease+itemknn {:.4} <= best part {best:.4}",
        got[1].0
    );
    // Popularity adds little to EASE: the blend stays within 0.01 of EASE and far above popularity.
    assert!(got[0].0 > ease.0 - 0.01 && got[0].0 > pop.0 + 0.05);
}
