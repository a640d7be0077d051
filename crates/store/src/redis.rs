//! [`RedisStore`]: precomputed lists and the response cache in Redis, shared by replicas.
//!
//! # Keys (every one with a TTL)
//!
//! | key | type | what | TTL |
//! |---|---|---|---|
//! | `{prefix}batch` | string | JSON: the current batch's id and [`BatchMeta`] | `list_ttl` |
//! | `{prefix}lists:{id}` | hash | user → JSON list of batch `id` | `list_ttl`; a replaced batch's: 60 s |
//! | `{prefix}shards:{id}` | hash | shard → its metadata, while a sharded batch is stored | `list_ttl` |
//! | `{prefix}batchname:{name}` | string | the id of a sharded batch run's name | `list_ttl` |
//! | `{prefix}batch:ids` | counter | the last batch id | `list_ttl` (every batch it named is gone by then) |
//! | `{prefix}c:{user}` | hash | cache key → a cached response of the user's | `cache_ttl` |
//!
//! A batch becomes visible atomically: its lists go into a fresh hash first, then one `SET` of
//! `{prefix}batch` switches readers to it; the replaced hash expires 60 s later (readers that read
//! the old pointer just before still find it). Every key expires (Gorse's users saw Redis grow
//! without bound where keys did not: gorse issues #853, #1006); a batch older than `list_ttl`
//! expires whole and requests fall back to real time. The per-user cache hash holds at most
//! [`MAX_CACHED_PER_USER`] entries: a write past it starts the hash over.
//!
//! # Erasure
//!
//! [`RedisStore::erase_user`] removes the user's field from every batch hash and deletes their cache
//! hash. Redis keeps data in memory; a Redis configured to persist (RDB snapshots, AOF) keeps the
//! erased bytes in its files until the next snapshot or AOF rewrite: run it without persistence (it
//! only holds what PostgreSQL and the batch job can rebuild), or rewrite after erasures.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::error::{Result, StoreError};
use crate::model::{BatchMeta, ListItem};
use crate::pg::{merge_shard_metas, on};
use crate::traits::Shard;

/// Entries of one user's cache hash before it starts over.
pub const MAX_CACHED_PER_USER: usize = 64;
/// How long a replaced batch's lists stay readable.
const REPLACED_TTL_SECS: i64 = 60;
/// Users per `HSET` when storing lists.
const LIST_CHUNK: usize = 1_000;

/// Settings of a [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key (several deployments can share one Redis).
    pub prefix: String,
    /// TTL of batch keys.
    pub list_ttl: Duration,
    /// TTL of a user's cache hash (refreshed at each write).
    pub cache_ttl: Duration,
    /// How long one command may take before it counts as Redis being unavailable.
    pub timeout: Duration,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `tastebud:`, lists kept 7 days, cache 5 minutes, 250 ms timeout.
    pub fn new(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_string(),
            prefix: "tastebud:".to_string(),
            list_ttl: Duration::from_secs(7 * 86_400),
            cache_ttl: Duration::from_secs(300),
            timeout: Duration::from_millis(250),
        }
    }
}

/// Lists and cache in Redis (see [the module docs](self)). Cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    rt: Option<tokio::runtime::Runtime>,
    con: ConnectionManager,
    config: RedisConfig,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("Redis: {e}"))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pointer {
    id: u64,
    meta: BatchMeta,
}

const GET_LIST: &str = r"
local b = redis.call('GET', KEYS[1])
if not b then return false end
local id = cjson.decode(b)['id']
return redis.call('HGET', ARGV[1] .. id, ARGV[2])
";

const LIST_COUNT: &str = r"
local b = redis.call('GET', KEYS[1])
if not b then return 0 end
local id = cjson.decode(b)['id']
return redis.call('HLEN', ARGV[1] .. id)
";

impl RedisStore {
    /// Connects to `config.url` (failing with [`StoreError::Open`] when it cannot be reached now;
    /// later outages are [`StoreError::Unavailable`] and the connection is re-made by itself).
    pub fn open(config: RedisConfig) -> Result<RedisStore> {
        let open_err = |reason: String| StoreError::Open {
            path: config.url.clone().into(),
            reason,
        };
        let client =
            redis::Client::open(config.url.as_str()).map_err(|e| open_err(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tastebud-redis")
            .enable_all()
            .build()
            .map_err(|e| open_err(format!("cannot start its runtime: {e}")))?;
        let timeout = config.timeout;
        let mgr_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_secs(1))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let con = on(&rt, async move {
            ConnectionManager::new_with_config(client, mgr_config)
                .await
                .map_err(unavailable)
        })
        .map_err(|e| open_err(e.to_string()))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                rt: Some(rt),
                con,
                config,
            }),
        })
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.inner.config.prefix)
    }

    /// Runs `f` on a connection with the configured timeout (`scale` times it, for big writes).
    fn run<T, F, Fut>(&self, scale: u32, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: Future<Output = redis::RedisResult<T>> + Send,
    {
        let con = self.inner.con.clone();
        let timeout = self.inner.config.timeout * scale.max(1);
        let rt = self
            .inner
            .rt
            .as_ref()
            .expect("runtime lives with the store");
        on(rt, async move {
            tokio::time::timeout(timeout, f(con))
                .await
                .map_err(|_| unavailable(format!("no answer within {timeout:?}")))?
                .map_err(unavailable)
        })
    }

    /// Whether Redis answers (`PING`).
    pub fn ping(&self) -> Result<()> {
        self.run(1, |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await?;
            Ok(())
        })
    }

    /// Stores every list of a batch under a fresh id and returns the id (not yet visible).
    fn store_lists(
        &self,
        id_key: Option<String>,
        lists: Vec<(String, Vec<ListItem>)>,
    ) -> Result<u64> {
        crate::model::check_finite(&lists)?;
        let encoded: Vec<(String, String)> = lists
            .into_iter()
            .map(|(u, l)| {
                serde_json::to_string(&l)
                    .map(|j| (u, j))
                    .map_err(|e| StoreError::Invalid(format!("encoding a list: {e}")))
            })
            .collect::<Result<_>>()?;
        let ids = self.key("batch:ids");
        let prefix = self.key("lists:");
        let ttl = self.inner.config.list_ttl.as_secs() as i64;
        let scale = 1 + (encoded.len() / 2_000) as u32;
        self.run(scale * 4, move |mut c| async move {
            let id: u64 = match id_key {
                Some(name) => {
                    let fresh: u64 = c.incr(&ids, 1).await?;
                    let _: Option<String> = redis::cmd("SET")
                        .arg(&name)
                        .arg(fresh)
                        .arg("NX")
                        .arg("EX")
                        .arg(ttl)
                        .query_async(&mut c)
                        .await?;
                    c.get(&name).await?
                }
                None => c.incr(&ids, 1).await?,
            };
            // The counter expires with the batches: when it is gone, so is every hash it named.
            let _: () = c.expire(&ids, ttl).await?;
            let hash = format!("{prefix}{id}");
            for chunk in encoded.chunks(LIST_CHUNK) {
                let mut p = redis::pipe();
                p.hset_multiple(&hash, chunk).ignore();
                p.expire(&hash, ttl).ignore();
                p.query_async::<()>(&mut c).await?;
            }
            Ok(id)
        })
    }

    /// Makes batch `id` current with `meta`; the replaced batch's lists expire soon after.
    fn publish(&self, id: u64, meta: &BatchMeta) -> Result<()> {
        let pointer = serde_json::to_string(&Pointer {
            id,
            meta: meta.clone(),
        })
        .map_err(|e| StoreError::Invalid(format!("encoding batch metadata: {e}")))?;
        let key = self.key("batch");
        let prefix = self.key("lists:");
        let ttl = self.inner.config.list_ttl.as_secs() as i64;
        self.run(4, move |mut c| async move {
            let old: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(&pointer)
                .arg("EX")
                .arg(ttl)
                .arg("GET")
                .query_async(&mut c)
                .await?;
            let _: () = c.expire(format!("{prefix}{id}"), ttl).await?;
            if let Some(old) = old.and_then(|o| serde_json::from_str::<Pointer>(&o).ok())
                && old.id != id
            {
                let _: () = c
                    .expire(format!("{prefix}{}", old.id), REPLACED_TTL_SECS)
                    .await?;
            }
            let _: () = c.publish("tastebud", "batch").await?;
            Ok(())
        })
    }

    /// Replaces every list with a new batch, atomically for readers.
    pub fn put_lists(&self, meta: &BatchMeta, lists: Vec<(String, Vec<ListItem>)>) -> Result<()> {
        let id = self.store_lists(None, lists)?;
        self.publish(id, meta)
    }

    /// Stores one shard of batch run `name`; publishes the batch when every shard is in. Returns
    /// whether this call published it.
    pub fn put_lists_shard(
        &self,
        name: &str,
        shard: Shard,
        meta: &BatchMeta,
        lists: Vec<(String, Vec<ListItem>)>,
    ) -> Result<bool> {
        let id = self.store_lists(Some(self.key(&format!("batchname:{name}"))), lists)?;
        let shards = self.key(&format!("shards:{id}"));
        let body = serde_json::to_string(&(shard.count, meta))
            .map_err(|e| StoreError::Invalid(format!("encoding shard metadata: {e}")))?;
        let ttl = self.inner.config.list_ttl.as_secs() as i64;
        let index = shard.index;
        // HSET and HGETALL in one MULTI: exactly one shard sees them all.
        let all: Vec<(u32, String)> = self.run(4, move |mut c| async move {
            let (all,): (Vec<(u32, String)>,) = redis::pipe()
                .atomic()
                .hset(&shards, index, &body)
                .ignore()
                .expire(&shards, ttl)
                .ignore()
                .hgetall(&shards)
                .query_async(&mut c)
                .await?;
            Ok(all)
        })?;
        let mut metas = Vec::with_capacity(all.len());
        for (_, b) in &all {
            let (count, m): (u32, BatchMeta) = serde_json::from_str(b)
                .map_err(|e| StoreError::Corrupt(format!("shard metadata: {e}")))?;
            if count != shard.count {
                return Err(StoreError::Invalid(format!(
                    "batch `{name}` was started with {count} shards, not {}",
                    shard.count
                )));
            }
            metas.push(m);
        }
        if metas.len() == shard.count as usize {
            self.publish(id, &merge_shard_metas(&metas)?)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The user's list in the current batch.
    pub fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>> {
        let (key, prefix, user) = (self.key("batch"), self.key("lists:"), user.to_string());
        let raw: Option<String> = self.run(1, move |mut c| async move {
            redis::Script::new(GET_LIST)
                .key(&key)
                .arg(&prefix)
                .arg(&user)
                .invoke_async(&mut c)
                .await
        })?;
        raw.map(|r| {
            serde_json::from_str(&r).map_err(|e| StoreError::Corrupt(format!("a list: {e}")))
        })
        .transpose()
    }

    /// The current batch's metadata.
    pub fn batch_meta(&self) -> Result<Option<BatchMeta>> {
        let key = self.key("batch");
        let raw: Option<String> = self.run(1, move |mut c| async move { c.get(&key).await })?;
        raw.map(|r| {
            serde_json::from_str::<Pointer>(&r)
                .map(|p| p.meta)
                .map_err(|e| StoreError::Corrupt(format!("batch pointer: {e}")))
        })
        .transpose()
    }

    /// Users with a list in the current batch.
    pub fn list_count(&self) -> Result<u64> {
        let (key, prefix) = (self.key("batch"), self.key("lists:"));
        self.run(1, move |mut c| async move {
            redis::Script::new(LIST_COUNT)
                .key(&key)
                .arg(&prefix)
                .invoke_async(&mut c)
                .await
        })
    }

    /// A cached response of `user`'s under `field`.
    pub fn cache_get(&self, user: &str, field: &str) -> Result<Option<Vec<u8>>> {
        let (key, field) = (self.key(&format!("c:{user}")), field.to_string());
        self.run(1, move |mut c| async move { c.hget(&key, &field).await })
    }

    /// Caches `bytes` for `user` under `field`.
    pub fn cache_put(&self, user: &str, field: &str, bytes: Vec<u8>) -> Result<()> {
        let (key, field) = (self.key(&format!("c:{user}")), field.to_string());
        let ttl = self.inner.config.cache_ttl.as_secs().max(1) as i64;
        self.run(1, move |mut c| async move {
            let (n,): (usize,) = redis::pipe()
                .atomic()
                .hset(&key, &field, &bytes)
                .ignore()
                .expire(&key, ttl)
                .ignore()
                .hlen(&key)
                .query_async(&mut c)
                .await?;
            if n > MAX_CACHED_PER_USER {
                let mut p = redis::pipe();
                p.atomic()
                    .del(&key)
                    .ignore()
                    .hset(&key, &field, &bytes)
                    .ignore()
                    .expire(&key, ttl)
                    .ignore();
                p.query_async::<()>(&mut c).await?;
            }
            Ok(())
        })
    }

    /// Drops a user's cached responses (their consent changed).
    pub fn cache_drop(&self, user: &str) -> Result<()> {
        let key = self.key(&format!("c:{user}"));
        self.run(1, move |mut c| async move { c.del(&key).await })
    }

    /// Removes the user's lists from every batch still in Redis and their cached responses; returns
    /// the lists removed.
    pub fn erase_user(&self, user: &str) -> Result<u64> {
        let pattern = format!("{}*", self.key("lists:"));
        let cache = self.key(&format!("c:{user}"));
        let user = user.to_string();
        self.run(8, move |mut c| async move {
            let mut keys: Vec<String> = Vec::new();
            {
                let mut it: redis::AsyncIter<String> = c.scan_match(&pattern).await?;
                while let Some(k) = it.next_item().await {
                    keys.push(k?);
                }
            }
            let mut removed = 0u64;
            for k in keys {
                let n: u64 = c.hdel(&k, &user).await?;
                removed += n;
            }
            let _: () = c.del(&cache).await?;
            Ok(removed)
        })
    }

    /// Every key under this store's prefix with its TTL in seconds (-1: none), for checks.
    pub fn keys_with_ttl(&self) -> Result<Vec<(String, i64)>> {
        let pattern = format!("{}*", self.inner.config.prefix);
        self.run(8, move |mut c| async move {
            let mut keys: Vec<String> = Vec::new();
            {
                let mut it: redis::AsyncIter<String> = c.scan_match(&pattern).await?;
                while let Some(k) = it.next_item().await {
                    keys.push(k?);
                }
            }
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let t: i64 = c.ttl(&k).await?;
                out.push((k, t));
            }
            Ok(out)
        })
    }
}
