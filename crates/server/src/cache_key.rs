//! [`CacheKey`]: what a cached list is filed under (the state's cache and the budget's weigher use it).

/// The key of a cached list: the request's shape and every version it depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// External user id.
    pub user: String,
    /// The user's newest event sequence number (new events make a new key).
    pub user_seq: u64,
    /// The user's consent version in a shared store (a consent change on another replica makes a new
    /// key).
    pub user_gen: u64,
    /// Model generation (a swap makes new keys).
    pub model_gen: u64,
    /// Flags generation.
    pub flags_gen: u64,
    /// The request's parameters, normalised.
    pub shape: String,
}
