//! Reading model bodies written by older format versions: the frozen layouts.
//!
//! Format version 1 wrote each model's hyperparameters positionally (postcard) inside the model body, so a
//! new hyperparameter changed the layout. From version 2 on, the hyperparameters inside a body are one
//! JSON string (the `params_body` module): a field added later (every parameter struct is
//! `#[serde(default)]`) reads as its default from an older file, and the body layout no longer changes with
//! the parameters.
//!
//! A version-1 body is still read positionally, through the layout each parameter struct had then
//! ([`LegacyParams::V1`]); the structs below are those layouts, frozen. A hyperparameter introduced since
//! takes the value that reproduces how the old model was trained (e.g. `users_start_at_mean = false` for
//! SVD: version 1 started the user factors from a random draw).

use serde::Deserialize;

use crate::bpr::BprParams;
use crate::nmf::NmfParams;
use crate::params_body::LegacyParams;
use crate::svd::SvdParams;
use crate::svdpp::SvdppParams;

/// Parameter structs whose layout has not changed since version 1.
macro_rules! unchanged_since_v1 {
    ($($ty:ty),* $(,)?) => {
        $(impl LegacyParams for $ty {
            type V1 = $ty;
        })*
    };
}

unchanged_since_v1!(
    crate::als::AlsParams,
    crate::baseline::BaselineParams,
    crate::content::ContentParams,
    crate::ease::EaseParams,
    crate::hybrid::HybridParams,
    crate::slope_one::SlopeOneParams,
    crate::knn::ItemKnnParams,
    crate::knn::UserKnnParams,
    crate::knn::KnnRatingParams,
    crate::spark_als::SparkAlsParams,
    crate::autoencoder::AutoencoderParams,
    crate::sequential::sasrec::SasRecParams,
    crate::sequential::gru4rec::Gru4RecParams,
    crate::twotower::TwoTowerParams,
);

/// [`SvdParams`] in format version 1 (before `users_start_at_mean`).
#[derive(Deserialize)]
pub(crate) struct SvdParamsV1 {
    n_factors: usize,
    n_epochs: usize,
    biased: bool,
    init_mean: f64,
    init_std_dev: f64,
    lr_all: f64,
    reg_all: f64,
    lr_bu: Option<f64>,
    lr_bi: Option<f64>,
    lr_pu: Option<f64>,
    lr_qi: Option<f64>,
    reg_bu: Option<f64>,
    reg_bi: Option<f64>,
    reg_pu: Option<f64>,
    reg_qi: Option<f64>,
    seed: u64,
}

impl From<SvdParamsV1> for SvdParams {
    fn from(v: SvdParamsV1) -> Self {
        SvdParams {
            n_factors: v.n_factors,
            n_epochs: v.n_epochs,
            biased: v.biased,
            init_mean: v.init_mean,
            init_std_dev: v.init_std_dev,
            lr_all: v.lr_all,
            reg_all: v.reg_all,
            lr_bu: v.lr_bu,
            lr_bi: v.lr_bi,
            lr_pu: v.lr_pu,
            lr_qi: v.lr_qi,
            reg_bu: v.reg_bu,
            reg_bi: v.reg_bi,
            reg_pu: v.reg_pu,
            reg_qi: v.reg_qi,
            seed: v.seed,
            users_start_at_mean: false,
        }
    }
}

impl LegacyParams for SvdParams {
    type V1 = SvdParamsV1;
}

/// [`SvdppParams`] in format version 1 (before `users_start_at_mean`).
#[derive(Deserialize)]
pub(crate) struct SvdppParamsV1 {
    n_factors: usize,
    n_epochs: usize,
    init_mean: f64,
    init_std_dev: f64,
    lr_all: f64,
    reg_all: f64,
    lr_bu: Option<f64>,
    lr_bi: Option<f64>,
    lr_pu: Option<f64>,
    lr_qi: Option<f64>,
    lr_yj: Option<f64>,
    reg_bu: Option<f64>,
    reg_bi: Option<f64>,
    reg_pu: Option<f64>,
    reg_qi: Option<f64>,
    reg_yj: Option<f64>,
    cache_ratings: bool,
    seed: u64,
}

impl From<SvdppParamsV1> for SvdppParams {
    fn from(v: SvdppParamsV1) -> Self {
        SvdppParams {
            n_factors: v.n_factors,
            n_epochs: v.n_epochs,
            init_mean: v.init_mean,
            init_std_dev: v.init_std_dev,
            lr_all: v.lr_all,
            reg_all: v.reg_all,
            lr_bu: v.lr_bu,
            lr_bi: v.lr_bi,
            lr_pu: v.lr_pu,
            lr_qi: v.lr_qi,
            lr_yj: v.lr_yj,
            reg_bu: v.reg_bu,
            reg_bi: v.reg_bi,
            reg_pu: v.reg_pu,
            reg_qi: v.reg_qi,
            reg_yj: v.reg_yj,
            cache_ratings: v.cache_ratings,
            seed: v.seed,
            users_start_at_mean: false,
        }
    }
}

impl LegacyParams for SvdppParams {
    type V1 = SvdppParamsV1;
}

/// [`NmfParams`] in format version 1 (before `users_start_at_mean`).
#[derive(Deserialize)]
pub(crate) struct NmfParamsV1 {
    n_factors: usize,
    n_epochs: usize,
    biased: bool,
    reg_pu: f64,
    reg_qi: f64,
    reg_bu: f64,
    reg_bi: f64,
    lr_bu: f64,
    lr_bi: f64,
    init_low: f64,
    init_high: f64,
    seed: u64,
}

impl From<NmfParamsV1> for NmfParams {
    fn from(v: NmfParamsV1) -> Self {
        NmfParams {
            n_factors: v.n_factors,
            n_epochs: v.n_epochs,
            biased: v.biased,
            reg_pu: v.reg_pu,
            reg_qi: v.reg_qi,
            reg_bu: v.reg_bu,
            reg_bi: v.reg_bi,
            lr_bu: v.lr_bu,
            lr_bi: v.lr_bi,
            init_low: v.init_low,
            init_high: v.init_high,
            seed: v.seed,
            users_start_at_mean: false,
        }
    }
}

impl LegacyParams for NmfParams {
    type V1 = NmfParamsV1;
}

/// [`BprParams`] in format version 1 (before `refit_users`).
#[derive(Deserialize)]
pub(crate) struct BprParamsV1 {
    factors: usize,
    learning_rate: f32,
    regularization: f32,
    iterations: usize,
    verify_negative_samples: bool,
    uniform_negatives: bool,
    threads: usize,
    fold_in_epochs: usize,
    seed: u64,
}

impl From<BprParamsV1> for BprParams {
    fn from(v: BprParamsV1) -> Self {
        BprParams {
            factors: v.factors,
            learning_rate: v.learning_rate,
            regularization: v.regularization,
            iterations: v.iterations,
            verify_negative_samples: v.verify_negative_samples,
            uniform_negatives: v.uniform_negatives,
            threads: v.threads,
            fold_in_epochs: v.fold_in_epochs,
            refit_users: false,
            seed: v.seed,
        }
    }
}

impl LegacyParams for BprParams {
    type V1 = BprParamsV1;
}
