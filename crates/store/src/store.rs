//! [`Store`]: opening the database, reads, and the writes that are not appends.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::error::{Result, StoreError};
use crate::event::Event;
use crate::model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored};
use crate::privacy::{Consent, Forgotten, hex, pseudonym, unhex};
use crate::purge::{Slot, purge_path};
use crate::schema::{
    CONSENT, EVENT_IDS, EVENTS, FORGOTTEN, ITEM_FLAGS, LEGACY_FORGOTTEN, LISTS, META, META_BATCH,
    META_FORMAT_VERSION, META_LAST_SEQ, META_PURGE_PENDING, META_SALT, USER_EVENTS, USER_LAST,
    begin_write, from_json, get_meta, to_json,
};
use crate::writer::{self, Request};

/// The page cache [`Store::open`] gives redb: its own default, 1 GiB.
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// The on-disk layout version this build writes. A file with a newer one is refused at open.
/// Version 2 keeps forgotten users as pseudonyms and adds consent; a version 1 file is upgraded at
/// open (and rewritten, so the ids it held in clear leave the file).
pub const FORMAT_VERSION: u32 = 2;

fn decode_event(seq: u64, bytes: &[u8]) -> Result<Stored> {
    let stored: Stored = from_json(&format!("event {seq}"), bytes)?;
    if stored.seq != seq {
        return Err(StoreError::Corrupt(format!(
            "event stored under seq {seq} says seq {}",
            stored.seq
        )));
    }
    Ok(stored)
}

/// The durable embedded store: event log, precomputed lists, item flags.
///
/// Cheap to clone (an [`Arc`] inside) and safe to share between threads. Reads run concurrently
/// on snapshots; appends go through one writer thread that group-commits them; the other writes
/// (`delete_user`, `put_lists`, `set_item_flags`) commit on the caller's thread and take turns
/// with it (redb has one write transaction at a time). Dropping the last clone flushes pending
/// appends and stops the writer thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    slot: Arc<Slot>,
    /// The salt of forgotten users' pseudonyms.
    salt: Vec<u8>,
    // `Option` only so that `Drop` can close the channel before joining the writer.
    tx: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once it has committed and answered every
        // request already queued, so no acknowledged append is lost and none is left unanswered.
        drop(self.tx.take());
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file if it does not exist.
    ///
    /// Fails with [`StoreError::Open`] naming the path when the file is locked (another process,
    /// or another open `Store` in this process, has it), is not a store, is corrupt, or was
    /// written by a newer format version. After a crash the open repairs the file first.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of at most `cache_bytes` (redb's own default is 1 GiB; a
    /// server under a memory budget passes its share).
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Store> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| {
            open_err(match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    "it is already open (another process, or another Store in this process, holds its lock)".to_string()
                }
                other => other.to_string(),
            })
        })?;
        let (salt, purge) = init(&db, path).map_err(|e| match e {
            e @ StoreError::Open { .. } => e,
            other => open_err(other.to_string()),
        })?;
        let slot = Arc::new(Slot::new(db, path, cache_bytes));
        if purge {
            // An erasure committed but its rewrite did not finish (crash, kill): finish it first.
            slot.purge_locked(&slot.gate())
                .map_err(|e| open_err(format!("finishing an interrupted erasure: {e}")))?;
        } else {
            let _ = std::fs::remove_file(purge_path(path));
        }
        let commits = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let writer = {
            let slot = Arc::clone(&slot);
            let commits = Arc::clone(&commits);
            std::thread::Builder::new()
                .name("tastebud-store-writer".to_string())
                .spawn(move || writer::run(&slot, &rx, &commits))
                .map_err(|e| open_err(format!("cannot start the writer thread: {e}")))?
        };
        Ok(Store {
            inner: Arc::new(Inner {
                slot,
                salt,
                tx: Some(tx),
                writer: Some(writer),
                commits,
            }),
        })
    }

    /// Appends events durably and returns once they are committed (fsynced).
    ///
    /// The result has one [`Appended`] per event, in order. Concurrent callers' events are
    /// written in one transaction by the writer thread (group commit), so many small concurrent
    /// appends do not cost one fsync each. Idempotent by `event_id`, also within one call: an
    /// event whose id is already stored is skipped and reported as `duplicate` with the stored
    /// seq. Validation ([`Event::validate`]) is the caller's job.
    pub fn append(&self, events: Vec<Event>) -> Result<Vec<Appended>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self
            .inner
            .tx
            .as_ref()
            .ok_or_else(|| StoreError::Closed("the store is shutting down".to_string()))?;
        let (reply, answer) = mpsc::channel();
        tx.send(Request { events, reply })
            .map_err(|_| StoreError::Closed("the writer thread has stopped".to_string()))?;
        answer.recv().map_err(|_| {
            StoreError::Closed(
                "the writer thread stopped before answering; the events may or may not be stored"
                    .to_string(),
            )
        })?
    }

    /// How many append transactions the writer has committed since this store was opened.
    ///
    /// Fewer commits than append calls means group commit is working.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// How many times the file was rewritten to purge erased records since this store was opened.
    pub fn purges(&self) -> u64 {
        self.inner.slot.rewrites()
    }

    fn read(&self) -> Result<ReadTransaction> {
        Ok(self.inner.slot.db().begin_read()?)
    }

    /// All of a user's events, in seq order.
    pub fn user_events(&self, user: &str) -> Result<Vec<Stored>> {
        self.user_events_since(user, 0)
    }

    /// A user's events with seq greater than `after_seq`, in seq order.
    pub fn user_events_since(&self, user: &str, after_seq: u64) -> Result<Vec<Stored>> {
        let Some(start) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let txn = self.read()?;
        let index = txn.open_table(USER_EVENTS)?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in index.range((user, start)..=(user, u64::MAX))? {
            let (key, _) = entry?;
            let seq = key.value().1;
            let bytes = events.get(seq)?.ok_or_else(|| {
                StoreError::Corrupt(format!("user `{user}` lists event {seq}, which is missing"))
            })?;
            out.push(decode_event(seq, bytes.value())?);
        }
        Ok(out)
    }

    /// The seq of the user's newest event, `None` when the user has none.
    pub fn user_last_seq(&self, user: &str) -> Result<Option<u64>> {
        let txn = self.read()?;
        let table = txn.open_table(USER_LAST)?;
        Ok(table.get(user)?.map(|g| g.value()))
    }

    /// The log's high-water mark: the highest seq ever assigned, 0 when nothing was appended.
    /// Deleting events does not lower it.
    pub fn last_seq(&self) -> Result<u64> {
        let txn = self.read()?;
        let meta = txn.open_table(META)?;
        Ok(get_meta(&meta, META_LAST_SEQ)?.unwrap_or(0))
    }

    /// Up to `limit` events with seq greater than `after_seq`, in seq order.
    ///
    /// Page through the whole log by passing the last returned seq as the next `after_seq`.
    pub fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<Stored>> {
        let Some(start) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let txn = self.read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::with_capacity(limit.min(4096));
        for entry in events.range(start..)?.take(limit) {
            let (seq, bytes) = entry?;
            out.push(decode_event(seq.value(), bytes.value())?);
        }
        Ok(out)
    }

    /// The number of events stored.
    pub fn event_count(&self) -> Result<u64> {
        let txn = self.read()?;
        Ok(txn.open_table(EVENTS)?.len()?)
    }

    /// The stored event with this `event_id`, if any.
    pub fn find_event(&self, event_id: &str) -> Result<Option<Stored>> {
        let txn = self.read()?;
        let ids = txn.open_table(EVENT_IDS)?;
        let Some(seq) = ids.get(event_id)?.map(|g| g.value()) else {
            return Ok(None);
        };
        let events = txn.open_table(EVENTS)?;
        let bytes = events.get(seq)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event id `{event_id}` points at event {seq}, which is missing"
            ))
        })?;
        Ok(Some(decode_event(seq, bytes.value())?))
    }

    /// Erases a user: their events (and those events' `event_id` keys), their last-seq entry, their
    /// precomputed list and their consent record, in one transaction, then rewrites the file so that
    /// none of those bytes is left on disk (see [the crate docs](crate#erasure-that-reaches-the-disk)). Returns what was removed.
    ///
    /// Seqs are not reused and [`Store::last_seq`] does not go down. Appending for the user
    /// afterwards works as for a new user.
    pub fn delete_user(&self, user: &str) -> Result<Deleted> {
        let (deleted, erasure) = self.delete_user_records(user)?;
        if let Some(n) = erasure {
            self.inner.slot.purge_through(n)?;
        }
        Ok(deleted)
    }

    /// The erasure's transaction without the rewrite (which [`Store::open`] finishes when a crash
    /// came between the two): the erased records, and the erasure's number when anything was removed.
    pub(crate) fn delete_user_records(&self, user: &str) -> Result<(Deleted, Option<u64>)> {
        let _under_way = self.inner.slot.begin_erasure();
        let _gate = self.inner.slot.gate();
        let db = self.inner.slot.db();
        let txn = begin_write(&db)?;
        let mut deleted = Deleted::default();
        let consent;
        {
            let mut index = txn.open_table(USER_EVENTS)?;
            let mut seqs = Vec::new();
            for entry in index.extract_from_if((user, 0)..=(user, u64::MAX), |_, _| true)? {
                seqs.push(entry?.0.value().1);
            }
            let mut events = txn.open_table(EVENTS)?;
            let mut ids = txn.open_table(EVENT_IDS)?;
            for seq in seqs {
                let stored = match events.remove(seq)? {
                    Some(bytes) => decode_event(seq, bytes.value())?,
                    None => continue,
                };
                deleted.events += 1;
                if let Some(id) = stored.event.event_id.as_deref() {
                    // The id maps to this event unless the index is inconsistent; never remove
                    // another event's key.
                    let points_here = ids.get(id)?.map(|g| g.value()) == Some(seq);
                    if points_here {
                        ids.remove(id)?;
                    }
                }
            }
            txn.open_table(USER_LAST)?.remove(user)?;
            if txn.open_table(LISTS)?.remove(user)?.is_some() {
                deleted.lists = 1;
            }
            consent = txn.open_table(CONSENT)?.remove(user)?.is_some();
        }
        let anything = deleted.events > 0 || deleted.lists > 0 || consent;
        if anything {
            txn.open_table(META)?
                .insert(META_PURGE_PENDING, to_json("purge flag", &true)?.as_slice())?;
        }
        txn.commit()?;
        Ok((deleted, anything.then(|| self.inner.slot.erased())))
    }

    /// Replaces all precomputed lists with a new batch, then stores `meta`, atomically: readers
    /// see either the old batch or the new one, never a mix.
    ///
    /// The iterator is consumed inside one write transaction, one list at a time (it is not
    /// collected), so appends wait until it is done: prepare the lists first if computing them
    /// is slow. A user appearing twice keeps the last list. Fails, storing nothing, if a score is
    /// not finite.
    pub fn put_lists(
        &self,
        meta: &BatchMeta,
        lists: impl IntoIterator<Item = (String, Vec<ListItem>)>,
    ) -> Result<()> {
        let _gate = self.inner.slot.gate();
        let txn = begin_write(&self.inner.slot.db())?;
        txn.delete_table(LISTS)?;
        {
            let mut table = txn.open_table(LISTS)?;
            let mut buf = Vec::new();
            for (user, list) in lists {
                if let Some(bad) = list.iter().find(|l| !l.score.is_finite()) {
                    // JSON has no NaN or infinity: serde_json would write `null` and the list
                    // could not be read back.
                    return Err(StoreError::Invalid(format!(
                        "put_lists: user `{user}`, item `{}` has a non-finite score {}",
                        bad.item, bad.score
                    )));
                }
                buf.clear();
                serde_json::to_writer(&mut buf, &list)
                    .map_err(|e| StoreError::Db(format!("encoding the list of `{user}`: {e}")))?;
                table.insert(user.as_str(), buf.as_slice())?;
            }
            let mut meta_table = txn.open_table(META)?;
            meta_table.insert(META_BATCH, to_json("batch meta", meta)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The user's precomputed list from the current batch.
    pub fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>> {
        let txn = self.read()?;
        let table = txn.open_table(LISTS)?;
        match table.get(user)? {
            Some(bytes) => Ok(Some(from_json(
                &format!("list of `{user}`"),
                bytes.value(),
            )?)),
            None => Ok(None),
        }
    }

    /// What the current batch's run stored, `None` before the first [`Store::put_lists`].
    pub fn batch_meta(&self) -> Result<Option<BatchMeta>> {
        let txn = self.read()?;
        let meta = txn.open_table(META)?;
        get_meta(&meta, META_BATCH)
    }

    /// The number of users with a precomputed list.
    pub fn list_count(&self) -> Result<u64> {
        let txn = self.read()?;
        Ok(txn.open_table(LISTS)?.len()?)
    }

    /// Sets an item's flags; clear flags (not hidden, no expiry) remove its entry.
    pub fn set_item_flags(&self, item: &str, flags: ItemFlags) -> Result<()> {
        let _gate = self.inner.slot.gate();
        let txn = begin_write(&self.inner.slot.db())?;
        {
            let mut table = txn.open_table(ITEM_FLAGS)?;
            if flags.is_clear() {
                table.remove(item)?;
            } else {
                table.insert(item, to_json("item flags", &flags)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Records that `user` asked to be forgotten (at unix time `at`): [`Self::is_forgotten`] is true
    /// from now on, so servers stop using their training history and retraining leaves them out.
    /// Only a salted pseudonym of the id is stored.
    pub fn forget_user(&self, user: &str, at: i64) -> Result<()> {
        let key = hex(&pseudonym(&self.inner.salt, user));
        let _gate = self.inner.slot.gate();
        let txn = begin_write(&self.inner.slot.db())?;
        txn.open_table(FORGOTTEN)?.insert(key.as_str(), at)?;
        txn.commit()?;
        Ok(())
    }

    /// When `user` asked to be forgotten, `None` if they did not.
    pub fn forgotten_at(&self, user: &str) -> Result<Option<i64>> {
        let key = hex(&pseudonym(&self.inner.salt, user));
        let txn = self.read()?;
        Ok(txn
            .open_table(FORGOTTEN)?
            .get(key.as_str())?
            .map(|g| g.value()))
    }

    /// Whether `user` asked to be forgotten.
    pub fn is_forgotten(&self, user: &str) -> Result<bool> {
        Ok(self.forgotten_at(user)?.is_some())
    }

    /// Every forgotten user, as pseudonyms that ids can be tested against.
    pub fn forgotten(&self) -> Result<Forgotten> {
        let txn = self.read()?;
        let table = txn.open_table(FORGOTTEN)?;
        let mut users = Vec::new();
        for entry in table.range::<&str>(..)? {
            let (key, at) = entry?;
            let p = unhex(key.value()).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "forgotten user key `{}` is not a pseudonym",
                    key.value()
                ))
            })?;
            users.push((p, at.value()));
        }
        Ok(Forgotten::new(self.inner.salt.clone(), users))
    }

    /// Records the user's consent (replacing what they set before).
    pub fn set_consent(&self, user: &str, consent: &Consent) -> Result<()> {
        let _gate = self.inner.slot.gate();
        let txn = begin_write(&self.inner.slot.db())?;
        txn.open_table(CONSENT)?
            .insert(user, to_json("consent", consent)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The consent the user set, `None` if they never did.
    pub fn consent(&self, user: &str) -> Result<Option<Consent>> {
        let txn = self.read()?;
        let table = txn.open_table(CONSENT)?;
        match table.get(user)? {
            Some(b) => Ok(Some(from_json(&format!("consent of `{user}`"), b.value())?)),
            None => Ok(None),
        }
    }

    /// Every recorded consent, sorted by user id.
    pub fn consents(&self) -> Result<Vec<(String, Consent)>> {
        let txn = self.read()?;
        let table = txn.open_table(CONSENT)?;
        let mut out = Vec::new();
        for entry in table.range::<&str>(..)? {
            let (user, b) = entry?;
            let user = user.value().to_string();
            let c = from_json(&format!("consent of `{user}`"), b.value())?;
            out.push((user, c));
        }
        Ok(out)
    }

    /// Every item with flags set, sorted by item id.
    pub fn item_flags(&self) -> Result<Vec<(String, ItemFlags)>> {
        let txn = self.read()?;
        let table = txn.open_table(ITEM_FLAGS)?;
        let mut out = Vec::new();
        for entry in table.range::<&str>(..)? {
            let (item, bytes) = entry?;
            let item = item.value().to_string();
            let flags = from_json(&format!("flags of item `{item}`"), bytes.value())?;
            out.push((item, flags));
        }
        Ok(out)
    }
}

/// Creates the tables (so reads never meet a missing table), checks the format version, makes the
/// pseudonym salt and upgrades a version 1 file. Returns the salt and whether a rewrite is pending.
fn init(db: &Database, path: &Path) -> Result<(Vec<u8>, bool)> {
    let txn = begin_write(db)?;
    let salt;
    let mut purge;
    {
        txn.open_table(EVENTS)?;
        txn.open_table(USER_EVENTS)?;
        txn.open_table(EVENT_IDS)?;
        txn.open_table(USER_LAST)?;
        txn.open_table(LISTS)?;
        txn.open_table(ITEM_FLAGS)?;
        txn.open_table(CONSENT)?;
        let mut meta = txn.open_table(META)?;
        let version = get_meta::<u32>(&meta, META_FORMAT_VERSION)?;
        if let Some(v) = version
            && v > FORMAT_VERSION
        {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: format!(
                    "its format version {v} is newer than this build supports ({FORMAT_VERSION}); use a newer tastebud"
                ),
            });
        }
        salt = match get_meta::<String>(&meta, META_SALT)? {
            Some(h) => h.into_bytes(),
            None => {
                let fresh: [u8; 16] = rand::random();
                let h = hex_bytes(&fresh);
                meta.insert(META_SALT, to_json("salt", &h)?.as_slice())?;
                h.into_bytes()
            }
        };
        purge = get_meta::<bool>(&meta, META_PURGE_PENDING)?.unwrap_or(false);
        if version != Some(FORMAT_VERSION) {
            meta.insert(
                META_FORMAT_VERSION,
                to_json("format version", &FORMAT_VERSION)?.as_slice(),
            )?;
        }
        // Version 1 kept forgotten ids in clear: move them to pseudonyms, then rewrite the file.
        let mut forgotten = txn.open_table(FORGOTTEN)?;
        let legacy: Vec<(String, i64)> = {
            let old = txn.open_table(LEGACY_FORGOTTEN)?;
            let mut v = Vec::new();
            for entry in old.range::<&str>(..)? {
                let (u, at) = entry?;
                v.push((u.value().to_string(), at.value()));
            }
            v
        };
        txn.delete_table(LEGACY_FORGOTTEN)?;
        if !legacy.is_empty() {
            for (user, at) in legacy {
                forgotten.insert(hex(&pseudonym(&salt, &user)).as_str(), at)?;
            }
            meta.insert(META_PURGE_PENDING, to_json("purge flag", &true)?.as_slice())?;
            purge = true;
        }
    }
    txn.commit()?;
    Ok((salt, purge))
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
