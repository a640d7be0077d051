//! The storage traits the online pipeline and the model lifecycle use. [`Store`](crate::Store) (redb,
//! embedded) and [`MemoryStore`](crate::MemoryStore) (tests, tools) implement every one; a shared
//! backend (a PostgreSQL event log, a Redis list store) implements the ones it holds and the server
//! composes them in a [`Storage`].
//!
//! Every method takes `&self` and may be called from many threads: implementations synchronise
//! internally. Writes return only once durable for a durable backend.

use crate::error::Result;
use crate::event::Event;
use crate::model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored};
use crate::privacy::{Consent, Forgotten};

/// The append-only feedback event log.
pub trait EventLog: Send + Sync {
    /// Appends events (already validated) and returns each one's sequence number once durable; an
    /// event whose `event_id` is already stored is not written again (`duplicate`).
    fn append(&self, events: Vec<Event>) -> Result<Vec<Appended>>;
    /// The user's events in log order.
    fn user_events(&self, user: &str) -> Result<Vec<Stored>>;
    /// The sequence number of the user's newest event, `None` when they have none.
    fn user_last_seq(&self, user: &str) -> Result<Option<u64>>;
    /// The log's high-water mark (0 when empty).
    fn last_seq(&self) -> Result<u64>;
    /// Up to `limit` events after `after_seq`, in log order.
    fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<Stored>>;
    /// Events stored.
    fn event_count(&self) -> Result<u64>;
}

/// The precomputed lists of the latest batch run.
pub trait ListStore: Send + Sync {
    /// Replaces every list with a new batch and records `meta`, atomically: readers see the old batch
    /// or the new one, never a mix.
    fn put_lists(&self, meta: &BatchMeta, lists: Vec<(String, Vec<ListItem>)>) -> Result<()>;
    /// The user's list from the current batch.
    fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>>;
    /// The current batch's metadata, `None` before the first batch.
    fn batch_meta(&self) -> Result<Option<BatchMeta>>;
    /// Users with a list.
    fn list_count(&self) -> Result<u64>;
    /// Stores one shard of batch run `name` (a run split over processes, users by a stable hash,
    /// see [`Shard`]); the batch becomes the current one, atomically and with the shards' metadata
    /// merged, when its last shard is stored. Returns whether this call completed the batch. Shared
    /// backends only: the embedded store, which one process holds, refuses.
    fn put_lists_shard(
        &self,
        name: &str,
        shard: Shard,
        meta: &BatchMeta,
        lists: Vec<(String, Vec<ListItem>)>,
    ) -> Result<bool> {
        let _ = (name, meta, lists);
        Err(crate::StoreError::Invalid(format!(
            "shard {shard}: a sharded batch writes to a shared store (--store-url postgres://...); \
             the embedded store is held by one process"
        )))
    }
}

/// One shard of a batch run split over `count` processes: shard `index` (0-based) takes the users
/// whose stable hash falls on it ([`Shard::owns`]).
///
/// ```
/// use tastebud_store::Shard;
/// let s: Shard = "1/4".parse().unwrap();
/// assert_eq!((s.index, s.count), (1, 4));
/// let owners: Vec<u32> = (0..4).map(|i| Shard { index: i, count: 4 }).filter(|s| s.owns("u42")).map(|s| s.index).collect();
/// assert_eq!(owners.len(), 1);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// Whether `user` belongs to this shard: FNV-1a of the id modulo `count` (stable across
    /// processes, machines and versions).
    pub fn owns(&self, user: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in user.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h % u64::from(self.count.max(1)) == u64::from(self.index)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("shard `{s}`: expected i/N with 0 <= i < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Counters a replica compares with what it saw before to know what changed elsewhere.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Generations {
    /// Item flag changes.
    pub flags: u64,
    /// Document writes (experiment definitions, the model registry's index).
    pub documents: u64,
    /// User erasures.
    pub erasures: u64,
    /// The event log's high-water mark.
    pub last_seq: u64,
}

/// A user's versions: what a cached list of theirs depends on.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSync {
    /// Their newest event's seq (0 when none).
    pub last_seq: u64,
    /// Their consent record's version (0 when none).
    pub consent_version: u64,
}

/// What replicas over one shared store read to agree: the [`Generations`] and a user's versions, in
/// one round trip, before answering.
pub trait Coordination: Send + Sync {
    /// The generations now and, for `Some(user)`, that user's versions.
    fn sync(&self, user: Option<&str>) -> Result<(Generations, UserSync)>;
    /// Whether the backend answers now.
    fn healthy(&self) -> Result<()>;
}

/// Item flags (hidden, expiring).
pub trait FlagStore: Send + Sync {
    /// Sets an item's flags; clear flags remove its entry.
    fn set_item_flags(&self, item: &str, flags: ItemFlags) -> Result<()>;
    /// Every flagged item.
    fn item_flags(&self) -> Result<Vec<(String, ItemFlags)>>;
}

/// Users who asked to be forgotten: their training history is ignored until a model trained without
/// them is served, and retraining leaves them out.
pub trait ForgottenUsers: Send + Sync {
    /// Records the request at unix time `at` (a durable backend keeps a pseudonym, not the id).
    fn forget_user(&self, user: &str, at: i64) -> Result<()>;
    /// When the user asked to be forgotten, `None` if they did not.
    fn forgotten_at(&self, user: &str) -> Result<Option<i64>>;
    /// Whether the user asked to be forgotten.
    fn is_forgotten(&self, user: &str) -> Result<bool> {
        Ok(self.forgotten_at(user)?.is_some())
    }
    /// Every forgotten user, as a set ids can be tested against (retraining reads it once).
    fn forgotten(&self) -> Result<Forgotten>;
}

/// Users' consent to personalisation and to training ([`Consent`]); a user who never set theirs has
/// the deployment's implied consent ([`Consent::implied`]).
pub trait ConsentStore: Send + Sync {
    /// Records the user's consent, replacing what they set before.
    fn set_consent(&self, user: &str, consent: &Consent) -> Result<()>;
    /// The consent the user set, `None` if they never did.
    fn consent(&self, user: &str) -> Result<Option<Consent>>;
    /// Every recorded consent.
    fn consents(&self) -> Result<Vec<(String, Consent)>>;
}

/// Small named documents (experiment definitions, a registry's index), replaced whole.
pub trait Documents: Send + Sync {
    /// The document, `None` when it was never written.
    fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces the document, atomically and durably.
    fn put_document(&self, name: &str, bytes: &[u8]) -> Result<()>;
}

/// Everything a user's data spans, so that erasure reaches every place in one call.
pub trait UserData: EventLog + ListStore + ForgottenUsers + ConsentStore {
    /// Removes the user's events, precomputed list and consent record (atomically where the backend
    /// can), from the backend's files too: once this returns, none of their bytes is left on disk.
    fn erase_user(&self, user: &str) -> Result<Deleted>;
}
