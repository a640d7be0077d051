//! The plain data types the store reads and writes.

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// An event as stored: with its log sequence number and the time the server received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Log sequence number: 1, 2, 3, ..., strictly increasing in commit order and never reused,
    /// not even after [`Store::delete_user`](crate::Store::delete_user).
    pub seq: u64,
    /// When the server committed it, in unix milliseconds (one value per group commit).
    pub received_ms: u64,
    /// The event itself.
    pub event: Event,
}

/// The outcome of appending one event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// The event's sequence number (for a duplicate, the one stored first).
    pub seq: u64,
    /// `true` when an event with the same `event_id` was already stored, so nothing was written.
    pub duplicate: bool,
}

/// One precomputed recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListItem {
    /// The item's id.
    pub item: String,
    /// The model's score; higher is better.
    pub score: f32,
}

/// What a batch run stored with its lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    /// The model (file) version that computed the lists.
    pub model_version: String,
    /// When the batch was created, in unix seconds.
    pub created_unix: i64,
    /// The log's high-water mark ([`Store::last_seq`](crate::Store::last_seq)) when the batch
    /// started: events after it are not reflected in the lists.
    pub event_seq: u64,
    /// How many users got a list.
    pub users: u64,
    /// The list length asked for.
    pub k: u32,
}

/// Flags that remove an item from every list at once.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFlags {
    /// Never serve the item.
    pub hidden: bool,
    /// Unix seconds after which the item is not served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl ItemFlags {
    /// `true` when the flags change nothing (not hidden, no expiry), so there is nothing to store.
    pub fn is_clear(&self) -> bool {
        !self.hidden && self.expires_at.is_none()
    }
}

/// What [`Store::delete_user`](crate::Store::delete_user) removed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// Events removed.
    pub events: u64,
    /// Precomputed lists removed (0 or 1).
    pub lists: u64,
}

/// Fails with [`StoreError::Invalid`](crate::StoreError::Invalid) naming the first list item whose
/// score is not finite (every backend's `put_lists` checks this before storing anything).
pub(crate) fn check_finite(lists: &[(String, Vec<ListItem>)]) -> crate::Result<()> {
    if let Some((user, bad)) = lists
        .iter()
        .find_map(|(u, l)| l.iter().find(|i| !i.score.is_finite()).map(|i| (u, i)))
    {
        return Err(crate::StoreError::Invalid(format!(
            "put_lists: user `{user}`, item `{}` has a non-finite score {}",
            bad.item, bad.score
        )));
    }
    Ok(())
}
