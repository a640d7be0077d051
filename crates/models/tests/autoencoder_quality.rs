//! Mult-VAE and Mult-DAE on ML-100K under Liang et al.'s strong-generalisation protocol: 20 % of the users
//! held out, 80 % of each one's clicks folded in at query time and 20 % to predict, full ranking. Both must
//! beat popularity and ItemKNN on NDCG@10 and NDCG@100 (BENCHMARKS.md, "Deep models", has the table with
//! EASE beside them). Needs the `deep` feature: `cargo test -p tastebud-models --features deep --test
//! autoencoder_quality`.
#![cfg(feature = "deep")]

mod common;

use tastebud_core::{Dataset, Feedback, SplitSpec};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::autoencoder::{MultDaeParams, MultVaeParams};
use tastebud_models::knn::ItemKnnParams;
use tastebud_models::popularity::PopularityParams;
use tastebud_models::{Fit, NoProgress, Recommender};

#[test]
fn autoencoders_beat_popularity_and_itemknn_on_held_out_users() {
    let opts = tastebud_data::LoadOptions {
        kind: Some(Feedback::Implicit),
        ..Default::default()
    };
    let data = tastebud_data::load(&common::shared().join("ml-100k"), &opts).unwrap();
    let spec: SplitSpec = "users:0.2:0.2".parse().unwrap();
    let folds = spec.apply(&data.interactions, 42).unwrap();
    let fold = &folds[0];
    let train: Dataset = data.with_interactions(fold.train.clone()).unwrap();
    let eval_opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg], &[10, 100]),
        beyond: false,
        ..EvalOptions::default()
    };
    let ndcg = |m: &dyn Recommender| {
        let d = EvalData {
            train: &fold.train,
            test: &fold.test,
            fold_in: fold.fold_in.as_ref(),
            item_features: None,
            user_features: None,
        };
        let e = evaluate(m, &d, &eval_opts, false).unwrap();
        (e.means["ndcg@10"], e.means["ndcg@100"])
    };
    let pop = ndcg(
        &PopularityParams::default()
            .fit(&train, &NoProgress)
            .unwrap(),
    );
    let knn = ndcg(&ItemKnnParams::default().fit(&train, &NoProgress).unwrap());
    let vae = ndcg(&MultVaeParams::default().fit(&train, &NoProgress).unwrap());
    let dae = ndcg(&MultDaeParams::default().fit(&train, &NoProgress).unwrap());
    println!("NDCG@10 / NDCG@100: pop {pop:?}, itemknn {knn:?}, multvae {vae:?}, multdae {dae:?}");
    for (name, m) in [("multvae", vae), ("multdae", dae)] {
        for (base_name, b) in [("popularity", pop), ("itemknn", knn)] {
            assert!(m.0 > b.0, "{name} NDCG@10 {} <= {base_name} {}", m.0, b.0);
            assert!(m.1 > b.1, "{name} NDCG@100 {} <= {base_name} {}", m.1, b.1);
        }
    }
}
