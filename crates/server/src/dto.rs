//! Request and response bodies of every route (the OpenAPI schemas come from these types).

use serde::{Deserialize, Serialize};
use tastebud_serve::{RecommendedItem, Strategy};
use tastebud_store::Stored;
use utoipa::{IntoParams, ToSchema};

/// A recommendation response.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationResponse {
    /// Unique id of this response: send it back with impressions and clicks.
    pub request_id: String,
    /// The user, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Model type.
    pub model: String,
    /// Model version (changes with every new model file).
    pub model_version: String,
    /// Where the list came from.
    pub strategy: Strategy,
    /// True when the user had no history and the cold-start chain answered.
    pub cold_start: bool,
    /// The cold-start strategy that answered, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Whether ANN retrieval was used.
    pub ann: bool,
    /// Whether the list came from the cache.
    pub cached: bool,
    /// The experiment the user is in, if any: send it back with impressions and clicks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The user's arm in that experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// Probability that this request was served by this arm (the arm's weight share under fixed
    /// allocation, the bandit's propensity under adaptive allocation): log it with the events for
    /// off-policy evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// What the request's constraints found (`POST /v1/recommendations` with `constraints`): how many
    /// items meet them, and when none does, a minimal conflict, the minimal relaxations and a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub knowledge: Option<tastebud_models::knowledge::Outcome>,
    /// The items, best first.
    pub items: Vec<RecommendedItem>,
}

/// Query parameters of `GET /v1/users/{id}/recommendations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecQuery {
    /// How many items (1..=limits.max_k, default limits.default_k; the document states the default
    /// configuration's bounds).
    #[param(minimum = 1, maximum = 1000)]
    pub k: Option<u64>,
    /// Leave out items the user already consumed (default true).
    pub exclude_seen: Option<bool>,
    /// Comma-separated item ids to leave out.
    pub exclude: Option<String>,
    /// Rank only items with a feature value: `column:value` or `column:value1|value2`, e.g. `genres:Comedy`
    /// (empty: no filter). A column the model's items do not have is a 422.
    #[param(pattern = "^([^:]+:.*)?$")]
    pub filter: Option<String>,
    /// Explain each item (default true).
    pub explain: Option<bool>,
    /// Re-rank after the model: `none`, `mmr[:λ]`, `calibration[:λ]`, `long_tail[:share]`, `cap[:n]`
    /// (default: the server's `[rerank]` configuration; empty: that too). A method the model cannot run
    /// (calibration without item genres) is a 400.
    #[param(
        pattern = "^(none|(mmr|calibration|long_tail)(:(0(\\.[0-9]{1,6})?|1(\\.0{1,6})?))?|cap(:[1-9][0-9]{0,5})?)?$"
    )]
    pub rerank: Option<String>,
    /// Explore the slate epsilon-greedily with this epsilon in `[0, 1]` (0: off; default the server's
    /// `[explore] epsilon`); each item then carries its propensity. Explored lists are never cached.
    #[param(minimum = 0.0, maximum = 1.0)]
    pub explore: Option<f64>,
    /// User attributes for experiment targeting, `key:value` pairs separated by commas
    /// (`country:NL,device:ios`); keys 1-64 bytes, values at most 256.
    #[param(pattern = "^,*([^,:]{1,64}:[^,]{0,256},*)*$")]
    pub attrs: Option<String>,
}

/// One item of an ad-hoc history.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum HistoryItem {
    /// Just the id (value 1).
    Id(String),
    /// The id and a value (a rating, a count).
    Valued {
        /// External item id.
        item: String,
        /// Its value (default 1).
        value: Option<f32>,
    },
}

/// A JSON number that is a whole non-negative number (`5` or `5.0`, as JSON Schema's `integer`).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    n.map(|n| {
        n.as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
                    .map(|f| f as u64)
            })
            .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {n}")))
    })
    .transpose()
}

/// Body of `POST /v1/recommendations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdHocRequest {
    /// A user id (a session or known user): their stored events join the history. 1 to 256 bytes
    /// without control characters.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    pub user: Option<String>,
    /// Items the user interacted with: ids, or `{"item": id, "value": v}`.
    #[serde(default)]
    pub history: Vec<HistoryItem>,
    /// How many items (1..=limits.max_k, default limits.default_k); a whole number (`5.0` is 5).
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 1000)]
    pub k: Option<u64>,
    /// Leave out items in the history (default true).
    pub exclude_seen: Option<bool>,
    /// Item ids to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `column:value[|value...]` (empty: no filter).
    #[schema(pattern = "^([^:]+:.*)?$")]
    pub filter: Option<String>,
    /// Explain each item (default true).
    pub explain: Option<bool>,
    /// Skip history items the model does not know instead of answering 422.
    #[serde(default)]
    pub ignore_unknown: bool,
    /// Re-rank after the model: `none`, `mmr[:λ]`, `calibration[:λ]`, `long_tail[:share]`, `cap[:n]`.
    #[schema(
        pattern = "^(none|(mmr|calibration|long_tail)(:(0(\\.[0-9]{1,6})?|1(\\.0{1,6})?))?|cap(:[1-9][0-9]{0,5})?)?$"
    )]
    pub rerank: Option<String>,
    /// Knowledge-based hard constraints over item features, all of which an item must meet:
    /// `COLUMN OP VALUE` with OP one of `=` (categorical: any of `a|b`), `!=`, `<`, `<=`, `>`, `>=`,
    /// `in LO..HI`, `~` (contains), e.g. `genres = Comedy`, `year >= 1990`. When no item meets them all,
    /// the response's `knowledge` names a minimal conflict and the minimal relaxations. One that does
    /// not parse, or names a column, value or kind the items lack, is a 422.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub constraints: Vec<BoundedText>,
    /// Soft preferences ranking the items that meet the constraints by a weighted multi-attribute
    /// utility: a constraint (1 when met), or `COLUMN high`, `COLUMN low`, `COLUMN near V` on a
    /// numeric column, each with an optional weight `^W`, e.g. `genres = Drama^2`, `year high`.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub preferences: Vec<BoundedText>,
    /// With constraints: the weight of the model's score against the preferences' utility, in
    /// `[0, 1]` (default 0.5; 0 ranks by utility alone, 1 by the model alone).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub blend: Option<f64>,
    /// When no item meets every constraint, recommend from the first minimal relaxation (fewest
    /// constraints dropped, then most items) instead of an empty list (default false).
    pub relax: Option<bool>,
}

/// A constraint or preference: 1 to 256 characters, not only white space.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, min_length = 1, max_length = 256, pattern = r"\S")]
pub struct BoundedText(pub String);

impl TryFrom<String> for BoundedText {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() || s.chars().count() > 256 {
            Err(format!(
                "`{}`: a constraint or preference is 1 to 256 characters, not only white space",
                s.chars().take(40).collect::<String>()
            ))
        } else {
            Ok(BoundedText(s))
        }
    }
}

/// Query of `GET /v1/items/{id}/similar`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    /// How many items (1..=limits.max_k, default limits.default_k).
    #[param(minimum = 1, maximum = 1000)]
    pub k: Option<u64>,
}

/// Items similar to one item.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarResponse {
    /// Request id.
    pub request_id: String,
    /// The item asked about.
    pub item: String,
    /// Model version.
    pub model_version: String,
    /// Similar items, most similar first.
    pub items: Vec<RecommendedItem>,
}

/// What `POST /v1/events` stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsResponse {
    /// Events durably written now.
    pub accepted: usize,
    /// Events whose `event_id` was already stored (not written again).
    pub duplicates: usize,
    /// Log sequence number of each event, in request order.
    pub seqs: Vec<u64>,
}

/// A user's stored events.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserEventsResponse {
    /// The user.
    pub user: String,
    /// Their events, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Stored>,
}

/// What `DELETE /v1/users/{id}` removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponse {
    /// The user.
    pub user: String,
    /// Events removed from the log.
    pub events: u64,
    /// Precomputed lists removed.
    pub lists: u64,
    /// Cached lists dropped.
    pub cache_entries: u64,
    /// Whether the user's training history is now ignored (until a retrained model without them).
    pub training_history_suppressed: bool,
    /// Total records removed.
    pub removed: u64,
}

/// `PUT /v1/users/{id}/consent`: what the user allows; a field left out keeps its current value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// Recommendations may use the user's history and model row.
    pub personalisation: Option<bool>,
    /// The user's data may be used to train models.
    pub training: Option<bool>,
}

/// A user's consent as it applies now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentState {
    /// Recommendations may use the user's history and model row (otherwise they get what a new user
    /// gets).
    pub personalisation: bool,
    /// The user's data may be used to train models.
    pub training: bool,
    /// `recorded` (the user set it) or `implied` (the deployment's default: granted, unless
    /// `[privacy] consent_required`).
    pub source: String,
    /// When the user last set it, unix seconds (absent when implied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_unix: Option<i64>,
}

/// `GET /v1/users/{id}`: what the server holds about a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    /// The user.
    pub user: String,
    /// Their consent.
    pub consent: ConsentState,
    /// Events stored for them.
    pub events: u64,
    /// The seq of their newest event, absent when they have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_seq: Option<u64>,
    /// Whether the served model was trained on their history (and may use it).
    pub in_model: bool,
    /// When they asked to be forgotten, unix seconds, absent if they did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgotten_unix: Option<i64>,
    /// Whether they have a precomputed list in the current batch.
    pub has_batch_list: bool,
}

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness: the model and the store are usable.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`, or `degraded` when the shared Redis does not answer (recommendations are still computed,
    /// in process).
    pub status: String,
    /// Model version.
    pub model_version: String,
    /// Events in the log.
    pub events: u64,
}

/// The model being served.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    /// Model type.
    pub model: String,
    /// Version.
    pub model_version: String,
    /// File path.
    pub path: String,
    /// Hyperparameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Training dataset.
    pub dataset: String,
    /// Users at training time.
    pub n_users: usize,
    /// Items.
    pub n_items: usize,
    /// Unix time the server loaded it.
    pub loaded_unix: i64,
    /// Whether an ANN index serves it.
    pub ann: bool,
    /// Serving mode.
    pub mode: String,
}

/// Body of `POST /v1/admin/reload`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReloadRequest {
    /// A model file to load instead of re-reading the current one.
    pub path: Option<String>,
}

/// What a reload did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResponse {
    /// The version served before.
    pub previous_version: String,
    /// The version served now.
    pub model_version: String,
}

/// Body of `PUT /v1/admin/items/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagsRequest {
    /// Remove the item from every list.
    #[serde(default)]
    pub hidden: bool,
    /// Unix time after which the item is no longer served.
    pub expires_at: Option<i64>,
}

/// An item's flags.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagsResponse {
    /// External item id.
    pub item: String,
    /// Hidden.
    pub hidden: bool,
    /// Time to live end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Query of `GET /v1/shadow/report`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// `json` (default) or `table`.
    #[param(pattern = "^(json|table)$")]
    pub format: Option<String>,
}

/// An item of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemInfo {
    /// External item id.
    pub item: String,
    /// Title, when the dataset has titles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Hidden by an administrator or past its time to live (no longer recommended).
    pub flagged: bool,
}

/// Query of `GET /v1/users/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only the newest `limit` events (default all).
    #[param(minimum = 0, maximum = 4294967295u64)]
    pub limit: Option<u32>,
}

/// The `{id}` of a user route: 1 to 256 bytes without control characters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// External user id.
    pub id: String,
}

/// The `{id}` of an item route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ItemPath {
    /// External item id.
    pub id: String,
}

/// The report of an experiment (`GET /v1/experiments/{id}/report`), in outline: the fields every report
/// has; with `data = "ready"` the analysis fields (`arms`, `srm`, `warnings`, `decision`, ...) follow.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentReportDoc {
    /// `ready`: every arm has users and impressions and the analysis is in the report; `no_data`: some
    /// arm has none yet, the analysis fields are absent and `no_data` says what is missing.
    #[schema(pattern = "^(ready|no_data)$")]
    pub data: String,
    /// `running` or `stopped`.
    pub status: String,
    /// How traffic is allocated.
    #[schema(value_type = Object)]
    pub allocation: serde_json::Value,
    /// With `data = "no_data"`: what is missing.
    pub no_data: Option<NoDataDoc>,
    /// Segments (new vs returning users, or by `segment_by`).
    #[schema(value_type = Object)]
    pub segments: serde_json::Value,
    /// Cumulative values per day since the start.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<serde_json::Value>,
    /// With `data = "ready"` once purchases carry an `amount`: per arm the revenue, revenue per user and
    /// per impression (in `[revenue] currency`) with intervals, the relative lift, a per-user Welch test
    /// (winsorised at `winsor_quantile`, CUPED on pre-period revenue when there is any), and the users per
    /// arm needed for `revenue_mde`.
    #[schema(value_type = Option<Object>)]
    pub revenue: Option<serde_json::Value>,
}

/// Why an experiment report has no analysis yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoDataDoc {
    /// The experiment.
    pub experiment: String,
    /// A sentence: which arms have no impressions (or no users) yet.
    pub message: String,
    /// Each arm's counts so far.
    #[schema(value_type = Vec<Object>)]
    pub arms: Vec<serde_json::Value>,
}
