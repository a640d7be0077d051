//! [`SharedStore`]: the PostgreSQL store with, when configured, the precomputed lists in Redis; what a
//! replica of a scaled-out deployment runs on ([`Storage::shared`](crate::Storage::shared)).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, StoreError};
use crate::event::Event;
use crate::model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored};
use crate::pg::PgStore;
use crate::privacy::{Consent, Forgotten};
use crate::redis::RedisStore;
use crate::traits::{
    ConsentStore, Coordination, EventLog, FlagStore, ForgottenUsers, Generations, ListStore, Shard,
    UserData, UserSync,
};

/// Events, flags, privacy and documents in PostgreSQL; lists in Redis when there is one, else in
/// PostgreSQL too.
///
/// Reading lists degrades instead of failing: with Redis unreachable, [`ListStore::get_list`] and
/// [`ListStore::batch_meta`] answer `None` (the pipeline ranks in real time) and
/// [`SharedStore::degraded`] says so until Redis answers again. Writes (a batch, an erasure) fail
/// with [`StoreError::Unavailable`]: nothing is claimed done that was not.
#[derive(Clone)]
pub struct SharedStore {
    /// The PostgreSQL store.
    pub pg: PgStore,
    /// The Redis store, when configured.
    pub redis: Option<RedisStore>,
    degraded: Arc<AtomicBool>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl SharedStore {
    /// Composes the two.
    pub fn new(pg: PgStore, redis: Option<RedisStore>) -> SharedStore {
        SharedStore {
            pg,
            redis,
            degraded: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the last Redis read failed (lists and cache fall back to real time).
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Records a Redis read's outcome: a read that failed because Redis is unavailable is `None`.
    fn soft<T>(&self, r: Result<Option<T>>) -> Result<Option<T>> {
        match r {
            Ok(v) => {
                self.degraded.store(false, Ordering::Relaxed);
                Ok(v)
            }
            Err(StoreError::Unavailable(m)) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    eprintln!("tastebud: {m}; serving in real time until it answers");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Checks both backends: PostgreSQL must answer; Redis's state is returned (`false`: degraded).
    pub fn check(&self) -> Result<bool> {
        self.pg.ping()?;
        Ok(match &self.redis {
            Some(r) => {
                let ok = r.ping().is_ok();
                self.degraded.store(!ok, Ordering::Relaxed);
                ok
            }
            None => true,
        })
    }
}

impl EventLog for SharedStore {
    fn append(&self, events: Vec<Event>) -> Result<Vec<Appended>> {
        self.pg.append(events)
    }
    fn user_events(&self, user: &str) -> Result<Vec<Stored>> {
        self.pg.user_events(user)
    }
    fn user_last_seq(&self, user: &str) -> Result<Option<u64>> {
        self.pg.user_last_seq(user)
    }
    fn last_seq(&self) -> Result<u64> {
        self.pg.last_seq()
    }
    fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<Stored>> {
        self.pg.scan(after_seq, limit)
    }
    fn event_count(&self) -> Result<u64> {
        self.pg.event_count()
    }
}

impl ListStore for SharedStore {
    fn put_lists(&self, meta: &BatchMeta, lists: Vec<(String, Vec<ListItem>)>) -> Result<()> {
        match &self.redis {
            Some(r) => r.put_lists(meta, lists),
            None => self.pg.put_lists(meta, lists),
        }
    }
    fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>> {
        match &self.redis {
            Some(r) => self.soft(r.get_list(user)),
            None => self.pg.get_list(user),
        }
    }
    fn batch_meta(&self) -> Result<Option<BatchMeta>> {
        match &self.redis {
            Some(r) => self.soft(r.batch_meta()),
            None => self.pg.batch_meta(),
        }
    }
    fn list_count(&self) -> Result<u64> {
        match &self.redis {
            Some(r) => Ok(self.soft(r.list_count().map(Some))?.unwrap_or(0)),
            None => self.pg.list_count(),
        }
    }
    fn put_lists_shard(
        &self,
        name: &str,
        shard: Shard,
        meta: &BatchMeta,
        lists: Vec<(String, Vec<ListItem>)>,
    ) -> Result<bool> {
        match &self.redis {
            Some(r) => r.put_lists_shard(name, shard, meta, lists),
            None => self.pg.put_lists_shard(name, shard, meta, lists),
        }
    }
}

impl FlagStore for SharedStore {
    fn set_item_flags(&self, item: &str, flags: ItemFlags) -> Result<()> {
        self.pg.set_item_flags(item, flags)
    }
    fn item_flags(&self) -> Result<Vec<(String, ItemFlags)>> {
        self.pg.item_flags()
    }
}

impl ForgottenUsers for SharedStore {
    fn forget_user(&self, user: &str, at: i64) -> Result<()> {
        self.pg.forget_user(user, at)
    }
    fn forgotten_at(&self, user: &str) -> Result<Option<i64>> {
        self.pg.forgotten_at(user)
    }
    fn forgotten(&self) -> Result<Forgotten> {
        self.pg.forgotten()
    }
}

impl ConsentStore for SharedStore {
    fn set_consent(&self, user: &str, consent: &Consent) -> Result<()> {
        self.pg.set_consent(user, consent)?;
        // Cached responses of the user were computed under the old consent.
        if let Some(r) = &self.redis {
            r.cache_drop(user)?;
        }
        Ok(())
    }
    fn consent(&self, user: &str) -> Result<Option<Consent>> {
        self.pg.consent(user)
    }
    fn consents(&self) -> Result<Vec<(String, Consent)>> {
        self.pg.consents()
    }
}

impl UserData for SharedStore {
    fn erase_user(&self, user: &str) -> Result<Deleted> {
        // Redis first: if it is down the erasure fails before anything is claimed.
        let redis_lists = match &self.redis {
            Some(r) => r.erase_user(user)?,
            None => 0,
        };
        let mut d = self.pg.erase_user(user)?;
        d.lists = (d.lists + redis_lists).min(1);
        Ok(d)
    }
}

impl Coordination for SharedStore {
    fn sync(&self, user: Option<&str>) -> Result<(Generations, UserSync)> {
        self.pg.sync(user)
    }
    fn healthy(&self) -> Result<()> {
        self.pg.ping()
    }
}
