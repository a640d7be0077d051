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
use tastebud_store::{ItemFlags, Storage};

use crate::config::Config;
use crate::metrics::Metrics;

/// The live experiments, with the served model type as the arms' model.
pub type Experiments = tastebud_experiment::live::Experiments<Serving>;

/// Opens the experiments: the definitions document in `documents` (it wins over the configuration's for
/// an id in both), arm models loaded with the configured ANN settings.
fn open_experiments(
    config: &Config,
    documents: Arc<dyn tastebud_store::Documents>,
) -> Result<Experiments, String> {
    let ann = config.ann.clone();
    let loader: tastebud_experiment::live::ModelLoader<Serving> = Arc::new(move |p| {
        Serving::load(p, &ann)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    });
    Experiments::open(
        &config.experiments,
        config.experiment_holdout,
        documents,
        loader,
    )
    .map_err(|e| e.to_string())
}

/// The key of a cached list: the request's shape and every version it depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// External user id.
    pub user: String,
    /// The user's newest event sequence number (new events make a new key).
    pub user_seq: u64,
    /// Model generation (a swap makes new keys).
    pub model_gen: u64,
    /// Flags generation.
    pub flags_gen: u64,
    /// The request's parameters, normalised.
    pub shape: String,
}

/// Shared state.
pub struct AppState {
    /// Configuration.
    pub config: Config,
    /// The admin key, when admin endpoints are enabled.
    pub admin_key: Option<String>,
    /// Event log, precomputed lists, flags, forgotten users, documents.
    pub storage: Storage,
    /// The recommendation pipeline (the configuration's pipeline sections, checked once).
    pub pipeline: Pipeline,
    serving: RwLock<Arc<Serving>>,
    model_gen: AtomicU64,
    flags: RwLock<Arc<Vec<(String, ItemFlags)>>>,
    flags_gen: AtomicU64,
    /// Computed lists (None when the cache is off).
    pub cache: Option<Cache<CacheKey, Arc<Recommended>>>,
    last_seq: Cache<String, u64>,
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
}

impl AppState {
    /// Builds the state from a loaded model and an open store.
    pub fn new(config: Config, serving: Serving, storage: Storage) -> Result<Self, String> {
        let pipeline = Pipeline::new(config.pipeline()).map_err(|e| e.to_string())?;
        let flags = storage.flags.item_flags().map_err(|e| e.to_string())?;
        let cache = config.cache.enabled.then(|| {
            Cache::builder()
                .max_capacity(config.cache.max_entries)
                .time_to_live(Duration::from_secs(config.cache.ttl_secs.max(1)))
                .build()
        });
        let prefix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ ((std::process::id() as u64) << 40);
        let experiments = open_experiments(&config, storage.documents.clone())?;
        experiments
            .replay(storage.events.as_ref())
            .map_err(|e| e.to_string())?;
        let shadow = config
            .shadow
            .as_ref()
            .map(|s| Shadow::load(s, &config.ann).map(Arc::new))
            .transpose()?;
        let metrics = Metrics::new(config.monitoring.clone());
        metrics.model(
            &serving.file.header.model,
            &serving.version,
            serving.model().n_items(),
        );
        Ok(AppState {
            admin_key: config.admin_key(),
            config,
            storage,
            pipeline,
            serving: RwLock::new(Arc::new(serving)),
            model_gen: AtomicU64::new(1),
            flags: RwLock::new(Arc::new(flags)),
            flags_gen: AtomicU64::new(1),
            cache,
            last_seq: Cache::builder().max_capacity(1_000_000).build(),
            requests: AtomicU64::new(0),
            prefix,
            reload_lock: tokio::sync::Mutex::new(()),
            metrics,
            experiments,
            shadow,
        })
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
        old
    }

    /// Loads `path` (or the current model's path) and swaps it in. Blocking: call from a blocking task.
    pub fn reload(&self, path: Option<&Path>) -> ServeResult<(String, String)> {
        let path: PathBuf = path.map_or_else(|| self.serving().path.clone(), Path::to_path_buf);
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
