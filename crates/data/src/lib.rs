//! Reading real recommendation datasets into [`tastebud_core::Dataset`].
//!
//! - [`load`] recognises a folder of a known dataset by its files ([`detect`]) and reads it: MovieLens 100K,
//!   1M, the CSV releases (latest-small, 20M, 25M), Goodbooks-10k, Netflix Prize, Amazon reviews, or a single
//!   generic delimited file, or (feature `parquet`) Parquet written by Spark or pandas. `.gz` files are read
//!   transparently.
//! - [`load_pair`] reads an explicit train/test pair into one id space.
//! - Malformed lines are errors naming file, line and reason, or, with [`LoadOptions::skip_bad_lines`], are
//!   counted in [`tastebud_core::DatasetMeta::skipped_lines`] and the rest loads.
//! - [`delimited`] is the fast parallel reader under every line-per-record format.
//! - [`download`] fetches the published archives with checksums; [`synth`] generates seeded synthetic data.
//!
//! ```no_run
//! use tastebud_data::{LoadOptions, load};
//! let ml = load(std::path::Path::new("../shared/data/ml-100k"), &LoadOptions::default())?;
//! println!("{} users, {} items, {} ratings", ml.n_users(), ml.n_items(), ml.interactions.nnz());
//! # Ok::<(), tastebud_core::Error>(())
//! ```

pub mod amazon;
pub mod builder;
pub mod delimited;
pub mod download;
pub mod formats;
pub mod goodbooks;
pub mod movielens;
pub mod netflix;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod source;
pub mod synth;
pub mod write;

pub use builder::{BadLines, DatasetBuilder, LoadOptions};
pub use formats::{Format, GenericSpec, detect, load, load_as, load_pair, warnings};

/// The folder of the shared datasets: `flag` (a program's `--data` argument) when given, else
/// `$TASTEBUD_DATA`, else `../shared/data` beside the workspace. The benchmark programs read it.
///
/// ```
/// let d = tastebud_data::data_root(Some("/data".into()));
/// assert_eq!(d, std::path::PathBuf::from("/data"));
/// ```
pub fn data_root(flag: Option<String>) -> std::path::PathBuf {
    use std::path::PathBuf;
    flag.map(PathBuf::from)
        .or_else(|| std::env::var_os("TASTEBUD_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}
