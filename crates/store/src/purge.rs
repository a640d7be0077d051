//! The rewrite behind erasure that reaches the disk (see the crate docs, "Erasure that reaches the
//! disk"): the swappable open database, the write gate, and the copy into a fresh file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use crate::error::{Result, StoreError};
use crate::schema::{
    CONSENT, EVENT_IDS, EVENTS, FORGOTTEN, ITEM_FLAGS, LISTS, META, META_PURGE_PENDING,
    USER_EVENTS, USER_LAST, begin_write,
};

/// The open database, swappable by a rewrite, and the gate every write goes through.
pub(crate) struct Slot {
    db: RwLock<Arc<Database>>,
    gate: Mutex<()>,
    path: PathBuf,
    /// Erasures committed since open.
    erasures: AtomicU64,
    /// Erasure transactions begun and finished (committed, empty or failed) since open: while more
    /// have begun than finished, a rewrite waits briefly so that it covers them too.
    begun: AtomicU64,
    finished: AtomicU64,
    /// Erasures the last rewrite covered.
    purged: AtomicU64,
    /// Rewrites done since open.
    rewrites: AtomicU64,
    /// The page cache of the database (and of its rewrites).
    cache_bytes: usize,
}

impl Slot {
    pub(crate) fn new(db: Database, path: &Path, cache_bytes: usize) -> Slot {
        Slot {
            db: RwLock::new(Arc::new(db)),
            gate: Mutex::new(()),
            path: path.to_path_buf(),
            erasures: AtomicU64::new(0),
            begun: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            purged: AtomicU64::new(0),
            rewrites: AtomicU64::new(0),
            cache_bytes,
        }
    }

    /// The current database (readers keep the one they got until they drop it).
    pub(crate) fn db(&self) -> Arc<Database> {
        self.db.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Taken around every write transaction, so a rewrite sees no write in flight and none goes to
    /// the file it replaces.
    pub(crate) fn gate(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a committed erasure (call with the gate held); returns its number for
    /// [`Slot::purge_through`].
    pub(crate) fn erased(&self) -> u64 {
        self.erasures.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How many rewrites ran since open.
    pub(crate) fn rewrites(&self) -> u64 {
        self.rewrites.load(Ordering::Relaxed)
    }

    /// Marks an erasure transaction as begun until the returned guard drops.
    pub(crate) fn begin_erasure(&self) -> ErasureGuard<'_> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        ErasureGuard(self)
    }

    /// Makes sure a rewrite started after erasure `n` committed has finished: does one unless another
    /// caller's already covered it. Erasures whose transactions are under way (waiting for the gate)
    /// get up to [`GATHER`] to commit first, so that concurrent erasures share one rewrite.
    pub(crate) fn purge_through(&self, n: u64) -> Result<()> {
        let deadline = std::time::Instant::now() + GATHER;
        loop {
            let gate = self.gate();
            if self.purged.load(Ordering::SeqCst) >= n {
                return Ok(());
            }
            let under_way =
                self.begun.load(Ordering::SeqCst) > self.finished.load(Ordering::SeqCst);
            if under_way && std::time::Instant::now() < deadline {
                drop(gate);
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            return self.purge_locked(&gate);
        }
    }

    /// Rewrites the file now (the caller holds the gate).
    pub(crate) fn purge_locked(&self, _gate: &MutexGuard<'_, ()>) -> Result<()> {
        let covers = self.erasures.load(Ordering::SeqCst);
        let fresh = rewrite(&self.db(), &self.path, self.cache_bytes)?;
        *self.db.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        self.purged.store(covers, Ordering::SeqCst);
        self.rewrites.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// How long a rewrite waits for erasures under way to commit, so that it covers them too.
const GATHER: std::time::Duration = std::time::Duration::from_millis(200);

/// An erasure transaction under way (see [`Slot::begin_erasure`]).
pub(crate) struct ErasureGuard<'a>(&'a Slot);

impl Drop for ErasureGuard<'_> {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
    }
}

/// Where the rewrite is written before it replaces `path`.
pub(crate) fn purge_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".purge");
    path.with_file_name(name)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Db(format!("{what} {}: {e}", path.display()))
}

/// Copies every live record of `src` into a fresh file and renames it over `path`; returns the new
/// database, open on the renamed file.
fn rewrite(src: &Database, path: &Path, cache_bytes: usize) -> Result<Database> {
    let tmp = purge_path(path);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("removing", &tmp, e)),
    }
    let built = (|| -> Result<Database> {
        let dst = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&tmp)
            .map_err(|e| StoreError::Db(format!("creating {}: {e}", tmp.display())))?;
        let r = src.begin_read()?;
        let w = begin_write(&dst)?;
        copy(&r, &w, EVENTS)?;
        copy(&r, &w, USER_EVENTS)?;
        copy(&r, &w, EVENT_IDS)?;
        copy(&r, &w, USER_LAST)?;
        copy(&r, &w, LISTS)?;
        copy(&r, &w, ITEM_FLAGS)?;
        copy(&r, &w, FORGOTTEN)?;
        copy(&r, &w, CONSENT)?;
        {
            let from = r.open_table(META)?;
            let mut to = w.open_table(META)?;
            for entry in from.iter()? {
                let (k, v) = entry?;
                if k.value() != META_PURGE_PENDING {
                    to.insert(k.value(), v.value())?;
                }
            }
        }
        w.commit()?;
        Ok(dst)
    })();
    let dst = match built {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The commit fsynced the new file; the rename and the folder's fsync make the swap durable.
    std::fs::rename(&tmp, path).map_err(|e| io_err("renaming over", path, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tastebud_core::fsio::sync_dir(dir).map_err(|e| io_err("syncing", dir, e))?;
    Ok(dst)
}

fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    r: &ReadTransaction,
    w: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<()> {
    let from = r.open_table(def)?;
    let mut to = w.open_table(def)?;
    for entry in from.iter()? {
        let (k, v) = entry?;
        to.insert(k.value(), v.value())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Store};

    fn holds(path: &Path, needle: &[u8]) -> bool {
        std::fs::read(path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
    }

    #[test]
    fn an_erasure_interrupted_before_its_rewrite_is_finished_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        let e: Event = serde_json::from_str(
            r#"{"user": "gone-user-x", "item": "i1", "type": "click", "timestamp": 1700000000}"#,
        )
        .unwrap();
        let keep: Event = serde_json::from_str(
            r#"{"user": "kept", "item": "i2", "type": "click", "timestamp": 1700000000}"#,
        )
        .unwrap();
        store.append(vec![e, keep]).unwrap();
        // The erasure's transaction commits, then the process "dies" before the rewrite, leaving a
        // half-written rewrite beside the file.
        let (deleted, n) = store.delete_user_records("gone-user-x").unwrap();
        assert_eq!((deleted.events, n.is_some()), (1, true));
        std::fs::write(purge_path(&path), b"half gone-user-x").unwrap();
        drop(store);
        assert!(
            holds(&path, b"gone-user-x"),
            "the deleted record is still in free pages"
        );
        let store = Store::open(&path).unwrap();
        assert_eq!(store.purges(), 1);
        assert!(!holds(&path, b"gone-user-x"));
        assert!(!purge_path(&path).exists());
        assert_eq!(store.event_count().unwrap(), 1);
        drop(store);
        // The flag went with the rewrite: the next open does not rewrite again.
        assert_eq!(Store::open(&path).unwrap().purges(), 0);
    }
}
