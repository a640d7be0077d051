//! Server configuration: a TOML file (`--config tastebud.toml`), every key optional.
//!
//! ```
//! let c: tastebud_server::Config = toml::from_str(r#"
//!     mode = "hybrid"
//!     [cache]
//!     ttl_secs = 30
//!     [freshness]
//!     impression_decay = 0.5
//! "#).unwrap();
//! assert_eq!(c.mode, tastebud_server::Mode::Hybrid);
//! assert_eq!(c.cache.ttl_secs, 30);
//! c.validate().unwrap();
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
pub use tastebud_serve::config::{
    Ann, ColdStart, EventRules, ExploreConfig, Freshness, Hybrid, Mode, PipelineConfig,
    RerankConfig, RerankMethod,
};
use tastebud_serve::shadow::ShadowConfig;

/// The whole configuration. Every section has defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Where recommendations come from.
    pub mode: Mode,
    /// Directory of the embedded store (event log, precomputed lists, item flags).
    pub data_dir: PathBuf,
    /// Limits on requests.
    pub limits: Limits,
    /// The process's memory budget and its connections (`[server]`).
    pub server: ServerLimits,
    /// Cold-start fallback chain, tried in order for users with no history at all: `popularity` (most
    /// interacted items in the training data), `model` (the model on an empty history).
    pub cold_start: Vec<ColdStart>,
    /// In-process cache of computed lists.
    pub cache: CacheConfig,
    /// What is never or less often re-served.
    pub freshness: Freshness,
    /// How events become history for real-time personalisation.
    pub events: EventRules,
    /// Hybrid mode.
    pub hybrid: Hybrid,
    /// Approximate nearest-neighbour retrieval for embedding models.
    pub ann: Ann,
    /// Administration.
    pub admin: Admin,
    /// Who may read and erase user data (`[auth]`): the service key, and switches that extend it to event
    /// ingestion and recommendations.
    pub auth: Auth,
    /// Monitoring window and bounce rule for `/metrics`.
    pub monitoring: crate::metrics::Monitoring,
    /// Money (`[revenue]`): the deployment's currency, conversion rates, and how experiment reports test
    /// revenue.
    pub revenue: crate::metrics::RevenueConfig,
    /// The `/dashboard` page.
    pub dashboard: DashboardConfig,
    /// Retraining inside the server (off by default).
    pub retrain: RetrainLoop,
    /// Re-ranking after the model (diversity, calibration, fair exposure), off by default; a request can
    /// override it with `rerank=METHOD[:PARAM]`.
    pub rerank: RerankConfig,
    /// Online experiments (`[[experiments]]`): arms serve the model file in `model` (or the served model
    /// when absent); users are assigned deterministically by salted hashing.
    pub experiments: Vec<tastebud_experiment::assign::ExperimentDef>,
    /// Share of users kept out of every experiment (global holdout).
    pub experiment_holdout: f64,
    /// Shadow deployment (`[shadow]`): a candidate model answers mirrored requests off the request
    /// path; `GET /v1/shadow/report` compares it with production.
    pub shadow: Option<ShadowConfig>,
    /// Slate exploration (`[explore]`), off by default; a request can set `explore=EPSILON`.
    pub explore: ExploreConfig,
    /// Consent rules (`[privacy]`): `consent_required = true` makes consent opt-in.
    pub privacy: tastebud_serve::Privacy,
    /// Where events, flags, privacy records and documents live (`[store]`): the embedded redb file in
    /// `data_dir` by default, PostgreSQL with `url`.
    pub store: StoreConfig,
}

/// The store (`[store]`).
///
/// ```
/// let c: tastebud_server::Config = toml::from_str(r#"
///     [store]
///     url = "postgres://root@127.0.0.1:5432/test"
///     [cache]
///     redis_url = "redis://127.0.0.1:6379/0"
/// "#).unwrap();
/// assert_eq!(c.store_url().as_deref(), Some("postgres://root@127.0.0.1:5432/test"));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user[:password]@host:port/database` (or the environment variable
    /// `TASTEBUD_STORE_URL`): replicas share their state through it. Absent: the embedded store.
    pub url: Option<String>,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long a database operation may wait before the request gets a 503, milliseconds.
    pub timeout_ms: u64,
    /// Rewrite the tables after an erasure (`VACUUM FULL`) so the erased rows leave the files.
    pub vacuum_on_erase: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            pool_size: 16,
            timeout_ms: 5_000,
            vacuum_on_erase: true,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("pool_size", &self.pool_size)
            .field("timeout_ms", &self.timeout_ms)
            .field("vacuum_on_erase", &self.vacuum_on_erase)
            .finish()
    }
}

/// A URL with its password replaced by `***` (for logs and `GET /v1/admin/config`).
///
/// ```
/// assert_eq!(tastebud_server::config::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
/// ```
pub fn redact_url(url: &str) -> String {
    tastebud_store::pg::redact(url)
}

/// Retraining inside the server: every `every_secs`, check the triggers of the `retrain.toml` at
/// `config` and retrain when one fires (the server holds the store's lock, so this is how a running
/// server retrains; `POST /v1/admin/retrain` runs it on demand). A promoted model is swapped in at once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrainLoop {
    /// Run the loop.
    pub enabled: bool,
    /// The `retrain.toml`.
    pub config: Option<PathBuf>,
    /// Seconds between trigger checks.
    pub every_secs: u64,
}

/// The dashboard page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Model registry folder whose versions and metrics the dashboard lists (see `tastebud retrain`).
    pub registry_dir: Option<PathBuf>,
    /// How often the page refreshes its numbers, seconds.
    pub refresh_secs: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            registry_dir: None,
            refresh_secs: 5,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            mode: Mode::Realtime,
            data_dir: PathBuf::from("tastebud-data"),
            limits: Limits::default(),
            server: ServerLimits::default(),
            cold_start: tastebud_serve::config::default_cold_start(),
            cache: CacheConfig::default(),
            freshness: Freshness::default(),
            events: EventRules::default(),
            hybrid: Hybrid::default(),
            ann: Ann::default(),
            admin: Admin::default(),
            auth: Auth::default(),
            monitoring: crate::metrics::Monitoring::default(),
            revenue: crate::metrics::RevenueConfig::default(),
            dashboard: DashboardConfig::default(),
            retrain: RetrainLoop::default(),
            rerank: RerankConfig::default(),
            experiments: Vec::new(),
            experiment_holdout: 0.0,
            shadow: None,
            explore: ExploreConfig::default(),
            privacy: tastebud_serve::Privacy::default(),
            store: StoreConfig::default(),
        }
    }
}

/// Request limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest `k` a request may ask for.
    pub max_k: usize,
    /// `k` when the request does not say.
    pub default_k: usize,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Requests taking longer are answered 503.
    pub request_timeout_ms: u64,
    /// Most events in one `POST /v1/events` batch.
    pub max_batch_events: usize,
    /// Most items in an ad-hoc history.
    pub max_history: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_k: 1000,
            default_k: 10,
            max_body_bytes: 1 << 20,
            request_timeout_ms: 5000,
            max_batch_events: 10_000,
            max_history: 10_000,
        }
    }
}

/// The process's memory budget, and how connections are accepted (`[server]`).
///
/// The budget covers the model(s), the response cache, open connections' buffers, requests in flight and
/// the newest-event-per-user map; see the `budget` module for how it is split and what it leaves out. The
/// server refuses to start when the model alone, or `[cache] max_mb`, exceeds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerLimits {
    /// What the process may hold, MiB. By default, 1024.
    pub memory_budget_mb: u64,
    /// Memory planned for one model, MiB: a reload of a model needing more is refused (the budget holds
    /// two at once during a swap). By default (absent), the larger of the served model's estimate plus a
    /// quarter and an eighth of the budget.
    pub model_mb: Option<u64>,
    /// A connection must send a request's whole head (request line and headers) within this many
    /// milliseconds of starting it, and an idle keep-alive connection is closed after as long without a
    /// new request. By default, 10000.
    pub header_read_timeout_ms: u64,
    /// Most open connections. Past it the server stops accepting: new connections wait in the kernel's
    /// listen backlog (1024) until one closes, and are refused by the kernel beyond that. By default, 4096.
    pub max_connections: usize,
    /// Largest request head (request line and headers), bytes, at least 8192: hyper's read buffer per
    /// connection. A larger head is answered 431. By default, 32768.
    pub max_header_bytes: usize,
    /// Most requests handled at once; more wait for a turn within `[limits] request_timeout_ms` (then
    /// 503). 0: as many as an eighth of the budget holds (each reserves its body parsed as JSON and a list
    /// of `max_k` items), between 2 and 1024. Health probes and `/metrics` never wait. By default, 0.
    pub max_in_flight: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            memory_budget_mb: 1024,
            model_mb: None,
            header_read_timeout_ms: 10_000,
            max_connections: 4096,
            max_header_bytes: 32 * 1024,
            max_in_flight: 0,
        }
    }
}

/// The in-process cache (moka): lists per user and request shape, invalidated when the user's events,
/// the model or the item flags change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Whether to cache.
    pub enabled: bool,
    /// Time to live of an entry, seconds.
    pub ttl_secs: u64,
    /// Most entries.
    pub max_entries: u64,
    /// Most bytes the cached lists hold, MiB (an entry weighs its key, items, titles, explanations and
    /// JSON). Never above `[server] memory_budget_mb`; by default (absent) what the budget leaves after
    /// its other parts.
    pub max_mb: Option<u64>,
    /// `redis://host:port/db` (or the environment variable `TASTEBUD_REDIS_URL`): precomputed lists and
    /// a response cache shared by replicas (needs `[store] url`). Absent: lists in the store, the cache
    /// in process only.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// How long a Redis command may take before Redis counts as down (lists and the shared cache are
    /// then skipped: recommendations are computed in process), milliseconds.
    pub redis_timeout_ms: u64,
    /// TTL of a batch's lists in Redis, seconds (older batches expire whole; requests then rank in
    /// real time).
    pub list_ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            ttl_secs: 300,
            max_entries: 200_000,
            max_mb: None,
            redis_url: None,
            redis_prefix: "tastebud:".into(),
            redis_timeout_ms: 250,
            list_ttl_secs: 7 * 86_400,
        }
    }
}

/// Administration endpoints.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// API key for `/v1/admin/*` (or the environment variable `TASTEBUD_ADMIN_KEY`). Without one, the
    /// admin endpoints answer 403.
    pub api_key: Option<String>,
    /// Reload the model when its file changes (checked every `watch_interval_ms`).
    pub watch_model: bool,
    /// How often to check the model file, milliseconds.
    pub watch_interval_ms: u64,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("watch_model", &self.watch_model)
            .field("watch_interval_ms", &self.watch_interval_ms)
            .finish()
    }
}

/// The service role (`[auth]`): the key a backend presents for user data. The admin key is accepted
/// wherever the service key is.
///
/// - `GET /v1/users/{id}/events`, `DELETE /v1/users/{id}` (and the consent routes) always need the service
///   or the admin key; with neither configured they answer 403.
/// - `POST /v1/events` needs it when `require_key_for_events` is set; the recommendation routes
///   (`GET /v1/users/{id}/recommendations`, `POST /v1/recommendations`, `GET /v1/items/{id}/similar`)
///   when `require_key_for_recommendations` is set.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// The service key (or the environment variable `TASTEBUD_SERVICE_KEY`), sent as `X-Api-Key: KEY` or
    /// `Authorization: Bearer KEY`.
    pub service_key: Option<String>,
    /// `POST /v1/events` needs the service (or admin) key. By default, false.
    pub require_key_for_events: bool,
    /// The recommendation routes need the service (or admin) key. By default, false.
    pub require_key_for_recommendations: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field(
                "service_key",
                &self.service_key.as_ref().map(|_| "<redacted>"),
            )
            .field("require_key_for_events", &self.require_key_for_events)
            .field(
                "require_key_for_recommendations",
                &self.require_key_for_recommendations,
            )
            .finish()
    }
}

impl Config {
    /// Reads a TOML file; unknown keys are errors (a typo must not silently fall back to a default).
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        let c: Config =
            toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))?;
        c.validate()
            .map_err(|e| format!("config {}: {e}", path.display()))?;
        Ok(c)
    }

    /// Checks ranges and names.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(u) = self.store_url()
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err(format!(
                "store.url `{}`: expected postgres://user@host:port/database",
                redact_url(&u)
            ));
        }
        if let Some(u) = self.redis_url() {
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return Err(format!(
                    "cache.redis_url `{}`: expected redis://host:port/db",
                    redact_url(&u)
                ));
            }
            if self.store_url().is_none() {
                return Err(
                    "cache.redis_url needs store.url: replicas that share a Redis cache \
                            must share their events too (PostgreSQL)"
                        .into(),
                );
            }
        }
        if self.store.pool_size == 0
            || self.store.timeout_ms == 0
            || self.cache.redis_timeout_ms == 0
        {
            return Err(
                "store.pool_size, store.timeout_ms and cache.redis_timeout_ms must be positive"
                    .into(),
            );
        }
        let l = &self.limits;
        if l.max_k == 0 || l.default_k == 0 || l.default_k > l.max_k {
            return Err("limits: need 1 <= default_k <= max_k".into());
        }
        if l.max_body_bytes < 1024 {
            return Err("limits.max_body_bytes must be at least 1024".into());
        }
        if l.request_timeout_ms == 0 || l.max_batch_events == 0 {
            return Err("limits.request_timeout_ms and max_batch_events must be positive".into());
        }
        let s = &self.server;
        if s.memory_budget_mb == 0 || s.header_read_timeout_ms == 0 || s.max_connections == 0 {
            return Err(
                "server: memory_budget_mb, header_read_timeout_ms and max_connections must be positive"
                    .into(),
            );
        }
        if s.max_header_bytes < 8192 {
            return Err("server.max_header_bytes must be at least 8192".into());
        }
        if self.cache.enabled && (self.cache.max_entries == 0 || self.cache.max_mb == Some(0)) {
            return Err("cache: max_entries and max_mb must be positive".into());
        }
        if let Some(c) = self.cache.max_mb
            && self.cache.enabled
            && c > s.memory_budget_mb
        {
            return Err(format!(
                "[cache] max_mb = {c} is above [server] memory_budget_mb = {}",
                s.memory_budget_mb
            ));
        }
        self.pipeline().validate()?;
        if self.admin.watch_model && self.admin.watch_interval_ms == 0 {
            return Err("admin.watch_interval_ms must be positive".into());
        }
        if let Some(s) = &self.shadow {
            s.validate()?;
        }
        if (self.auth.require_key_for_events || self.auth.require_key_for_recommendations)
            && self.service_key().is_none()
            && self.admin_key().is_none()
        {
            return Err(
                "auth.require_key_for_events and auth.require_key_for_recommendations need a key: \
                 set auth.service_key (or TASTEBUD_SERVICE_KEY) or admin.api_key"
                    .into(),
            );
        }
        tastebud_experiment::assign::Assigner::new(
            self.experiments.clone(),
            self.experiment_holdout,
        )
        .map_err(|e| format!("experiments: {e}"))?;
        if self.monitoring.window_secs == 0 {
            return Err("monitoring.window_secs must be positive".into());
        }
        self.revenue.validate()?;
        if self.retrain.enabled && (self.retrain.config.is_none() || self.retrain.every_secs == 0) {
            return Err(
                "retrain: the loop needs `config` (a retrain.toml) and `every_secs` > 0".into(),
            );
        }
        Ok(())
    }

    /// The sections the recommendation pipeline reads.
    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            mode: self.mode,
            cold_start: self.cold_start.clone(),
            freshness: self.freshness.clone(),
            events: self.events.clone(),
            hybrid: self.hybrid.clone(),
            ann: self.ann.clone(),
            rerank: self.rerank.clone(),
            explore: self.explore.clone(),
            privacy: self.privacy.clone(),
        }
    }

    /// The admin key: the config's, else `TASTEBUD_ADMIN_KEY`.
    pub fn admin_key(&self) -> Option<String> {
        self.admin
            .api_key
            .clone()
            .or_else(|| std::env::var("TASTEBUD_ADMIN_KEY").ok())
            .filter(|k| !k.is_empty())
    }

    /// The PostgreSQL URL: the config's, else `TASTEBUD_STORE_URL`; `None` for the embedded store.
    pub fn store_url(&self) -> Option<String> {
        self.store
            .url
            .clone()
            .or_else(|| std::env::var("TASTEBUD_STORE_URL").ok())
            .filter(|u| !u.is_empty())
    }

    /// The Redis URL: the config's, else `TASTEBUD_REDIS_URL`.
    pub fn redis_url(&self) -> Option<String> {
        self.cache
            .redis_url
            .clone()
            .or_else(|| std::env::var("TASTEBUD_REDIS_URL").ok())
            .filter(|u| !u.is_empty())
    }

    /// The service key: the config's, else `TASTEBUD_SERVICE_KEY`.
    pub fn service_key(&self) -> Option<String> {
        self.auth
            .service_key
            .clone()
            .or_else(|| std::env::var("TASTEBUD_SERVICE_KEY").ok())
            .filter(|k| !k.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let c = Config::default();
        c.validate().unwrap();
        let text = toml::to_string(&c).unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(toml::from_str::<Config>("mdoe = \"batch\"").is_err());
        let c: Config = toml::from_str("[freshness]\nimpression_decay = 0").unwrap();
        assert!(c.validate().unwrap_err().contains("impression_decay"));
        // The cold-start chain is typed: an unknown strategy fails at parsing, naming it.
        let e = toml::from_str::<Config>("cold_start = [\"content\"]").unwrap_err();
        assert!(e.to_string().contains("content"));
        let c: Config = toml::from_str("[limits]\ndefault_k = 50\nmax_k = 10").unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn admin_key_is_redacted_in_debug() {
        let mut c = Config::default();
        c.admin.api_key = Some("s3cret".into());
        c.auth.service_key = Some("s3rvice".into());
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret") && !debug.contains("s3rvice"));
    }
}
