//! PLACEHOLDER: being written.

use std::path::Path;

use tastebud_core::{Error, Result};

use crate::builder::DatasetBuilder;

/// True when `path` looks like this dataset.
pub fn detect(_path: &Path) -> bool {
    false
}

/// Reads the dataset at `path` into `b`.
pub fn load(path: &Path, _b: &mut DatasetBuilder) -> Result<()> {
    Err(Error::BadInput {
        path: path.to_path_buf(),
        reason: "reader not written yet".into(),
    })
}
