//! Re-rankers applied after any model: diversity, calibration, fair exposure and group caps.
//!
//! A re-ranker takes a model's candidate list (`&[Scored]`, best first, typically the top 50–200) and
//! returns the final top `k`, reordered; every returned [`Scored`] keeps the model's score. What the
//! re-rankers need beyond the list travels in a [`RerankContext`]: item features and the categorical column
//! to read (e.g. `genres`), item popularity counts, the user's history, and optionally item embeddings.
//!
//! - [`Mmr`]: maximal marginal relevance (Carbonell & Goldstein 1998), for intra-list diversity.
//! - [`Calibration`]: calibrated recommendations (Steck 2018): the list's label distribution follows the
//!   user's history.
//! - [`FairShare`]: at least a share of the slots for a protected group (the long tail, or items with
//!   given labels) when the candidates allow.
//! - [`GroupCap`]: at most `m` items per label.
//!
//! Every re-ranker is deterministic: ties go to the earlier candidate. Relevance, where a re-ranker trades
//! it off, is the score min-max normalised over the candidates (1 for the best, 0 for the worst; 1 for all
//! when the scores are equal), so the trade-off parameters do not depend on the model's score scale.
//!
//! ```
//! use tastebud_core::{FeatureTable, ItemIdx};
//! use tastebud_models::Scored;
//! use tastebud_models::rerank::{GroupCap, Rerank, RerankContext};
//! let mut t = FeatureTable::new(3);
//! let mut g = t.categorical_builder();
//! g.push(0, "Drama", 1.0);
//! g.push(1, "Drama", 1.0);
//! g.push(2, "Comedy", 1.0);
//! t.add("genres", g.finish())?;
//! let candidates: Vec<Scored> =
//!     [(0, 0.9), (1, 0.8), (2, 0.1)].iter().map(|&(i, s)| Scored { item: ItemIdx(i), score: s }).collect();
//! let ctx = RerankContext::new().features(&t, "genres");
//! let out = GroupCap::new(1)?.rerank(&candidates, 2, &ctx)?;
//! assert_eq!(out.iter().map(|s| s.item.0).collect::<Vec<_>>(), vec![0, 2]); // one drama at most
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use tastebud_core::{Error, FeatureTable, FeatureValues, ItemIdx, Result, ensure_param};

use crate::Scored;

/// What the re-rankers may need besides the candidate list. Each re-ranker documents which parts it reads
/// and fails with [`Error::InvalidParam`] when one it needs is missing.
#[derive(Copy, Clone, Debug)]
pub struct RerankContext<'a> {
    /// Item features, for the categorical column [`Self::column`].
    pub features: Option<&'a FeatureTable>,
    /// The categorical column whose labels the re-rankers use. By default, `genres`.
    pub column: &'a str,
    /// Interaction count of every item (e.g. `Interactions::item_counts`), for the long tail.
    pub popularity: Option<&'a [usize]>,
    /// The user's history `(item, value)`, for calibration.
    pub history: &'a [(ItemIdx, f32)],
    /// Item embeddings `(dim, n_items x dim row-major)` (as `Recommender::item_embeddings`), for
    /// similarity in [`Mmr`].
    pub embeddings: Option<(usize, &'a [f32])>,
}

impl Default for RerankContext<'_> {
    fn default() -> Self {
        RerankContext {
            features: None,
            column: "genres",
            popularity: None,
            history: &[],
            embeddings: None,
        }
    }
}

impl<'a> RerankContext<'a> {
    /// An empty context (column `genres`, nothing else).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the item features and the categorical column to use.
    pub fn features(mut self, table: &'a FeatureTable, column: &'a str) -> Self {
        self.features = Some(table);
        self.column = column;
        self
    }
    /// Sets the item popularity counts.
    pub fn popularity(mut self, counts: &'a [usize]) -> Self {
        self.popularity = Some(counts);
        self
    }
    /// Sets the user's history.
    pub fn history(mut self, history: &'a [(ItemIdx, f32)]) -> Self {
        self.history = history;
        self
    }
    /// Sets item embeddings `(dim, n_items x dim row-major)`.
    pub fn embeddings(mut self, dim: usize, rows: &'a [f32]) -> Self {
        self.embeddings = Some((dim, rows));
        self
    }

    /// The categorical column `(offsets, labels, vocabulary)`, or an error naming what is missing.
    fn categorical(&self, who: &str) -> Result<Categorical<'a>> {
        let Some(t) = self.features else {
            return Err(Error::InvalidParam {
                name: "features",
                reason: format!(
                    "{who} needs item features (categorical column `{}`)",
                    self.column
                ),
            });
        };
        match t.column(self.column) {
            Some(FeatureValues::Categorical {
                vocab,
                offsets,
                labels,
                ..
            }) => Ok(Categorical {
                vocab,
                offsets,
                labels,
            }),
            Some(_) => Err(Error::InvalidParam {
                name: "column",
                reason: format!("item feature `{}` is not categorical", self.column),
            }),
            None => Err(Error::InvalidParam {
                name: "column",
                reason: format!("no item feature `{}`", self.column),
            }),
        }
    }

    /// The sorted, deduplicated label indices of each item in `items`.
    fn label_sets(&self, items: impl Iterator<Item = ItemIdx>, who: &str) -> Result<Vec<Vec<u32>>> {
        let c = self.categorical(who)?;
        items.map(|i| c.labels_of(i)).collect()
    }
}

struct Categorical<'a> {
    vocab: &'a tastebud_core::IdMap,
    offsets: &'a [usize],
    labels: &'a [u32],
}

impl Categorical<'_> {
    fn labels_of(&self, i: ItemIdx) -> Result<Vec<u32>> {
        let n = self.offsets.len().saturating_sub(1);
        if i.get() >= n {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: i.0,
                len: n,
            });
        }
        let mut l = self.labels[self.offsets[i.get()]..self.offsets[i.get() + 1]].to_vec();
        l.sort_unstable();
        l.dedup();
        Ok(l)
    }
}

/// A re-ranker: the final top `k` of a candidate list, best first, scores kept as the model's.
pub trait Rerank: Send + Sync {
    /// Short name, e.g. `mmr`.
    fn name(&self) -> &str;
    /// The final list: at most `k` of `candidates` (given best first), reordered. Returns all candidates
    /// (reordered) when `k` exceeds their number, and an empty list for no candidates.
    fn rerank(
        &self,
        candidates: &[Scored],
        k: usize,
        ctx: &RerankContext<'_>,
    ) -> Result<Vec<Scored>>;
}

fn check_unit(x: f64, name: &'static str) -> Result<()> {
    ensure_param(
        x.is_finite() && (0.0..=1.0).contains(&x),
        name,
        &format!("must be in [0, 1], got {x}"),
    )
}

/// Scores min-max normalised to [0, 1] over the candidates (all 1 when equal; NaN scores get 0).
pub fn normalised_relevance(candidates: &[Scored]) -> Vec<f64> {
    let finite = candidates.iter().map(|s| s.score).filter(|s| s.is_finite());
    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s), hi.max(s))
    });
    candidates
        .iter()
        .map(|s| {
            if s.score.is_nan() {
                0.0
            } else if hi > lo {
                ((f64::from(s.score) - f64::from(lo)) / (f64::from(hi) - f64::from(lo)))
                    .clamp(0.0, 1.0)
            } else {
                1.0
            }
        })
        .collect()
}

/// Jaccard similarity of two sorted, deduplicated label sets (0 when both are empty).
fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// Intra-list diversity of `items`: 1 − the mean pairwise Jaccard similarity of their labels in the
/// context's categorical column (0 for fewer than two items).
pub fn intra_list_diversity(items: &[ItemIdx], ctx: &RerankContext<'_>) -> Result<f64> {
    let sets = ctx.label_sets(items.iter().copied(), "intra-list diversity")?;
    let n = sets.len();
    if n < 2 {
        return Ok(0.0);
    }
    let mut sum = 0.0;
    for a in 0..n {
        for b in a + 1..n {
            sum += jaccard(&sets[a], &sets[b]);
        }
    }
    Ok(1.0 - sum / (n * (n - 1) / 2) as f64)
}

/// Label mass of items: each item spreads weight `w` evenly over its labels.
fn add_mass(mass: &mut [f64], labels: &[u32], w: f64) {
    if labels.is_empty() {
        return;
    }
    let share = w / labels.len() as f64;
    for &l in labels {
        mass[l as usize] += share;
    }
}

/// The user's label distribution `p` from the context's history: each history item's labels get
/// `value / |labels|` (`1 / |labels|` when `weighted` is false; negative values count as 0). `None` when
/// the history has no labelled item with positive weight.
fn history_distribution(
    ctx: &RerankContext<'_>,
    weighted: bool,
    who: &str,
) -> Result<Option<Vec<f64>>> {
    let c = ctx.categorical(who)?;
    let mut p = vec![0.0; c.vocab.len()];
    for &(i, v) in ctx.history {
        let w = if weighted { f64::from(v).max(0.0) } else { 1.0 };
        if w.is_finite() {
            add_mass(&mut p, &c.labels_of(i)?, w);
        }
    }
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
        Ok(Some(p))
    } else {
        Ok(None)
    }
}

/// `KL(p ‖ (1−α)·q + α·p)` with `q = mass / total` (`q = 0` when `total` is 0).
fn kl_smoothed(p: &[f64], mass: &[f64], total: f64, alpha: f64) -> f64 {
    let mut kl = 0.0;
    for (g, &pg) in p.iter().enumerate() {
        if pg > 0.0 {
            let q = if total > 0.0 { mass[g] / total } else { 0.0 };
            kl += pg * (pg / ((1.0 - alpha) * q + alpha * pg)).ln();
        }
    }
    kl
}

/// Miscalibration of `items` for the context's history: `KL(p ‖ q̃)` (Steck 2018) with `p` the history's
/// label distribution (history values as weights), `q` the list's (each item's labels weighted
/// `1/|labels|`) and `q̃ = (1−α)·q + α·p`. 0 when the history has no labels.
pub fn miscalibration(items: &[ItemIdx], ctx: &RerankContext<'_>, alpha: f64) -> Result<f64> {
    ensure_param(
        alpha.is_finite() && alpha > 0.0 && alpha <= 1.0,
        "alpha",
        &format!("must be in (0, 1], got {alpha}"),
    )?;
    let Some(p) = history_distribution(ctx, true, "miscalibration")? else {
        return Ok(0.0);
    };
    let c = ctx.categorical("miscalibration")?;
    let mut mass = vec![0.0; p.len()];
    for &i in items {
        add_mass(&mut mass, &c.labels_of(i)?, 1.0);
    }
    let total = mass.iter().sum();
    Ok(kl_smoothed(&p, &mass, total, alpha))
}

/// Which items are in the long tail: all but the head, the most popular items (ties by lower index) whose
/// interactions add up to at least `head_share` of all interactions. `head_share = 0` makes every item
/// long-tail; `head_share = 1` makes long-tail only items outside the smallest prefix holding every
/// interaction (the never-interacted ones).
pub fn long_tail_mask(popularity: &[usize], head_share: f64) -> Result<Vec<bool>> {
    check_unit(head_share, "head_share")?;
    let total: f64 = popularity.iter().map(|&c| c as f64).sum();
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[b].cmp(&popularity[a]).then(a.cmp(&b)));
    let mut tail = vec![true; popularity.len()];
    let target = head_share * total;
    let mut cum = 0.0;
    for i in order {
        if cum >= target {
            break;
        }
        tail[i] = false;
        cum += popularity[i] as f64;
    }
    Ok(tail)
}

/// Maximal marginal relevance (Carbonell & Goldstein 1998): greedily picks
/// `argmax λ·rel(i) − (1−λ)·max_{j∈S} sim(i, j)` over the candidates not yet picked `S`.
///
/// `sim` is the cosine of the item embeddings when the context has them, else the Jaccard similarity of
/// the labels in the context's categorical column. `λ = 1` returns the candidates in relevance order (the
/// input order for a list sorted best first); smaller `λ` buys diversity with relevance.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mmr {
    /// Weight of relevance against novelty, in [0, 1].
    pub lambda: f64,
}

impl Mmr {
    /// MMR with trade-off `lambda` in [0, 1].
    pub fn new(lambda: f64) -> Result<Self> {
        let m = Mmr { lambda };
        m.validate()?;
        Ok(m)
    }
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        check_unit(self.lambda, "lambda")
    }
}

/// Cosine similarity of two rows (0 when either is zero).
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa > 0.0 && bb > 0.0 {
        ab / (aa.sqrt() * bb.sqrt())
    } else {
        0.0
    }
}

/// Index of the best value (strictly greater wins, so ties go to the earlier candidate), skipping taken.
fn argmax(values: impl Iterator<Item = (usize, f64)>, taken: &[bool]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (c, v) in values {
        if taken[c] {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((c, v));
        }
    }
    best.map(|(c, _)| c)
}

impl Rerank for Mmr {
    fn name(&self) -> &str {
        "mmr"
    }
    fn rerank(
        &self,
        candidates: &[Scored],
        k: usize,
        ctx: &RerankContext<'_>,
    ) -> Result<Vec<Scored>> {
        self.validate()?;
        let n = candidates.len();
        let k = k.min(n);
        if k == 0 {
            return Ok(Vec::new());
        }
        let sim: Box<dyn Fn(usize, usize) -> f64> = if let Some((dim, rows)) = ctx.embeddings {
            let n_items = rows.len().checked_div(dim).unwrap_or(0);
            if dim == 0 || rows.len() != n_items * dim {
                return Err(Error::Shape(format!(
                    "embeddings of {} values are not rows of dimension {dim}",
                    rows.len()
                )));
            }
            if let Some(s) = candidates.iter().find(|s| s.item.get() >= n_items) {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: s.item.0,
                    len: n_items,
                });
            }
            let row = move |c: usize| {
                let i = candidates[c].item.get();
                &rows[i * dim..(i + 1) * dim]
            };
            Box::new(move |a, b| cosine(row(a), row(b)))
        } else {
            let sets = ctx.label_sets(candidates.iter().map(|s| s.item), "MMR")?;
            Box::new(move |a, b| jaccard(&sets[a], &sets[b]))
        };
        let rel = normalised_relevance(candidates);
        let lambda = self.lambda;
        let mut taken = vec![false; n];
        // Largest similarity of each candidate to the picked ones (0 before the first pick).
        let mut max_sim = vec![0.0f64; n];
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let objective = (0..n).map(|c| (c, lambda * rel[c] - (1.0 - lambda) * max_sim[c]));
            let Some(c) = argmax(objective, &taken) else {
                break;
            };
            taken[c] = true;
            out.push(candidates[c]);
            if lambda < 1.0 {
                for o in 0..n {
                    if !taken[o] {
                        max_sim[o] = max_sim[o].max(sim(o, c));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Calibrated recommendations (Steck 2018): greedy maximisation of
/// `(1−λ)·Σ_{i∈S} rel(i) − λ·KL(p ‖ q̃(S))`.
///
/// `p` is the label distribution of the context's history (each item's labels in the context's column
/// weighted `1/|labels|`, times the item's history value when [`Self::weighted`], else 1), `q(S)` that of
/// the list so far (each item weighted 1) and `q̃ = (1−α)·q + α·p`. `λ = 0` returns the candidates in
/// relevance order; larger `λ` makes the list's labels follow the history's. A history with no labelled
/// item leaves nothing to calibrate to: the relevance order comes back.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Weight of calibration against relevance, in [0, 1].
    pub lambda: f64,
    /// Smoothing of `q` towards `p`, in (0, 1]. By default, 0.01 (Steck's).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Whether history values weight the history items (else every item counts 1). By default, true.
    #[serde(default = "default_true")]
    pub weighted: bool,
}

fn default_alpha() -> f64 {
    0.01
}
fn default_true() -> bool {
    true
}

impl Calibration {
    /// Calibration with trade-off `lambda` in [0, 1], `α = 0.01`, history values as weights.
    pub fn new(lambda: f64) -> Result<Self> {
        let c = Calibration {
            lambda,
            alpha: default_alpha(),
            weighted: true,
        };
        c.validate()?;
        Ok(c)
    }
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        check_unit(self.lambda, "lambda")?;
        ensure_param(
            self.alpha.is_finite() && self.alpha > 0.0 && self.alpha <= 1.0,
            "alpha",
            &format!("must be in (0, 1], got {}", self.alpha),
        )
    }
}

impl Rerank for Calibration {
    fn name(&self) -> &str {
        "calibration"
    }
    fn rerank(
        &self,
        candidates: &[Scored],
        k: usize,
        ctx: &RerankContext<'_>,
    ) -> Result<Vec<Scored>> {
        self.validate()?;
        let n = candidates.len();
        let k = k.min(n);
        if k == 0 {
            return Ok(Vec::new());
        }
        let sets = ctx.label_sets(candidates.iter().map(|s| s.item), "calibration")?;
        let p = history_distribution(ctx, self.weighted, "calibration")?;
        let rel = normalised_relevance(candidates);
        let (lambda, alpha) = (self.lambda, self.alpha);
        let mut taken = vec![false; n];
        let mut mass = vec![0.0; p.as_ref().map_or(0, Vec::len)];
        let mut total = 0.0;
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let objective = (0..n).map(|c| {
                let kl = match &p {
                    Some(p) if lambda > 0.0 && !sets[c].is_empty() => {
                        let share = 1.0 / sets[c].len() as f64;
                        sets[c].iter().for_each(|&l| mass[l as usize] += share);
                        let kl = kl_smoothed(p, &mass, total + 1.0, alpha);
                        sets[c].iter().for_each(|&l| mass[l as usize] -= share);
                        kl
                    }
                    Some(p) if lambda > 0.0 => kl_smoothed(p, &mass, total, alpha),
                    _ => 0.0,
                };
                (c, (1.0 - lambda) * rel[c] - lambda * kl)
            });
            // The closure borrows `mass` mutably; collect before choosing.
            let objective: Vec<(usize, f64)> = objective.collect();
            let Some(c) = argmax(objective.into_iter(), &taken) else {
                break;
            };
            taken[c] = true;
            out.push(candidates[c]);
            if !sets[c].is_empty() && !mass.is_empty() {
                add_mass(&mut mass, &sets[c], 1.0);
                total += 1.0;
            }
        }
        Ok(out)
    }
}

/// The group [`FairShare`] protects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Protected {
    /// Long-tail items: outside the head, the most popular items holding `head_share` of all interactions
    /// (see [`long_tail_mask`]; needs the context's popularity). E.g. 0.2.
    LongTail {
        /// Share of interactions the head holds, in [0, 1].
        head_share: f64,
    },
    /// Items with at least one of these labels in the context's categorical column.
    Labels(Vec<String>),
}

/// Fair exposure: at least `⌈share·k⌉` of the `k` slots go to the [`Protected`] group when the candidates
/// hold that many; otherwise all the protected candidates get in.
///
/// Greedy: slots are filled in candidate (relevance) order, except that once the slots left are just
/// enough for the protected items still owed, only protected items are taken. `share = 0` returns the top
/// `k` candidates unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FairShare {
    /// Target share of the slots for the protected group, in [0, 1].
    pub share: f64,
    /// The protected group.
    pub protected: Protected,
}

impl FairShare {
    /// A target `share` of the slots for `protected`.
    pub fn new(share: f64, protected: Protected) -> Result<Self> {
        let f = FairShare { share, protected };
        f.validate()?;
        Ok(f)
    }
    /// A target `share` of the slots for long-tail items (the head holding `head_share` of interactions).
    pub fn long_tail(share: f64, head_share: f64) -> Result<Self> {
        Self::new(share, Protected::LongTail { head_share })
    }
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        check_unit(self.share, "share")?;
        match &self.protected {
            Protected::LongTail { head_share } => check_unit(*head_share, "head_share"),
            Protected::Labels(l) => {
                ensure_param(!l.is_empty(), "labels", "name at least one label")
            }
        }
    }
    /// Whether each of `items` is in the protected group.
    pub fn is_protected(&self, items: &[ItemIdx], ctx: &RerankContext<'_>) -> Result<Vec<bool>> {
        self.validate()?;
        match &self.protected {
            Protected::LongTail { head_share } => {
                let Some(pop) = ctx.popularity else {
                    return Err(Error::InvalidParam {
                        name: "popularity",
                        reason: "the long-tail share needs item popularity counts".into(),
                    });
                };
                let tail = long_tail_mask(pop, *head_share)?;
                items
                    .iter()
                    .map(|i| {
                        tail.get(i.get()).copied().ok_or(Error::IndexOutOfRange {
                            kind: "item",
                            index: i.0,
                            len: tail.len(),
                        })
                    })
                    .collect()
            }
            Protected::Labels(names) => {
                let c = ctx.categorical("the group share")?;
                let mut wanted = Vec::with_capacity(names.len());
                for name in names {
                    match c.vocab.get(name) {
                        Some(l) => wanted.push(l),
                        None => {
                            return Err(Error::InvalidParam {
                                name: "labels",
                                reason: format!("no label `{name}` in column `{}`", ctx.column),
                            });
                        }
                    }
                }
                items
                    .iter()
                    .map(|&i| Ok(c.labels_of(i)?.iter().any(|l| wanted.contains(l))))
                    .collect()
            }
        }
    }
}

impl Rerank for FairShare {
    fn name(&self) -> &str {
        "fair_share"
    }
    fn rerank(
        &self,
        candidates: &[Scored],
        k: usize,
        ctx: &RerankContext<'_>,
    ) -> Result<Vec<Scored>> {
        self.validate()?;
        let n = candidates.len();
        let k = k.min(n);
        if k == 0 {
            return Ok(Vec::new());
        }
        let items: Vec<ItemIdx> = candidates.iter().map(|s| s.item).collect();
        let prot = self.is_protected(&items, ctx)?;
        let available = prot.iter().filter(|&&p| p).count();
        // ⌈share·k⌉, forgiving float noise such as 0.3 · 10 = 3.0000000000000004.
        let target = ((self.share * k as f64) - 1e-9).ceil().max(0.0) as usize;
        let mut owed = target.min(available);
        let mut taken = vec![false; n];
        let mut out = Vec::with_capacity(k);
        // Next candidate in order, and next protected one.
        let (mut next_any, mut next_prot) = (0, 0);
        while out.len() < k {
            let left = k - out.len();
            let c = if owed >= left {
                while prot.get(next_prot) == Some(&false) || taken.get(next_prot) == Some(&true) {
                    next_prot += 1;
                }
                next_prot
            } else {
                while taken[next_any] {
                    next_any += 1;
                }
                next_any
            };
            taken[c] = true;
            if prot[c] {
                owed = owed.saturating_sub(1);
            }
            out.push(candidates[c]);
        }
        Ok(out)
    }
}

/// Group cap: at most `max_per_label` items per label of the context's categorical column (an item with
/// several labels counts for each; unlabelled items are never capped). Walks the candidates in order and
/// keeps an item only when none of its labels is full, so the list may come back shorter than `k` when the
/// candidates run out; a cap that never binds returns the top `k` unchanged.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCap {
    /// Most items per label, at least 1.
    pub max_per_label: usize,
}

impl GroupCap {
    /// At most `max_per_label` (≥ 1) items per label.
    pub fn new(max_per_label: usize) -> Result<Self> {
        let g = GroupCap { max_per_label };
        g.validate()?;
        Ok(g)
    }
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        ensure_param(
            self.max_per_label >= 1,
            "max_per_label",
            "must be at least 1",
        )
    }
}

impl Rerank for GroupCap {
    fn name(&self) -> &str {
        "group_cap"
    }
    fn rerank(
        &self,
        candidates: &[Scored],
        k: usize,
        ctx: &RerankContext<'_>,
    ) -> Result<Vec<Scored>> {
        self.validate()?;
        let k = k.min(candidates.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let c = ctx.categorical("the group cap")?;
        let mut count = vec![0usize; c.vocab.len()];
        let mut out = Vec::with_capacity(k);
        for s in candidates {
            if out.len() == k {
                break;
            }
            let labels = c.labels_of(s.item)?;
            if labels
                .iter()
                .all(|&l| count[l as usize] < self.max_per_label)
            {
                labels.iter().for_each(|&l| count[l as usize] += 1);
                out.push(*s);
            }
        }
        Ok(out)
    }
}
