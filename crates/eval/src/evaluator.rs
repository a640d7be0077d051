//! Running a model over a split: protocols, per-user values, catalogue metrics and segments.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Error, FeatureTable, Interactions, ItemIdx, Result, UserIdx, ensure_param};
use tastebud_models::{Exclude, Query, Recommender};

use crate::beyond::{Catalogue, LIST_METRICS, catalogue_metrics, list_metrics};
use crate::metrics::{MetricKind, MetricSet, Relevant};

/// How items are ranked for each test user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Protocol {
    /// Rank every item not in the user's training history (the default, and the honest one).
    Full,
    /// Rank only these items (minus the user's training history).
    Candidates {
        /// The candidate items.
        items: Vec<ItemIdx>,
    },
    /// For each relevant test item, rank it against `negatives` items sampled uniformly from those the user
    /// never interacted with (as in the NCF paper and Gorse). Numbers are **not comparable** with full
    /// ranking: they are much higher.
    Sampled {
        /// Sampled negatives per positive. By default, 100.
        negatives: usize,
        /// Sampling seed.
        seed: u64,
    },
}

impl Protocol {
    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        match self {
            Protocol::Full => "full ranking over all items not in the user's training data".into(),
            Protocol::Candidates { items } => format!(
                "ranking over a fixed set of {} candidate items",
                items.len()
            ),
            Protocol::Sampled { negatives, .. } => format!(
                "SAMPLED: each relevant item against {negatives} sampled negatives (not comparable with full ranking)"
            ),
        }
    }
}

/// Everything the evaluator reads from a split.
#[derive(Clone, Copy, Debug)]
pub struct EvalData<'a> {
    /// Training interactions: the history of known users, excluded items and popularity.
    pub train: &'a Interactions,
    /// Test interactions: relevance judgments.
    pub test: &'a Interactions,
    /// Query-time history of held-out users (strong generalisation); used instead of `train` when present.
    pub fold_in: Option<&'a Interactions>,
    /// Item features, for diversity.
    pub item_features: Option<&'a FeatureTable>,
    /// User features, for segment breakdowns.
    pub user_features: Option<&'a FeatureTable>,
}

/// Evaluation options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Ranking metrics and cut-offs.
    pub metrics: MetricSet,
    /// A test interaction is relevant when its value is at least this (e.g. 4 stars). By default, none: every
    /// test interaction is relevant.
    pub threshold: Option<f32>,
    /// Use the value as the relevance grade (graded NDCG); otherwise every relevant item has grade 1.
    pub graded: bool,
    /// Ranking protocol.
    pub protocol: Protocol,
    /// Compute beyond-accuracy metrics (coverage, diversity, novelty, serendipity, popularity, exposure).
    pub beyond: bool,
    /// Categorical item feature used for intra-list diversity. By default, `genres`.
    pub diversity_feature: String,
    /// Upper bounds of the cold-start buckets by number of training interactions. By default, 5, 20, 100
    /// (buckets 1-5, 6-20, 21-100, >100; users with none are "new").
    pub cold_buckets: Vec<usize>,
    /// Categorical user features to break results down by (e.g. `gender`, `occupation`).
    pub segment_features: Vec<String>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            metrics: MetricSet::new(
                &[
                    MetricKind::Precision,
                    MetricKind::Recall,
                    MetricKind::Ndcg,
                    MetricKind::Map,
                    MetricKind::Mrr,
                    MetricKind::HitRate,
                ],
                &[10],
            ),
            threshold: None,
            graded: false,
            protocol: Protocol::Full,
            beyond: true,
            diversity_feature: "genres".into(),
            cold_buckets: vec![5, 20, 100],
            segment_features: Vec::new(),
        }
    }
}

impl EvalOptions {
    /// Checks the options before any work.
    pub fn validate(&self) -> Result<()> {
        ensure_param(
            !self.metrics.ks.is_empty(),
            "k",
            "give at least one cut-off K >= 1",
        )?;
        ensure_param(
            !self.metrics.kinds.is_empty(),
            "metrics",
            "give at least one metric",
        )?;
        if let Protocol::Sampled { negatives, .. } = self.protocol {
            ensure_param(negatives >= 1, "negatives", "must be at least 1")?;
        }
        ensure_param(
            self.cold_buckets.windows(2).all(|w| w[0] < w[1]),
            "cold_buckets",
            "must increase",
        )
    }
}

/// One user's recommendation list, best first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankedList {
    /// The user.
    pub user: UserIdx,
    /// Items, best first.
    pub items: Vec<ItemIdx>,
    /// The model's scores, aligned with `items`.
    pub scores: Vec<f32>,
}

/// One model's results on one split.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelEval {
    /// Model name.
    pub model: String,
    /// Column names of the per-user values: ranking metrics, then per-list beyond-accuracy metrics.
    pub columns: Vec<String>,
    /// Evaluated users (with at least one relevant test item).
    pub users: Vec<UserIdx>,
    /// Training interactions of each evaluated user (fold-in size for held-out users).
    pub user_train: Vec<usize>,
    /// Whether each evaluated user is new: no interaction in train (held-out users, test-only users).
    pub user_new: Vec<bool>,
    /// Per-user values, `users.len() x columns.len()`; NaN where a value is undefined for that user.
    pub values: Vec<Vec<f64>>,
    /// Mean of each column over users where it is defined.
    pub means: BTreeMap<String, f64>,
    /// Catalogue-level metrics (`coverage@K`, `gini@K`) and rating metrics (`rmse`, `mae`).
    pub global: BTreeMap<String, f64>,
    /// Test users left out because none of their test items is relevant.
    pub skipped_users: usize,
    /// Seconds spent producing recommendations and scoring them.
    pub seconds: f64,
    /// The lists, when kept (for TREC export).
    #[serde(skip)]
    pub lists: Vec<RankedList>,
}

impl ModelEval {
    /// Values of one column, aligned with [`Self::users`].
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let k = self.columns.iter().position(|c| c == name)?;
        Some(self.values.iter().map(|row| row[k]).collect())
    }
}

/// The relevance judgments of every test user.
pub fn relevance(
    test: &Interactions,
    threshold: Option<f32>,
    graded: bool,
) -> Vec<(UserIdx, Relevant)> {
    (0..test.n_users() as u32)
        .map(UserIdx)
        .filter(|&u| test.user_len(u) > 0)
        .map(|u| {
            let pairs = test
                .user_items(u)
                .iter()
                .zip(test.user_values(u))
                .filter(|&(_, &v)| threshold.is_none_or(|t| v >= t))
                .map(|(&i, &v)| (i, if graded { v } else { 1.0 }))
                .collect();
            (u, Relevant::new(pairs))
        })
        .collect()
}

/// Evaluates `model` on `data`.
///
/// Each test user's query is their training history (or fold-in history), with those items excluded; the
/// model returns its top `max K` (or, for AUC, its whole ranking). Users are processed in parallel and every
/// metric is computed in the same pass.
pub fn evaluate(
    model: &dyn Recommender,
    data: &EvalData<'_>,
    opts: &EvalOptions,
    keep_lists: bool,
) -> Result<ModelEval> {
    opts.validate()?;
    check_shapes(model.n_items(), data)?;
    let start = Instant::now();
    let rel = relevance(data.test, opts.threshold, opts.graded);
    let history_src = |u: UserIdx| match data.fold_in {
        Some(f) if f.user_len(u) > 0 => f,
        _ => data.train,
    };
    let n_items = model.n_items();
    if let Protocol::Sampled { negatives, seed } = opts.protocol {
        return sampled(model, data, opts, &rel, negatives, seed, start);
    }
    let depth = if opts.metrics.wants_auc() {
        n_items
    } else {
        opts.metrics.max_k()
    };
    let candidates: Option<&[ItemIdx]> = match &opts.protocol {
        Protocol::Candidates { items } => Some(items),
        Protocol::Full | Protocol::Sampled { .. } => None,
    };
    let lists: Vec<Result<RankedList>> = rel
        .par_iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|&(u, _)| {
            let src = history_src(u);
            let history = src.history(u);
            let sequence = src.sequence(u);
            let mut q = Query::new(&history)
                .exclude(Exclude::Seen)
                .sequence(&sequence);
            if std::ptr::eq(src, data.train) {
                q = q.user(u);
            }
            if let Some(c) = candidates {
                q = q.candidates(c);
            }
            let recs = model.recommend(&q, depth)?;
            Ok(RankedList {
                user: u,
                items: recs.iter().map(|s| s.item).collect(),
                scores: recs.iter().map(|s| s.score).collect(),
            })
        })
        .collect();
    let lists: Vec<RankedList> = lists.into_iter().collect::<Result<_>>()?;
    let mut out = score_lists_with(
        model.name(),
        &lists,
        data,
        opts,
        &rel,
        model.item_embeddings(),
    )?;
    if let Some(p) = model.rating_predictor() {
        let (rmse, mae) = rating_errors(p, data)?;
        out.global.extend(rmse.map(|v| ("rmse".to_string(), v)));
        out.global.extend(mae.map(|v| ("mae".to_string(), v)));
    }
    out.seconds = start.elapsed().as_secs_f64();
    if keep_lists {
        out.lists = lists;
    }
    Ok(out)
}

/// RMSE and MAE of a rating predictor over every test interaction (all values, whatever the threshold).
pub fn rating_errors(
    p: &dyn tastebud_models::PredictRating,
    data: &EvalData<'_>,
) -> Result<(Option<f64>, Option<f64>)> {
    let test = data.test;
    let pairs: Vec<Result<Vec<(f32, f32)>>> = (0..test.n_users() as u32)
        .into_par_iter()
        .map(UserIdx)
        .filter(|&u| test.user_len(u) > 0)
        .map(|u| {
            let (src, known) = match data.fold_in {
                Some(f) if f.user_len(u) > 0 => (f, false),
                _ => (data.train, true),
            };
            let history = src.history(u);
            test.user_items(u)
                .iter()
                .zip(test.user_values(u))
                .map(|(&i, &truth)| Ok((p.predict(known.then_some(u), &history, i)?, truth)))
                .collect()
        })
        .collect();
    let pairs: Vec<(f32, f32)> = pairs
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        // A model that cannot predict a pair (an item it never saw) answers NaN: left out, as Spark's
        // coldStartStrategy "drop" does.
        .filter(|(p, _)| !p.is_nan())
        .collect();
    Ok((crate::rating::rmse(&pairs), crate::rating::mae(&pairs)))
}

/// Scores precomputed lists (a model's output, or a run read from a TREC file).
pub fn score_lists(
    name: &str,
    lists: &[RankedList],
    data: &EvalData<'_>,
    opts: &EvalOptions,
    rel: &[(UserIdx, Relevant)],
) -> Result<ModelEval> {
    score_lists_with(name, lists, data, opts, rel, None)
}

/// [`score_lists`] with the model's item embeddings, for embedding-based diversity (`ild_emb@K`).
pub fn score_lists_with(
    name: &str,
    lists: &[RankedList],
    data: &EvalData<'_>,
    opts: &EvalOptions,
    rel: &[(UserIdx, Relevant)],
    embeddings: Option<(usize, &[f32])>,
) -> Result<ModelEval> {
    let n_items = data.train.n_items();
    let mut catalogue = Catalogue::new(
        data.train,
        data.item_features
            .map(|t| (t, opts.diversity_feature.as_str())),
    );
    if let Some((dim, v)) = embeddings {
        catalogue = catalogue.with_embeddings(dim, v);
    }
    let pop_scores: Vec<f32> = catalogue.popularity.iter().map(|&c| c as f32).collect();
    let by_user: BTreeMap<UserIdx, &RankedList> = lists.iter().map(|l| (l.user, l)).collect();
    let rank_cols = opts.metrics.columns();
    let mut columns = rank_cols.clone();
    if opts.beyond {
        for m in LIST_METRICS {
            for k in &opts.metrics.ks {
                columns.push(format!("{m}@{k}"));
            }
        }
    }
    let empty: Vec<ItemIdx> = Vec::new();
    let rows: Vec<Option<(UserIdx, usize, Vec<f64>)>> = rel
        .par_iter()
        .map(|(u, r)| {
            let src = match data.fold_in {
                Some(f) if f.user_len(*u) > 0 => f,
                _ => data.train,
            };
            let seen = src.user_items(*u);
            let list: &[ItemIdx] = by_user.get(u).map_or(&empty, |l| &l.items);
            let n_eligible = n_items.saturating_sub(seen.len());
            let mut v = opts.metrics.score(list, r, n_eligible)?;
            if opts.beyond {
                // The popularity baseline's list for this user, for serendipity.
                let filter = tastebud_core::ItemFilter::new(n_items).exclude(seen).ok()?;
                let pop = tastebud_core::top_k(&pop_scores, opts.metrics.max_k(), &filter).ok()?;
                let pop: Vec<ItemIdx> = pop.iter().map(|s| s.item).collect();
                let mut extra = vec![f64::NAN; LIST_METRICS.len() * opts.metrics.ks.len()];
                for (ki, &k) in opts.metrics.ks.iter().enumerate() {
                    let cut = &list[..list.len().min(k)];
                    let m = list_metrics(&catalogue, cut, r, &pop[..pop.len().min(k)]);
                    for (mi, x) in m.iter().enumerate() {
                        extra[mi * opts.metrics.ks.len() + ki] = x.unwrap_or(f64::NAN);
                    }
                }
                v.extend(extra);
            }
            Some((*u, seen.len(), v))
        })
        .collect();
    let rows: Vec<(UserIdx, usize, Vec<f64>)> = rows.into_iter().flatten().collect();
    let skipped_users = rel.len() - rows.len();
    let mut means = BTreeMap::new();
    for (c, name) in columns.iter().enumerate() {
        let vals: Vec<f64> = rows
            .iter()
            .map(|r| r.2[c])
            .filter(|x| !x.is_nan())
            .collect();
        if !vals.is_empty() {
            means.insert(name.clone(), vals.iter().sum::<f64>() / vals.len() as f64);
        }
    }
    let mut global = BTreeMap::new();
    if opts.beyond {
        for &k in &opts.metrics.ks {
            let cut = rows
                .iter()
                .filter_map(|r| by_user.get(&r.0))
                .map(|l| &l.items[..l.items.len().min(k)]);
            let (cov, g) = catalogue_metrics(cut, n_items);
            global.insert(format!("coverage@{k}"), cov);
            global.insert(format!("gini@{k}"), g);
        }
    }
    Ok(ModelEval {
        model: name.to_string(),
        columns,
        users: rows.iter().map(|r| r.0).collect(),
        user_train: rows.iter().map(|r| r.1).collect(),
        user_new: rows.iter().map(|r| data.train.user_len(r.0) == 0).collect(),
        values: rows.into_iter().map(|r| r.2).collect(),
        means,
        global,
        skipped_users,
        seconds: 0.0,
        lists: Vec::new(),
    })
}

fn check_shapes(n_items: usize, data: &EvalData<'_>) -> Result<()> {
    let (tr, te) = (data.train, data.test);
    if tr.n_items() != n_items || te.n_items() != n_items || tr.n_users() != te.n_users() {
        return Err(Error::Shape(format!(
            "model has {n_items} items; train is {}x{}, test is {}x{}",
            tr.n_users(),
            tr.n_items(),
            te.n_users(),
            te.n_items()
        )));
    }
    Ok(())
}

/// The sampled protocol: per relevant item, its rank among sampled negatives; per-user values average over
/// the user's relevant items.
fn sampled(
    model: &dyn Recommender,
    data: &EvalData<'_>,
    opts: &EvalOptions,
    rel: &[(UserIdx, Relevant)],
    negatives: usize,
    seed: u64,
    start: Instant,
) -> Result<ModelEval> {
    let n_items = model.n_items();
    let columns = opts.metrics.columns();
    type Row = Option<(UserIdx, usize, Vec<f64>)>;
    let rows: Vec<Result<Row>> = rel
        .par_iter()
        .map(|(u, r)| {
            if r.is_empty() {
                return Ok(None);
            }
            let src = match data.fold_in {
                Some(f) if f.user_len(*u) > 0 => f,
                _ => data.train,
            };
            let history = src.history(*u);
            let sequence = src.sequence(*u);
            let mut touched = vec![false; n_items];
            for &(i, _) in &history {
                touched[i.get()] = true;
            }
            for &i in data.test.user_items(*u) {
                touched[i.get()] = true;
            }
            let pool: Vec<ItemIdx> = (0..n_items as u32)
                .map(ItemIdx)
                .filter(|i| !touched[i.get()])
                .collect();
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (u.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut sums = vec![0f64; columns.len()];
            for (&pos, &g) in r.items().iter().zip(r.grades()) {
                let mut cands: Vec<ItemIdx> =
                    pool.choose_multiple(&mut rng, negatives).copied().collect();
                cands.push(pos);
                let q = Query::new(&history)
                    .user(*u)
                    .candidates(&cands)
                    .sequence(&sequence);
                let recs = model.recommend(&q, cands.len())?;
                let list: Vec<ItemIdx> = recs.iter().map(|s| s.item).collect();
                let one = Relevant::new(vec![(pos, g)]);
                let v = opts
                    .metrics
                    .score(&list, &one, cands.len())
                    .expect("one relevant item");
                sums.iter_mut().zip(v).for_each(|(s, x)| *s += x);
            }
            let n = r.len() as f64;
            Ok(Some((
                *u,
                history.len(),
                sums.into_iter().map(|s| s / n).collect(),
            )))
        })
        .collect();
    let rows: Vec<(UserIdx, usize, Vec<f64>)> = rows
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut means = BTreeMap::new();
    for (c, name) in columns.iter().enumerate() {
        if !rows.is_empty() {
            means.insert(
                name.clone(),
                rows.iter().map(|r| r.2[c]).sum::<f64>() / rows.len() as f64,
            );
        }
    }
    Ok(ModelEval {
        model: model.name().to_string(),
        columns,
        skipped_users: rel.len() - rows.len(),
        users: rows.iter().map(|r| r.0).collect(),
        user_train: rows.iter().map(|r| r.1).collect(),
        user_new: rows.iter().map(|r| data.train.user_len(r.0) == 0).collect(),
        values: rows.into_iter().map(|r| r.2).collect(),
        means,
        global: BTreeMap::new(),
        seconds: start.elapsed().as_secs_f64(),
        lists: Vec::new(),
    })
}

/// Mean of each column within groups of users.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentRow {
    /// What the users are grouped by: `train interactions`, `user type` or a user feature name.
    pub by: String,
    /// The group, e.g. `1-5`, `new`, `F`.
    pub segment: String,
    /// Users in the group.
    pub users: usize,
    /// Column means within the group.
    pub means: BTreeMap<String, f64>,
}

/// The segment group of cold and warm users ([`segments`]).
pub const COLD_START_GROUP: &str = "cold start";

/// The cold-user threshold: users with at most this many training interactions are cold (the first
/// cold-start bucket's upper bound, 5 by default).
pub fn cold_user_max(opts: &EvalOptions) -> usize {
    opts.cold_buckets.first().copied().unwrap_or(5)
}

/// Breaks per-user values down by cold-start bucket, cold (at most [`cold_user_max`] training interactions,
/// new users included) vs warm users, new vs returning, and categorical user features.
pub fn segments(
    e: &ModelEval,
    opts: &EvalOptions,
    user_features: Option<&FeatureTable>,
) -> Vec<SegmentRow> {
    let mut groups: Vec<(String, String, Vec<usize>)> = Vec::new();
    let mut push = |by: &str, seg: String, row: usize| match groups
        .iter_mut()
        .find(|g| g.0 == by && g.1 == seg)
    {
        Some(g) => g.2.push(row),
        None => groups.push((by.to_string(), seg, vec![row])),
    };
    let bucket = |n: usize| -> String {
        if n == 0 {
            return "0 (new)".into();
        }
        let mut lo = 1;
        for &hi in &opts.cold_buckets {
            if n <= hi {
                return format!("{lo}-{hi}");
            }
            lo = hi + 1;
        }
        format!(">{}", lo - 1)
    };
    // Buckets in their natural order, even when empty groups are skipped.
    for (row, &n) in e.user_train.iter().enumerate() {
        push("train interactions", bucket(n), row);
        let cold = cold_user_max(opts);
        push(
            COLD_START_GROUP,
            if n <= cold {
                format!("cold users (<= {cold})")
            } else {
                format!("warm users (> {cold})")
            },
            row,
        );
        let new = e.user_new.get(row).copied().unwrap_or(n == 0);
        push(
            "user type",
            if new {
                "new".into()
            } else {
                "returning".into()
            },
            row,
        );
        if let Some(t) = user_features {
            for f in &opts.segment_features {
                if let Some(labels) = t.labels(f, e.users[row].get()) {
                    let label = labels
                        .first()
                        .map_or_else(|| "(none)".to_string(), |s| s.to_string());
                    push(f, label, row);
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|(by, segment, rows)| {
            let mut means = BTreeMap::new();
            for (c, name) in e.columns.iter().enumerate() {
                let vals: Vec<f64> = rows
                    .iter()
                    .map(|&r| e.values[r][c])
                    .filter(|x| !x.is_nan())
                    .collect();
                if !vals.is_empty() {
                    means.insert(name.clone(), vals.iter().sum::<f64>() / vals.len() as f64);
                }
            }
            SegmentRow {
                by,
                segment,
                users: rows.len(),
                means,
            }
        })
        .collect()
}
