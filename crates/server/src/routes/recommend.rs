//! Recommendations: for a user, for an ad-hoc history, similar items, one item; and the shadow report.
//! Each handler checks its input, then calls [`tastebud_serve::Pipeline`] once.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Serialize;
use tastebud_serve::{Explore, Input, Recommended, RecommendedItem, Request, Serving, Strategy};

use crate::dto::{
    AdHocRequest, HistoryItem, ItemInfo, RecQuery, RecommendationResponse, ShadowQuery,
    SimilarQuery, SimilarResponse,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonObject, PathArg, QueryArgs, RecommendationsKey, check_k, check_user_id};
use crate::state::{AppState, CacheKey};

type AppRef = State<Arc<AppState>>;

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

fn explore_of(state: &AppState, epsilon: Option<f64>, k: usize) -> ApiResult<Option<Explore>> {
    let e = epsilon.unwrap_or(state.config.explore.epsilon);
    if !(0.0..=1.0).contains(&e) {
        return Err(ApiError::bad_request(format!(
            "explore: {e} is not in [0, 1]"
        )));
    }
    Ok((e > 0.0).then(|| Explore {
        epsilon: e,
        pool: state.config.explore.pool.max(k),
    }))
}

/// A request's `rerank=METHOD[:PARAM]` over the configured re-ranker (`None`: the configured one).
fn rerank_of(
    state: &AppState,
    spec: Option<&str>,
) -> ApiResult<Option<tastebud_serve::RerankConfig>> {
    spec.filter(|s| !s.is_empty())
        .map(|s| {
            state
                .pipeline
                .config()
                .rerank
                .with_override(s)
                .map_err(ApiError::bad_request)
        })
        .transpose()
}

/// The pipeline request of a query: `k`, exclusions, filter, explanations, re-ranking, exploration.
#[allow(clippy::too_many_arguments)]
fn request_of(
    state: &AppState,
    serving: &Serving,
    k: usize,
    exclude_seen: bool,
    exclude: Vec<tastebud_core::ItemIdx>,
    filter: Option<&str>,
    explain: bool,
    rerank: Option<&str>,
    explore: Option<Explore>,
) -> ApiResult<Request> {
    Ok(Request {
        k,
        exclude_seen,
        exclude,
        // An empty `filter=` (or `rerank=`) is no filter, like an absent one.
        candidates: filter
            .filter(|f| !f.is_empty())
            .map(|f| {
                // `column:value` that names a column the model's items lack is well-formed but
                // unprocessable (422); a malformed filter stays a 400.
                let well_formed = f.split_once(':').is_some_and(|(c, _)| !c.is_empty());
                serving.parse_filter(f).map_err(|e| {
                    let e = ApiError::from(e);
                    if well_formed && e.status == axum::http::StatusCode::BAD_REQUEST {
                        ApiError::invalid(e.message)
                    } else {
                        e
                    }
                })
            })
            .transpose()?,
        explain,
        rerank: rerank_of(state, rerank)?,
        explore,
        knowledge: None,
    })
}

/// Runs the pipeline for `user` (their stored history, plus `adhoc` when given), or for the ad-hoc history
/// alone.
///
/// On the request's own worker, not the blocking pool: a list costs well under a millisecond of CPU and
/// reads (from the page cache) only the user's own events, and the hop to the blocking pool cost 11-17 %
/// of real-time throughput in `bench-serve`. Writes (events, erasure) and jobs (reload, OPE, retraining)
/// go through [`crate::extract::blocking`].
fn run_pipeline(
    state: &AppState,
    serving: &Serving,
    flagged: &[tastebud_core::ItemIdx],
    user: Option<&str>,
    adhoc: Option<&[(tastebud_core::ItemIdx, f32)]>,
    request: &Request,
    now: i64,
) -> ApiResult<Recommended> {
    let input = match user {
        Some(id) => Input::User { id, adhoc },
        None => Input::History(adhoc.unwrap_or(&[])),
    };
    let data = state.storage.users.as_ref();
    Ok(state
        .pipeline
        .recommend(serving, data, flagged, input, request, now)?)
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
    #[serde(skip_serializing_if = "Option::is_none")]
    knowledge: Option<&'a tastebud_models::knowledge::Outcome>,
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
    serving: &Serving,
    user: Option<&str>,
    c: &Recommended,
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
        knowledge: c.knowledge.as_ref(),
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
///
/// Needs the service key when `[auth] require_key_for_recommendations` is set.
#[utoipa::path(get, path = "/v1/users/{id}/recommendations", tag = "recommend",
    params(crate::dto::UserPath, RecQuery),
    responses((status = 200, body = RecommendationResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, description = "A filter naming a column or value the items lack", body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security((), ("service_key" = []), ("admin_key" = [])))]
pub async fn user_recommendations(
    _: RecommendationsKey,
    State(state): AppRef,
    PathArg(user): PathArg<String>,
    QueryArgs(q): QueryArgs<RecQuery>,
) -> ApiResult<axum::response::Response> {
    check_user_id(&user)?;
    let k = check_k(&state, q.k)?;
    let exclude_seen = q.exclude_seen.unwrap_or(true);
    let explain = q.explain.unwrap_or(true);
    // On a shared store this also applies what other replicas changed (flags, experiments, erasures),
    // so it comes before reading the flags.
    let versions = crate::extract::store_io(&state, || state.sync_user(&user))?;
    let seq = versions.seq;
    let (flags, flags_gen) = state.flags();
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
        user_gen: versions.consent,
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
    let flagged = tastebud_serve::flagged_items(&serving, &flags, now);
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
    // Behind the in-process cache, the one replicas share (Redis), when configured.
    if cache.is_some()
        && let Some(c) = crate::extract::store_io(&state, || {
            crate::shared_cache::get(&state, &key, &serving.version)
        })
        && !c.idx.iter().any(|i| flagged.contains(i))
    {
        let c = Arc::new(c);
        state.metrics.cache_lookup(true, now);
        state.cache_insert(key, c.clone());
        record_served(&state, &serving, &c, now, arm_label);
        mirror_shadow(&state, &user, &q, k, exclude_seen, &c, None);
        return Ok(respond(&state, &serving, Some(&user), &c, true, arm_label));
    }
    state.metrics.cache_lookup(false, now);
    let request = request_of(
        &state,
        &serving,
        k,
        exclude_seen,
        serving.item_list(q.exclude.iter().flat_map(|s| s.split(','))),
        q.filter.as_deref(),
        explain,
        q.rerank.as_deref(),
        explore,
    )?;
    let started = std::time::Instant::now();
    let c = crate::extract::store_io(&state, || {
        run_pipeline(&state, &serving, &flagged, Some(&user), None, &request, now)
    })?;
    let compute_ms = started.elapsed().as_secs_f64() * 1e3;
    let c = Arc::new(c);
    if cache.is_some() {
        crate::extract::store_io(&state, || {
            crate::shared_cache::put(&state, &key, &serving.version, &c);
        });
        state.cache_insert(key, c.clone());
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
    production: &Recommended,
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
        let computed = (|| -> ApiResult<Recommended> {
            let request = request_of(
                &state,
                s,
                k,
                exclude_seen,
                s.item_list(exclude.iter().flat_map(|x| x.split(','))),
                filter.as_deref(),
                false,
                rerank.as_deref(),
                None,
            )?;
            let flagged = state.flagged(s, now);
            let input = Input::User {
                id: &user,
                adhoc: None,
            };
            Ok(state.pipeline.recommend(
                s,
                state.storage.users.as_ref(),
                &flagged,
                input,
                &request,
                now,
            )?)
        })();
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let list = computed
            .ok()
            .map(|c| (c.items.into_iter().map(|i| i.item).collect(), ms));
        shadow.record(&user, now, production, production_ms, list);
    });
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

/// Real-time recommendations for an ad-hoc history (an anonymous visitor, a session).
///
/// Needs the service key when `[auth] require_key_for_recommendations` is set.
#[utoipa::path(post, path = "/v1/recommendations", tag = "recommend",
    request_body(content = AdHocRequest, content_type = "application/json"),
    responses((status = 200, body = RecommendationResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("service_key" = []), ("admin_key" = [])))]
pub async fn adhoc_recommendations(
    _: RecommendationsKey,
    State(state): AppRef,
    JsonObject(req): JsonObject<AdHocRequest>,
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
    let now = crate::now_unix();
    let flagged = state.flagged(&serving, now);
    let mut request = request_of(
        &state,
        &serving,
        k,
        req.exclude_seen.unwrap_or(true),
        serving.item_list(&req.exclude),
        req.filter.as_deref(),
        req.explain.unwrap_or(true),
        req.rerank.as_deref(),
        None,
    )?;
    request.knowledge = knowledge_of(&serving, &req)?;
    let c = run_pipeline(
        &state,
        &serving,
        &flagged,
        req.user.as_deref(),
        Some(&history),
        &request,
        now,
    )?;
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

/// The knowledge-based part of an ad-hoc request, when it has constraints or preferences: one that does
/// not parse, or names a column, label or kind the items lack, is a 422.
fn knowledge_of(
    serving: &Serving,
    req: &AdHocRequest,
) -> ApiResult<Option<Arc<tastebud_models::knowledge::KnowledgeQuery>>> {
    use tastebud_models::knowledge::{KnowledgeError, KnowledgeQuery, MAX_CONSTRAINTS};
    if req.constraints.is_empty() && req.preferences.is_empty() {
        if req.blend.is_some() || req.relax.is_some() {
            return Err(ApiError::invalid(
                "blend and relax apply to constraints or preferences, and the request has neither",
            ));
        }
        return Ok(None);
    }
    for (what, n) in [
        ("constraints", req.constraints.len()),
        ("preferences", req.preferences.len()),
    ] {
        if n > MAX_CONSTRAINTS {
            return Err(ApiError::bad_request(format!(
                "{n} {what}: at most {MAX_CONSTRAINTS} are accepted"
            )));
        }
    }
    let blend = req.blend.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&blend) {
        return Err(ApiError::bad_request(format!(
            "blend {blend} is not in [0, 1]"
        )));
    }
    let features = serving.file.context.item_features.as_ref().ok_or_else(|| {
        ApiError::invalid("constraints need item features, and this model's dataset has none")
    })?;
    let texts = |v: &[crate::dto::BoundedText]| v.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    let q = KnowledgeQuery::parse(
        features,
        &texts(&req.constraints),
        &texts(&req.preferences),
        blend as f32,
    )
    // The schema cannot state the grammar: a constraint that does not parse is unprocessable like one
    // naming what the items lack.
    .map_err(|e| match e {
        KnowledgeError::Syntax(m) | KnowledgeError::Unknown(m) => ApiError::invalid(m),
    })?;
    Ok(Some(Arc::new(q.relaxing(req.relax.unwrap_or(false)))))
}

fn record_served(
    state: &AppState,
    serving: &Serving,
    c: &Recommended,
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
    let flagged = state.flagged(&serving, crate::now_unix()).contains(&i);
    Ok(Json(ItemInfo {
        title: serving.title(i).map(str::to_string),
        item,
        flagged,
    }))
}

/// Items similar to an item.
///
/// Needs the service key when `[auth] require_key_for_recommendations` is set.
#[utoipa::path(get, path = "/v1/items/{id}/similar", tag = "recommend",
    params(crate::dto::ItemPath, SimilarQuery),
    responses((status = 200, body = SimilarResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("service_key" = []), ("admin_key" = [])))]
pub async fn similar_items(
    _: RecommendationsKey,
    State(state): AppRef,
    PathArg(item): PathArg<String>,
    QueryArgs(q): QueryArgs<SimilarQuery>,
) -> ApiResult<Json<SimilarResponse>> {
    let k = check_k(&state, q.k)?;
    let serving = state.serving();
    let i = serving
        .item(&item)
        .ok_or_else(|| ApiError::not_found(format!("unknown item `{item}`")))?;
    let flagged = state.flagged(&serving, crate::now_unix());
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
