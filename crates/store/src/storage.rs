//! [`Storage`]: the backends a server runs on, one per concern (the storage traits of `traits`).

use std::sync::Arc;

use crate::traits::{
    ConsentStore, Coordination, Documents, EventLog, FlagStore, ForgottenUsers, ListStore, UserData,
};

/// The backends a server runs on, one per concern. [`Storage::embedded`] puts the user data in one
/// backend (the redb file by default) and documents in files beside it; a shared deployment swaps in
/// other implementations per field.
#[derive(Clone)]
pub struct Storage {
    /// The event log.
    pub events: Arc<dyn EventLog>,
    /// Precomputed lists.
    pub lists: Arc<dyn ListStore>,
    /// Item flags.
    pub flags: Arc<dyn FlagStore>,
    /// Forgotten users.
    pub forgotten: Arc<dyn ForgottenUsers>,
    /// Users' consent.
    pub consent: Arc<dyn ConsentStore>,
    /// Erasure across events and lists.
    pub users: Arc<dyn UserData>,
    /// Experiment definitions and other documents.
    pub documents: Arc<dyn Documents>,
    /// What replicas read to agree ([`Coordination`]); `None` for a store one process holds.
    pub coordination: Option<Arc<dyn Coordination>>,
    /// The shared backends themselves (Redis cache, degraded state), when the store is shared.
    #[cfg(feature = "shared")]
    pub shared: Option<crate::shared::SharedStore>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

impl Storage {
    /// Every concern on one backend that implements them all (the embedded redb store, or memory).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tastebud_store::{DirDocuments, MemoryStore, Storage};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let s = Storage::embedded(MemoryStore::new(), Arc::new(DirDocuments::new(dir.path())));
    /// assert_eq!(s.events.last_seq().unwrap(), 0);
    /// ```
    pub fn embedded<B>(backend: B, documents: Arc<dyn Documents>) -> Storage
    where
        B: UserData + FlagStore + 'static,
    {
        let b = Arc::new(backend);
        Storage {
            events: b.clone(),
            lists: b.clone(),
            flags: b.clone(),
            forgotten: b.clone(),
            consent: b.clone(),
            users: b,
            documents,
            coordination: None,
            #[cfg(feature = "shared")]
            shared: None,
        }
    }

    /// Every concern on the shared backends: PostgreSQL, with the lists in Redis when configured.
    #[cfg(feature = "shared")]
    pub fn shared(s: crate::shared::SharedStore) -> Storage {
        let b = Arc::new(s.clone());
        Storage {
            events: b.clone(),
            lists: b.clone(),
            flags: b.clone(),
            forgotten: b.clone(),
            consent: b.clone(),
            users: b.clone(),
            documents: Arc::new(s.pg.clone()),
            coordination: Some(b),
            shared: Some(s),
        }
    }

    /// Everything in memory (tests, tools): nothing survives the process.
    pub fn in_memory() -> Storage {
        let m = crate::MemoryStore::new();
        Storage::embedded(m.clone(), Arc::new(m))
    }
}
