//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
///
/// For the server: [`StoreError::Open`] happens only at startup; every other variant is a 5xx
/// (validation is the caller's job, so no variant here is the client's fault), and so is
/// [`StoreError::Invalid`], which only a bug in the caller produces.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or created: locked by another process, not a redb
    /// file, corrupt, or written by a newer version of this crate.
    #[error("cannot open store {path}: {reason}")]
    Open {
        /// The file that was being opened.
        path: PathBuf,
        /// What went wrong, in words.
        reason: String,
    },
    /// A storage operation failed (I/O error, full disk, ...).
    #[error("store: {0}")]
    Db(String),
    /// Stored bytes could not be decoded, or redb reported corruption.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// The caller passed data the store cannot hold (for example a non-finite score).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A shared backend (PostgreSQL, Redis) cannot be reached or did not answer in time: nothing was
    /// done, or for an append, nothing was acknowledged (retry with the same `event_id`). A 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The writer thread has stopped (it panicked, or the store is shutting down), so an append
    /// could not be acknowledged. The events may or may not have been committed.
    #[error("store writer stopped: {0}")]
    Closed(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, StoreError>;

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Corrupted(msg) => StoreError::Corrupt(msg),
            other => StoreError::Db(other.to_string()),
        }
    }
}

// redb has one error type per operation; funnel them all through `redb::Error` so that `?`
// works everywhere and corruption is always reported as `Corrupt`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
