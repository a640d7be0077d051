//! How a recommendation is computed, in one place: [`Pipeline`] takes the user's view ([`UserView`]:
//! training history plus every acknowledged event), finds the source of the list (real time, precomputed,
//! cold start), retrieves (exact, or ANN then exact re-scoring) with hidden, expired, excluded and
//! consumed items blocked, demotes unclicked impressions, re-ranks, explores and explains.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tastebud_core::{ItemIdx, Scored};
use tastebud_index::VectorIndex;
use tastebud_models::knowledge::{KnowledgeQuery, Outcome};
use tastebud_models::rerank::Rerank;
use tastebud_models::{Exclude, Query};
use tastebud_store::{Consent, ItemFlags, UserData};

use crate::config::{ColdStart, Freshness, Mode, PipelineConfig, RerankConfig};
use crate::error::{ServeError, ServeResult};
use crate::history::UserView;
use crate::model::Serving;

/// One recommended item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub because: Vec<Because>,
}

/// A history item behind a recommendation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub struct Recommended {
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
    /// What the request's constraints found (counts, conflict, minimal relaxations), when it had any.
    pub knowledge: Option<Outcome>,
}

/// What the request asks for.
#[derive(Clone, Debug, Default)]
pub struct Request {
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
    /// A re-ranking other than the configured one (`None`: the pipeline's `[rerank]`).
    pub rerank: Option<RerankConfig>,
    /// Epsilon-greedy exploration of the slate (`None`: the model's order).
    pub explore: Option<Explore>,
    /// Knowledge-based constraints and preferences over item features: only items meeting the
    /// constraints are ranked, by their utility blended with the model's score (see
    /// [`tastebud_models::knowledge`]).
    pub knowledge: Option<std::sync::Arc<KnowledgeQuery>>,
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

/// Items removed from every list: hidden, or past their time to live at `now`.
pub fn flagged_items(serving: &Serving, flags: &[(String, ItemFlags)], now: i64) -> Vec<ItemIdx> {
    flags
        .iter()
        .filter(|(_, f)| f.hidden || f.expires_at.is_some_and(|t| t <= now))
        .filter_map(|(id, _)| serving.item(id))
        .collect()
}

/// A user's stored batch list: external item ids with scores, best first.
pub type Precomputed = Vec<(String, f32)>;

/// The request's user: a user id (their training history and stored events, plus an optional ad-hoc
/// history on top), or an ad-hoc history alone.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A user (known at training time or not) and optionally items to add to their history.
    User {
        /// External user id.
        id: &'a str,
        /// Items added to the history for this request.
        adhoc: Option<&'a [(ItemIdx, f32)]>,
    },
    /// An anonymous history.
    History(&'a [(ItemIdx, f32)]),
}

/// The online pipeline: one configuration, checked once, and the one path every list takes (real-time
/// requests, batch precomputation, shadow, off-policy replay, offline evaluation of what is served):
/// retrieve (exact or ANN) -> block -> demote -> re-rank -> explore -> explain.
///
/// ```
/// use tastebud_serve::{Pipeline, PipelineConfig, Request};
/// let p = Pipeline::new(PipelineConfig::default()).unwrap();
/// assert_eq!(p.request(10).k, 10);
/// ```
pub struct Pipeline {
    config: PipelineConfig,
    reranker: Option<Box<dyn Rerank>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline over a configuration (validated here; the configured re-ranker is built once).
    pub fn new(config: PipelineConfig) -> ServeResult<Pipeline> {
        config.validate().map_err(ServeError::BadRequest)?;
        let reranker = config.rerank.build().map_err(ServeError::BadRequest)?;
        Ok(Pipeline { config, reranker })
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The same pipeline in another mode (batch precomputation and replay rank in real time).
    pub fn with_mode(&self, mode: Mode) -> ServeResult<Pipeline> {
        Pipeline::new(PipelineConfig {
            mode,
            ..self.config.clone()
        })
    }

    /// A request for `k` items with the configured defaults (exclude seen, explanations off, the
    /// configured re-ranker, no exploration).
    pub fn request(&self, k: usize) -> Request {
        Request {
            k,
            exclude_seen: true,
            ..Request::default()
        }
    }

    /// Whether recommendations may use the user's data: their consent to personalisation, as they set
    /// it or as the deployment implies it (`[privacy] consent_required`). Without it they get what a
    /// new user gets (the cold-start chain): neither their model row nor their events are read.
    pub fn may_personalise(&self, data: &dyn UserData, user: &str) -> ServeResult<bool> {
        let implied = Consent::implied(self.config.privacy.consent_required);
        Ok(data.consent(user)?.unwrap_or(implied).personalisation)
    }

    /// The user's view: training history (unless forgotten), stored events folded in, batch position;
    /// empty for a user without consent to personalisation ([`Self::may_personalise`]).
    /// Also returns the user's precomputed list when the mode may serve it and the batch is fresh.
    pub fn user_view(
        &self,
        serving: &Serving,
        data: &dyn UserData,
        user: &str,
        now: i64,
    ) -> ServeResult<(UserView, Option<Precomputed>)> {
        let personal = self.may_personalise(data, user)?;
        let events = if personal {
            data.user_events(user)?
        } else {
            Vec::new()
        };
        let known = if !personal || data.is_forgotten(user)? {
            None
        } else {
            serving.user(user)
        };
        let meta = if self.config.mode == Mode::Realtime || !personal {
            None
        } else {
            data.batch_meta()?
        };
        let max_age = self.config.hybrid.max_batch_age_secs;
        let fresh = meta.filter(|m| {
            m.model_version == serving.version
                && (max_age == 0 || now - m.created_unix <= max_age as i64)
        });
        let batch_seq = fresh.as_ref().map_or(u64::MAX, |m| m.event_seq);
        let view = UserView::build(serving, &self.config, known, &events, batch_seq, now);
        let list = match fresh {
            Some(_) => data
                .get_list(user)?
                .map(|l| l.into_iter().map(|x| (x.item, x.score)).collect()),
            None => None,
        };
        Ok((view, list))
    }

    /// Recommends for a user or an ad-hoc history: builds the view from `data`, then [`Self::rank`].
    /// `flagged` are the items removed from every list (see [`flagged_items`]).
    pub fn recommend(
        &self,
        serving: &Serving,
        data: &dyn UserData,
        flagged: &[ItemIdx],
        input: Input<'_>,
        request: &Request,
        now: i64,
    ) -> ServeResult<Recommended> {
        match input {
            Input::History(h) => {
                let view = UserView::of_history(h);
                self.rank(serving, &view, request, flagged, None)
            }
            Input::User { id, adhoc } => {
                let (mut view, list) = self.user_view(serving, data, id, now)?;
                let list = match adhoc {
                    Some(h) => {
                        view.add_history(h);
                        None
                    }
                    None => list,
                };
                self.rank(serving, &view, request, flagged, list)
            }
        }
    }

    /// Ranks for a view: retrieve (precomputed list, cold-start chain, or the model, exact or ANN, with
    /// blocked items excluded) -> demote unclicked impressions -> re-rank -> explore -> explain.
    /// `precomputed` is the user's stored batch list (external ids), when the mode may use it.
    pub fn rank(
        &self,
        serving: &Serving,
        view: &UserView,
        request: &Request,
        flagged: &[ItemIdx],
        precomputed: Option<Precomputed>,
    ) -> ServeResult<Recommended> {
        let config = &self.config;
        let own_reranker;
        let (reranker, rerank_cfg) = match &request.rerank {
            None => (self.reranker.as_deref(), &config.rerank),
            Some(c) => {
                own_reranker = c.build().map_err(ServeError::BadRequest)?;
                (own_reranker.as_deref(), c)
            }
        };
        let exclude_seen = request.exclude_seen && config.freshness.exclude_consumed;
        let blocked = blocked(view, request, flagged, exclude_seen);
        // 0. Knowledge-based constraints: the items that may be ranked, or nothing and why.
        let own_request;
        let mut knowledge = None;
        let request = match &request.knowledge {
            None => request,
            Some(kq) => {
                let sel = self.select(serving, view, request, kq, &blocked, exclude_seen)?;
                if sel.items.is_empty() {
                    return Ok(Recommended {
                        items: Vec::new(),
                        strategy: Strategy::Realtime,
                        fallback: None,
                        ann: false,
                        idx: Vec::new(),
                        items_json: "[]".to_string(),
                        knowledge: Some(sel.outcome),
                    });
                }
                own_request = Request {
                    candidates: Some(sel.items),
                    ..request.clone()
                };
                knowledge = Some((kq.clone(), sel.outcome));
                &own_request
            }
        };
        let demoted = demoted(view, &config.freshness);
        // Demoted items may drop out of the top k: fetch that many more so the final top k is exact.
        let mut fetch = request.k + demoted.len();
        if reranker.is_some() {
            fetch = fetch.max(rerank_cfg.candidates);
        }
        if let Some(e) = request.explore {
            fetch = fetch.max(e.pool);
        }
        // The blend needs the model's score of every qualifying item.
        if let (Some(_), Some(c)) = (&knowledge, &request.candidates) {
            fetch = fetch.max(c.len());
        }
        let fetch = fetch.min(serving.model().n_items());

        // 1-2. Retrieve, with blocked items excluded.
        let inline = request.explain && reranker.is_none();
        let r = self.retrieve(
            serving,
            view,
            request,
            (&blocked, exclude_seen, inline),
            fetch,
            precomputed,
        )?;
        let Retrieved {
            mut ranked,
            strategy,
            fallback,
            ann,
            mut explanations,
        } = r;
        // 2b. Rank the qualifying items by utility blended with the model's score.
        if let (Some((kq, _)), Some(c), Some(f)) = (
            &knowledge,
            &request.candidates,
            serving.file.context.item_features.as_ref(),
        ) {
            ranked = kq.rank(f, c, &ranked);
        }
        // 3. Demote unclicked impressions.
        if !demoted.is_empty() {
            ranked = demote(ranked, &demoted, config.freshness.impression_decay);
        }
        // 4. Re-rank.
        if let Some(r) = reranker {
            let mut ctx = tastebud_models::rerank::RerankContext::new().history(&view.history);
            if let Some(f) = serving.file.context.item_features.as_ref() {
                ctx = ctx.features(f, &rerank_cfg.column);
            }
            if !serving.item_counts.is_empty() {
                ctx = ctx.popularity(&serving.item_counts);
            }
            ranked = r
                .rerank(&ranked, request.k, &ctx)
                .map_err(|e| ServeError::BadRequest(format!("rerank: {e}")))?;
        }
        // 5. Explore.
        let propensities: Option<Vec<f64>> = match request.explore {
            Some(e) => {
                let slate = explore_slate(&ranked, request.k, e, &mut rand::rng());
                let p = slate.iter().map(|s| s.1).collect();
                ranked = slate.into_iter().map(|s| s.0).collect();
                Some(p)
            }
            None => None,
        };
        ranked.truncate(request.k);
        // 6. Explain.
        let q = query_of(view, &[], exclude_seen);
        let idx: Vec<ItemIdx> = ranked.iter().map(|s| s.item).collect();
        let explained: Vec<Option<tastebud_models::Explanation>> =
            if let Some(pre) = explanations.as_mut() {
                idx.iter().map(|i| pre.remove(i)).collect()
            } else if request.explain && strategy != Strategy::ColdStart {
                model_err(serving.model().explain_many(&q, &idx, 3))?
            } else {
                vec![None; idx.len()]
            };
        let mut items = Vec::with_capacity(ranked.len());
        for (slot, (s, e)) in ranked.iter().zip(explained).enumerate() {
            let mut item = RecommendedItem {
                item: serving.item_id(s.item).to_string(),
                score: s.score,
                title: serving.title(s.item).map(str::to_string),
                propensity: propensities.as_ref().map(|p| p[slot]),
                reason: None,
                because: Vec::new(),
            };
            if request.explain {
                // Models without per-item attributions (popularity, rules, ...) give their own reason.
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
                if let (Some((kq, outcome)), Some(f)) =
                    (&knowledge, serving.file.context.item_features.as_ref())
                {
                    let k = kq.reason(f, s.item, &outcome.relaxed).render();
                    item.reason = Some(match item.reason.take() {
                        Some(r) if !k.is_empty() => format!("{}. {r}", capitalise(&k)),
                        Some(r) => r,
                        None => capitalise(&k),
                    });
                }
            }
            items.push(item);
        }
        let items_json = serde_json::to_string(&items)
            .map_err(|e| ServeError::Internal(format!("encoding items: {e}")))?;
        Ok(Recommended {
            idx,
            items_json,
            items,
            strategy,
            fallback,
            ann,
            knowledge: knowledge.map(|(_, o)| o),
        })
    }

    /// The items a knowledge-based request may rank: of those not blocked (nor consumed when excluding
    /// them) and within `filter=`, the ones meeting the constraints, or the minimal relaxations.
    fn select(
        &self,
        serving: &Serving,
        view: &UserView,
        request: &Request,
        kq: &KnowledgeQuery,
        blocked: &[ItemIdx],
        exclude_seen: bool,
    ) -> ServeResult<tastebud_models::knowledge::Selection> {
        let features = serving.file.context.item_features.as_ref().ok_or_else(|| {
            ServeError::BadRequest(
                "constraints need item features, and this model's dataset has none".into(),
            )
        })?;
        let seen: HashSet<ItemIdx> = if exclude_seen {
            view.history.iter().map(|&(i, _)| i).collect()
        } else {
            HashSet::new()
        };
        let within: Option<HashSet<ItemIdx>> = request
            .candidates
            .as_ref()
            .map(|c| c.iter().copied().collect());
        let n = serving.model().n_items().min(features.len());
        let universe = (0..n as u32)
            .map(ItemIdx)
            .filter(|i| blocked.binary_search(i).is_err() && !seen.contains(i))
            .filter(|i| within.as_ref().is_none_or(|w| w.contains(i)));
        Ok(kq.select(features, universe))
    }

    /// Stage 1-2: the candidates, best first, with blocked items already left out.
    fn retrieve(
        &self,
        serving: &Serving,
        view: &UserView,
        request: &Request,
        (blocked, exclude_seen, explain_inline): (&[ItemIdx], bool, bool),
        fetch: usize,
        precomputed: Option<Precomputed>,
    ) -> ServeResult<Retrieved> {
        let config = &self.config;
        let use_list = match config.mode {
            Mode::Realtime => false,
            Mode::Batch => true,
            Mode::Hybrid => view.events_since_batch < config.hybrid.realtime_after_events.max(1),
        };
        if use_list && let Some(list) = precomputed {
            let history: HashSet<ItemIdx> = view.history.iter().map(|&(i, _)| i).collect();
            let cands: Option<HashSet<ItemIdx>> = request
                .candidates
                .as_ref()
                .map(|c| c.iter().copied().collect());
            let ranked = list
                .into_iter()
                .filter_map(|(id, score)| serving.item(&id).map(|item| Scored { item, score }))
                .filter(|s| blocked.binary_search(&s.item).is_err())
                .filter(|s| !exclude_seen || !history.contains(&s.item))
                .filter(|s| cands.as_ref().is_none_or(|c| c.contains(&s.item)))
                .take(fetch)
                .collect();
            return Ok(Retrieved::plain(ranked, Strategy::Batch));
        }
        if config.mode == Mode::Batch || view.is_cold() {
            return self.cold_start(serving, request, blocked, fetch);
        }
        let model = serving.model();
        let mut q = query_of(view, blocked, exclude_seen);
        if let Some(c) = &request.candidates {
            q = q.candidates(c);
            return Ok(Retrieved::plain(
                model_err(model.recommend(&q, fetch))?,
                Strategy::Realtime,
            ));
        }
        if let Some(index) = &serving.index
            && let Some(v) = model_err(model.query_embedding(&q))?
        {
            let mut skip = vec![false; model.n_items()];
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
                .map_err(|e| ServeError::Internal(format!("ANN search: {e}")))?;
            let cands: Vec<ItemIdx> = hits.iter().map(|h| ItemIdx(h.id)).collect();
            let q = q.candidates(&cands);
            let mut r =
                Retrieved::plain(model_err(model.recommend(&q, fetch))?, Strategy::Realtime);
            r.ann = true;
            return Ok(r);
        }
        // The exact path, with explanations computed alongside the ranking (one factorisation for both
        // in ALS) when the list keeps the model's order.
        if explain_inline {
            let (recs, e) = model_err(model.recommend_explained(&q, fetch, 3))?;
            let map = recs
                .iter()
                .zip(e)
                .filter_map(|(s, e)| e.map(|e| (s.item, e)))
                .collect();
            let mut r = Retrieved::plain(recs, Strategy::Realtime);
            r.explanations = Some(map);
            return Ok(r);
        }
        Ok(Retrieved::plain(
            model_err(model.recommend(&q, fetch))?,
            Strategy::Realtime,
        ))
    }

    /// The cold-start chain: the first strategy that can answer.
    fn cold_start(
        &self,
        serving: &Serving,
        request: &Request,
        blocked: &[ItemIdx],
        fetch: usize,
    ) -> ServeResult<Retrieved> {
        for &s in &self.config.cold_start {
            let ranked = match s {
                ColdStart::Popularity if !serving.popularity.is_empty() => {
                    let cands: Option<HashSet<ItemIdx>> = request
                        .candidates
                        .as_ref()
                        .map(|c| c.iter().copied().collect());
                    let n = serving.popularity.len() as f32;
                    serving
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
                        .collect()
                }
                ColdStart::Popularity => continue,
                ColdStart::Model => {
                    let mut q = Query::new(&[]).exclude(Exclude::Items(blocked));
                    if let Some(c) = &request.candidates {
                        q = q.candidates(c);
                    }
                    model_err(serving.model().recommend(&q, fetch))?
                }
            };
            let mut r = Retrieved::plain(ranked, Strategy::ColdStart);
            r.fallback = Some(s.as_str());
            return Ok(r);
        }
        Ok(Retrieved::plain(Vec::new(), Strategy::ColdStart))
    }
}

/// What retrieval found.
struct Retrieved {
    ranked: Vec<Scored>,
    strategy: Strategy,
    fallback: Option<&'static str>,
    ann: bool,
    explanations: Option<HashMap<ItemIdx, tastebud_models::Explanation>>,
}

impl Retrieved {
    fn plain(ranked: Vec<Scored>, strategy: Strategy) -> Self {
        Retrieved {
            ranked,
            strategy,
            fallback: None,
            ann: false,
            explanations: None,
        }
    }
}

/// Items never served in this list: flagged, excluded by the request, consumed (when excluding seen).
fn blocked(
    view: &UserView,
    request: &Request,
    flagged: &[ItemIdx],
    exclude_seen: bool,
) -> Vec<ItemIdx> {
    let mut blocked: Vec<ItemIdx> = flagged.to_vec();
    blocked.extend_from_slice(&request.exclude);
    if exclude_seen {
        blocked.extend_from_slice(&view.consumed);
    }
    blocked.sort_unstable();
    blocked.dedup();
    blocked
}

/// Items shown often enough without a click to be demoted, with how many steps.
fn demoted(view: &UserView, freshness: &Freshness) -> HashMap<ItemIdx, u32> {
    let threshold = freshness.impressions_before_discount;
    if freshness.impression_decay >= 1.0 {
        return HashMap::new();
    }
    view.unclicked
        .iter()
        .filter(|&(_, &c)| c >= threshold)
        .map(|(&i, &c)| (i, c - threshold + 1))
        .collect()
}

/// Reorders by effective rank `rank / decay^steps` (stable).
fn demote(ranked: Vec<Scored>, demoted: &HashMap<ItemIdx, u32>, decay: f64) -> Vec<Scored> {
    let mut keyed: Vec<(f64, usize, Scored)> = ranked
        .into_iter()
        .enumerate()
        .map(|(r, s)| {
            let e = demoted.get(&s.item).copied().unwrap_or(0);
            ((r + 1) as f64 / decay.powi(e as i32), r, s)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, _, s)| s).collect()
}

fn query_of<'a>(view: &'a UserView, blocked: &'a [ItemIdx], exclude_seen: bool) -> Query<'a> {
    let mut q = Query::new(&view.history)
        .sequence(&view.sequence)
        .exclude(if exclude_seen {
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
        out.reason = Some(capitalise(&text));
    }
}

/// `s` with its first letter in upper case.
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn model_err<T>(r: tastebud_core::Result<T>) -> ServeResult<T> {
    r.map_err(ServeError::from_model)
}
