//! The error type of this crate.

use std::path::PathBuf;

/// Result alias used across `tastebud-index`.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Everything that can go wrong while building, searching, saving or loading an index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A query (or a batch of queries) whose length does not match the index's dimension (a 4xx-class error).
    #[error("vector has {got} dimensions, the index has {expected}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// Vectors that do not form an `n x dim` matrix, or a zero dimension.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A NaN or infinite value in a query or in the catalogue (a 4xx-class error for queries).
    #[error("{what} {row} contains a NaN or infinite value")]
    NonFinite {
        /// "query" or "item".
        what: &'static str,
        /// Row of the offending vector (0 for a single query).
        row: usize,
    },
    /// A parameter outside its valid range, detected before any work starts.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An I/O error, with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A saved index that is not in the expected format (wrong header, version, kind or size).
    #[error("{path}: {reason}")]
    Format {
        /// The offending file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An error reported by the usearch library.
    #[error("usearch: {0}")]
    Usearch(String),
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        IndexError::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Converts a usearch (`cxx::Exception`) error, which this crate cannot name because usearch does not
/// re-export `cxx`.
pub(crate) fn usearch<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| IndexError::Usearch(e.to_string()))
}
