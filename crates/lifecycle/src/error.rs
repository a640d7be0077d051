//! [`LifecycleError`]: every way retraining, triggers and the registry can fail.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = LifecycleError> = std::result::Result<T, E>;

/// A failure of the model lifecycle. The message names the file, field or version to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// `retrain.toml` cannot be read or parsed, or fails validation (model name, parameters, feedback
    /// rules, gate).
    #[error("{0}")]
    Config(String),
    /// The base dataset cannot be loaded.
    #[error("base data {}: {source}", path.display())]
    Data {
        /// The base data's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: tastebud_core::Error,
    },
    /// Building the training set, fitting a model, or loading or saving a model file failed.
    #[error(transparent)]
    Training(#[from] tastebud_core::Error),
    /// The event log or the forgotten users could not be read.
    #[error(transparent)]
    Store(#[from] tastebud_store::StoreError),
    /// A file cannot be created, read, written, synced or renamed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `renaming to`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry's index cannot be parsed or was written by a newer Tastebud, or a version is not in
    /// the registry.
    #[error("{0}")]
    Registry(String),
}

impl LifecycleError {
    /// An I/O error on `path` while doing `action`.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        LifecycleError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
