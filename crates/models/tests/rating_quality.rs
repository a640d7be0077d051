//! Rating-prediction quality on ML-100K against Surprise 1.1.5's published numbers (5-fold CV, default
//! parameters): the same protocol as Surprise's benchmark, with our own seeded folds
//! (`SplitSpec::KFold { k: 5 }`, seed 0). Data from `TASTEBUD_DATA` (default `../shared/data`); the tests
//! fail loudly when it is missing.
//!
//! The bars are Surprise's README values (RMSE / MAE): SVD 0.934 / 0.737, SVD++ 0.919 (bar 0.92) / 0.721,
//! BaselineOnly 0.944 / 0.748, NMF 0.963 / 0.758, SlopeOne 0.946 / 0.743. SVD, SVD++ and NMF are also run
//! with Surprise's own initialisation (`users_start_at_mean = false`), which must land within the spread of
//! Surprise's seeds (see [`svd_matches_surprise`]). Our folds differ from Surprise's random folds (on
//! Surprise's exact folds, `bench-rating` compares the two side by side). Each test also checks
//! that folding users in from their training row (the path of users unknown at training time) predicts
//! within 0.005 RMSE of the stored user parameters.
//!
//! All five run in the default test profile (about 20 s on 2 cores: SVD++ and NMF are fast here, see
//! `bench-rating`).

use std::path::PathBuf;
use std::sync::OnceLock;

use tastebud_core::{Dataset, Split, SplitSpec};
use tastebud_eval::evaluator::rating_errors;
use tastebud_eval::run::eval_data;
use tastebud_models::baseline::{BaselineMethod, BaselineParams};
use tastebud_models::nmf::NmfParams;
use tastebud_models::slope_one::SlopeOneParams;
use tastebud_models::svd::SvdParams;
use tastebud_models::svdpp::SvdppParams;
use tastebud_models::{Fit, NoProgress, Recommender};

fn ml100k() -> &'static (Dataset, Vec<Split>) {
    static DATA: OnceLock<(Dataset, Vec<Split>)> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::var_os("TASTEBUD_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            })
            .join("ml-100k");
        assert!(
            dir.join("u.data").is_file(),
            "ML-100K not found at {} (set TASTEBUD_DATA to the folder holding ml-100k/)",
            dir.display()
        );
        let d = tastebud_data::load(&dir, &Default::default()).expect("ML-100K loads");
        assert_eq!(d.interactions.nnz(), 100_000);
        let splits = SplitSpec::KFold { k: 5 }
            .apply(&d.interactions, 0)
            .expect("folds");
        (d, splits)
    })
}

/// Mean RMSE and MAE over the 5 folds, fitting a fresh model on each.
fn cv<P: Fit>(params: &P) -> (f64, f64)
where
    P::Model: Recommender,
{
    let (data, splits) = ml100k();
    let (mut rmse, mut mae) = (0.0, 0.0);
    for split in splits {
        let train = data.with_interactions(split.train.clone()).unwrap();
        let model = params.fit(&train, &NoProgress).unwrap();
        let p = model.rating_predictor().expect("a rating model");
        let (r, m) = rating_errors(p, &eval_data(data, split)).unwrap();
        rmse += r.unwrap();
        mae += m.unwrap();
    }
    let n = splits.len() as f64;
    (rmse / n, mae / n)
}

fn check(name: &str, (rmse, mae): (f64, f64), rmse_bar: f64, mae_bar: f64) {
    eprintln!("{name}: RMSE {rmse:.4} (bar {rmse_bar}), MAE {mae:.4} (bar {mae_bar})");
    assert!(rmse <= rmse_bar, "{name}: RMSE {rmse:.4} > {rmse_bar}");
    assert!(mae <= mae_bar, "{name}: MAE {mae:.4} > {mae_bar}");
}

/// Folding a user in from their training row predicts about as well as the stored user parameters.
fn check_fold_in(name: &str, (known, folded): (f64, f64)) {
    eprintln!("{name}: fold 1 RMSE {known:.4} known, {folded:.4} folded in");
    assert!(
        folded <= known + 0.005,
        "{name}: fold-in RMSE {folded:.4} vs {known:.4} for known users"
    );
}

/// Surprise's 0.934 / 0.737 is the luckiest of 20 draws of its initialisation: on Surprise's own folds its
/// SVD over `random_state` 0..20 gives RMSE 0.9365 ± 0.0011 (0.9344 to 0.9385), and ours with Surprise's
/// initialisation the same distribution (0.9366 ± 0.0011; BENCHMARKS.md). The defaults start the user
/// factors at 0 (see the `svd` module) and clear the README's numbers at every seed (measured 0.9283 /
/// 0.7315 here); Surprise's initialisation is held to Surprise's number plus the spread of its seeds
/// (+0.003 RMSE, +0.002 MAE), at our default seed: picking a lucky seed would prove nothing.
#[test]
fn svd_matches_surprise() {
    check("SVD", cv(&SvdParams::default()), 0.934, 0.737);
    check(
        "SVD, Surprise's init",
        cv(&SvdParams::default().users_start_at_mean(false)),
        0.934 + 0.003,
        0.737 + 0.002,
    );
    check_fold_in("SVD", fold_in_rmse(&SvdParams::default()));
}

#[test]
fn baseline_only_matches_surprise() {
    check(
        "BaselineOnly (ALS)",
        cv(&BaselineParams::default()),
        0.944,
        0.748,
    );
    let sgd = BaselineParams::default().method(BaselineMethod::Sgd);
    // Surprise 1.1.5's SGD baselines on its README folds: RMSE 0.9412 / MAE 0.7437 (bench-rating).
    check("BaselineOnly (SGD)", cv(&sgd), 0.942, 0.744);
    check_fold_in(
        "BaselineOnly (ALS)",
        fold_in_rmse(&BaselineParams::default()),
    );
    check_fold_in("BaselineOnly (SGD)", fold_in_rmse(&sgd));
}

#[test]
fn slope_one_matches_surprise() {
    check("SlopeOne", cv(&SlopeOneParams::default()), 0.946, 0.743);
    check_fold_in("SlopeOne", fold_in_rmse(&SlopeOneParams::default()));
}

#[test]
fn svdpp_matches_surprise() {
    // Measured 0.9136 / 0.7163; with Surprise's initialisation 0.9181 / 0.7193.
    check("SVD++", cv(&SvdppParams::default()), 0.919, 0.721);
    check(
        "SVD++, Surprise's init",
        cv(&SvdppParams::default().users_start_at_mean(false)),
        0.92,
        0.722,
    );
    check_fold_in("SVD++", fold_in_rmse(&SvdppParams::default()));
}

#[test]
fn nmf_matches_surprise() {
    // Measured 0.9520 / 0.7492; with Surprise's initialisation 0.9617 / 0.7558 (its seeds spread by about
    // 0.002 RMSE on both sides).
    check("NMF", cv(&NmfParams::default()), 0.963, 0.758);
    check(
        "NMF, Surprise's init",
        cv(&NmfParams::default().users_start_at_mean(false)),
        0.963 + 0.003,
        0.758 + 0.002,
    );
    check_fold_in("NMF", fold_in_rmse(&NmfParams::default()));
}

/// RMSE on the first fold for known users, and when every test user is folded in from their training row
/// instead (`user` = None: the path of users unknown at training time).
fn fold_in_rmse<P: Fit>(params: &P) -> (f64, f64)
where
    P::Model: Recommender,
{
    let (data, splits) = ml100k();
    let split = &splits[0];
    let train = data.with_interactions(split.train.clone()).unwrap();
    let model = params.fit(&train, &NoProgress).unwrap();
    let p = model.rating_predictor().unwrap();
    let (known, _) = rating_errors(p, &eval_data(data, split)).unwrap();
    let with_fold_in = tastebud_eval::EvalData {
        fold_in: Some(&split.train),
        ..eval_data(data, split)
    };
    let (folded, _) = rating_errors(p, &with_fold_in).unwrap();
    (known.unwrap(), folded.unwrap())
}
