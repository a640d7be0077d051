//! KNN quality on real data against the peers' numbers (../shared/bench/RESULTS.md):
//! ItemKNN cosine vs implicit's `CosineRecommender(K=20)` on ML-100K's fixed implicit split, and Surprise's
//! KNNBasic / KNNWithMeans / KNNBaseline 5-fold CV RMSE on ML-100K.

use tastebud_core::SplitSpec;
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::{EvalData, EvalOptions, evaluate};
use tastebud_models::knn::{ItemKnnParams, KnnRatingParams};
use tastebud_models::{Fit, NoProgress, Recommender};

mod common;
use common::{fixed_split_binary as fixed_split, shared};

#[test]
fn itemknn_cosine_matches_implicit_on_ml100k() {
    let (train, test) = fixed_split();
    assert_eq!((train.interactions.nnz(), test.nnz()), (44_679, 10_696));
    let model = ItemKnnParams::default().fit(&train, &NoProgress).unwrap();
    let data = EvalData {
        train: &train.interactions,
        test: &test,
        fold_in: None,
        item_features: None,
        user_features: None,
    };
    let opts = EvalOptions {
        metrics: MetricSet::new(
            &[MetricKind::Precision, MetricKind::Recall, MetricKind::Ndcg],
            &[10],
        ),
        ..EvalOptions::default()
    };
    let e = evaluate(&model, &data, &opts, false).unwrap();
    let (p, r, n) = (
        e.means["precision@10"],
        e.means["recall@10"],
        e.means["ndcg@10"],
    );
    eprintln!("itemknn cosine K=20: P@10 {p:.4} R@10 {r:.4} NDCG@10 {n:.4}");
    // implicit 0.7.3 CosineRecommender(K=20): P@10 0.1777, R@10 0.2114, NDCG@10 0.2577 (4 decimals).
    // The similarities agree to 6e-8 and the neighbour sets are identical except at ties: 481 of the 1,410
    // items have several neighbours tied at the K-th place, and implicit's heap keeps the higher item
    // indices there (and orders tied scores by its heap), while Tastebud's one tie rule keeps the lower
    // index. That moves 29 of 938 top-10 lists and every metric by 2e-4 (ours: 0.1775 / 0.2112 / 0.2575),
    // hence the tolerance. `bench-knn --dump DIR` writes both sides' lists for the diff.
    for (name, got, want) in [
        ("precision@10", p, 0.1777),
        ("recall@10", r, 0.2114),
        ("ndcg@10", n, 0.2577),
    ] {
        assert!(
            (got - want).abs() < 3e-4,
            "{name}: got {got:.6}, implicit {want}"
        );
    }
}

/// 5-fold CV RMSE of a rating model on ML-100K's u.data.
fn cv_rmse(params: &KnnRatingParams) -> (f64, f64) {
    let data = tastebud_data::load(&shared().join("ml-100k"), &Default::default()).unwrap();
    let folds = SplitSpec::KFold { k: 5 }
        .apply(&data.interactions, 42)
        .unwrap();
    let (mut rmse, mut mae) = (0.0, 0.0);
    for f in &folds {
        let d = data.with_interactions(f.train.clone()).unwrap();
        let m = params.fit(&d, &NoProgress).unwrap();
        let e = EvalData {
            train: &f.train,
            test: &f.test,
            fold_in: None,
            item_features: None,
            user_features: None,
        };
        let (r, a) =
            tastebud_eval::evaluator::rating_errors(m.rating_predictor().unwrap(), &e).unwrap();
        rmse += r.unwrap();
        mae += a.unwrap();
    }
    (rmse / folds.len() as f64, mae / folds.len() as f64)
}

#[test]
fn surprise_knn_rmse_on_ml100k() {
    // Surprise 1.1.5 on its own 5 folds (RESULTS.md): KNNBasic 0.9797 / 0.7736, KNNWithMeans 0.9511 / 0.7495,
    // KNNBaseline 0.9307 / 0.7332. Our folds differ (SplitSpec::KFold seed 42), so the bars allow for the
    // fold-to-fold spread (std 0.005-0.006).
    for (name, params, bar) in [
        ("KNNBasic", KnnRatingParams::basic(), 0.985),
        ("KNNWithMeans", KnnRatingParams::with_means(), 0.956),
        ("KNNBaseline", KnnRatingParams::baseline(), 0.931),
    ] {
        let (rmse, mae) = cv_rmse(&params);
        eprintln!("{name}: RMSE {rmse:.4} MAE {mae:.4}");
        assert!(rmse <= bar, "{name}: RMSE {rmse:.4} above {bar}");
    }
}
