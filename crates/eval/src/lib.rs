//! Offline evaluation of any [`tastebud_models::Recommender`].

pub mod significance;
