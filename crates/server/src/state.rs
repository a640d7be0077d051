//! The shared state behind every handler: configuration, store, the model being served (swappable while
//! requests flow), item flags and the caches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use moka::sync::Cache;
use tastebud_experiment::live::{self, LiveError, ModelView};
use tastebud_serve::shadow::Shadow;
use tastebud_serve::{Pipeline, Recommended, ServeError, ServeResult, Serving};
use tastebud_store::{Generations, ItemFlags, Storage};

use crate::budget::{self, MemoryPlan};
pub use crate::cache_key::CacheKey;
use crate::config::Config;
use crate::metrics::Metrics;

/// The live experiments, with the served model type as the arms' model.
pub type Experiments = tastebud_experiment::live::Experiments<Serving>;

/// Opens the experiments: the definitions document in `documents` (it wins over the configuration's for
/// an id in both), arm models loaded with the configured ANN settings.
/// `arm_bytes` adds up the memory estimate of every arm model loaded.
fn open_experiments(
    config: &Config,
    documents: Arc<dyn tastebud_store::Documents>,
    arm_bytes: Arc<AtomicU64>,
) -> Result<Experiments, String> {
    let ann = config.ann.clone();
    let loader: tastebud_experiment::live::ModelLoader<Serving> = Arc::new(move |p| {
        let s = Serving::load(p, &ann).map_err(|e| e.to_string())?;
        arm_bytes.fetch_add(budget::model_bytes(&s), Ordering::Relaxed);
        Ok(Arc::new(s))
    });
    Experiments::open(
        &config.experiments,
        config.experiment_holdout,
        documents,
        loader,
    )
    .map_err(|e| e.to_string())
}

/// Shared state.
pub struct AppState {
    /// Configuration.
    pub config: Config,
    /// The admin key, when admin endpoints are enabled.
    pub admin_key: Option<String>,
    /// The service key (`[auth] service_key`), when one is configured.
    pub service_key: Option<String>,
    /// Event log, precomputed lists, flags, forgotten users, documents.
    pub storage: Storage,
    /// The recommendation pipeline (the configuration's pipeline sections, checked once).
    pub pipeline: Pipeline,
    serving: RwLock<Arc<Serving>>,
    model_gen: AtomicU64,
    flags: RwLock<Arc<Vec<(String, ItemFlags)>>>,
    flags_gen: AtomicU64,
    /// Computed lists (None when the cache is off), bounded in bytes by [`MemoryPlan::cache`]: insert
    /// with [`AppState::cache_insert`].
    pub cache: Option<Cache<CacheKey, Arc<Recommended>>>,
    /// Bytes inserted into the cache since its last maintenance (moka evicts lazily; see `cache_insert`).
    cache_unsettled: AtomicU64,
    last_seq: Cache<String, u64>,
    /// How the memory budget is split (fixed at startup).
    pub memory: MemoryPlan,
    requests: AtomicU64,
    prefix: u64,
    /// Serialises reloads.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Experiments: definitions, assignment, arm models, bandit counts.
    pub experiments: Experiments,
    /// The shadow model, when one is configured.
    pub shadow: Option<Arc<Shadow>>,
    /// The shared store's generations this replica has applied (flags, documents, erasures, log);
    /// held while applying, so changes are applied once and in order.
    seen: std::sync::Mutex<Generations>,
    /// Wakes the shared store's sync loop (a notice from another replica).
    pub sync_wake: Arc<tokio::sync::Notify>,
}

/// What a user's cached lists depend on besides the model and the flags, read at a request's start.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct UserVersions {
    /// Their newest event's seq (0 when none).
    pub seq: u64,
    /// Their consent record's version in a shared store (0 otherwise: a replica alone drops their
    /// cached lists when their consent changes).
    pub consent: u64,
}

impl AppState {
    /// Builds the state from a loaded model and an open store.
    pub fn new(config: Config, serving: Serving, storage: Storage) -> Result<Self, String> {
        let pipeline = Pipeline::new(config.pipeline()).map_err(|e| e.to_string())?;
        let flags = storage.flags.item_flags().map_err(|e| e.to_string())?;
        let prefix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ ((std::process::id() as u64) << 40);
        let arm_bytes = Arc::new(AtomicU64::new(0));
        let seen = match &storage.coordination {
            Some(c) => c.sync(None).map_err(|e| e.to_string())?.0,
            None => Generations::default(),
        };
        let experiments = open_experiments(&config, storage.documents.clone(), arm_bytes.clone())?;
        experiments
            .replay(storage.events.as_ref())
            .map_err(|e| e.to_string())?;
        let shadow = config
            .shadow
            .as_ref()
            .map(|s| Shadow::load(s, &config.ann).map(Arc::new))
            .transpose()?;
        let others = arm_bytes.load(Ordering::Relaxed)
            + shadow
                .as_ref()
                .map_or(0, |s| budget::model_bytes(&s.serving));
        let memory = MemoryPlan::new(
            &config,
            budget::model_bytes(&serving),
            others,
            serving.model().n_items(),
        )?;
        tracing::info!("{}", memory.summary());
        let cache = config.cache.enabled.then(|| {
            // An entry weighs at least cap / max_entries, so the entry count stays within max_entries.
            let floor = memory.cache / config.cache.max_entries.max(1);
            Cache::builder()
                .max_capacity(memory.cache)
                .weigher(move |k: &CacheKey, v: &Arc<Recommended>| {
                    budget::entry_weight(k, v, floor)
                })
                .time_to_live(Duration::from_secs(config.cache.ttl_secs.max(1)))
                .build()
        });
        let last_seq = Cache::builder()
            .max_capacity(memory.user_seq)
            .weigher(|k: &String, _: &u64| budget::user_seq_weight(k))
            .build();
        let metrics = Metrics::new(config.monitoring.clone());
        metrics.model(
            &serving.file.header.model,
            &serving.version,
            serving.model().n_items(),
        );
        Ok(AppState {
            admin_key: config.admin_key(),
            service_key: config.service_key(),
            config,
            storage,
            pipeline,
            serving: RwLock::new(Arc::new(serving)),
            model_gen: AtomicU64::new(1),
            flags: RwLock::new(Arc::new(flags)),
            flags_gen: AtomicU64::new(1),
            cache,
            cache_unsettled: AtomicU64::new(0),
            last_seq,
            memory,
            requests: AtomicU64::new(0),
            prefix,
            reload_lock: tokio::sync::Mutex::new(()),
            metrics,
            experiments,
            shadow,
            seen: std::sync::Mutex::new(seen),
            sync_wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// The shared store's flags generation this replica has applied (0 on an embedded store).
    pub fn shared_flags_gen(&self) -> u64 {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).flags
    }

    /// Where a model registry's index lives: the shared store's documents on a shared store (every
    /// replica reads the same index, and a promotion notifies them), else the registry folder.
    pub fn registry_index(&self) -> Option<Arc<dyn tastebud_store::Documents>> {
        self.is_shared().then(|| self.storage.documents.clone())
    }

    /// Opens the model registry in `dir` with its index where [`AppState::registry_index`] says.
    pub fn registry(
        &self,
        dir: &Path,
    ) -> tastebud_lifecycle::Result<tastebud_lifecycle::registry::Registry> {
        match self.registry_index() {
            Some(d) => tastebud_lifecycle::registry::Registry::open_with(dir, d),
            None => tastebud_lifecycle::registry::Registry::open(dir),
        }
    }

    /// Whether the store is shared with other replicas (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.storage.coordination.is_some()
    }

    /// The user's versions for a cache key; on a shared store also brings this replica up to date
    /// with what other replicas changed ([`AppState::apply`]), in the same round trip.
    pub fn sync_user(&self, user: &str) -> ServeResult<UserVersions> {
        match &self.storage.coordination {
            None => Ok(UserVersions {
                seq: self.user_seq(user)?,
                consent: 0,
            }),
            Some(c) => {
                let (g, u) = c.sync(Some(user)).map_err(ServeError::Store)?;
                self.apply(g)?;
                Ok(UserVersions {
                    seq: u.last_seq,
                    consent: u.consent_version,
                })
            }
        }
    }

    /// Brings a replica of a shared store up to date (the sync loop calls it every second and on every
    /// notice; requests call it through [`AppState::sync_user`]). Nothing to do on an embedded store.
    pub fn sync_all(&self) -> ServeResult<()> {
        if let Some(c) = &self.storage.coordination {
            let (g, _) = c.sync(None).map_err(ServeError::Store)?;
            self.apply(g)?;
        }
        Ok(())
    }

    /// Applies what changed since the generations this replica saw: re-reads the flags, the experiment
    /// definitions, forgets report aggregates and cached lists after an erasure, and counts the bandits'
    /// new events.
    pub fn apply(&self, g: Generations) -> ServeResult<()> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if g.flags > seen.flags {
            self.refresh_flags()?;
            seen.flags = g.flags;
        }
        if g.documents > seen.documents {
            self.experiments
                .reload()
                .map_err(|e| ServeError::Internal(format!("experiments: {e}")))?;
            seen.documents = g.documents;
            self.sync_wake.notify_one(); // the registry may have promoted a model: check its file now
        }
        if g.erasures > seen.erasures {
            self.experiments.forget_reports();
            self.clear_cache();
            seen.erasures = g.erasures;
        }
        if g.last_seq > seen.last_seq {
            self.experiments
                .observe_log(self.storage.events.as_ref())
                .map_err(|e| ServeError::Internal(format!("experiments: {e}")))?;
            seen.last_seq = g.last_seq;
        }
        Ok(())
    }

    /// The model being served now (requests keep the one they started with across a swap).
    pub fn serving(&self) -> Arc<Serving> {
        self.serving
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The model generation (changes on every swap).
    pub fn model_gen(&self) -> u64 {
        self.model_gen.load(Ordering::Acquire)
    }

    /// Swaps in a new model; in-flight requests finish on the old one.
    pub fn swap(&self, serving: Serving) -> Arc<Serving> {
        self.metrics.model(
            &serving.file.header.model,
            &serving.version,
            serving.model().n_items(),
        );
        let new = Arc::new(serving);
        let old = std::mem::replace(
            &mut *self.serving.write().unwrap_or_else(|e| e.into_inner()),
            new,
        );
        self.model_gen.fetch_add(1, Ordering::AcqRel);
        // Every cached list was computed by the old model: drop them now rather than when they expire.
        self.clear_cache();
        old
    }

    /// Drops every cached list and waits until moka has freed them (it removes invalidated entries in
    /// its maintenance, not at `invalidate_all`).
    pub fn clear_cache(&self) {
        let Some(cache) = &self.cache else {
            return;
        };
        cache.invalidate_all();
        self.settle_cache();
    }

    /// Runs moka's pending maintenance: inserts are counted and evictions over the byte cap done.
    fn settle_cache(&self) {
        let Some(cache) = &self.cache else {
            return;
        };
        self.cache_unsettled.store(0, Ordering::Relaxed);
        // One call evicts while it makes progress; a second catches inserts racing the first.
        for _ in 0..2 {
            cache.run_pending_tasks();
        }
    }

    /// Caches a list computed for `key`. A list of an older model generation is not kept (a request that
    /// started before a swap). moka applies inserts (and evicts over its cap) in batches of 64, which at
    /// k = 1000 would overshoot the cap by tens of MiB; past 1/32 of the cap inserted since the last
    /// maintenance, this runs it.
    pub fn cache_insert(&self, key: CacheKey, value: Arc<Recommended>) {
        let Some(cache) = &self.cache else {
            return;
        };
        if key.model_gen != self.model_gen() {
            return;
        }
        let bytes = budget::entry_bytes(&key, &value);
        cache.insert(key, value);
        let unsettled = self.cache_unsettled.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if unsettled > self.memory.cache / 32 {
            self.settle_cache();
        }
    }

    /// Bytes the cached lists hold now, as the cache weighs them (after its pending maintenance).
    pub fn cache_bytes(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.weighted_size()
        })
    }

    /// Loads `path` (or the current model's path) and swaps it in. Blocking: call from a blocking task.
    pub fn reload(&self, path: Option<&Path>) -> ServeResult<(String, String)> {
        let path: PathBuf = path.map_or_else(|| self.serving().path.clone(), Path::to_path_buf);
        // Checked from the file's size before loading it: the budget holds two models of the planned
        // size at once (the old one serves in-flight requests while the new one loads).
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let needs = budget::model_file_bytes(len);
        if needs > self.memory.model {
            return Err(ServeError::Model(format!(
                "{} needs about {} MiB in memory; the memory budget planned {} MiB for a model \
                 ([server] model_mb): restart with it, or with a larger model_mb or memory_budget_mb",
                path.display(),
                needs.div_ceil(budget::MIB),
                self.memory.model / budget::MIB
            )));
        }
        let new = match Serving::load(&path, &self.config.ann) {
            Ok(s) => s,
            Err(e) => {
                // The model in use stays; the refusal is counted and logged wherever it came from
                // (the reload route, the file watch, a retraining's promotion).
                if let ServeError::ModelRejected { reason, message } = &e {
                    self.metrics.model_load_failed(reason.as_str());
                    tracing::warn!(reason = reason.as_str(), "model file refused: {message}");
                }
                return Err(e);
            }
        };
        let version = new.version.clone();
        let old = self.swap(new);
        Ok((old.version.clone(), version))
    }

    /// Items hidden or expired at `now`, in the model's indices.
    pub fn flagged(&self, serving: &Serving, now: i64) -> Vec<tastebud_core::ItemIdx> {
        let (flags, _) = self.flags();
        tastebud_serve::flagged_items(serving, &flags, now)
    }

    /// Item flags now, and their generation.
    pub fn flags(&self) -> (Arc<Vec<(String, ItemFlags)>>, u64) {
        let f = self.flags.read().unwrap_or_else(|e| e.into_inner()).clone();
        (f, self.flags_gen.load(Ordering::Acquire))
    }

    /// Re-reads the flags from the store after a change.
    pub fn refresh_flags(&self) -> ServeResult<()> {
        let f = self.storage.flags.item_flags()?;
        *self.flags.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(f);
        self.flags_gen.fetch_add(1, Ordering::AcqRel);
        // Every cached list was filtered with the old flags.
        self.clear_cache();
        Ok(())
    }

    /// The user's newest event sequence number (0 when none), from memory or the store.
    pub fn user_seq(&self, user: &str) -> ServeResult<u64> {
        if let Some(s) = self.last_seq.get(user) {
            return Ok(s);
        }
        let s = self
            .storage
            .events
            .user_last_seq(user)
            .map_err(ServeError::Store)?
            .unwrap_or(0);
        self.last_seq.insert(user.to_string(), s);
        Ok(s)
    }

    /// Records that `user` has events up to `seq` (their cached lists become stale at once).
    pub fn note_event(&self, user: &str, seq: u64) {
        let cur = self.last_seq.get(user).unwrap_or(0);
        if seq > cur {
            self.last_seq.insert(user.to_string(), seq);
        }
    }

    /// Forgets everything in memory about a user (cached lists; the running experiment reports start
    /// over); returns the cache entries dropped.
    pub fn forget(&self, user: &str) -> u64 {
        self.last_seq.invalidate(user);
        self.experiments.forget_reports();
        self.drop_cached(user)
    }

    /// Drops the user's cached lists (their consent changed); returns how many.
    pub fn drop_cached(&self, user: &str) -> u64 {
        let Some(cache) = &self.cache else {
            return 0;
        };
        let keys: Vec<Arc<CacheKey>> = cache
            .iter()
            .filter(|(k, _)| k.user == user)
            .map(|(k, _)| k)
            .collect();
        for k in &keys {
            cache.invalidate(k.as_ref());
        }
        keys.len() as u64
    }

    /// Per-arm totals of an experiment, from the event log (the running aggregate).
    pub fn arm_data(
        &self,
        def: &tastebud_experiment::assign::ExperimentDef,
    ) -> Result<Vec<tastebud_experiment::report::ArmData>, LiveError> {
        self.with_log(|log, model, bounce| {
            live::arm_data(&self.experiments, log, def, model, bounce)
        })
    }

    /// The full report of an experiment (see [`tastebud_experiment::live::full_report`]).
    pub fn full_report(
        &self,
        def: &tastebud_experiment::assign::ExperimentDef,
        opts: &tastebud_experiment::report::ReportOptions,
        segment_by: Option<&str>,
    ) -> Result<live::FullReport, LiveError> {
        self.with_log(|log, model, bounce| {
            live::full_report(&self.experiments, log, def, model, bounce, opts, segment_by)
        })
    }

    /// Calls `f` with what an experiment report reads: the event log, the served model's view (version,
    /// who it knows) and the bounce threshold.
    fn with_log<T>(
        &self,
        f: impl FnOnce(&dyn tastebud_store::EventLog, ModelView<'_>, f64) -> T,
    ) -> T {
        let serving = self.serving();
        let knows = |u: &str| serving.user(u).is_some();
        let model = ModelView {
            version: &serving.version,
            knows_user: &knows,
        };
        f(
            self.storage.events.as_ref(),
            model,
            self.config.monitoring.bounce_ms as f64,
        )
    }

    /// What `GET /v1/model` says about the model being served.
    pub fn model_info(&self) -> crate::dto::ModelInfo {
        let s = self.serving();
        let h = &s.file.header;
        crate::dto::ModelInfo {
            model: h.model.clone(),
            model_version: s.version.clone(),
            path: s.path.display().to_string(),
            params: h.params.clone(),
            dataset: h.dataset.clone(),
            n_users: h.n_users,
            n_items: h.n_items,
            loaded_unix: s.loaded_unix,
            ann: s.index.is_some(),
            mode: format!("{:?}", self.config.mode).to_lowercase(),
        }
    }

    /// A new request id: unique in this process, unlikely to collide across processes.
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:08x}", self.prefix)
    }
}
