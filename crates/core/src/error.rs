//! The error type shared by Tastebud's library crates.

use std::path::PathBuf;

/// Result alias used across Tastebud.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the data model, readers and splitters.
///
/// Each variant carries the context a person needs to fix the problem (file, line, parameter).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed line in an input file (a 4xx-class error: the input is wrong).
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// File the line came from.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// An input file or folder that cannot be used as a whole (empty, missing columns, unknown layout).
    #[error("{path}: {reason}")]
    BadInput {
        /// The offending file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter outside its valid range, detected before any work starts.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// Parameter name as the user spells it.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An external user id not present in the id map.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// An external item id not present in the id map.
    #[error("unknown item `{0}`")]
    UnknownItem(String),
    /// A dense index outside the dataset's range.
    #[error("{kind} index {index} out of range (there are {len})")]
    IndexOutOfRange {
        /// "user" or "item".
        kind: &'static str,
        /// The index given.
        index: u32,
        /// The number of entities.
        len: usize,
    },
    /// Two pieces of data that must agree in shape do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A file whose content fails its checksum or its structural validation (a model file corrupted on
    /// disk or in transit, or written inconsistently): refuse it and keep whatever was in use.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// Which check failed: `checksum` or `validation`.
        check: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A download or checksum failure.
    #[error("{0}")]
    Download(String),
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// File or folder being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// An [`Error`] as an I/O error (with the kind of the underlying I/O error, if any), for code that works in
/// `std::io::Result`, e.g. a `fsio::write_atomic` closure that only writes.
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// Returns [`Error::InvalidParam`] unless `cond` holds.
///
/// ```
/// use tastebud_core::ensure_param;
/// assert!(ensure_param(3 > 0, "k", "must be at least 1").is_ok());
/// assert!(ensure_param(false, "k", "must be at least 1").is_err());
/// ```
pub fn ensure_param(cond: bool, name: &'static str, reason: &str) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::InvalidParam {
            name,
            reason: reason.to_string(),
        })
    }
}
