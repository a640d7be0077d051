//! What the real-data model tests share: the data folder (fails loudly when missing), ML-100K's fixed
//! implicit split and its NDCG/Recall@10. Each test file uses some of it.
#![allow(dead_code)]

use std::path::PathBuf;

use tastebud_core::{Dataset, Interactions};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::Recommender;

/// The folder named by `TASTEBUD_DATA` (default `../shared/data`); panics when ML-100K is not there.
pub fn shared() -> PathBuf {
    let data = tastebud_data::data_root(None);
    assert!(
        data.join("ml-100k/u.data").is_file(),
        "real data not found at {} (set TASTEBUD_DATA)",
        data.display()
    );
    data
}

/// ML-100K's fixed split (../shared/bench/splits/ml-100k): train as loaded (ratings, timestamps) and
/// test.
pub fn fixed_split() -> (Dataset, Interactions) {
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
    (train, test)
}

/// The fixed split with a binary train (as the peer fits it).
pub fn fixed_split_binary() -> (Dataset, Interactions) {
    let (train, test) = fixed_split();
    let binary = train.interactions.binary();
    (train.with_interactions(binary).unwrap(), test)
}

/// (NDCG@10, Recall@10) of a model on the fixed split, full ranking over the 938 test users.
pub fn ndcg_recall_at_10(
    model: &dyn Recommender,
    train: &Dataset,
    test: &Interactions,
) -> (f64, f64) {
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
