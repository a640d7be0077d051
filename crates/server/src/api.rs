//! Routes, request and response types, handlers. `/openapi.json` is generated from these types.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tastebud_core::ItemIdx;
use tastebud_store::{Event, ItemFlags, Stored};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::engine::{self, Computed, RecParams, RecommendedItem, Strategy, UserView};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::{AppState, CacheKey};

type AppRef = State<Arc<AppState>>;

/// `Json` whose rejections are JSON errors (4xx) naming the problem.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(t)| JsonBody(t))
            .map_err(ApiError::from)
    }
}

/// `Query` whose rejections are JSON errors.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| QueryArgs(t))
            .map_err(ApiError::from)
    }
}

/// `Path` whose rejections are JSON errors.
pub struct PathArg<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| PathArg(t))
            .map_err(ApiError::from)
    }
}

fn bytes_rejection(r: BytesRejection) -> ApiError {
    let status = r.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", r.body_text())
    } else {
        ApiError::bad_request(r.body_text())
    }
}

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
    /// The items, best first.
    pub items: Vec<RecommendedItem>,
}

/// Query parameters of `GET /v1/users/{id}/recommendations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecQuery {
    /// How many items (1..=limits.max_k, default limits.default_k).
    pub k: Option<u64>,
    /// Leave out items the user already consumed (default true).
    pub exclude_seen: Option<bool>,
    /// Comma-separated item ids to leave out.
    pub exclude: Option<String>,
    /// Rank only items with a feature value: `column:value` or `column:value1|value2`, e.g. `genres:Comedy`.
    pub filter: Option<String>,
    /// Explain each item (default true).
    pub explain: Option<bool>,
    /// Re-rank after the model: `none`, `mmr[:λ]`, `calibration[:λ]`, `long_tail[:share]`, `cap[:n]`
    /// (default: the server's `[rerank]` configuration).
    pub rerank: Option<String>,
    /// Explore the slate epsilon-greedily with this epsilon in `[0, 1]` (0: off; default the server's
    /// `[explore] epsilon`); each item then carries its propensity. Explored lists are never cached.
    pub explore: Option<f64>,
    /// User attributes for experiment targeting, `key:value` pairs separated by commas
    /// (`country:NL,device:ios`).
    pub attrs: Option<String>,
}

fn parse_attrs(s: Option<&str>) -> ApiResult<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for pair in s.unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once(':')
            .ok_or_else(|| ApiError::bad_request(format!("attrs: `{pair}` is not key:value")))?;
        if k.is_empty() || k.len() > 64 || v.len() > 256 {
            return Err(ApiError::bad_request(format!(
                "attrs: `{pair}`: keys are 1-64 bytes, values at most 256"
            )));
        }
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
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

/// Body of `POST /v1/recommendations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdHocRequest {
    /// A user id (a session or known user): their stored events join the history.
    pub user: Option<String>,
    /// Items the user interacted with: ids, or `{"item": id, "value": v}`.
    #[serde(default)]
    pub history: Vec<HistoryItem>,
    /// How many items.
    pub k: Option<u64>,
    /// Leave out items in the history (default true).
    pub exclude_seen: Option<bool>,
    /// Item ids to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `column:value[|value...]`.
    pub filter: Option<String>,
    /// Explain each item (default true).
    pub explain: Option<bool>,
    /// Skip history items the model does not know instead of answering 422.
    #[serde(default)]
    pub ignore_unknown: bool,
    /// Re-rank after the model: `none`, `mmr[:λ]`, `calibration[:λ]`, `long_tail[:share]`, `cap[:n]`.
    pub rerank: Option<String>,
}

/// Query of `GET /v1/items/{id}/similar`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    /// How many items.
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

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness: the model and the store are usable.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
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

fn check_k(state: &AppState, k: Option<u64>) -> ApiResult<usize> {
    let l = &state.config.limits;
    let k = k.unwrap_or(l.default_k as u64);
    if k == 0 || k > l.max_k as u64 {
        return Err(ApiError::bad_request(format!(
            "k must be between 1 and {} (got {k})",
            l.max_k
        )));
    }
    Ok(k as usize)
}

fn explore_of(
    state: &AppState,
    epsilon: Option<f64>,
    k: usize,
) -> ApiResult<Option<engine::Explore>> {
    let e = epsilon.unwrap_or(state.config.explore.epsilon);
    if !(0.0..=1.0).contains(&e) {
        return Err(ApiError::bad_request(format!(
            "explore: {e} is not in [0, 1]"
        )));
    }
    Ok((e > 0.0).then(|| engine::Explore {
        epsilon: e,
        pool: state.config.explore.pool.max(k),
    }))
}

fn check_user_id(id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "user id must be 1 to 256 bytes without control characters",
        ));
    }
    Ok(())
}

fn parse_filter(serving: &crate::serving::Serving, f: &str) -> ApiResult<Vec<ItemIdx>> {
    let (col, vals) = f.split_once(':').ok_or_else(|| {
        ApiError::bad_request(format!(
            "filter `{f}`: expected `column:value` (e.g. genres:Comedy)"
        ))
    })?;
    let labels: Vec<&str> = vals.split('|').filter(|s| !s.is_empty()).collect();
    if labels.is_empty() {
        return Err(ApiError::bad_request(format!(
            "filter `{f}` names no value"
        )));
    }
    serving
        .items_with(col, &labels)
        .map_err(ApiError::bad_request)
}

fn rerank_of(state: &AppState, spec: Option<&str>) -> ApiResult<crate::config::RerankConfig> {
    match spec {
        None => Ok(state.config.rerank.clone()),
        Some(s) => state
            .config
            .rerank
            .with_override(s)
            .map_err(ApiError::bad_request),
    }
}

fn item_list(
    serving: &crate::serving::Serving,
    ids: impl IntoIterator<Item = impl AsRef<str>>,
) -> Vec<ItemIdx> {
    // Unknown ids in an exclusion list cannot be recommended anyway: ignore them.
    ids.into_iter()
        .filter_map(|id| serving.item(id.as_ref().trim()))
        .collect()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// The fields of [`RecommendationResponse`] before `items`, borrowed.
#[derive(Serialize)]
struct ResponseHead<'a> {
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    model: &'a str,
    model_version: &'a str,
    strategy: Strategy,
    cold_start: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback: Option<&'a str>,
    ann: bool,
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    experiment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arm: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    propensity: Option<f64>,
}

/// The experiment arm that serves a request.
#[derive(Clone, Copy)]
struct ArmLabel<'a> {
    experiment: &'a str,
    arm: &'a str,
    propensity: f64,
}

/// A [`RecommendationResponse`] as bytes: the per-request head serialised now, the items spliced in from
/// their JSON serialised once per computed list (the cached path's main cost was re-serialising them).
fn respond(
    state: &AppState,
    serving: &crate::serving::Serving,
    user: Option<&str>,
    c: &Computed,
    cached: bool,
    arm: Option<ArmLabel<'_>>,
) -> axum::response::Response {
    let request_id = state.request_id();
    let head = ResponseHead {
        request_id: &request_id,
        user,
        model: &serving.file.header.model,
        model_version: &serving.version,
        strategy: c.strategy,
        cold_start: c.strategy == Strategy::ColdStart,
        fallback: c.fallback,
        ann: c.ann,
        cached,
        experiment: arm.map(|a| a.experiment),
        arm: arm.map(|a| a.arm),
        propensity: arm.map(|a| a.propensity),
    };
    let mut body = serde_json::to_vec(&head).unwrap_or_else(|_| b"{}".to_vec());
    body.pop(); // the closing brace
    body.extend_from_slice(b",\"items\":");
    body.extend_from_slice(c.items_json.as_bytes());
    body.push(b'}');
    let mut resp = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Some(a) = arm {
        resp.extensions_mut().insert(crate::Arm(a.arm.to_string()));
    }
    resp
}

/// Recommendations for a user: their training history and every acknowledged event, or the cold-start
/// chain for an unknown user.
#[utoipa::path(get, path = "/v1/users/{id}/recommendations", tag = "recommend",
    params(("id" = String, Path, description = "External user id"), RecQuery),
    responses((status = 200, body = RecommendationResponse), (status = 400, body = ErrorBody)))]
pub async fn user_recommendations(
    State(state): AppRef,
    PathArg(user): PathArg<String>,
    QueryArgs(q): QueryArgs<RecQuery>,
) -> ApiResult<axum::response::Response> {
    check_user_id(&user)?;
    let k = check_k(&state, q.k)?;
    let exclude_seen = q.exclude_seen.unwrap_or(true);
    let explain = q.explain.unwrap_or(true);
    let (flags, flags_gen) = state.flags();
    let seq = state.user_seq(&user).map_err(ApiError::internal)?;
    // Experiments: the user's arm decides which model answers.
    let ctx = tastebud_experiment::assign::UserContext {
        is_new: seq == 0 && state.serving().user(&user).is_none(),
        attributes: parse_attrs(q.attrs.as_deref())?,
    };
    let served = if state.experiments.is_empty() {
        None
    } else {
        state.experiments.serve(&user, &ctx, crate::now_unix())
    };
    let serving = served
        .as_ref()
        .and_then(|s| s.model.clone())
        .unwrap_or_else(|| state.serving());
    let arm_label = served.as_ref().map(|s| ArmLabel {
        experiment: s.assignment.experiment.as_str(),
        arm: s.assignment.arm.as_str(),
        propensity: s.propensity,
    });
    let key = CacheKey {
        user: user.clone(),
        user_seq: seq,
        model_gen: state.model_gen(),
        flags_gen,
        shape: format!(
            "{k}|{exclude_seen}|{explain}|{}|{}|{}|{}",
            q.exclude.as_deref().unwrap_or(""),
            q.filter.as_deref().unwrap_or(""),
            q.rerank.as_deref().unwrap_or(""),
            arm_label.map_or(String::new(), |a| format!("{}/{}", a.experiment, a.arm))
        ),
    };
    let now = crate::now_unix();
    let flagged = engine::flagged_items(&serving, &flags, now);
    let explore = explore_of(&state, q.explore, k)?;
    // An explored slate is a fresh draw: never answered from or stored in the cache.
    let cache = if explore.is_some() {
        None
    } else {
        state.cache.as_ref()
    };
    if let Some(cache) = cache
        && let Some(c) = cache.get(&key)
        && !c.idx.iter().any(|i| flagged.contains(i))
    {
        state.metrics.cache_lookup(true, now);
        record_served(&state, &serving, &c, now, arm_label);
        mirror_shadow(&state, &user, &q, k, exclude_seen, &c, None);
        return Ok(respond(&state, &serving, Some(&user), &c, true, arm_label));
    }
    state.metrics.cache_lookup(false, now);
    let params = RecParams {
        k,
        exclude_seen,
        exclude: item_list(&serving, q.exclude.iter().flat_map(|s| s.split(','))),
        candidates: q
            .filter
            .as_deref()
            .map(|f| parse_filter(&serving, f))
            .transpose()?,
        explain,
        rerank: rerank_of(&state, q.rerank.as_deref())?,
        explore,
    };
    let started = std::time::Instant::now();
    let c = compute_for(&state, &serving, &user, &params, &flagged, None)?;
    let compute_ms = started.elapsed().as_secs_f64() * 1e3;
    let c = Arc::new(c);
    if let Some(cache) = cache {
        cache.insert(key, c.clone());
    }
    record_served(&state, &serving, &c, now, arm_label);
    mirror_shadow(&state, &user, &q, k, exclude_seen, &c, Some(compute_ms));
    Ok(respond(&state, &serving, Some(&user), &c, false, arm_label))
}

/// Mirrors a request to the shadow model off the request path (sampled), and records the comparison.
fn mirror_shadow(
    state: &Arc<AppState>,
    user: &str,
    q: &RecQuery,
    k: usize,
    exclude_seen: bool,
    production: &Computed,
    production_ms: Option<f64>,
) {
    let Some(shadow) = state.shadow.clone() else {
        return;
    };
    if !shadow.sampled() {
        return;
    }
    let (state, user) = (state.clone(), user.to_owned());
    let (exclude, filter, rerank) = (q.exclude.clone(), q.filter.clone(), q.rerank.clone());
    let production: Vec<String> = production.items.iter().map(|i| i.item.clone()).collect();
    tokio::task::spawn_blocking(move || {
        let now = crate::now_unix();
        let started = std::time::Instant::now();
        let s = &shadow.serving;
        let computed = (|| -> ApiResult<Computed> {
            let params = RecParams {
                k,
                exclude_seen,
                exclude: item_list(s, exclude.iter().flat_map(|x| x.split(','))),
                candidates: filter.as_deref().map(|f| parse_filter(s, f)).transpose()?,
                explain: false,
                rerank: rerank_of(&state, rerank.as_deref())?,
                explore: None,
            };
            let (flags, _) = state.flags();
            let flagged = engine::flagged_items(s, &flags, now);
            compute_for(&state, s, &user, &params, &flagged, None)
        })();
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let list = computed
            .ok()
            .map(|c| (c.items.into_iter().map(|i| i.item).collect(), ms));
        shadow.record(&user, now, production, production_ms, list);
    });
}

/// Query of `GET /v1/shadow/report`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// `json` (default) or `table`.
    pub format: Option<String>,
}

/// The shadow model beside production: list overlap (Jaccard@K, rank-biased overlap), compute latency,
/// and hit rate and MRR of both lists on the clicks that arrived after the compared requests.
#[utoipa::path(get, path = "/v1/shadow/report", tag = "experiments",
    params(ShadowQuery),
    responses((status = 200, body = crate::shadow::ShadowReport), (status = 404, body = ErrorBody)))]
pub async fn shadow_report(
    State(state): AppRef,
    QueryArgs(q): QueryArgs<ShadowQuery>,
) -> ApiResult<axum::response::Response> {
    let shadow = state.shadow.as_ref().ok_or_else(|| {
        ApiError::not_found("no shadow model: configure [shadow] model = \"...\"")
    })?;
    let r = shadow.report(&state.serving());
    Ok(match q.format.as_deref() {
        None | Some("json") => Json(r).into_response(),
        Some("table") => r.to_table().into_response(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format `{other}`: expected json or table"
            )));
        }
    })
}

fn compute_for(
    state: &AppState,
    serving: &crate::serving::Serving,
    user: &str,
    params: &RecParams,
    flagged: &[ItemIdx],
    adhoc: Option<&[(ItemIdx, f32)]>,
) -> ApiResult<Computed> {
    let events = state.store.user_events(user)?;
    let forgotten = state.store.is_forgotten(user)?;
    let known = if forgotten { None } else { serving.user(user) };
    let meta = if state.config.mode == crate::config::Mode::Realtime {
        None
    } else {
        state.store.batch_meta()?
    };
    let fresh_batch = meta.as_ref().filter(|m| {
        m.model_version == serving.version
            && (state.config.hybrid.max_batch_age_secs == 0
                || crate::now_unix() - m.created_unix
                    <= state.config.hybrid.max_batch_age_secs as i64)
    });
    let batch_seq = fresh_batch.map_or(u64::MAX, |m| m.event_seq);
    let mut view = UserView::build(serving, &state.config, known, &events, batch_seq);
    if let Some(h) = adhoc {
        view.add_history(h);
    }
    let list = if fresh_batch.is_some() && adhoc.is_none() {
        state
            .store
            .get_list(user)?
            .map(|l| l.into_iter().map(|x| (x.item, x.score)).collect())
    } else {
        None
    };
    engine::compute(serving, &state.config, &view, params, flagged, list)
}

/// Real-time recommendations for an ad-hoc history (an anonymous visitor, a session).
#[utoipa::path(post, path = "/v1/recommendations", tag = "recommend", request_body = AdHocRequest,
    responses((status = 200, body = RecommendationResponse), (status = 400, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn adhoc_recommendations(
    State(state): AppRef,
    JsonBody(req): JsonBody<AdHocRequest>,
) -> ApiResult<axum::response::Response> {
    let k = check_k(&state, req.k)?;
    if let Some(u) = &req.user {
        check_user_id(u)?;
    }
    if req.history.len() > state.config.limits.max_history {
        return Err(ApiError::bad_request(format!(
            "history has {} items; at most {} are accepted",
            req.history.len(),
            state.config.limits.max_history
        )));
    }
    let serving = state.serving();
    let mut history = Vec::with_capacity(req.history.len());
    let mut unknown = Vec::new();
    for h in &req.history {
        let (id, v) = match h {
            HistoryItem::Id(id) => (id, 1.0),
            HistoryItem::Valued { item, value } => (item, value.unwrap_or(1.0)),
        };
        if !v.is_finite() {
            return Err(ApiError::invalid(format!(
                "history item `{id}`: value must be finite"
            )));
        }
        match serving.item(id) {
            Some(i) => history.push((i, v)),
            None => unknown.push(id.as_str()),
        }
    }
    if !unknown.is_empty() && !req.ignore_unknown {
        unknown.truncate(20);
        return Err(ApiError::invalid(format!(
            "unknown items in history: {} (pass \"ignore_unknown\": true to skip them)",
            unknown.join(", ")
        )));
    }
    let (flags, _) = state.flags();
    let flagged = engine::flagged_items(&serving, &flags, crate::now_unix());
    let params = RecParams {
        k,
        exclude_seen: req.exclude_seen.unwrap_or(true),
        exclude: item_list(&serving, &req.exclude),
        candidates: req
            .filter
            .as_deref()
            .map(|f| parse_filter(&serving, f))
            .transpose()?,
        explain: req.explain.unwrap_or(true),
        rerank: rerank_of(&state, req.rerank.as_deref())?,
        explore: None,
    };
    let c = match &req.user {
        Some(u) => compute_for(&state, &serving, u, &params, &flagged, Some(&history))?,
        None => {
            let mut view = UserView::default();
            view.add_history(&history);
            engine::compute(&serving, &state.config, &view, &params, &flagged, None)?
        }
    };
    record_served(&state, &serving, &c, crate::now_unix(), None);
    Ok(respond(
        &state,
        &serving,
        req.user.as_deref(),
        &c,
        false,
        None,
    ))
}

fn record_served(
    state: &AppState,
    serving: &crate::serving::Serving,
    c: &Computed,
    now: i64,
    arm: Option<ArmLabel<'_>>,
) {
    let strategy = match c.strategy {
        Strategy::Realtime => "realtime",
        Strategy::Batch => "batch",
        Strategy::ColdStart => "cold_start",
    };
    state.metrics.served(
        &serving.file.header.model,
        strategy,
        arm.map_or("none", |a| a.arm),
        &c.idx,
        now,
    );
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

/// One item of the served model's catalogue: its title (the dashboard shows a user's history with it).
#[utoipa::path(get, path = "/v1/items/{id}", tag = "recommend",
    params(("id" = String, Path, description = "External item id")),
    responses((status = 200, body = ItemInfo), (status = 404, body = ErrorBody)))]
pub async fn item_info(
    State(state): AppRef,
    PathArg(item): PathArg<String>,
) -> ApiResult<Json<ItemInfo>> {
    let serving = state.serving();
    let i = serving
        .item(&item)
        .ok_or_else(|| ApiError::not_found(format!("unknown item `{item}`")))?;
    let (flags, _) = state.flags();
    let flagged = engine::flagged_items(&serving, &flags, crate::now_unix()).contains(&i);
    Ok(Json(ItemInfo {
        title: serving.title(i).map(str::to_string),
        item,
        flagged,
    }))
}

/// Items similar to an item.
#[utoipa::path(get, path = "/v1/items/{id}/similar", tag = "recommend",
    params(("id" = String, Path, description = "External item id"), SimilarQuery),
    responses((status = 200, body = SimilarResponse), (status = 404, body = ErrorBody)))]
pub async fn similar_items(
    State(state): AppRef,
    PathArg(item): PathArg<String>,
    QueryArgs(q): QueryArgs<SimilarQuery>,
) -> ApiResult<Json<SimilarResponse>> {
    let k = check_k(&state, q.k)?;
    let serving = state.serving();
    let i = serving
        .item(&item)
        .ok_or_else(|| ApiError::not_found(format!("unknown item `{item}`")))?;
    let (flags, _) = state.flags();
    let flagged = engine::flagged_items(&serving, &flags, crate::now_unix());
    let sims = serving
        .model()
        .similar_items(i, k + flagged.len())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let items = sims
        .into_iter()
        .filter(|s| !flagged.contains(&s.item))
        .take(k)
        .map(|s| RecommendedItem {
            item: serving.item_id(s.item).to_string(),
            score: s.score,
            title: serving.title(s.item).map(str::to_string),
            propensity: None,
            reason: None,
            because: Vec::new(),
        })
        .collect();
    Ok(Json(SimilarResponse {
        request_id: state.request_id(),
        item,
        model_version: serving.version.clone(),
        items,
    }))
}

/// Records one event or a batch (a JSON object or an array). Answers only once every event is durably
/// written; an event whose `event_id` was stored before is acknowledged without being written again.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = Object, description = "One event or an array of events: {\"user\", \"item\", \"type\", \"timestamp\", ...}"),
    responses((status = 200, body = EventsResponse), (status = 400, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_events(
    State(state): AppRef,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<EventsResponse>> {
    let body = body.map_err(bytes_rejection)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let now = crate::now_unix();
    let parse = |v: serde_json::Value, at: Option<usize>| -> ApiResult<Event> {
        let where_ = at.map_or_else(String::new, |i| format!("events[{i}]: "));
        // The path names the field at fault (`timestamp: invalid type ...`).
        let e: Event = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            ApiError::invalid(format!("{where_}{at}{}", e.into_inner()))
        })?;
        e.validate(now)
            .map_err(|m| ApiError::invalid(format!("{where_}{m}")))?;
        Ok(e)
    };
    let events: Vec<Event> = match value {
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(ApiError::bad_request("empty event batch"));
            }
            if items.len() > state.config.limits.max_batch_events {
                return Err(ApiError::bad_request(format!(
                    "{} events in one batch; at most {}",
                    items.len(),
                    state.config.limits.max_batch_events
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| parse(v, Some(i)))
                .collect::<ApiResult<_>>()?
        }
        v @ serde_json::Value::Object(_) => vec![parse(v, None)?],
        _ => {
            return Err(ApiError::bad_request(
                "expected an event object or an array of events",
            ));
        }
    };
    let store = state.store.clone();
    let (events, appended) = blocking(move || {
        let appended = store.append(events.clone()).map_err(ApiError::from)?;
        Ok((events, appended))
    })
    .await?;
    for (e, a) in events.iter().zip(&appended) {
        state.note_event(&e.user, a.seq);
    }
    let fresh: Vec<Event> = events
        .into_iter()
        .zip(&appended)
        .filter(|(_, a)| !a.duplicate)
        .map(|(e, _)| e)
        .collect();
    state.metrics.events(&fresh, now);
    state.experiments.observe(&fresh);
    if let Some(sh) = &state.shadow {
        sh.observe(&fresh);
    }
    let duplicates = appended.iter().filter(|a| a.duplicate).count();
    Ok(Json(EventsResponse {
        accepted: appended.len() - duplicates,
        duplicates,
        seqs: appended.iter().map(|a| a.seq).collect(),
    }))
}

/// Query of `GET /v1/users/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only the newest `limit` events (default all).
    pub limit: Option<usize>,
}

/// A user's stored events, oldest first (what the server knows about them).
#[utoipa::path(get, path = "/v1/users/{id}/events", tag = "events",
    params(("id" = String, Path, description = "External user id"), EventsQuery),
    responses((status = 200, body = UserEventsResponse)))]
pub async fn user_events(
    State(state): AppRef,
    PathArg(user): PathArg<String>,
    QueryArgs(q): QueryArgs<EventsQuery>,
) -> ApiResult<Json<UserEventsResponse>> {
    check_user_id(&user)?;
    let mut events = state.store.user_events(&user)?;
    if let Some(l) = q.limit {
        let skip = events.len().saturating_sub(l);
        events.drain(..skip);
    }
    Ok(Json(UserEventsResponse { user, events }))
}

/// Forgets a user: their events, precomputed list and cached lists; their training history is no longer
/// used. Says how many records were removed.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "privacy",
    params(("id" = String, Path, description = "External user id")),
    responses((status = 200, body = DeleteResponse)))]
pub async fn delete_user(
    State(state): AppRef,
    PathArg(user): PathArg<String>,
) -> ApiResult<Json<DeleteResponse>> {
    check_user_id(&user)?;
    let store = state.store.clone();
    let u = user.clone();
    let suppress = state.serving().user(&user).is_some();
    let deleted = blocking(move || {
        let d = store.delete_user(&u)?;
        if suppress {
            store.forget_user(&u, crate::now_unix())?;
        }
        Ok(d)
    })
    .await?;
    let cache_entries = state.forget(&user);
    Ok(Json(DeleteResponse {
        removed: deleted.events + deleted.lists + cache_entries,
        user,
        events: deleted.events,
        lists: deleted.lists,
        cache_entries,
        training_history_suppressed: suppress,
    }))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: a model is loaded and the store answers.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Ready), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): AppRef) -> ApiResult<Json<Ready>> {
    let events = state
        .store
        .event_count()
        .map_err(|e| ApiError::unavailable(format!("store: {e}")))?;
    Ok(Json(Ready {
        status: "ready".into(),
        model_version: state.serving().version.clone(),
        events,
    }))
}

/// The model being served.
#[utoipa::path(get, path = "/v1/model", tag = "ops", responses((status = 200, body = ModelInfo)))]
pub async fn model_info(State(state): AppRef) -> Json<ModelInfo> {
    Json(model_info_of(&state))
}

/// What `GET /v1/model` says about the model being served.
pub fn model_info_of(state: &AppState) -> ModelInfo {
    let s = state.serving();
    let h = &s.file.header;
    ModelInfo {
        model: h.model.clone(),
        model_version: s.version.clone(),
        path: s.path.display().to_string(),
        params: h.params.clone(),
        dataset: h.dataset.clone(),
        n_users: h.n_users,
        n_items: h.n_items,
        loaded_unix: s.loaded_unix,
        ann: s.index.is_some(),
        mode: format!("{:?}", state.config.mode).to_lowercase(),
    }
}

/// Checks the admin API key of a request.
pub fn check_admin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(key) = &state.admin_key else {
        return Err(ApiError::forbidden(
            "admin endpoints are disabled: set admin.api_key in the config or TASTEBUD_ADMIN_KEY",
        ));
    };
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), key.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("wrong API key")),
        None => Err(ApiError::unauthorized(
            "admin endpoints need `X-Api-Key: KEY` or `Authorization: Bearer KEY`",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Loads a model file (the current path again, or `path`) and swaps it in while requests keep flowing.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin", request_body = ReloadRequest,
    responses((status = 200, body = ReloadResponse), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn admin_reload(
    State(state): AppRef,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ReloadResponse>> {
    check_admin(&state, &headers)?;
    let body = body.map_err(bytes_rejection)?;
    let req: ReloadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid reload request: {e}")))?
    };
    let _guard = state.reload_lock.lock().await;
    let st = state.clone();
    let (previous_version, model_version) = blocking(move || {
        st.reload(req.path.as_deref().map(std::path::Path::new))
            .map_err(ApiError::invalid)
    })
    .await?;
    Ok(Json(ReloadResponse {
        previous_version,
        model_version,
    }))
}

/// Off-policy evaluation of a candidate model's top-slot CTR from explored, propensity-logged slates (see
/// the `ope` module).
#[utoipa::path(post, path = "/v1/admin/ope", tag = "admin",
    request_body = crate::ope::OpeRequest,
    responses((status = 200, body = crate::ope::OpeResponse), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn admin_ope(
    State(state): AppRef,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<crate::ope::OpeResponse>> {
    check_admin(&state, &headers)?;
    let body = body.map_err(bytes_rejection)?;
    let req: crate::ope::OpeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        crate::ope::OpeRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid OPE request: {e}")))?
    };
    let st = state.clone();
    Ok(Json(
        blocking(move || crate::ope::evaluate(&st, &req)).await?,
    ))
}

/// The configuration in force (the API key redacted).
#[utoipa::path(get, path = "/v1/admin/config", tag = "admin",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn admin_config(
    State(state): AppRef,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    check_admin(&state, &headers)?;
    let mut c = state.config.clone();
    c.admin.api_key = c.admin.api_key.map(|_| "<redacted>".into());
    serde_json::to_value(&c)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Hides an item or sets its time to live: it leaves every list at once (cached and precomputed too).
#[utoipa::path(put, path = "/v1/admin/items/{id}", tag = "admin", request_body = FlagsRequest,
    params(("id" = String, Path, description = "External item id")),
    responses((status = 200, body = FlagsResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn admin_item_flags(
    State(state): AppRef,
    headers: HeaderMap,
    PathArg(item): PathArg<String>,
    JsonBody(req): JsonBody<FlagsRequest>,
) -> ApiResult<Json<FlagsResponse>> {
    check_admin(&state, &headers)?;
    if state.serving().item(&item).is_none() {
        return Err(ApiError::not_found(format!("unknown item `{item}`")));
    }
    let store = state.store.clone();
    let (id, flags) = (
        item.clone(),
        ItemFlags {
            hidden: req.hidden,
            expires_at: req.expires_at,
        },
    );
    blocking(move || store.set_item_flags(&id, flags).map_err(ApiError::from)).await?;
    state.refresh_flags().map_err(ApiError::internal)?;
    Ok(Json(FlagsResponse {
        item,
        hidden: req.hidden,
        expires_at: req.expires_at,
    }))
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): AppRef) -> ApiResult<impl IntoResponse> {
    let serving = state.serving();
    let head = state.store.last_seq()?;
    let batch = state.store.batch_meta()?.map(|m| m.event_seq);
    let text = state.metrics.render(
        crate::now_unix(),
        serving.model().n_items(),
        head,
        serving.event_seq(),
        batch,
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tastebud", description = "Recommendations, events and administration."),
    paths(user_recommendations, adhoc_recommendations, similar_items, item_info, post_events,
          user_events, delete_user, healthz, readyz, model_info, metrics, admin_reload, admin_config,
          admin_item_flags, crate::ops::admin_retrain, crate::dashboard::summary,
          crate::dashboard::page, shadow_report, admin_ope, crate::experiments::list, crate::experiments::create, crate::experiments::stop, crate::experiments::report),
    components(schemas(ErrorBody, RecommendationResponse, AdHocRequest, HistoryItem, SimilarResponse,
                       ItemInfo, EventsResponse, UserEventsResponse, DeleteResponse, Health, Ready,
                       ModelInfo, ReloadRequest, ReloadResponse, FlagsRequest, FlagsResponse,
                       crate::dashboard::DashboardSummary, crate::dashboard::Kpis,
                       crate::dashboard::RegistryRow, crate::metrics::SeriesPoint,
                       crate::metrics::SecondPoint)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

/// The OpenAPI document as pretty JSON (what `/openapi.json` serves and `openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}
