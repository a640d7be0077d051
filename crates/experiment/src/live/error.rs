//! The errors of the live experiments.

use tastebud_store::StoreError;

/// What can go wrong managing live experiments or reporting on them. Each message is meant for the
/// caller as it is; a server answers `Conflict` with 409, `NotFound` with 404, `Invalid` with 422 and
/// `Store` with 500.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LiveError {
    /// An experiment with that id exists.
    #[error("{0}")]
    Conflict(String),
    /// No experiment with that id.
    #[error("{0}")]
    NotFound(String),
    /// An invalid definition, an arm model that does not load, a corrupt `experiments.json`, or report
    /// options or data the analysis rejects.
    #[error("{0}")]
    Invalid(String),
    /// The event log or the documents could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
}
