//! Storage behind traits ([`EventLog`], [`ListStore`], [`FlagStore`], [`ForgottenUsers`],
//! [`Documents`], composed in a [`Storage`]) and its embedded implementation, [`Store`], the server's
//! durable embedded storage: the feedback event log, the precomputed
//! recommendation lists of the latest batch run, and item flags.
//!
//! With the `shared` feature (on by default), replicas share their state instead:
//! [`pg::PgStore`] (every trait on PostgreSQL, with [`Coordination`] for replicas to agree),
//! [`redis::RedisStore`] (precomputed lists and a response cache), composed by
//! [`shared::SharedStore`] into [`Storage::shared`]; [`testkit`] starts throwaway servers for tests.
//!
//! [`Store`] is the one entry point. [`Store::append`] writes [`Event`]s (checked beforehand
//! with [`Event::validate`]) and returns [`Appended`] seqs once they are on disk; reads return
//! [`Stored`] events per user ([`Store::user_events`]) or in log order ([`Store::scan`], for
//! retraining and attribution). A batch job replaces every [`ListItem`] list at once with
//! [`Store::put_lists`] and records a [`BatchMeta`]; [`ItemFlags`] hide or expire an item in
//! every list without a new batch. [`Store::delete_user`] forgets a user.
//!
//! ```
//! use tastebud_store::{Event, EventType, Store};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("store.redb");
//! let store = Store::open(&path)?;
//! let event: Event = serde_json::from_str(
//!     r#"{"user": "u1", "item": "i9", "type": "click", "timestamp": 1700000000, "event_id": "e-1"}"#,
//! ).unwrap();
//! assert!(event.validate(1_700_000_100).is_ok());
//! let first = store.append(vec![event.clone()])?;
//! let again = store.append(vec![event])?;          // same event_id: not stored twice
//! assert_eq!((first[0].seq, again[0].seq, again[0].duplicate), (1, 1, true));
//! assert_eq!(store.user_events("u1")?[0].event.kind, EventType::Click);
//! # Ok::<(), tastebud_store::StoreError>(())
//! ```
//!
//! # Why redb
//!
//! [redb](https://docs.rs/redb) 4 is pure Rust (no C build, unlike SQLite's bundled build) and
//! ACID: copy-on-write B-trees and a checksummed commit, so a crash, even SIGKILL or power loss
//! with [`redb::Durability::Immediate`] (used for every write here), never loses a committed
//! transaction nor corrupts the file. Its file format is stable, and it measured 114k durable
//! events/s in batches on the development machine (`shared/docs/DEPENDENCIES.md`).
//!
//! # Durability and group commit
//!
//! Appends go through one writer thread. Callers block on a reply channel; the thread takes
//! every request already queued (up to 20 000 events) and commits them in one transaction, so
//! concurrent single-event appends share one fsync ([`Store::commits`] counts them). A call
//! returns only after its commit. Dropping the last [`Store`] clone closes the queue; the
//! thread commits and answers what is still queued, then exits, so a pending append is either
//! committed and acknowledged or gets an error, never silently lost.
//!
//! Commits use redb's quick-repair mode (a two-phase commit that also saves the allocator
//! state), so reopening after a crash does not walk the whole file: after SIGKILL, a 570 MB
//! store with 1M events reopened in 15 ms with it and 0.57 s without (warm page cache; the walk
//! grows with the file). The price is a second fsync per commit: a lone single-event append
//! took about 5-8 ms instead of 4 ms on the development machine, which group commit amortises
//! under load. `cargo run --release -p tastebud-bench --bin bench-store` measures throughput.
//!
//! # Storage layout
//!
//! | table | key | value |
//! |---|---|---|
//! | `events` | seq `u64` | JSON of [`Stored`] |
//! | `user_events` | `(user, seq)` | `()`: per-user range scans in seq order |
//! | `event_ids` | event id | seq: idempotency keys |
//! | `user_last` | user | seq of the user's newest event |
//! | `lists` | user | JSON of `Vec<ListItem>` |
//! | `meta` | name | JSON: `format_version`, `last_seq` (high-water mark), `batch` ([`BatchMeta`]) |
//! | `item_flags` | item | JSON of [`ItemFlags`] |
//!
//! Events are JSON so that fields can be added without a migration (missing optional fields
//! read as `None`); the encode and decode cost is measured by `bench-store` and is small next to
//! an fsync. The `meta` table holds [`FORMAT_VERSION`]; opening a file with a newer version
//! fails rather than misreading it.
//!
//! Event ids are global: an event whose `event_id` is already stored, under any user, is a
//! duplicate.
//!
//! # Erasure that reaches the disk
//!
//! redb is copy-on-write: a deleted record's bytes stay in free pages of the file until those pages
//! happen to be reused, which may be never. So [`Store::delete_user`] removes the user's records in
//! one transaction and then rewrites the live data into a fresh file (`NAME.purge` beside it), whose
//! commit fsyncs it, renames it over the old one and fsyncs the folder: the old file's bytes leave
//! the data directory with it. The price is copying every live record once per erasure (measured in
//! BENCHMARKS.md, "Reliability"); erasures that arrive while a rewrite runs share the next one, as
//! appends share a commit. Users who asked to be forgotten are kept as salted SHA-256 pseudonyms
//! ([`Forgotten`]), never as ids.
//!
//! Crash safety: the erasure's transaction also sets `purge_pending` in `meta`, which the rewrite
//! does not copy. If the process dies between the two, [`Store::open`] finds the flag and rewrites
//! before anything else; a half-written `.purge` file is removed.
//!
//! Why not crypto-shredding (a key per user, deleted on erasure): the key would itself be a record
//! in a copy-on-write file and linger the same way, the user's id is needed in clear for the
//! per-user index, and a rewrite gives the guarantee with the code the store already trusts.

#![warn(missing_docs)]

mod backend;
mod error;
mod event;
mod memory;
mod model;
#[cfg(feature = "shared")]
pub mod pg;
mod privacy;
mod purge;
#[cfg(feature = "shared")]
pub mod redis;
mod schema;
#[cfg(feature = "shared")]
pub mod shared;
mod storage;
mod store;
#[cfg(feature = "shared")]
pub mod testkit;
mod traits;
mod writer;

pub use backend::DirDocuments;
pub use error::{Result, StoreError};
pub use event::{
    Event, EventType, MAX_AMOUNT, MAX_CLOCK_SKEW_S, MAX_DWELL_MS, MAX_ID_BYTES,
    MAX_IMPRESSION_ITEMS, MIN_TIMESTAMP, UnknownEventType, is_currency_code,
};
pub use memory::MemoryStore;
pub use model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored};
pub use privacy::{Consent, Forgotten, pseudonym};
pub use storage::Storage;
pub use store::{DEFAULT_CACHE_BYTES, FORMAT_VERSION, Store};
pub use traits::{
    ConsentStore, Coordination, Documents, EventLog, FlagStore, ForgottenUsers, Generations,
    ListStore, Shard, UserData, UserSync,
};
