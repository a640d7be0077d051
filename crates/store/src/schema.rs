//! The database layout (tables and meta keys) and the encoding and transaction settings every write
//! uses, shared by [`Store`](crate::Store) and the writer thread.

use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};

/// seq -> JSON of [`Stored`](crate::Stored).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// (user, seq) -> (): the per-user index, so a user's events are one range scan.
pub(crate) const USER_EVENTS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("user_events");
/// event_id -> seq: the idempotency keys.
pub(crate) const EVENT_IDS: TableDefinition<&str, u64> = TableDefinition::new("event_ids");
/// user -> seq of the user's newest event.
pub(crate) const USER_LAST: TableDefinition<&str, u64> = TableDefinition::new("user_last");
/// user -> JSON of `Vec<ListItem>`.
pub(crate) const LISTS: TableDefinition<&str, &[u8]> = TableDefinition::new("lists");
/// name -> JSON: `format_version`, `last_seq`, `batch`.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// item -> JSON of [`ItemFlags`](crate::ItemFlags).
pub(crate) const ITEM_FLAGS: TableDefinition<&str, &[u8]> = TableDefinition::new("item_flags");
/// Pseudonyms (hex SHA-256 of the store's salt and the id) of users who asked to be forgotten -> unix
/// time of the request: their training history is ignored until a model trained without them is
/// served. Not the ids themselves, so the erased id is nowhere in the file.
pub(crate) const FORGOTTEN: TableDefinition<&str, i64> =
    TableDefinition::new("forgotten_pseudonyms");
/// Format 1 kept forgotten users' ids in clear; opening such a file moves them to [`FORGOTTEN`].
pub(crate) const LEGACY_FORGOTTEN: TableDefinition<&str, i64> = TableDefinition::new("forgotten");
/// user -> JSON of [`Consent`](crate::Consent), for users who set theirs.
pub(crate) const CONSENT: TableDefinition<&str, &[u8]> = TableDefinition::new("consent");

pub(crate) const META_FORMAT_VERSION: &str = "format_version";
pub(crate) const META_LAST_SEQ: &str = "last_seq";
pub(crate) const META_BATCH: &str = "batch";
/// Set by an erasure's transaction until the file has been rewritten without the erased records.
pub(crate) const META_PURGE_PENDING: &str = "purge_pending";
/// The random salt of forgotten users' pseudonyms (hex), made when the file is created.
pub(crate) const META_SALT: &str = "pseudonym_salt";

/// Whether commits save redb's allocator state so that reopening after a crash is instant rather
/// than a walk over the whole file. It costs a second fsync per commit (two-phase commit), which
/// group commit amortises; see the crate docs for the measurement.
const QUICK_REPAIR: bool = true;

/// Starts a write transaction with the settings every write in this crate uses.
pub(crate) fn begin_write(db: &Database) -> Result<WriteTransaction> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StoreError::Db(e.to_string()))?;
    txn.set_quick_repair(QUICK_REPAIR);
    Ok(txn)
}

pub(crate) fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Db(format!("encoding {what}: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn get_meta<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>> {
    match table.get(key)? {
        Some(bytes) => Ok(Some(from_json(&format!("meta `{key}`"), bytes.value())?)),
        None => Ok(None),
    }
}
