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
use tastebud_store::EventType;

pub use crate::feedback::EventRules;

/// Where recommendations come from.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every request is computed by the model, on the user's training history plus their events.
    #[default]
    Realtime,
    /// Only precomputed lists (`tastebud batch --out store`); users without one get the cold-start chain.
    Batch,
    /// Precomputed lists for users with no new events since the batch, real time for the others.
    Hybrid,
}

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
    /// Cold-start fallback chain, tried in order for users with no history at all: `popularity` (most
    /// interacted items in the training data), `model` (the model on an empty history).
    pub cold_start: Vec<String>,
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
    /// Monitoring window and bounce rule for `/metrics`.
    pub monitoring: crate::metrics::Monitoring,
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
    pub shadow: Option<crate::shadow::ShadowConfig>,
    /// Slate exploration (`[explore]`), off by default; a request can set `explore=EPSILON`.
    pub explore: ExploreConfig,
}

/// Epsilon-greedy exploration of every slate (see `engine::Explore`); responses then carry each item's
/// propensity, which clients log with their events for off-policy evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExploreConfig {
    /// Exploration probability per slot in `[0, 1]`; 0 turns exploration off.
    pub epsilon: f64,
    /// The model's top `pool` items are the candidates explored.
    pub pool: usize,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.0,
            pool: 50,
        }
    }
}

/// The re-ranker applied to every list (see `tastebud_models::rerank`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RerankConfig {
    /// `none`, `mmr`, `calibration`, `long_tail` or `cap`.
    pub method: String,
    /// The method's parameter: λ for `mmr` (1 = no change) and `calibration` (0 = no change), the target
    /// share for `long_tail`, the per-label maximum for `cap`.
    pub param: f64,
    /// Categorical item feature the re-rankers read (genres).
    pub column: String,
    /// `long_tail`: the head is the most popular items holding this share of interactions.
    pub head_share: f64,
    /// Candidates the model returns for re-ranking (at least k).
    pub candidates: usize,
}

impl Default for RerankConfig {
    fn default() -> Self {
        RerankConfig {
            method: "none".into(),
            param: 1.0,
            column: "genres".into(),
            head_share: 0.5,
            candidates: 100,
        }
    }
}

impl RerankConfig {
    /// The re-ranker, or None for `none`. Errors name the method or parameter.
    pub fn build(&self) -> Result<Option<Box<dyn tastebud_models::rerank::Rerank>>, String> {
        use tastebud_models::rerank::{Calibration, FairShare, GroupCap, Mmr};
        let e = |e: tastebud_core::Error| format!("rerank {}: {e}", self.method);
        Ok(match self.method.as_str() {
            "none" => None,
            "mmr" => Some(Box::new(Mmr::new(self.param).map_err(e)?)),
            "calibration" => Some(Box::new(Calibration::new(self.param).map_err(e)?)),
            "long_tail" => Some(Box::new(
                FairShare::long_tail(self.param, self.head_share).map_err(e)?,
            )),
            "cap" => {
                if !(self.param >= 1.0 && self.param.fract() == 0.0) {
                    return Err(format!(
                        "rerank cap: the maximum per label must be a whole number >= 1, got {}",
                        self.param
                    ));
                }
                Some(Box::new(GroupCap::new(self.param as usize).map_err(e)?))
            }
            other => {
                return Err(format!(
                    "unknown re-ranker `{other}` (none, mmr, calibration, long_tail, cap)"
                ));
            }
        })
    }

    /// This configuration with a request's `METHOD[:PARAM]` override.
    pub fn with_override(&self, spec: &str) -> Result<RerankConfig, String> {
        let mut c = self.clone();
        let (m, p) = match spec.split_once(':') {
            Some((m, p)) => (m, Some(p)),
            None => (spec, None),
        };
        c.method = m.to_string();
        if let Some(p) = p {
            c.param = p
                .parse()
                .map_err(|_| format!("rerank `{spec}`: `{p}` is not a number"))?;
        } else {
            c.param = match m {
                "mmr" => 0.7,
                "calibration" => 0.5,
                "long_tail" => 0.3,
                "cap" => 3.0,
                _ => c.param,
            };
        }
        c.build()?;
        Ok(c)
    }
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
            cold_start: vec!["popularity".into(), "model".into()],
            cache: CacheConfig::default(),
            freshness: Freshness::default(),
            events: EventRules::default(),
            hybrid: Hybrid::default(),
            ann: Ann::default(),
            admin: Admin::default(),
            monitoring: crate::metrics::Monitoring::default(),
            dashboard: DashboardConfig::default(),
            retrain: RetrainLoop::default(),
            rerank: RerankConfig::default(),
            experiments: Vec::new(),
            experiment_holdout: 0.0,
            shadow: None,
            explore: ExploreConfig::default(),
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
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            ttl_secs: 300,
            max_entries: 200_000,
        }
    }
}

/// Freshness rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Freshness {
    /// Never re-serve items the user consumed (training history and events). A request may still pass
    /// `exclude_seen=false` (re-watchable catalogues: music, groceries).
    pub exclude_consumed: bool,
    /// Event types that mark an item consumed (besides the training history).
    pub consumed_types: Vec<EventType>,
    /// An item shown this many times without a click (or other positive event) starts to be demoted.
    pub impressions_before_discount: u32,
    /// Each further unclicked impression divides the item's rank weight by this (0 < decay <= 1; 1 turns
    /// discounting off): its effective rank is `rank / decay^(n - threshold + 1)`.
    pub impression_decay: f64,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            exclude_consumed: true,
            consumed_types: vec![
                EventType::Click,
                EventType::View,
                EventType::Rating,
                EventType::Like,
                EventType::Dislike,
                EventType::AddToCart,
                EventType::Purchase,
            ],
            impressions_before_discount: 2,
            impression_decay: 0.5,
        }
    }
}

/// Hybrid serving.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hybrid {
    /// A user with at least this many events since the batch is computed in real time.
    pub realtime_after_events: u64,
    /// Precomputed lists older than this (seconds) are not used; 0 means no limit.
    pub max_batch_age_secs: u64,
}

impl Default for Hybrid {
    fn default() -> Self {
        Hybrid {
            realtime_after_events: 1,
            max_batch_age_secs: 0,
        }
    }
}

/// ANN retrieval for embedding models (ALS, BPR).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ann {
    /// Use an HNSW index from this catalogue size on; smaller catalogues are scored exactly.
    pub min_items: usize,
    /// HNSW search breadth.
    pub ef_search: usize,
    /// Candidates retrieved per requested item before exact re-scoring.
    pub oversample: usize,
}

impl Default for Ann {
    fn default() -> Self {
        Ann {
            min_items: 50_000,
            ef_search: 128,
            oversample: 4,
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
        let d = self.freshness.impression_decay;
        if !(d > 0.0 && d <= 1.0) {
            return Err(format!(
                "freshness.impression_decay must be in (0, 1], got {d}"
            ));
        }
        for s in &self.cold_start {
            if !matches!(s.as_str(), "popularity" | "model") {
                return Err(format!(
                    "cold_start: unknown strategy `{s}` (expected popularity or model)"
                ));
            }
        }
        if self.ann.ef_search == 0 || self.ann.oversample == 0 {
            return Err("ann.ef_search and ann.oversample must be positive".into());
        }
        if self.admin.watch_model && self.admin.watch_interval_ms == 0 {
            return Err("admin.watch_interval_ms must be positive".into());
        }
        self.rerank.build()?;
        if let Some(s) = &self.shadow {
            s.validate()?;
        }
        if !(0.0..=1.0).contains(&self.explore.epsilon) || self.explore.pool == 0 {
            return Err(format!(
                "explore: epsilon must be in [0, 1] and pool positive, got {} and {}",
                self.explore.epsilon, self.explore.pool
            ));
        }
        tastebud_experiment::assign::Assigner::new(
            self.experiments.clone(),
            self.experiment_holdout,
        )
        .map_err(|e| format!("experiments: {e}"))?;
        if self.rerank.candidates == 0 {
            return Err("rerank.candidates must be positive".into());
        }
        if self.monitoring.window_secs == 0 {
            return Err("monitoring.window_secs must be positive".into());
        }
        self.events.validate().map_err(|e| format!("events: {e}"))?;
        if self.retrain.enabled && (self.retrain.config.is_none() || self.retrain.every_secs == 0) {
            return Err(
                "retrain: the loop needs `config` (a retrain.toml) and `every_secs` > 0".into(),
            );
        }
        Ok(())
    }

    /// The admin key: the config's, else `TASTEBUD_ADMIN_KEY`.
    pub fn admin_key(&self) -> Option<String> {
        self.admin
            .api_key
            .clone()
            .or_else(|| std::env::var("TASTEBUD_ADMIN_KEY").ok())
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
        let c: Config = toml::from_str("cold_start = [\"content\"]").unwrap();
        assert!(c.validate().unwrap_err().contains("content"));
        let c: Config = toml::from_str("[limits]\ndefault_k = 50\nmax_k = 10").unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn admin_key_is_redacted_in_debug() {
        let mut c = Config::default();
        c.admin.api_key = Some("s3cret".into());
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
