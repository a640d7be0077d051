//! [`PgStore`]: every storage trait on PostgreSQL, for replicas that share their state.
//!
//! One [`PgStore`] per process holds a connection pool (deadpool) on a small private tokio runtime;
//! its methods are blocking (like the embedded store's) and may be called from any thread, inside
//! or outside an async runtime.
//!
//! # Schema and migrations
//!
//! Tables are prefixed `tastebud_`; [`MIGRATIONS`] lists the schema versions, applied in order at
//! [`PgStore::open`] under an advisory lock (replicas starting together take turns) and recorded
//! in `tastebud_schema`. A database with a newer version than this binary knows is refused.
//!
//! | table | what |
//! |---|---|
//! | `tastebud_events` | `seq` (primary key), `event_id` (unique), `user_id` (index with seq), the JSON of [`Stored`] |
//! | `tastebud_log` | one row: the high-water mark `last_seq` and the event count |
//! | `tastebud_state` | one row: the generations of flags, documents, erasures; the pseudonyms' salt; the current batch |
//! | `tastebud_lists`, `tastebud_batches`, `tastebud_shards` | precomputed lists by batch, batch metadata, shards stored |
//! | `tastebud_flags`, `tastebud_forgotten`, `tastebud_consent`, `tastebud_documents` | as their names say |
//!
//! # Appends: group commit, log order
//!
//! Appends go through one writer task per process: it takes every request already queued (up to
//! 20 000 events) and writes them with one multi-row `INSERT` in one transaction, so concurrent
//! callers share a commit; a call returns only after the commit. The transaction first locks the
//! `tastebud_log` row (`FOR UPDATE`), so the writers of all replicas take turns and sequence
//! numbers increase in commit order: a reader that has seen seq `n` never misses a later commit
//! with a smaller seq, which is what the experiments' running aggregates and retraining rely on
//! when they read the log incrementally ([`EventLog::scan`]). Duplicates (`event_id` already
//! stored, or twice in the group) are found under the same lock.
//!
//! # Replicas agree
//!
//! Every change another replica must act on bumps a generation in `tastebud_state` in the same
//! transaction and sends `NOTIFY tastebud` ([`PgStore::listen`]); [`Coordination::sync`] reads the
//! generations, the log head and the user's own versions in one round trip, so a replica can check
//! before answering that nothing it caches is stale.
//!
//! # Erasure and the disk
//!
//! [`UserData::erase_user`] deletes the user's rows in one transaction. PostgreSQL, like redb, leaves
//! deleted tuples' bytes in the table and index files until the space is reused, so the erasure then
//! runs `VACUUM FULL` on the tables that held them (their files are rewritten without the dead
//! tuples, and the old files unlinked); erasures that arrive during one share the next. Before it
//! returns, the user's bytes are gone from the table and index files (tested by scanning them). They
//! remain in the write-ahead log until its segments are recycled (after a checkpoint and up to
//! `max_wal_size`), and in WAL archives, backups and physical replicas for as long as the operator
//! keeps those: erasure from backups is a retention policy, outside what a client can do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Pool, PoolConfig, Runtime, Timeouts};
use tokio_postgres::NoTls;

use crate::error::{Result, StoreError};
use crate::event::Event;
use crate::model::{Appended, BatchMeta, Deleted, ItemFlags, ListItem, Stored, check_finite};
use crate::privacy::{Consent, Forgotten, hex, pseudonym, unhex};
use crate::traits::{
    ConsentStore, Coordination, Documents, EventLog, FlagStore, ForgottenUsers, Generations,
    ListStore, Shard, UserData, UserSync,
};

/// The schema versions, in order: version `i + 1` is `MIGRATIONS[i]`.
pub const MIGRATIONS: &[&str] = &[r"
CREATE TABLE tastebud_events (
    seq bigint PRIMARY KEY,
    event_id text UNIQUE,
    user_id text NOT NULL,
    received_ms bigint NOT NULL,
    body text NOT NULL
);
CREATE INDEX tastebud_events_user ON tastebud_events (user_id, seq);
CREATE TABLE tastebud_log (
    id int PRIMARY KEY CHECK (id = 1),
    last_seq bigint NOT NULL,
    events bigint NOT NULL
);
INSERT INTO tastebud_log VALUES (1, 0, 0);
CREATE TABLE tastebud_state (
    id int PRIMARY KEY CHECK (id = 1),
    flags_gen bigint NOT NULL,
    documents_gen bigint NOT NULL,
    erasures_gen bigint NOT NULL,
    salt bytea NOT NULL,
    batch bigint
);
INSERT INTO tastebud_state VALUES (1, 1, 1, 1, gen_random_uuid()::text::bytea, NULL);
CREATE TABLE tastebud_batches (
    batch bigint PRIMARY KEY,
    name text UNIQUE NOT NULL,
    meta text
);
CREATE SEQUENCE tastebud_batch_ids;
CREATE TABLE tastebud_shards (
    batch bigint NOT NULL REFERENCES tastebud_batches ON DELETE CASCADE,
    shard int NOT NULL,
    shards int NOT NULL,
    meta text NOT NULL,
    PRIMARY KEY (batch, shard)
);
CREATE TABLE tastebud_lists (
    batch bigint NOT NULL,
    user_id text NOT NULL,
    items text NOT NULL,
    PRIMARY KEY (batch, user_id)
);
CREATE TABLE tastebud_flags (item text PRIMARY KEY, flags text NOT NULL);
CREATE TABLE tastebud_forgotten (pseudonym text PRIMARY KEY, at bigint NOT NULL);
CREATE SEQUENCE tastebud_consent_versions;
CREATE TABLE tastebud_consent (
    user_id text PRIMARY KEY,
    consent text NOT NULL,
    version bigint NOT NULL
);
CREATE TABLE tastebud_documents (name text PRIMARY KEY, body bytea NOT NULL);
"];

/// The channel of `NOTIFY tastebud`: the payload names what changed (`flags`, `documents:NAME`,
/// `erasure`, `consent`, `batch`).
pub const CHANNEL: &str = "tastebud";

/// Stop adding requests to a group beyond this many events.
const MAX_GROUP_EVENTS: usize = 20_000;
/// Rows per `INSERT` of precomputed lists.
const LIST_CHUNK: usize = 5_000;
/// The advisory lock key of migrations ("tastebud" in ASCII).
const MIGRATION_LOCK: i64 = 0x7461_7374_6562_7564;

/// Connection settings of a [`PgStore`].
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// `postgres://user[:password]@host:port/database` (libpq's URL form; key=value works too).
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long an operation waits (for a connection, and for its statements) before it fails with
    /// [`StoreError::Unavailable`].
    pub timeout: Duration,
    /// Rewrite the tables after an erasure (`VACUUM FULL`), so the erased bytes leave the files.
    pub vacuum_on_erase: bool,
}

impl PgConfig {
    /// Defaults for `url`: 16 connections, 5 s timeout, vacuum on erase.
    pub fn new(url: &str) -> PgConfig {
        PgConfig {
            url: url.to_string(),
            pool_size: 16,
            timeout: Duration::from_secs(5),
            vacuum_on_erase: true,
        }
    }
}

/// Every storage trait on PostgreSQL (see [the module docs](self)). Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    config: PgConfig,
    salt: Vec<u8>,
    writer: tokio::sync::mpsc::Sender<Request>,
    commits: Arc<AtomicU64>,
    vacuum: Arc<Vacuum>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // The writer answers what is queued before the channel closes; give it a moment.
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

struct Request {
    events: Vec<Event>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Appended>>>,
}

/// Erasures share `VACUUM FULL` runs as appends share commits.
#[derive(Default)]
struct Vacuum {
    state: Mutex<VacuumState>,
    done: Condvar,
}

#[derive(Default)]
struct VacuumState {
    /// Erasures committed so far (numbered from 1).
    erased: u64,
    /// Erasures whose rows are gone from the files.
    vacuumed: u64,
    running: bool,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: {e}"))
}

fn db_err(e: tokio_postgres::Error) -> StoreError {
    // A closed connection, a refused connect or a server shutting down are the database being
    // unavailable (503, retry); anything with an SQL state is an error of ours.
    match e.code() {
        Some(code) if code.code().starts_with("57") || code.code().starts_with("08") => {
            unavailable(e)
        }
        Some(_) => StoreError::Db(format!("PostgreSQL: {e}")),
        None => unavailable(e),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        other => unavailable(other),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("encoding {what}: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("decoding {what}: {e}")))
}

impl PgStore {
    /// Connects, applies the pending migrations and starts the writer.
    ///
    /// Fails with [`StoreError::Open`] (the URL without its password) when the database cannot be
    /// reached or its schema is newer than this binary's.
    pub fn open(config: PgConfig) -> Result<PgStore> {
        let shown = redact(&config.url);
        let open_err = |reason: String| StoreError::Open {
            path: shown.clone().into(),
            reason,
        };
        let pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| open_err(format!("not a PostgreSQL URL: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tastebud-pg")
            .enable_all()
            .build()
            .map_err(|e| open_err(format!("cannot start its runtime: {e}")))?;
        let mgr = deadpool_postgres::Manager::new(pg, NoTls);
        let pool = Pool::builder(mgr)
            .config(PoolConfig {
                max_size: config.pool_size.max(2),
                timeouts: Timeouts {
                    wait: Some(config.timeout),
                    create: Some(config.timeout),
                    recycle: Some(config.timeout),
                },
                ..PoolConfig::default()
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let salt = {
            let pool = pool.clone();
            let timeout = config.timeout * 6;
            on(&rt, async move {
                tokio::time::timeout(timeout, migrate(&pool))
                    .await
                    .map_err(|_| unavailable("timed out applying migrations"))?
            })
            .map_err(|e| open_err(e.to_string()))?
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let commits = Arc::new(AtomicU64::new(0));
        rt.spawn(writer(pool.clone(), rx, commits.clone()));
        Ok(PgStore {
            inner: Arc::new(Inner {
                rt: Some(rt),
                pool,
                config,
                salt,
                writer: tx,
                commits,
                vacuum: Arc::new(Vacuum::default()),
            }),
        })
    }

    /// Transactions the writer committed (group commits).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.inner
            .rt
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    /// Runs `f` with a pooled connection on the store's runtime and waits for it (works from any
    /// thread), failing with [`StoreError::Unavailable`] after the configured timeout.
    fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut deadpool_postgres::Client,
            )
                -> std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>
            + Send
            + 'static,
    {
        let pool = self.inner.pool.clone();
        let timeout = self.inner.config.timeout;
        on(self.rt(), async move {
            let run = async {
                let mut c = pool.get().await.map_err(pool_err)?;
                f(&mut c).await
            };
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| unavailable(format!("no answer within {timeout:?}")))?
        })
    }

    /// Starts listening for `NOTIFY tastebud` on a connection of its own (reconnecting when it
    /// drops) and calls `on_notice` with each payload; `""` after a reconnect, when notices may
    /// have been missed. Returns at once; the listener lives as long as the store.
    pub fn listen(&self, on_notice: impl Fn(&str) + Send + Sync + 'static) {
        let url = self.inner.config.url.clone();
        let on_notice = Arc::new(on_notice);
        self.rt().spawn(async move {
            loop {
                if let Ok(pg) = url.parse::<tokio_postgres::Config>()
                    && let Ok((client, mut conn)) = pg.connect(NoTls).await
                {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    let driver = tokio::spawn(async move {
                        loop {
                            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                    let _ = tx.send(n.payload().to_string());
                                }
                                Some(Ok(_)) => {}
                                Some(Err(_)) | None => break,
                            }
                        }
                    });
                    if client
                        .batch_execute(&format!("LISTEN {CHANNEL}"))
                        .await
                        .is_ok()
                    {
                        on_notice("");
                        while let Some(p) = rx.recv().await {
                            on_notice(&p);
                        }
                    }
                    driver.abort();
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Whether the database answers now (`SELECT 1` within the timeout).
    pub fn ping(&self) -> Result<()> {
        self.with(|c| {
            Box::pin(async move {
                c.query_one("SELECT 1", &[]).await.map_err(db_err)?;
                Ok(())
            })
        })
    }

    /// Bumps a generation column of `tastebud_state` and notifies, in `tx`.
    async fn bump(tx: &tokio_postgres::Transaction<'_>, column: &str, notice: &str) -> Result<()> {
        tx.execute(
            &format!("UPDATE tastebud_state SET {column} = {column} + 1 WHERE id = 1"),
            &[],
        )
        .await
        .map_err(db_err)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notice])
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Rewrites the tables an erasure touched, sharing the run with concurrent erasures; returns
    /// once erasure number `n` is vacuumed.
    fn vacuum_through(&self, n: u64) -> Result<()> {
        let v = &self.inner.vacuum;
        let mut g = v.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if g.vacuumed >= n {
                return Ok(());
            }
            if !g.running {
                g.running = true;
                let target = g.erased;
                drop(g);
                let r = self.vacuum_now();
                g = v.state.lock().unwrap_or_else(|e| e.into_inner());
                g.running = false;
                if r.is_ok() {
                    g.vacuumed = g.vacuumed.max(target);
                }
                v.done.notify_all();
                r?;
                continue;
            }
            g = v.done.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn vacuum_now(&self) -> Result<()> {
        let pool = self.inner.pool.clone();
        // VACUUM FULL of a large table takes a while: a longer allowance than single statements.
        let timeout = self.inner.config.timeout * 24;
        on(self.rt(), async move {
            let run = async {
                let c = pool.get().await.map_err(pool_err)?;
                c.batch_execute(
                    "VACUUM FULL tastebud_events, tastebud_lists, tastebud_consent, tastebud_log",
                )
                .await
                .map_err(db_err)
            };
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| unavailable("VACUUM FULL did not finish in time"))?
        })
    }

    /// Files (relative to the data directory) of the tables and indexes that can hold a user's
    /// bytes: what an erasure test scans.
    pub fn relation_files(&self) -> Result<Vec<String>> {
        self.with(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT pg_relation_filepath(c.oid) FROM pg_class c \
                         WHERE c.relname LIKE 'tastebud\\_%' AND c.relkind IN ('r', 'i', 't') \
                         UNION SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c \
                         WHERE c.relname LIKE 'tastebud\\_%' AND c.reltoastrelid <> 0",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                Ok(rows
                    .iter()
                    .filter_map(|r| r.get::<_, Option<String>>(0))
                    .collect())
            })
        })
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &cred[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Runs `fut` on `rt` and blocks this thread until it is done (a spawned task and a channel, so it
/// works on threads of another runtime too).
pub(crate) fn on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Closed("the PostgreSQL runtime stopped".to_string()))?
}

/// Applies the pending migrations; returns the pseudonyms' salt.
async fn migrate(pool: &Pool) -> Result<Vec<u8>> {
    let mut c = pool.get().await.map_err(pool_err)?;
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    let r = async {
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS tastebud_schema (version int PRIMARY KEY, applied_ms bigint NOT NULL)",
        )
        .await
        .map_err(db_err)?;
        let have: i32 = c
            .query_one("SELECT coalesce(max(version), 0) FROM tastebud_schema", &[])
            .await
            .map_err(db_err)?
            .get(0);
        if have as usize > MIGRATIONS.len() {
            return Err(StoreError::Db(format!(
                "the database's schema is version {have}, newer than this binary's {}: upgrade Tastebud",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
            let v = (i + 1) as i32;
            let tx = c.transaction().await.map_err(db_err)?;
            tx.batch_execute(sql).await.map_err(db_err)?;
            tx.execute(
                "INSERT INTO tastebud_schema VALUES ($1, $2)",
                &[&v, &now_ms()],
            )
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        }
        let salt: Vec<u8> = c
            .query_one("SELECT salt FROM tastebud_state WHERE id = 1", &[])
            .await
            .map_err(db_err)?
            .get(0);
        Ok(salt)
    }
    .await;
    let _ = c
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    r
}

async fn writer(pool: Pool, mut rx: tokio::sync::mpsc::Receiver<Request>, commits: Arc<AtomicU64>) {
    while let Some(first) = rx.recv().await {
        let mut total = first.events.len();
        let mut group = vec![first];
        while total < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(r) => {
                    total += r.events.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(group.len());
        let mut batches = Vec::with_capacity(group.len());
        for r in group {
            replies.push(r.reply);
            batches.push(r.events);
        }
        match write_group(&pool, &batches).await {
            Ok(results) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Writes a group of appends in one transaction (see the module docs for the order guarantee).
async fn write_group(pool: &Pool, batches: &[Vec<Event>]) -> Result<Vec<Vec<Appended>>> {
    let mut c = pool.get().await.map_err(pool_err)?;
    let tx = c.transaction().await.map_err(db_err)?;
    let last: i64 = tx
        .query_one(
            "SELECT last_seq FROM tastebud_log WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(db_err)?
        .get(0);
    let ids: Vec<&str> = batches
        .iter()
        .flatten()
        .filter_map(|e| e.event_id.as_deref())
        .collect();
    let mut known: HashMap<String, i64> = HashMap::new();
    if !ids.is_empty() {
        for row in tx
            .query(
                "SELECT event_id, seq FROM tastebud_events WHERE event_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(db_err)?
        {
            known.insert(row.get(0), row.get(1));
        }
    }
    let received = now_ms();
    let mut seq = last;
    let (mut seqs, mut eids, mut users, mut bodies) = (vec![], vec![], vec![], vec![]);
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut r = Vec::with_capacity(batch.len());
        for e in batch {
            if let Some(id) = &e.event_id
                && let Some(&s) = known.get(id)
            {
                r.push(Appended {
                    seq: s as u64,
                    duplicate: true,
                });
                continue;
            }
            seq += 1;
            if let Some(id) = &e.event_id {
                known.insert(id.clone(), seq);
            }
            let stored = Stored {
                seq: seq as u64,
                received_ms: received as u64,
                event: e.clone(),
            };
            seqs.push(seq);
            eids.push(e.event_id.clone());
            users.push(e.user.clone());
            bodies.push(json("event", &stored)?);
            r.push(Appended {
                seq: seq as u64,
                duplicate: false,
            });
        }
        out.push(r);
    }
    if !seqs.is_empty() {
        let n = seqs.len() as i64;
        tx.execute(
            "INSERT INTO tastebud_events (seq, event_id, user_id, received_ms, body) \
             SELECT s, i, u, $4, b FROM UNNEST($1::bigint[], $2::text[], $3::text[], $5::text[]) AS t(s, i, u, b)",
            &[&seqs, &eids, &users, &received, &bodies],
        )
        .await
        .map_err(db_err)?;
        tx.execute(
            "UPDATE tastebud_log SET last_seq = $1, events = events + $2 WHERE id = 1",
            &[&seq, &n],
        )
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

fn stored_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<Stored>> {
    rows.iter()
        .map(|r| parse::<Stored>("a stored event", r.get::<_, &str>(0)))
        .collect()
}

impl EventLog for PgStore {
    fn append(&self, events: Vec<Event>) -> Result<Vec<Appended>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let writer = self.inner.writer.clone();
        on(self.rt(), async move {
            writer
                .send(Request { events, reply: tx })
                .await
                .map_err(|_| StoreError::Closed("the PostgreSQL writer stopped".to_string()))?;
            rx.await
                .map_err(|_| StoreError::Closed("the PostgreSQL writer stopped".to_string()))?
        })
    }

    fn user_events(&self, user: &str) -> Result<Vec<Stored>> {
        let user = user.to_string();
        self.with(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT body FROM tastebud_events WHERE user_id = $1 ORDER BY seq",
                        &[&user],
                    )
                    .await
                    .map_err(db_err)?;
                stored_rows(&rows)
            })
        })
    }

    fn user_last_seq(&self, user: &str) -> Result<Option<u64>> {
        let user = user.to_string();
        self.with(move |c| {
            Box::pin(async move {
                let r = c
                    .query_one(
                        "SELECT max(seq) FROM tastebud_events WHERE user_id = $1",
                        &[&user],
                    )
                    .await
                    .map_err(db_err)?;
                Ok(r.get::<_, Option<i64>>(0).map(|s| s as u64))
            })
        })
    }

    fn last_seq(&self) -> Result<u64> {
        self.with(|c| {
            Box::pin(async move {
                let r = c
                    .query_one("SELECT last_seq FROM tastebud_log WHERE id = 1", &[])
                    .await
                    .map_err(db_err)?;
                Ok(r.get::<_, i64>(0) as u64)
            })
        })
    }

    fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<Stored>> {
        let after = after_seq.min(i64::MAX as u64) as i64;
        let limit = limit.min(i64::MAX as usize) as i64;
        self.with(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT body FROM tastebud_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                        &[&after, &limit],
                    )
                    .await
                    .map_err(db_err)?;
                stored_rows(&rows)
            })
        })
    }

    fn event_count(&self) -> Result<u64> {
        self.with(|c| {
            Box::pin(async move {
                let r = c
                    .query_one("SELECT events FROM tastebud_log WHERE id = 1", &[])
                    .await
                    .map_err(db_err)?;
                Ok(r.get::<_, i64>(0) as u64)
            })
        })
    }
}

/// Inserts lists of `batch` in chunks.
async fn insert_lists(
    tx: &tokio_postgres::Transaction<'_>,
    batch: i64,
    lists: &[(String, Vec<ListItem>)],
) -> Result<()> {
    for chunk in lists.chunks(LIST_CHUNK) {
        let users: Vec<&str> = chunk.iter().map(|(u, _)| u.as_str()).collect();
        let items: Vec<String> = chunk
            .iter()
            .map(|(_, l)| json("a list", l))
            .collect::<Result<_>>()?;
        tx.execute(
            "INSERT INTO tastebud_lists (batch, user_id, items) \
             SELECT $1, u, i FROM UNNEST($2::text[], $3::text[]) AS t(u, i) \
             ON CONFLICT (batch, user_id) DO UPDATE SET items = EXCLUDED.items",
            &[&batch, &users, &items],
        )
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// Makes `batch` the current one and drops every other batch's lists.
async fn publish(tx: &tokio_postgres::Transaction<'_>, batch: i64, meta: &BatchMeta) -> Result<()> {
    tx.execute(
        "UPDATE tastebud_batches SET meta = $2 WHERE batch = $1",
        &[&batch, &json("batch metadata", meta)?],
    )
    .await
    .map_err(db_err)?;
    tx.execute(
        "UPDATE tastebud_state SET batch = $1 WHERE id = 1",
        &[&batch],
    )
    .await
    .map_err(db_err)?;
    // Earlier published batches go; a sharded batch still being stored (no meta yet) stays.
    tx.execute(
        "DELETE FROM tastebud_lists WHERE batch IN \
         (SELECT batch FROM tastebud_batches WHERE batch <> $1 AND meta IS NOT NULL)",
        &[&batch],
    )
    .await
    .map_err(db_err)?;
    tx.execute(
        "DELETE FROM tastebud_batches WHERE batch <> $1 AND meta IS NOT NULL",
        &[&batch],
    )
    .await
    .map_err(db_err)?;
    tx.execute("SELECT pg_notify($1, 'batch')", &[&CHANNEL])
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The metadata of a batch assembled from its shards': users added up, the oldest log position
/// (events after it may not be in every list), the newest creation time.
pub fn merge_shard_metas(metas: &[BatchMeta]) -> Result<BatchMeta> {
    let first = metas
        .first()
        .ok_or_else(|| StoreError::Invalid("no shard metadata".to_string()))?;
    if let Some(other) = metas
        .iter()
        .find(|m| m.model_version != first.model_version || m.k != first.k)
    {
        return Err(StoreError::Invalid(format!(
            "the shards of one batch used different models or k: {} (k {}) and {} (k {})",
            first.model_version, first.k, other.model_version, other.k
        )));
    }
    Ok(BatchMeta {
        model_version: first.model_version.clone(),
        created_unix: metas.iter().map(|m| m.created_unix).max().unwrap_or(0),
        event_seq: metas.iter().map(|m| m.event_seq).min().unwrap_or(0),
        users: metas.iter().map(|m| m.users).sum(),
        k: first.k,
    })
}

impl ListStore for PgStore {
    fn put_lists(&self, meta: &BatchMeta, lists: Vec<(String, Vec<ListItem>)>) -> Result<()> {
        check_finite(&lists)?;
        let meta = meta.clone();
        let timeout_scale = 1 + lists.len() / 20_000;
        let pool = self.inner.pool.clone();
        let timeout = self.inner.config.timeout * timeout_scale as u32;
        on(self.rt(), async move {
            let run = async {
                let mut c = pool.get().await.map_err(pool_err)?;
                let tx = c.transaction().await.map_err(db_err)?;
                let batch: i64 = tx
                    .query_one("SELECT nextval('tastebud_batch_ids')", &[])
                    .await
                    .map_err(db_err)?
                    .get(0);
                tx.execute(
                    "INSERT INTO tastebud_batches (batch, name) VALUES ($1, $2)",
                    &[&batch, &format!("whole-{batch}")],
                )
                .await
                .map_err(db_err)?;
                insert_lists(&tx, batch, &lists).await?;
                publish(&tx, batch, &meta).await?;
                tx.commit().await.map_err(db_err)
            };
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| unavailable("storing the lists did not finish in time"))?
        })
    }

    fn put_lists_shard(
        &self,
        name: &str,
        shard: Shard,
        meta: &BatchMeta,
        lists: Vec<(String, Vec<ListItem>)>,
    ) -> Result<bool> {
        check_finite(&lists)?;
        let (name, meta) = (name.to_string(), meta.clone());
        let pool = self.inner.pool.clone();
        let timeout = self.inner.config.timeout * (1 + lists.len() / 20_000) as u32;
        on(self.rt(), async move {
            let run = async {
                let mut c = pool.get().await.map_err(pool_err)?;
                let tx = c.transaction().await.map_err(db_err)?;
                tx.execute(
                    "INSERT INTO tastebud_batches (batch, name) \
                     VALUES (nextval('tastebud_batch_ids'), $1) ON CONFLICT (name) DO NOTHING",
                    &[&name],
                )
                .await
                .map_err(db_err)?;
                // Locks the batch's row: the shards of one batch commit one after another, so
                // exactly one of them sees every shard stored.
                let batch: i64 = tx
                    .query_one(
                        "SELECT batch FROM tastebud_batches WHERE name = $1 FOR UPDATE",
                        &[&name],
                    )
                    .await
                    .map_err(db_err)?
                    .get(0);
                insert_lists(&tx, batch, &lists).await?;
                let (i, n) = (shard.index as i32, shard.count as i32);
                tx.execute(
                    "INSERT INTO tastebud_shards VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (batch, shard) DO UPDATE SET meta = EXCLUDED.meta",
                    &[&batch, &i, &n, &json("shard metadata", &meta)?],
                )
                .await
                .map_err(db_err)?;
                let rows = tx
                    .query(
                        "SELECT shards, meta FROM tastebud_shards WHERE batch = $1",
                        &[&batch],
                    )
                    .await
                    .map_err(db_err)?;
                if rows.iter().any(|r| r.get::<_, i32>(0) != n) {
                    return Err(StoreError::Invalid(format!(
                        "batch `{name}` was started with another shard count than {n}"
                    )));
                }
                let complete = rows.len() == n as usize;
                if complete {
                    let metas: Vec<BatchMeta> = rows
                        .iter()
                        .map(|r| parse("shard metadata", r.get::<_, &str>(1)))
                        .collect::<Result<_>>()?;
                    publish(&tx, batch, &merge_shard_metas(&metas)?).await?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(complete)
            };
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| unavailable("storing the lists did not finish in time"))?
        })
    }

    fn get_list(&self, user: &str) -> Result<Option<Vec<ListItem>>> {
        let user = user.to_string();
        self.with(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT l.items FROM tastebud_lists l, tastebud_state s \
                         WHERE s.id = 1 AND l.batch = s.batch AND l.user_id = $1",
                        &[&user],
                    )
                    .await
                    .map_err(db_err)?;
                row.map(|r| parse("a list", r.get::<_, &str>(0)))
                    .transpose()
            })
        })
    }

    fn batch_meta(&self) -> Result<Option<BatchMeta>> {
        self.with(|c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT b.meta FROM tastebud_batches b, tastebud_state s \
                         WHERE s.id = 1 AND b.batch = s.batch",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                row.and_then(|r| r.get::<_, Option<String>>(0))
                    .map(|m| parse("batch metadata", &m))
                    .transpose()
            })
        })
    }

    fn list_count(&self) -> Result<u64> {
        self.with(|c| {
            Box::pin(async move {
                let r = c
                    .query_one(
                        "SELECT count(*) FROM tastebud_lists l, tastebud_state s \
                         WHERE s.id = 1 AND l.batch = s.batch",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                Ok(r.get::<_, i64>(0) as u64)
            })
        })
    }
}

impl FlagStore for PgStore {
    fn set_item_flags(&self, item: &str, flags: ItemFlags) -> Result<()> {
        let item = item.to_string();
        let body = json("item flags", &flags)?;
        self.with(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await.map_err(db_err)?;
                if flags.is_clear() {
                    tx.execute("DELETE FROM tastebud_flags WHERE item = $1", &[&item])
                        .await
                        .map_err(db_err)?;
                } else {
                    tx.execute(
                        "INSERT INTO tastebud_flags VALUES ($1, $2) \
                         ON CONFLICT (item) DO UPDATE SET flags = EXCLUDED.flags",
                        &[&item, &body],
                    )
                    .await
                    .map_err(db_err)?;
                }
                PgStore::bump(&tx, "flags_gen", "flags").await?;
                tx.commit().await.map_err(db_err)
            })
        })
    }

    fn item_flags(&self) -> Result<Vec<(String, ItemFlags)>> {
        self.with(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT item, flags FROM tastebud_flags ORDER BY item", &[])
                    .await
                    .map_err(db_err)?;
                rows.iter()
                    .map(|r| Ok((r.get(0), parse("item flags", r.get::<_, &str>(1))?)))
                    .collect()
            })
        })
    }
}

impl ForgottenUsers for PgStore {
    fn forget_user(&self, user: &str, at: i64) -> Result<()> {
        let p = hex(&pseudonym(&self.inner.salt, user));
        self.with(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO tastebud_forgotten VALUES ($1, $2) ON CONFLICT (pseudonym) DO NOTHING",
                    &[&p, &at],
                )
                .await
                .map_err(db_err)?;
                Ok(())
            })
        })
    }

    fn forgotten_at(&self, user: &str) -> Result<Option<i64>> {
        let p = hex(&pseudonym(&self.inner.salt, user));
        self.with(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT at FROM tastebud_forgotten WHERE pseudonym = $1",
                        &[&p],
                    )
                    .await
                    .map_err(db_err)?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }

    fn forgotten(&self) -> Result<Forgotten> {
        let salt = self.inner.salt.clone();
        self.with(move |c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT pseudonym, at FROM tastebud_forgotten", &[])
                    .await
                    .map_err(db_err)?;
                let users = rows
                    .iter()
                    .map(|r| {
                        let h: &str = r.get(0);
                        unhex(h)
                            .map(|p| (p, r.get::<_, i64>(1)))
                            .ok_or_else(|| StoreError::Corrupt(format!("pseudonym `{h}`")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Forgotten::new(salt, users))
            })
        })
    }
}

impl ConsentStore for PgStore {
    fn set_consent(&self, user: &str, consent: &Consent) -> Result<()> {
        let user = user.to_string();
        let body = json("consent", consent)?;
        self.with(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO tastebud_consent VALUES ($1, $2, nextval('tastebud_consent_versions')) \
                     ON CONFLICT (user_id) DO UPDATE SET consent = EXCLUDED.consent, version = EXCLUDED.version",
                    &[&user, &body],
                )
                .await
                .map_err(db_err)?;
                Ok(())
            })
        })
    }

    fn consent(&self, user: &str) -> Result<Option<Consent>> {
        let user = user.to_string();
        self.with(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT consent FROM tastebud_consent WHERE user_id = $1",
                        &[&user],
                    )
                    .await
                    .map_err(db_err)?;
                row.map(|r| parse("consent", r.get::<_, &str>(0)))
                    .transpose()
            })
        })
    }

    fn consents(&self) -> Result<Vec<(String, Consent)>> {
        self.with(|c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT user_id, consent FROM tastebud_consent ORDER BY user_id",
                        &[],
                    )
                    .await
                    .map_err(db_err)?;
                rows.iter()
                    .map(|r| Ok((r.get(0), parse("consent", r.get::<_, &str>(1))?)))
                    .collect()
            })
        })
    }
}

impl UserData for PgStore {
    fn erase_user(&self, user: &str) -> Result<Deleted> {
        let u = user.to_string();
        let deleted = self.with(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await.map_err(db_err)?;
                // The log row is locked as appends lock it: no append of this user interleaves.
                tx.query_one(
                    "SELECT last_seq FROM tastebud_log WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .await
                .map_err(db_err)?;
                let events = tx
                    .execute("DELETE FROM tastebud_events WHERE user_id = $1", &[&u])
                    .await
                    .map_err(db_err)?;
                tx.execute(
                    "UPDATE tastebud_log SET events = events - $1 WHERE id = 1",
                    &[&(events as i64)],
                )
                .await
                .map_err(db_err)?;
                let lists = tx
                    .execute("DELETE FROM tastebud_lists WHERE user_id = $1", &[&u])
                    .await
                    .map_err(db_err)?;
                tx.execute("DELETE FROM tastebud_consent WHERE user_id = $1", &[&u])
                    .await
                    .map_err(db_err)?;
                PgStore::bump(&tx, "erasures_gen", "erasure").await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Deleted {
                    events,
                    lists: lists.min(1),
                })
            })
        })?;
        if self.inner.config.vacuum_on_erase {
            let n = {
                let mut g = self
                    .inner
                    .vacuum
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                g.erased += 1;
                g.erased
            };
            self.vacuum_through(n)?;
        }
        Ok(deleted)
    }
}

impl Documents for PgStore {
    fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_string();
        self.with(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT body FROM tastebud_documents WHERE name = $1",
                        &[&name],
                    )
                    .await
                    .map_err(db_err)?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }

    fn put_document(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let (name, bytes) = (name.to_string(), bytes.to_vec());
        self.with(move |c| {
            Box::pin(async move {
                let tx = c.transaction().await.map_err(db_err)?;
                tx.execute(
                    "INSERT INTO tastebud_documents VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body",
                    &[&name, &bytes],
                )
                .await
                .map_err(db_err)?;
                PgStore::bump(&tx, "documents_gen", &format!("documents:{name}")).await?;
                tx.commit().await.map_err(db_err)
            })
        })
    }
}

impl Coordination for PgStore {
    fn sync(&self, user: Option<&str>) -> Result<(Generations, UserSync)> {
        let user = user.map(str::to_string);
        self.with(move |c| {
            Box::pin(async move {
                let r = c
                    .query_one(
                        "SELECT s.flags_gen, s.documents_gen, s.erasures_gen, l.last_seq, \
                         (SELECT max(seq) FROM tastebud_events WHERE user_id = $1), \
                         (SELECT version FROM tastebud_consent WHERE user_id = $1) \
                         FROM tastebud_state s, tastebud_log l WHERE s.id = 1 AND l.id = 1",
                        &[&user],
                    )
                    .await
                    .map_err(db_err)?;
                let g = |i: usize| r.get::<_, i64>(i) as u64;
                let o = |i: usize| r.get::<_, Option<i64>>(i).map_or(0, |v| v as u64);
                Ok((
                    Generations {
                        flags: g(0),
                        documents: g(1),
                        erasures: g(2),
                        last_seq: g(3),
                    },
                    UserSync {
                        last_seq: o(4),
                        consent_version: o(5),
                    },
                ))
            })
        })
    }

    fn healthy(&self) -> Result<()> {
        self.ping()
    }
}
