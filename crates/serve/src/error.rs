//! [`ServeError`]: every way the pipeline can fail, typed, so that the server maps each to one HTTP
//! status in one place.

use thiserror::Error;

/// A failure of the online pipeline.
#[derive(Debug, Error)]
pub enum ServeError {
    /// A request parameter the pipeline cannot use (an unknown re-ranker, a filter on a missing
    /// column): the caller's fault, answered 400.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that fails validation (an unknown item in a history, an index out of the
    /// model's range): answered 422.
    #[error("{0}")]
    Invalid(String),
    /// A model file that does not load or fails validation.
    #[error("model: {0}")]
    Model(String),
    /// A model file refused by [`crate::Serving::load`] (unreadable, not a model file, checksum mismatch,
    /// inconsistent content, index build failure): nothing was swapped in. Answered 422 at reload.
    #[error("model: {message}")]
    ModelRejected {
        /// Why, as the `reason` label of `tastebud_model_load_failures_total`.
        reason: LoadFailure,
        /// What is wrong, naming the file.
        message: String,
    },
    /// The storage backend failed (I/O, corruption, unreachable): answered 500.
    #[error("store: {0}")]
    Store(#[from] tastebud_store::StoreError),
    /// The pipeline itself failed (a bug, or an inconsistent model): answered 500.
    #[error("{0}")]
    Internal(String),
}

/// Why a model file was refused (the `reason` label of `tastebud_model_load_failures_total`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LoadFailure {
    /// The file cannot be read (missing, permissions).
    Io,
    /// Not a model file, a newer format version, a truncated file or an undecodable body.
    Format,
    /// The bodies do not match the header's checksum (corrupted on disk or in transit).
    Checksum,
    /// Decoded, but structurally inconsistent (see `ModelFile::validate`).
    Validation,
    /// The ANN index over the model's embeddings could not be built.
    Index,
}

impl LoadFailure {
    /// Every reason, for series that exist from the start.
    pub const ALL: [LoadFailure; 5] = [
        LoadFailure::Io,
        LoadFailure::Format,
        LoadFailure::Checksum,
        LoadFailure::Validation,
        LoadFailure::Index,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadFailure::Io => "io",
            LoadFailure::Format => "format",
            LoadFailure::Checksum => "checksum",
            LoadFailure::Validation => "validation",
            LoadFailure::Index => "index",
        }
    }

    /// The reason of a model file's load error.
    pub fn of(e: &tastebud_core::Error) -> LoadFailure {
        match e {
            tastebud_core::Error::Io { .. } => LoadFailure::Io,
            tastebud_core::Error::Corrupt {
                check: "checksum", ..
            } => LoadFailure::Checksum,
            tastebud_core::Error::Corrupt { .. } => LoadFailure::Validation,
            _ => LoadFailure::Format,
        }
    }
}

/// The result of a pipeline call.
pub type ServeResult<T> = Result<T, ServeError>;

impl ServeError {
    /// The model's error on a query: an index out of range is the input's fault, anything else ours.
    pub fn from_model(e: tastebud_core::Error) -> ServeError {
        match e {
            tastebud_core::Error::IndexOutOfRange { .. } => ServeError::Invalid(e.to_string()),
            other => ServeError::Internal(other.to_string()),
        }
    }
}
