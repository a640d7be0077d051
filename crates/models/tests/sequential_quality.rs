//! SASRec and GRU4Rec on ML-100K under the sequential protocol: each user's last interaction by time is
//! held out (`last:1`), the model reads the user's training items in time order, full ranking over the
//! catalogue. Both must beat popularity, ItemKNN and session association rules on NDCG@10 and HR@10
//! (BENCHMARKS.md, "Sequential models", has the table and the fit times). Needs the `deep` feature:
//! `cargo test -p tastebud-models --features deep --test sequential_quality`.
#![cfg(feature = "deep")]

mod common;

use tastebud_core::{Dataset, Feedback, SplitSpec};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::knn::ItemKnnParams;
use tastebud_models::popularity::PopularityParams;
use tastebud_models::rules::RulesParams;
use tastebud_models::sequential::gru4rec::Gru4RecParams;
use tastebud_models::sequential::sasrec::SasRecParams;
use tastebud_models::{Fit, NoProgress, Recommender};

#[test]
fn sequential_models_beat_popularity_itemknn_and_session_rules_on_the_last_item() {
    let opts = tastebud_data::LoadOptions {
        kind: Some(Feedback::Implicit),
        ..Default::default()
    };
    let data = tastebud_data::load(&common::shared().join("ml-100k"), &opts).unwrap();
    let spec: SplitSpec = "last:1".parse().unwrap();
    let fold = &spec.apply(&data.interactions, 42).unwrap()[0];
    assert_eq!(fold.test.nnz(), 943, "one held-out item per user");
    let train: Dataset = data.with_interactions(fold.train.clone()).unwrap();
    let eval_opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg, MetricKind::HitRate], &[10]),
        beyond: false,
        ..EvalOptions::default()
    };
    let score = |m: &dyn Recommender| {
        let d = EvalData {
            train: &fold.train,
            test: &fold.test,
            fold_in: None,
            item_features: None,
            user_features: None,
        };
        let e = evaluate(m, &d, &eval_opts, false).unwrap();
        (e.means["ndcg@10"], e.means["hit_rate@10"])
    };
    let fit = |p: &dyn Fn() -> Box<dyn Recommender>| score(p().as_ref());
    let pop = fit(&|| {
        Box::new(
            PopularityParams::default()
                .fit(&train, &NoProgress)
                .unwrap(),
        )
    });
    let knn = fit(&|| Box::new(ItemKnnParams::default().fit(&train, &NoProgress).unwrap()));
    let rules = fit(&|| {
        Box::new(
            RulesParams::default()
                .session_gap_minutes(30.0)
                .fit(&train, &NoProgress)
                .unwrap(),
        )
    });
    // A short SASRec run keeps the test to a few minutes: 5 epochs of its default 60 (BENCHMARKS.md has
    // both); GRU4Rec at its defaults.
    let sas = SasRecParams {
        epochs: 5,
        ..SasRecParams::default()
    };
    let sas = fit(&|| Box::new(sas.fit(&train, &NoProgress).unwrap()));
    let gru = fit(&|| Box::new(Gru4RecParams::default().fit(&train, &NoProgress).unwrap()));
    println!(
        "NDCG@10 / HR@10: popularity {pop:?}, itemknn {knn:?}, session rules {rules:?}, sasrec {sas:?}, \
         gru4rec {gru:?}"
    );
    for (name, m) in [("sasrec", sas), ("gru4rec", gru)] {
        for (base, b) in [
            ("popularity", pop),
            ("itemknn", knn),
            ("session rules", rules),
        ] {
            assert!(m.0 > b.0, "{name} NDCG@10 {} <= {base} {}", m.0, b.0);
            assert!(m.1 > b.1, "{name} HR@10 {} <= {base} {}", m.1, b.1);
        }
    }
}
