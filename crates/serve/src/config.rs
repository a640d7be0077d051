//! The pipeline's configuration: the `mode`, `cold_start`, `[freshness]`, `[events]`, `[hybrid]`,
//! `[ann]`, `[rerank]` and `[explore]` sections of `tastebud.toml`, typed (serde enums for the
//! re-ranker and the cold-start chain) and validated once.
//!
//! ```
//! use tastebud_serve::config::{PipelineConfig, RerankMethod};
//! let c: PipelineConfig = toml::from_str("mode = \"hybrid\"\n[rerank]\nmethod = \"mmr\"\nparam = 0.7").unwrap();
//! assert_eq!(c.rerank.method, RerankMethod::Mmr);
//! c.validate().unwrap();
//! assert!(toml::from_str::<PipelineConfig>("cold_start = [\"content\"]").is_err());
//! ```

use serde::{Deserialize, Serialize};
use tastebud_models::rerank::Rerank;
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

/// One step of the cold-start chain, tried in order for users with no history at all.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColdStart {
    /// The most interacted items in the training data.
    Popularity,
    /// The model on an empty history.
    Model,
}

impl ColdStart {
    /// The name in configuration and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            ColdStart::Popularity => "popularity",
            ColdStart::Model => "model",
        }
    }
}

/// Everything the pipeline reads from the configuration. Every section has defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where recommendations come from.
    pub mode: Mode,
    /// The cold-start chain.
    pub cold_start: Vec<ColdStart>,
    /// What is never or less often re-served.
    pub freshness: Freshness,
    /// How events become history.
    pub events: EventRules,
    /// Hybrid mode.
    pub hybrid: Hybrid,
    /// Approximate nearest-neighbour retrieval for embedding models.
    pub ann: Ann,
    /// Re-ranking after the model.
    pub rerank: RerankConfig,
    /// Slate exploration.
    pub explore: ExploreConfig,
    /// Consent rules.
    pub privacy: Privacy,
}

/// Consent rules (`[privacy]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Privacy {
    /// Users who never set their consent count as withholding it, for personalisation and training
    /// (opt-in). Default `false`: consent is implied until the user withdraws it (opt-out).
    pub consent_required: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            mode: Mode::Realtime,
            cold_start: default_cold_start(),
            freshness: Freshness::default(),
            events: EventRules::default(),
            hybrid: Hybrid::default(),
            ann: Ann::default(),
            rerank: RerankConfig::default(),
            explore: ExploreConfig::default(),
            privacy: Privacy::default(),
        }
    }
}

/// The default cold-start chain: popularity, then the model on an empty history.
pub fn default_cold_start() -> Vec<ColdStart> {
    vec![ColdStart::Popularity, ColdStart::Model]
}

impl PipelineConfig {
    /// Checks ranges; the message names the section and field.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.freshness.impression_decay;
        if !(d > 0.0 && d <= 1.0) {
            return Err(format!(
                "freshness.impression_decay must be in (0, 1], got {d}"
            ));
        }
        if self.ann.ef_search == 0 || self.ann.oversample == 0 {
            return Err("ann.ef_search and ann.oversample must be positive".into());
        }
        self.rerank.build()?;
        if self.rerank.candidates == 0 {
            return Err("rerank.candidates must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.explore.epsilon) || self.explore.pool == 0 {
            return Err(format!(
                "explore: epsilon must be in [0, 1] and pool positive, got {} and {}",
                self.explore.epsilon, self.explore.pool
            ));
        }
        self.events.validate().map_err(|e| format!("events: {e}"))
    }
}

/// Epsilon-greedy exploration of every slate (see `pipeline::Explore`); responses then carry
/// each item's propensity, which clients log with their events for off-policy evaluation.
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

/// A re-ranking method (see `tastebud_models::rerank`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerankMethod {
    /// The model's order.
    #[default]
    None,
    /// Maximal marginal relevance over genres (λ = 1: no change).
    Mmr,
    /// Calibration to the user's genre distribution (λ = 0: no change).
    Calibration,
    /// A target share of long-tail items.
    LongTail,
    /// At most `param` items per genre label.
    Cap,
}

impl RerankMethod {
    /// Every method, in documentation order.
    pub const ALL: [RerankMethod; 5] = [
        RerankMethod::None,
        RerankMethod::Mmr,
        RerankMethod::Calibration,
        RerankMethod::LongTail,
        RerankMethod::Cap,
    ];

    /// The name in configuration and requests.
    pub fn as_str(self) -> &'static str {
        match self {
            RerankMethod::None => "none",
            RerankMethod::Mmr => "mmr",
            RerankMethod::Calibration => "calibration",
            RerankMethod::LongTail => "long_tail",
            RerankMethod::Cap => "cap",
        }
    }

    /// The parameter a request's `METHOD` without `:PARAM` gets.
    pub fn default_param(self) -> Option<f64> {
        match self {
            RerankMethod::None => None,
            RerankMethod::Mmr => Some(0.7),
            RerankMethod::Calibration => Some(0.5),
            RerankMethod::LongTail => Some(0.3),
            RerankMethod::Cap => Some(3.0),
        }
    }
}

impl std::str::FromStr for RerankMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RerankMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown re-ranker `{s}` (none, mmr, calibration, long_tail, cap)")
            })
    }
}

/// The re-ranker applied to every list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RerankConfig {
    /// The method.
    pub method: RerankMethod,
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
            method: RerankMethod::None,
            param: 1.0,
            column: "genres".into(),
            head_share: 0.5,
            candidates: 100,
        }
    }
}

impl RerankConfig {
    /// The re-ranker, or None for `none`. Errors name the method or parameter.
    pub fn build(&self) -> Result<Option<Box<dyn Rerank>>, String> {
        use tastebud_models::rerank::{Calibration, FairShare, GroupCap, Mmr};
        let m = self.method.as_str();
        let e = |e: tastebud_core::Error| format!("rerank {m}: {e}");
        Ok(match self.method {
            RerankMethod::None => None,
            RerankMethod::Mmr => Some(Box::new(Mmr::new(self.param).map_err(e)?)),
            RerankMethod::Calibration => Some(Box::new(Calibration::new(self.param).map_err(e)?)),
            RerankMethod::LongTail => Some(Box::new(
                FairShare::long_tail(self.param, self.head_share).map_err(e)?,
            )),
            RerankMethod::Cap => {
                if !(self.param >= 1.0 && self.param.fract() == 0.0) {
                    return Err(format!(
                        "rerank cap: the maximum per label must be a whole number >= 1, got {}",
                        self.param
                    ));
                }
                Some(Box::new(GroupCap::new(self.param as usize).map_err(e)?))
            }
        })
    }

    /// This configuration with a request's `METHOD[:PARAM]` override, checked.
    pub fn with_override(&self, spec: &str) -> Result<RerankConfig, String> {
        let mut c = self.clone();
        let (m, p) = match spec.split_once(':') {
            Some((m, p)) => (m, Some(p)),
            None => (spec, None),
        };
        c.method = m.parse()?;
        match p {
            Some(p) => {
                c.param = p
                    .parse()
                    .map_err(|_| format!("rerank `{spec}`: `{p}` is not a number"))?;
            }
            None => c.param = c.method.default_param().unwrap_or(c.param),
        }
        c.build()?;
        Ok(c)
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
