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
    /// The storage backend failed (I/O, corruption, unreachable): answered 500.
    #[error("store: {0}")]
    Store(#[from] tastebud_store::StoreError),
    /// The pipeline itself failed (a bug, or an inconsistent model): answered 500.
    #[error("{0}")]
    Internal(String),
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
