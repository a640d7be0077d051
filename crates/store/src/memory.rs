//! [`MemoryStore`]: every storage trait in memory, for tests and tools. Same semantics as the redb
//! store (idempotent appends by `event_id`, atomic batch replacement), no durability.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::event::Event;
use crate::model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored};
use crate::privacy::{Consent, Forgotten};
use crate::traits::{
    ConsentStore, Documents, EventLog, FlagStore, ForgottenUsers, ListStore, UserData,
};

/// Every storage trait in memory. Cheap to clone (clones share the data).
///
/// ```
/// use tastebud_store::{Event, EventLog, MemoryStore};
/// let m = MemoryStore::new();
/// let e: Event = serde_json::from_str(
///     r#"{"user": "u1", "item": "i9", "type": "click", "timestamp": 1700000000}"#).unwrap();
/// assert_eq!(m.append(vec![e]).unwrap()[0].seq, 1);
/// assert_eq!(m.user_events("u1").unwrap().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    events: BTreeMap<u64, Stored>,
    last_seq: u64,
    ids: HashMap<String, u64>,
    lists: HashMap<String, Vec<ListItem>>,
    batch: Option<BatchMeta>,
    flags: BTreeMap<String, ItemFlags>,
    forgotten: BTreeMap<String, i64>,
    consent: BTreeMap<String, Consent>,
    documents: HashMap<String, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl EventLog for MemoryStore {
    fn append(&self, events: Vec<Event>) -> Result<Vec<Appended>> {
        let mut g = self.lock();
        let received_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            if let Some(id) = &event.event_id
                && let Some(&seq) = g.ids.get(id)
            {
                out.push(Appended {
                    seq,
                    duplicate: true,
                });
                continue;
            }
            g.last_seq += 1;
            let seq = g.last_seq;
            if let Some(id) = &event.event_id {
                g.ids.insert(id.clone(), seq);
            }
            g.events.insert(
                seq,
                Stored {
                    seq,
                    received_ms,
                    event,
                },
            );
            out.push(Appended {
                seq,
                duplicate: false,
            });
        }
        Ok(out)
    }

    fn user_events(&self, user: &str) -> Result<Vec<Stored>> {
        Ok(self
            .lock()
            .events
            .values()
            .filter(|s| s.event.user == user)
            .cloned()
            .collect())
    }

    fn user_last_seq(&self, user: &str) -> Result<Option<u64>> {
        Ok(self
            .lock()
            .events
            .values()
            .rev()
            .find(|s| s.event.user == user)
            .map(|s| s.seq))
    }

    fn last_seq(&self) -> Result<u64> {
        Ok(self.lock().last_seq)
    }

    fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<Stored>> {
        Ok(self
            .lock()
            .events
            .range(after_seq.saturating_add(1)..)
            .take(limit)
            .map(|(_, s)| s.clone())
            .collect())
    }

    fn event_count(&self) -> Result<u64> {
        Ok(self.lock().events.len() as u64)
    }
}

impl ListStore for MemoryStore {
    fn put_lists(&self, meta: &BatchMeta, lists: Vec<(String, Vec<ListItem>)>) -> Result<()> {
        crate::model::check_finite(&lists)?;
        let mut g = self.lock();
        g.lists = lists.into_iter().collect();
        g.batch = Some(meta.clone());
        Ok(())
    }

    fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>> {
        Ok(self.lock().lists.get(user).cloned())
    }

    fn batch_meta(&self) -> Result<Option<BatchMeta>> {
        Ok(self.lock().batch.clone())
    }

    fn list_count(&self) -> Result<u64> {
        Ok(self.lock().lists.len() as u64)
    }
}

impl FlagStore for MemoryStore {
    fn set_item_flags(&self, item: &str, flags: ItemFlags) -> Result<()> {
        let mut g = self.lock();
        if flags.is_clear() {
            g.flags.remove(item);
        } else {
            g.flags.insert(item.to_string(), flags);
        }
        Ok(())
    }

    fn item_flags(&self) -> Result<Vec<(String, ItemFlags)>> {
        Ok(self
            .lock()
            .flags
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }
}

impl ForgottenUsers for MemoryStore {
    fn forget_user(&self, user: &str, at: i64) -> Result<()> {
        self.lock().forgotten.insert(user.to_string(), at);
        Ok(())
    }

    fn forgotten_at(&self, user: &str) -> Result<Option<i64>> {
        Ok(self.lock().forgotten.get(user).copied())
    }

    fn forgotten(&self) -> Result<Forgotten> {
        // Nothing of this store reaches a disk, so the ids are kept; the set still only answers
        // membership.
        const SALT: &[u8] = b"memory";
        Ok(Forgotten::new(
            SALT.to_vec(),
            self.lock()
                .forgotten
                .iter()
                .map(|(u, at)| (crate::privacy::pseudonym(SALT, u), *at)),
        ))
    }
}

impl ConsentStore for MemoryStore {
    fn set_consent(&self, user: &str, consent: &Consent) -> Result<()> {
        self.lock().consent.insert(user.to_string(), *consent);
        Ok(())
    }

    fn consent(&self, user: &str) -> Result<Option<Consent>> {
        Ok(self.lock().consent.get(user).copied())
    }

    fn consents(&self) -> Result<Vec<(String, Consent)>> {
        Ok(self
            .lock()
            .consent
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }
}

impl UserData for MemoryStore {
    fn erase_user(&self, user: &str) -> Result<Deleted> {
        let mut g = self.lock();
        let seqs: Vec<u64> = g
            .events
            .values()
            .filter(|s| s.event.user == user)
            .map(|s| s.seq)
            .collect();
        for seq in &seqs {
            if let Some(s) = g.events.remove(seq)
                && let Some(id) = s.event.event_id
                && g.ids.get(&id) == Some(seq)
            {
                g.ids.remove(&id);
            }
        }
        let lists = u64::from(g.lists.remove(user).is_some());
        g.consent.remove(user);
        Ok(Deleted {
            events: seqs.len() as u64,
            lists,
        })
    }
}

impl Documents for MemoryStore {
    fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().documents.get(name).cloned())
    }

    fn put_document(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.lock()
            .documents
            .insert(name.to_string(), bytes.to_vec());
        Ok(())
    }
}
