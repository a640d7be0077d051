//! How a recommendation is computed: the user's history (training history plus every acknowledged event),
//! the source of the list (real time, precomputed, cold start), retrieval (exact or ANN then exact
//! re-scoring) and the freshness rules (consumed items left out, unclicked impressions demoted, hidden and
//! expired items removed).

use std::collections::HashMap;

use serde::Serialize;
use tastebud_core::{ItemIdx, Scored, UserIdx};
use tastebud_index::VectorIndex;
use tastebud_models::{Exclude, Query};
use tastebud_store::{EventType, ItemFlags, Stored};
use utoipa::ToSchema;

use crate::config::{Config, Mode};
use crate::error::{ApiError, ApiResult};
use crate::serving::Serving;

/// One recommended item.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RecommendedItem {
    /// External item id.
    pub item: String,
    /// The model's score (higher is better; not comparable across models).
    pub score: f32,
    /// Title, when the dataset has titles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A sentence saying why, when explanations were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Probability that exploration put this item in this slot given the slots above (present only when
    /// the slate was explored): log it on the impression and click events for off-policy evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// The history items that contributed most, when explanations were asked for and the model has them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub because: Vec<Because>,
}

/// A history item behind a recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Because {
    /// External item id.
    pub item: String,
    /// Title, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its contribution to the score.
    pub contribution: f32,
}

/// Where a list came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Computed now by the model from the user's history.
    Realtime,
    /// Precomputed by `tastebud batch`.
    Batch,
    /// The user has no history: the cold-start chain answered (see `fallback`).
    ColdStart,
}

/// A computed list, before the per-request fields (request id) are added.
#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    /// The items, best first.
    pub items: Vec<RecommendedItem>,
    /// Where they came from.
    pub strategy: Strategy,
    /// The cold-start strategy that answered (`popularity`, `model`), if any.
    pub fallback: Option<&'static str>,
    /// Whether the ANN index retrieved the candidates.
    pub ann: bool,
    /// Item indices of the items, for the cheap flag re-check of cached lists.
    pub idx: Vec<ItemIdx>,
    /// `items` as JSON, serialised once (a cached list is answered without re-serialising it).
    pub items_json: String,
}

/// What the request asks for.
#[derive(Clone, Debug, Default)]
pub struct RecParams {
    /// How many items.
    pub k: usize,
    /// Leave out consumed items (default true; false for re-watchable catalogues).
    pub exclude_seen: bool,
    /// Items to leave out besides.
    pub exclude: Vec<ItemIdx>,
    /// When set, rank only these (from `filter=`).
    pub candidates: Option<Vec<ItemIdx>>,
    /// Explain each item.
    pub explain: bool,
    /// The re-ranking to apply (method `none`: the model's order).
    pub rerank: crate::config::RerankConfig,
    /// Epsilon-greedy exploration of the slate (`None`: the model's order).
    pub explore: Option<Explore>,
}

/// Epsilon-greedy slate exploration: each slot, top first, takes the best remaining item of the model's
/// top `pool` with probability `1 - epsilon` and a uniformly drawn remaining one otherwise, so every slot's
/// propensity is exact: `1 - epsilon + epsilon/R` for the best remaining item, `epsilon/R` for the others
/// (`R` items remaining in the pool).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Explore {
    /// Exploration probability per slot, in `(0, 1]`.
    pub epsilon: f64,
    /// Candidates explored (the model's top `pool`, at least k).
    pub pool: usize,
}

/// Fills `k` slots from `ranked` (best first) by [`Explore`]'s rule; returns the slate with each slot's
/// propensity.
pub fn explore_slate(
    ranked: &[Scored],
    k: usize,
    e: Explore,
    rng: &mut impl rand::Rng,
) -> Vec<(Scored, f64)> {
    let mut pool: Vec<Scored> = ranked.iter().take(e.pool.max(k)).copied().collect();
    let mut out = Vec::with_capacity(k.min(pool.len()));
    while out.len() < k && !pool.is_empty() {
        let r = pool.len() as f64;
        let explore = rng.random::<f64>() < e.epsilon;
        let at = if explore {
            rng.random_range(0..pool.len())
        } else {
            0
        };
        let p = if at == 0 {
            1.0 - e.epsilon + e.epsilon / r
        } else {
            e.epsilon / r
        };
        out.push((pool.remove(at), p));
    }
    out
}

/// What the server knows about a user at request time.
#[derive(Clone, Debug, Default)]
pub struct UserView {
    /// The user's index at training time, when known and not forgotten.
    pub known: Option<UserIdx>,
    /// Training history merged with the event history by the event rules.
    pub history: Vec<(ItemIdx, f32)>,
    /// Whether events (or an ad-hoc history) changed the training history.
    pub changed: bool,
    /// Items consumed through events (including dislikes), besides the history.
    pub consumed: Vec<ItemIdx>,
    /// Items shown without a click since, with the count of such impressions.
    pub unclicked: HashMap<ItemIdx, u32>,
    /// Events of this user after the batch's high-water mark.
    pub events_since_batch: u64,
}

impl UserView {
    /// Builds the view from the training history and the user's stored events (in log order).
    pub fn build(
        serving: &Serving,
        config: &Config,
        known: Option<UserIdx>,
        events: &[Stored],
        batch_seq: u64,
    ) -> Self {
        let mut values: HashMap<ItemIdx, f32> = HashMap::new();
        let mut order: Vec<ItemIdx> = Vec::new();
        if let Some(u) = known {
            for (i, v) in serving.train_history(u) {
                values.insert(i, v);
                order.push(i);
            }
        }
        let mut view = UserView {
            known,
            ..UserView::default()
        };
        let rules = &config.events;
        let now = crate::now_unix();
        let consumed_types = &config.freshness.consumed_types;
        for s in events {
            if s.seq > batch_seq {
                view.events_since_batch += 1;
            }
            let e = &s.event;
            if e.kind == EventType::Impression {
                for id in &e.items {
                    if let Some(i) = serving.item(id) {
                        *view.unclicked.entry(i).or_insert(0) += 1;
                    }
                }
                continue;
            }
            let Some(i) = e.item.as_deref().and_then(|id| serving.item(id)) else {
                continue; // an item the model does not know: nothing to fold in
            };
            if consumed_types.contains(&e.kind) {
                view.consumed.push(i);
            }
            let weight = rules.weight(e, now);
            if rules.is_positive(e, now) {
                view.unclicked.remove(&i);
            }
            let entry = values.entry(i).or_insert_with(|| {
                order.push(i);
                0.0
            });
            match weight {
                None => *entry = e.value.unwrap_or(0.0) as f32,
                Some(w) => *entry += w,
            }
            view.changed = true;
        }
        view.history = order
            .into_iter()
            .filter_map(|i| values.get(&i).map(|&v| (i, v)))
            .filter(|&(_, v)| v > 0.0)
            .collect();
        view
    }

    /// Adds an ad-hoc history (`POST /v1/recommendations`): each item's value is set (default 1).
    pub fn add_history(&mut self, items: &[(ItemIdx, f32)]) {
        for &(i, v) in items {
            match self.history.iter_mut().find(|(j, _)| *j == i) {
                Some(e) => e.1 = v,
                None => self.history.push((i, v)),
            }
            self.changed = true;
        }
        self.history.retain(|&(_, v)| v > 0.0);
    }

    /// Whether the user has any history at all.
    pub fn is_cold(&self) -> bool {
        self.history.is_empty()
    }
}

/// Items removed from every list: hidden, or past their time to live at `now`.
pub fn flagged_items(serving: &Serving, flags: &[(String, ItemFlags)], now: i64) -> Vec<ItemIdx> {
    flags
        .iter()
        .filter(|(_, f)| f.hidden || f.expires_at.is_some_and(|t| t <= now))
        .filter_map(|(id, _)| serving.item(id))
        .collect()
}

/// Computes a list. `precomputed` is the user's stored batch list (external ids), when the mode may use it.
pub fn compute(
    serving: &Serving,
    config: &Config,
    view: &UserView,
    params: &RecParams,
    flagged: &[ItemIdx],
    precomputed: Option<Vec<(String, f32)>>,
) -> ApiResult<Computed> {
    let n = serving.model().n_items();
    let mut blocked: Vec<ItemIdx> = flagged.to_vec();
    blocked.extend_from_slice(&params.exclude);
    let exclude_seen = params.exclude_seen && config.freshness.exclude_consumed;
    if exclude_seen {
        blocked.extend_from_slice(&view.consumed);
    }
    blocked.sort_unstable();
    blocked.dedup();
    // Items that will be demoted: fetch that many more so the final top k is exact.
    let decay = config.freshness.impression_decay;
    let threshold = config.freshness.impressions_before_discount;
    let demoted: HashMap<ItemIdx, u32> = if decay < 1.0 {
        view.unclicked
            .iter()
            .filter(|&(_, &c)| c >= threshold)
            .map(|(&i, &c)| (i, c - threshold + 1))
            .collect()
    } else {
        HashMap::new()
    };
    let reranker = params.rerank.build().map_err(ApiError::bad_request)?;
    let mut fetch = params.k + demoted.len();
    if reranker.is_some() {
        fetch = fetch.max(params.rerank.candidates);
    }
    if let Some(e) = params.explore {
        fetch = fetch.max(e.pool);
    }
    let fetch = fetch.min(n);

    let mut precomputed_explanations: Option<HashMap<ItemIdx, tastebud_models::Explanation>> = None;
    let use_list = match config.mode {
        Mode::Realtime => false,
        Mode::Batch => true,
        Mode::Hybrid => view.events_since_batch < config.hybrid.realtime_after_events.max(1),
    };
    let (mut ranked, strategy, fallback, ann) = if use_list && let Some(list) = precomputed {
        let history: std::collections::HashSet<ItemIdx> =
            view.history.iter().map(|&(i, _)| i).collect();
        let cands: Option<std::collections::HashSet<ItemIdx>> = params
            .candidates
            .as_ref()
            .map(|c| c.iter().copied().collect());
        let items: Vec<Scored> = list
            .into_iter()
            .filter_map(|(id, score)| serving.item(&id).map(|item| Scored { item, score }))
            .filter(|s| blocked.binary_search(&s.item).is_err())
            .filter(|s| !exclude_seen || !history.contains(&s.item))
            .filter(|s| cands.as_ref().is_none_or(|c| c.contains(&s.item)))
            .take(fetch)
            .collect();
        (items, Strategy::Batch, None, false)
    } else if config.mode == Mode::Batch || view.is_cold() {
        let (items, which) = cold_start(serving, config, params, &blocked, fetch)?;
        (items, Strategy::ColdStart, which, false)
    } else if let Some((items, e)) =
        realtime_explained(serving, view, params, &blocked, exclude_seen, fetch)?
    {
        precomputed_explanations = Some(e);
        (items, Strategy::Realtime, None, false)
    } else {
        let (items, ann) = realtime(serving, config, view, params, &blocked, exclude_seen, fetch)?;
        (items, Strategy::Realtime, None, ann)
    };

    if !demoted.is_empty() {
        let mut keyed: Vec<(f64, usize, Scored)> = ranked
            .drain(..)
            .enumerate()
            .map(|(r, s)| {
                let e = demoted.get(&s.item).copied().unwrap_or(0);
                ((r + 1) as f64 / decay.powi(e as i32), r, s)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        ranked = keyed.into_iter().map(|(_, _, s)| s).collect();
    }
    if let Some(r) = &reranker {
        let mut ctx = tastebud_models::rerank::RerankContext::new().history(&view.history);
        if let Some(f) = serving.file.context.item_features.as_ref() {
            ctx = ctx.features(f, &params.rerank.column);
        }
        if !serving.item_counts.is_empty() {
            ctx = ctx.popularity(&serving.item_counts);
        }
        ranked = r
            .rerank(&ranked, params.k, &ctx)
            .map_err(|e| ApiError::bad_request(format!("rerank: {e}")))?;
    }
    let propensities: Option<Vec<f64>> = match params.explore {
        Some(e) => {
            let slate = explore_slate(&ranked, params.k, e, &mut rand::rng());
            let p = slate.iter().map(|s| s.1).collect();
            ranked = slate.into_iter().map(|s| s.0).collect();
            Some(p)
        }
        None => None,
    };
    ranked.truncate(params.k);

    let q = query_of(view, &[], exclude_seen);
    let idx: Vec<ItemIdx> = ranked.iter().map(|s| s.item).collect();
    let explanations = if let Some(mut pre) = precomputed_explanations {
        idx.iter().map(|i| pre.remove(i)).collect()
    } else if params.explain && strategy != Strategy::ColdStart {
        model_err(serving.model().explain_many(&q, &idx, 3))?
    } else {
        vec![None; idx.len()]
    };
    let mut items = Vec::with_capacity(ranked.len());
    for (slot, (s, e)) in ranked.iter().zip(explanations).enumerate() {
        let mut item = RecommendedItem {
            item: serving.item_id(s.item).to_string(),
            score: s.score,
            title: serving.title(s.item).map(str::to_string),
            propensity: propensities.as_ref().map(|p| p[slot]),
            reason: None,
            because: Vec::new(),
        };
        if params.explain {
            // Models without per-item attributions (popularity, rules, ...) give their own kind of reason.
            let own = if e.is_none() && strategy != Strategy::ColdStart {
                model_err(serving.model().reason(&q, s.item))?
            } else {
                None
            };
            explain(
                serving,
                e,
                own,
                &view.history,
                strategy,
                fallback,
                &mut item,
            );
        }
        items.push(item);
    }
    let items_json = serde_json::to_string(&items)
        .map_err(|e| ApiError::internal(format!("encoding items: {e}")))?;
    Ok(Computed {
        idx,
        items_json,
        items,
        strategy,
        fallback,
        ann,
    })
}

fn query_of<'a>(view: &'a UserView, blocked: &'a [ItemIdx], exclude_seen: bool) -> Query<'a> {
    let mut q = Query::new(&view.history).exclude(if exclude_seen {
        Exclude::SeenAnd(blocked)
    } else {
        Exclude::Items(blocked)
    });
    // The stored user state is only valid for exactly the training history.
    if let (Some(u), false) = (view.known, view.changed) {
        q = q.user(u);
    }
    q
}

fn realtime(
    serving: &Serving,
    config: &Config,
    view: &UserView,
    params: &RecParams,
    blocked: &[ItemIdx],
    exclude_seen: bool,
    fetch: usize,
) -> ApiResult<(Vec<Scored>, bool)> {
    let model = serving.model();
    let mut q = query_of(view, blocked, exclude_seen);
    if let Some(c) = &params.candidates {
        q = q.candidates(c);
        return Ok((model_err(model.recommend(&q, fetch))?, false));
    }
    if let Some(index) = &serving.index
        && let Some(v) = model_err(model.query_embedding(&q))?
    {
        let n = model.n_items();
        let mut skip = vec![false; n];
        for &i in blocked {
            skip[i.get()] = true;
        }
        if exclude_seen {
            for &(i, _) in &view.history {
                skip[i.get()] = true;
            }
        }
        let allow = |id: u32| !skip.get(id as usize).copied().unwrap_or(true);
        let want = fetch * config.ann.oversample.max(1);
        let hits = index
            .search(&v, want, Some(&allow))
            .map_err(|e| ApiError::internal(format!("ANN search: {e}")))?;
        let cands: Vec<ItemIdx> = hits.iter().map(|h| ItemIdx(h.id)).collect();
        let q = q.candidates(&cands);
        return Ok((model_err(model.recommend(&q, fetch))?, true));
    }
    Ok((model_err(model.recommend(&q, fetch))?, false))
}

/// Explanations by item.
type Explained = HashMap<ItemIdx, tastebud_models::Explanation>;

/// The exact real-time path with explanations computed alongside the ranking (one factorisation for
/// both in ALS). `None` when another path applies (candidates, ANN).
fn realtime_explained(
    serving: &Serving,
    view: &UserView,
    params: &RecParams,
    blocked: &[ItemIdx],
    exclude_seen: bool,
    fetch: usize,
) -> ApiResult<Option<(Vec<Scored>, Explained)>> {
    if !params.explain
        || params.candidates.is_some()
        || serving.index.is_some()
        || params.rerank.method != "none"
    {
        return Ok(None);
    }
    let q = query_of(view, blocked, exclude_seen);
    let (recs, e) = model_err(serving.model().recommend_explained(&q, fetch, 3))?;
    let map = recs
        .iter()
        .zip(e)
        .filter_map(|(s, e)| e.map(|e| (s.item, e)))
        .collect();
    Ok(Some((recs, map)))
}

fn cold_start(
    serving: &Serving,
    config: &Config,
    params: &RecParams,
    blocked: &[ItemIdx],
    fetch: usize,
) -> ApiResult<(Vec<Scored>, Option<&'static str>)> {
    for s in &config.cold_start {
        match s.as_str() {
            "popularity" if !serving.popularity.is_empty() => {
                let cands: Option<std::collections::HashSet<ItemIdx>> = params
                    .candidates
                    .as_ref()
                    .map(|c| c.iter().copied().collect());
                let n = serving.popularity.len() as f32;
                let items: Vec<Scored> = serving
                    .popularity
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| blocked.binary_search(i).is_err())
                    .filter(|(_, i)| cands.as_ref().is_none_or(|c| c.contains(i)))
                    .take(fetch)
                    .map(|(r, &item)| Scored {
                        item,
                        score: 1.0 - r as f32 / n,
                    })
                    .collect();
                return Ok((items, Some("popularity")));
            }
            "model" => {
                let mut q = Query::new(&[]).exclude(Exclude::Items(blocked));
                if let Some(c) = &params.candidates {
                    q = q.candidates(c);
                }
                let items = model_err(serving.model().recommend(&q, fetch))?;
                return Ok((items, Some("model")));
            }
            _ => {}
        }
    }
    Ok((Vec::new(), None))
}

fn explain(
    serving: &Serving,
    explanation: Option<tastebud_models::Explanation>,
    own: Option<tastebud_models::reason::Reason>,
    history: &[(ItemIdx, f32)],
    strategy: Strategy,
    fallback: Option<&'static str>,
    out: &mut RecommendedItem,
) {
    if strategy == Strategy::ColdStart {
        out.reason = Some(match fallback {
            Some("popularity") => "Popular with everyone right now".to_string(),
            _ => "Recommended for new visitors".to_string(),
        });
        return;
    }
    let name = |i: ItemIdx| {
        serving
            .title(i)
            .map_or_else(|| serving.item_id(i).to_string(), str::to_string)
    };
    if let Some(e) = explanation {
        out.because = e
            .because
            .iter()
            .map(|&(i, c)| Because {
                item: serving.item_id(i).to_string(),
                title: serving.title(i).map(str::to_string),
                contribution: c,
            })
            .collect();
        let names: Vec<String> = e.because.iter().take(2).map(|&(i, _)| name(i)).collect();
        out.reason = Some(match names.as_slice() {
            [] => "Recommended for you".to_string(),
            [a] => format!("Because you liked {a}"),
            [a, b, ..] => format!("Because you liked {a} and {b}"),
        });
    } else {
        // The model's own reason ("popular in Comedy this week", "people who liked X also liked this"),
        // or "similar to titles you liked".
        let r = own.unwrap_or(if history.is_empty() {
            tastebud_models::reason::Reason::ForYou
        } else {
            tastebud_models::reason::Reason::Taste {
                history_len: history.len(),
            }
        });
        let text = r.render(&tastebud_models::reason::RenderContext::new(&name).verb("liked"));
        let mut c = text.chars();
        out.reason = Some(match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => text,
        });
    }
}

fn model_err<T>(r: tastebud_core::Result<T>) -> ApiResult<T> {
    r.map_err(|e| match e {
        tastebud_core::Error::IndexOutOfRange { .. } => ApiError::invalid(e.to_string()),
        other => ApiError::internal(other.to_string()),
    })
}
