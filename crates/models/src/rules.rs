//! Association rules: "people who watched X also watched Y", from frequent itemsets found by FP-growth.
//!
//! **Baskets.** Each user's interactions are cut into sessions wherever two consecutive interactions (by
//! time) are more than `session_gap_minutes` apart; each session's distinct items are one basket. Without
//! a gap, each user's whole history is one basket.
//!
//! **Itemsets.** [`frequent_itemsets`] is FP-growth (Han, Pei & Yin 2000): one pass counts items, a second
//! builds the prefix tree of the baskets' frequent items (most frequent first), then each item's
//! conditional tree is mined recursively, up to `max_len` items. It is tested against brute-force
//! enumeration on random baskets. (The `fp-growth` crate was considered: unmaintained since 2021, no
//! length limit, so it was not used.)
//!
//! **Support.** With `min_support` set, itemsets below it are dropped, and more than `max_itemsets`
//! frequent itemsets is an error (raise the support). Unset (the default), the support is chosen: the
//! smallest support from 0.01 up (to within 2 %) whose frequent itemsets number at most `auto_itemsets`,
//! found by doubling and then bisecting the minimum count, each try stopping as soon as it passes the
//! budget. The fit says what it chose ([`Progress::note`], and the resolved `min_support` of the model
//! file), so the same rules can be fitted again with it.
//!
//! **Rules.** Every frequent itemset `S` with at least two items gives, for each `y ∈ S`, the rule
//! `X = S∖{y} → y` with support `supp(S)`, confidence `supp(S) / supp(X)` and lift
//! `confidence / supp({y})` (supports as fractions of baskets). Rules below `min_confidence` or `min_lift`
//! are dropped.
//!
//! **Recommending.** The user's recent history (the last `recent` entries of [`Query::sequence`], or of
//! [`Query::history`] taken as oldest first when no sequence is given; all of it when `recent` is 0)
//! fires every rule whose whole antecedent it contains; an item's score is the largest confidence among the rules that fire for it ([`Aggregate::Max`], the
//! classic choice, so the explanation is exactly the rule behind the score) or their sum
//! ([`Aggregate::Sum`]). Items no rule reaches are ranked after every rule item, by training popularity
//! (scores in `[−1, 0)`), unless `fallback_popular` is off, in which case they are not returned.
//! [`Recommender::similar_items`] ranks the consequents of the single-item rules `{item} → y`, and
//! [`Recommender::explain`] names the antecedent of the strongest rule.
//!
//! ```
//! use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx};
//! use tastebud_models::rules::RulesParams;
//! use tastebud_models::{Fit, NoProgress, Query, Recommender};
//! // Three users bought 0 and 1 together; one bought 2 alone.
//! let x = Interactions::from_triplets(4, 3, &[(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, 1.0),
//!                                             (2, 0, 1.0), (2, 1, 1.0), (3, 2, 1.0)], Feedback::Implicit)?;
//! let data = Dataset::from_parts("toy", x, ["a", "b", "c", "d"], ["x", "y", "z"])?;
//! let m = RulesParams::default().min_support(0.5).fit(&data, &NoProgress)?;
//! let recs = m.recommend(&Query::new(&[(ItemIdx(0), 1.0)]), 1)?;
//! assert_eq!((recs[0].item, recs[0].score), (ItemIdx(1), 1.0)); // {0} -> 1 with confidence 3/3
//! # Ok::<(), tastebud_core::Error>(())
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemFilter, ItemIdx, Result, ensure_param, top_k};

use crate::reason::Reason;
use crate::{Explanation, Fit, Progress, Query, Recommender, Scored};

/// How the rules that fire for one item combine into its score.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The largest confidence. The default.
    #[default]
    Max,
    /// The sum of the confidences.
    Sum,
}

/// Hyperparameters of [`Rules`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesParams {
    /// Cut a user's interactions into sessions at gaps longer than this many minutes (needs timestamps).
    /// By default, none: a user's whole history is one basket.
    pub session_gap_minutes: Option<f64>,
    /// Minimum support of an itemset, as a fraction of baskets (and at least 2 baskets). By default
    /// (unset), chosen: the smallest from 0.01 up whose frequent itemsets number at most `auto_itemsets`.
    pub min_support: Option<f64>,
    /// Minimum confidence of a rule. By default, 0.1.
    pub min_confidence: f64,
    /// Minimum lift of a rule. By default, 1.0 (the antecedent makes the consequent no less likely).
    pub min_lift: f64,
    /// Largest itemset (so antecedents have at most `max_len − 1` items). By default, 3.
    pub max_len: usize,
    /// Use only the last `recent` history entries as antecedents (0: all). By default, 0.
    pub recent: usize,
    /// How firing rules combine. By default, [`Aggregate::Max`].
    pub aggregate: Aggregate,
    /// Rank items no rule reaches by popularity after the rule items. By default, true.
    pub fallback_popular: bool,
    /// Refuse to go on past this many frequent itemsets (raise `min_support` instead of running out of
    /// memory). By default, 5,000,000.
    pub max_itemsets: usize,
    /// With `min_support` unset: the most frequent itemsets the chosen support may give. By default,
    /// 100,000.
    pub auto_itemsets: usize,
}

/// The support an unset `min_support` starts from.
pub const DEFAULT_MIN_SUPPORT: f64 = 0.01;

/// The support a fit used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChosenSupport {
    /// The support, as a fraction of baskets (`min_count / baskets`, or the one given).
    pub min_support: f64,
    /// The least number of baskets a frequent itemset is in.
    pub min_count: usize,
    /// Baskets mined.
    pub baskets: usize,
    /// Frequent itemsets found.
    pub itemsets: usize,
    /// Whether it was chosen (`min_support` unset) rather than given.
    pub automatic: bool,
}

impl Default for RulesParams {
    fn default() -> Self {
        RulesParams {
            session_gap_minutes: None,
            min_support: None,
            min_confidence: 0.1,
            min_lift: 1.0,
            max_len: 3,
            recent: 0,
            aggregate: Aggregate::Max,
            fallback_popular: true,
            max_itemsets: 5_000_000,
            auto_itemsets: 100_000,
        }
    }
}

impl RulesParams {
    /// Sessions cut at gaps longer than this (minutes). By default, none (one basket per user).
    pub fn session_gap_minutes(mut self, m: f64) -> Self {
        self.session_gap_minutes = Some(m);
        self
    }
    /// Minimum itemset support (fraction of baskets). By default, chosen (see the module docs).
    pub fn min_support(mut self, s: f64) -> Self {
        self.min_support = Some(s);
        self
    }
    /// With the support chosen: the most frequent itemsets it may give. By default, 100,000.
    pub fn auto_itemsets(mut self, n: usize) -> Self {
        self.auto_itemsets = n;
        self
    }
    /// Minimum rule confidence. By default, 0.1.
    pub fn min_confidence(mut self, c: f64) -> Self {
        self.min_confidence = c;
        self
    }
    /// Minimum rule lift. By default, 1.0.
    pub fn min_lift(mut self, l: f64) -> Self {
        self.min_lift = l;
        self
    }
    /// Largest itemset. By default, 3.
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = n;
        self
    }
    /// History entries used as antecedents (0: all). By default, 0.
    pub fn recent(mut self, n: usize) -> Self {
        self.recent = n;
        self
    }
    /// How firing rules combine. By default, max.
    pub fn aggregate(mut self, a: Aggregate) -> Self {
        self.aggregate = a;
        self
    }
    /// Popularity fallback after the rule items. By default, true.
    pub fn fallback_popular(mut self, yes: bool) -> Self {
        self.fallback_popular = yes;
        self
    }
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        if let Some(g) = self.session_gap_minutes {
            ensure_param(
                g.is_finite() && g > 0.0,
                "session_gap_minutes",
                "must be a positive number of minutes",
            )?;
        }
        if let Some(s) = self.min_support {
            ensure_param(s > 0.0 && s <= 1.0, "min_support", "must be in (0, 1]")?;
        }
        ensure_param(
            self.auto_itemsets >= 1,
            "auto_itemsets",
            "must be at least 1",
        )?;
        ensure_param(
            (0.0..=1.0).contains(&self.min_confidence),
            "min_confidence",
            "must be in [0, 1]",
        )?;
        ensure_param(
            self.min_lift.is_finite() && self.min_lift >= 0.0,
            "min_lift",
            "must be a finite number >= 0",
        )?;
        ensure_param(
            self.max_len >= 2,
            "max_len",
            "must be at least 2 (a rule needs two items)",
        )?;
        ensure_param(self.max_itemsets >= 1, "max_itemsets", "must be at least 1")
    }
}

/// One association rule `antecedent → consequent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The items that fire the rule, sorted.
    pub antecedent: Vec<ItemIdx>,
    /// The item it recommends.
    pub consequent: ItemIdx,
    /// Fraction of baskets holding antecedent and consequent.
    pub support: f32,
    /// P(consequent | antecedent).
    pub confidence: f32,
    /// Confidence over the consequent's support.
    pub lift: f32,
}

/// A fitted association-rule recommender (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rules {
    n_items: usize,
    n_baskets: usize,
    rules: Vec<Rule>,
    /// Rule indices by the antecedent's first (smallest) item.
    by_first: Vec<Vec<u32>>,
    /// Fallback scores in `[−1, 0)` by popularity; empty when the fallback is off.
    fallback: Vec<f32>,
    recent: usize,
    aggregate: Aggregate,
}

/// The baskets of `data`: per user, sessions cut at gaps longer than `gap_secs` (or the whole history),
/// each a sorted list of distinct item indices.
pub fn baskets(data: &Dataset, gap_secs: Option<f64>) -> Result<Vec<Vec<u32>>> {
    let x = &data.interactions;
    let mut out = Vec::new();
    for u in 0..x.n_users() as u32 {
        let u = tastebud_core::UserIdx(u);
        let items = x.user_items(u);
        if items.is_empty() {
            continue;
        }
        let Some(gap) = gap_secs else {
            let mut b: Vec<u32> = items.iter().map(|i| i.0).collect();
            b.sort_unstable();
            b.dedup();
            out.push(b);
            continue;
        };
        let times = x.user_times(u).ok_or_else(|| Error::InvalidParam {
            name: "session_gap_minutes",
            reason: "sessions need timestamps and the data has none".into(),
        })?;
        let mut events: Vec<(i64, u32)> = times.iter().zip(items).map(|(&t, i)| (t, i.0)).collect();
        events.sort_unstable();
        let mut cur: Vec<u32> = Vec::new();
        let mut last = events[0].0;
        for (t, i) in events {
            if (t - last) as f64 > gap && !cur.is_empty() {
                cur.sort_unstable();
                cur.dedup();
                out.push(std::mem::take(&mut cur));
            }
            cur.push(i);
            last = t;
        }
        cur.sort_unstable();
        cur.dedup();
        out.push(cur);
    }
    Ok(out)
}

/// An FP-tree: an arena of nodes (node 0 is the root) and, per item, its nodes.
struct FpTree {
    item: Vec<u32>,
    count: Vec<usize>,
    parent: Vec<usize>,
    children: Vec<Vec<usize>>,
    /// `(item, nodes, total count)`, most frequent item first.
    header: Vec<(u32, Vec<usize>, usize)>,
}

impl FpTree {
    /// The tree of weighted transactions, keeping items with total weight >= `min_count`.
    fn build(transactions: &[(Vec<u32>, usize)], min_count: usize) -> FpTree {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for (t, w) in transactions {
            for &i in t {
                *counts.entry(i).or_insert(0) += w;
            }
        }
        let mut frequent: Vec<(u32, usize)> = counts
            .into_iter()
            .filter(|&(_, c)| c >= min_count)
            .collect();
        // Most frequent first, ties by lower item: a fixed order makes shared prefixes meet.
        frequent.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let rank: HashMap<u32, usize> = frequent
            .iter()
            .enumerate()
            .map(|(r, &(i, _))| (i, r))
            .collect();
        let mut tree = FpTree {
            item: vec![u32::MAX],
            count: vec![0],
            parent: vec![0],
            children: vec![Vec::new()],
            header: frequent.iter().map(|&(i, c)| (i, Vec::new(), c)).collect(),
        };
        let mut path: Vec<(usize, u32)> = Vec::new();
        for (t, w) in transactions {
            path.clear();
            path.extend(t.iter().filter_map(|i| rank.get(i).map(|&r| (r, *i))));
            path.sort_unstable();
            let mut node = 0;
            for &(r, i) in &path {
                let found = tree.children[node]
                    .iter()
                    .copied()
                    .find(|&c| tree.item[c] == i);
                node = match found {
                    Some(c) => c,
                    None => {
                        let c = tree.item.len();
                        tree.item.push(i);
                        tree.count.push(0);
                        tree.parent.push(node);
                        tree.children.push(Vec::new());
                        tree.children[node].push(c);
                        tree.header[r].1.push(c);
                        c
                    }
                };
                tree.count[node] += w;
            }
        }
        tree
    }
}

/// Frequent itemsets of `baskets` (each a list of distinct items): every itemset of at most `max_len` items
/// contained in at least `min_count` baskets, sorted, with that count. Fails when there are more than
/// `max_itemsets`. Order of the output is unspecified.
pub fn frequent_itemsets(
    baskets: &[Vec<u32>],
    min_count: usize,
    max_len: usize,
    max_itemsets: usize,
) -> Result<Vec<(Vec<u32>, usize)>> {
    capped_itemsets(baskets, min_count, max_len, max_itemsets).ok_or_else(|| Error::InvalidParam {
        name: "min_support",
        reason: format!(
            "more than {max_itemsets} frequent itemsets (max_itemsets); raise min_support or \
             lower max_len"
        ),
    })
}

/// [`frequent_itemsets`], `None` as soon as there are more than `max_itemsets`.
fn capped_itemsets(
    baskets: &[Vec<u32>],
    min_count: usize,
    max_len: usize,
    max_itemsets: usize,
) -> Option<Vec<(Vec<u32>, usize)>> {
    let min_count = min_count.max(1);
    let transactions: Vec<(Vec<u32>, usize)> = baskets.iter().map(|b| (b.clone(), 1)).collect();
    let tree = FpTree::build(&transactions, min_count);
    let mut out = Vec::new();
    let mut suffix = Vec::new();
    mine(
        &tree,
        &mut suffix,
        min_count,
        max_len,
        max_itemsets,
        &mut out,
    )
    .then_some(out)
}

/// The least count of baskets for a support (at least 2).
fn min_count_for(support: f64, n_baskets: usize) -> usize {
    ((support * n_baskets as f64).ceil() as usize).max(2)
}

/// Frequent itemsets, each sorted, with the number of baskets holding it.
type Itemsets = Vec<(Vec<u32>, usize)>;

/// The smallest minimum count from `start` up (to within 2 %) whose frequent itemsets number at most
/// `budget`, with those itemsets; `None` when even an itemset in every basket is too many.
fn auto_itemsets(
    baskets: &[Vec<u32>],
    start: usize,
    max_len: usize,
    budget: usize,
) -> Option<(usize, Itemsets)> {
    let n = baskets.len().max(2);
    let mine = |c: usize| capped_itemsets(baskets, c, max_len, budget);
    let start = start.min(n);
    if let Some(sets) = mine(start) {
        return Some((start, sets));
    }
    // Double until it fits (`lo` is always a count that does not)...
    let mut lo = start;
    let (mut hi, mut best) = loop {
        if lo >= n {
            return None;
        }
        let c = (lo * 2).min(n);
        match mine(c) {
            Some(sets) => break (c, sets),
            None => lo = c,
        }
    };
    // ... then bisect between the last count that did not fit and the first that did.
    while hi - lo > 1 && (hi - lo) as f64 > 0.02 * hi as f64 {
        let mid = lo + (hi - lo) / 2;
        match mine(mid) {
            Some(sets) => {
                hi = mid;
                best = sets;
            }
            None => lo = mid,
        }
    }
    Some((hi, best))
}

/// Mines `tree` into `out`; `false` as soon as `out` holds more than `max_itemsets`.
fn mine(
    tree: &FpTree,
    suffix: &mut Vec<u32>,
    min_count: usize,
    max_len: usize,
    max_itemsets: usize,
    out: &mut Vec<(Vec<u32>, usize)>,
) -> bool {
    // Least frequent first (any order is correct; this one keeps conditional trees small).
    for (item, nodes, count) in tree.header.iter().rev() {
        suffix.push(*item);
        let mut set = suffix.clone();
        set.sort_unstable();
        out.push((set, *count));
        if out.len() > max_itemsets {
            return false;
        }
        if suffix.len() < max_len {
            // The conditional pattern base: each node's path to the root, weighted by the node's count.
            let mut base: Vec<(Vec<u32>, usize)> = Vec::with_capacity(nodes.len());
            for &n in nodes {
                let mut path = Vec::new();
                let mut p = tree.parent[n];
                while p != 0 {
                    path.push(tree.item[p]);
                    p = tree.parent[p];
                }
                if !path.is_empty() {
                    base.push((path, tree.count[n]));
                }
            }
            if !base.is_empty() {
                let cond = FpTree::build(&base, min_count);
                if !cond.header.is_empty()
                    && !mine(&cond, suffix, min_count, max_len, max_itemsets, out)
                {
                    return false;
                }
            }
        }
        suffix.pop();
    }
    true
}

impl RulesParams {
    /// Fits, and says which support it used (chosen when `min_support` is unset; see the module docs).
    ///
    /// # Errors
    ///
    /// As [`Fit::fit`]: invalid parameters, no interactions, sessions without timestamps, more than
    /// `max_itemsets` frequent itemsets at a given `min_support`, or no support at which the frequent
    /// itemsets number at most `auto_itemsets`.
    pub fn fit_with_support(
        &self,
        data: &Dataset,
        progress: &dyn Progress,
    ) -> Result<(Rules, ChosenSupport)> {
        self.validate()?;
        progress.start("rules", 3);
        let baskets = baskets(data, self.session_gap_minutes.map(|m| m * 60.0))?;
        ensure_param(
            !baskets.is_empty(),
            "data",
            "no interactions to mine rules from",
        )?;
        let n_baskets = baskets.len();
        let (min_count, sets, automatic) = match self.min_support {
            Some(s) => {
                let min_count = min_count_for(s, n_baskets);
                progress.message(&format!("{n_baskets} baskets, min count {min_count}"));
                progress.inc(1);
                let sets = frequent_itemsets(&baskets, min_count, self.max_len, self.max_itemsets)?;
                (min_count, sets, false)
            }
            None => {
                let budget = self.auto_itemsets.min(self.max_itemsets);
                progress.message(&format!(
                    "{n_baskets} baskets, choosing the support for at most {budget} itemsets"
                ));
                progress.inc(1);
                let start = min_count_for(DEFAULT_MIN_SUPPORT, n_baskets);
                let (min_count, sets) = auto_itemsets(&baskets, start, self.max_len, budget)
                    .ok_or_else(|| Error::InvalidParam {
                        name: "auto_itemsets",
                        reason: format!(
                            "more than {budget} frequent itemsets even at support 1 (items in every basket); \
                             lower max_len or raise auto_itemsets"
                        ),
                    })?;
                (min_count, sets, true)
            }
        };
        let chosen = ChosenSupport {
            min_support: match (self.min_support, automatic) {
                (Some(s), false) => s,
                _ => min_count as f64 / n_baskets as f64,
            },
            min_count,
            baskets: n_baskets,
            itemsets: sets.len(),
            automatic,
        };
        if automatic {
            progress.note(&format!(
                "rules: min_support {:.4} chosen ({} of {} baskets; {} frequent itemsets, auto_itemsets {})",
                chosen.min_support,
                min_count,
                n_baskets,
                sets.len(),
                self.auto_itemsets.min(self.max_itemsets)
            ));
        }
        progress.inc(1);
        Ok((self.rules_from(data, n_baskets, &sets, progress), chosen))
    }
}

impl Fit for RulesParams {
    type Model = Rules;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Rules> {
        Ok(self.fit_with_support(data, progress)?.0)
    }
}

impl RulesParams {
    /// The rules of the frequent itemsets `sets` of `n_baskets` baskets.
    fn rules_from(
        &self,
        data: &Dataset,
        n_baskets: usize,
        sets: &[(Vec<u32>, usize)],
        progress: &dyn Progress,
    ) -> Rules {
        let n_items = data.n_items();
        let support: HashMap<&[u32], usize> =
            sets.iter().map(|(s, c)| (s.as_slice(), *c)).collect();
        let nb = n_baskets as f64;
        let mut rules = Vec::new();
        let mut ante: Vec<u32> = Vec::new();
        for (set, count) in sets.iter().filter(|(s, _)| s.len() >= 2) {
            for (k, &y) in set.iter().enumerate() {
                ante.clear();
                ante.extend(
                    set.iter()
                        .enumerate()
                        .filter(|&(j, _)| j != k)
                        .map(|(_, &i)| i),
                );
                // Every subset of a frequent itemset is frequent, so both lookups succeed.
                let (Some(&sx), Some(&sy)) = (support.get(ante.as_slice()), support.get(&[y][..]))
                else {
                    continue;
                };
                let confidence = *count as f64 / sx as f64;
                let lift = confidence / (sy as f64 / nb);
                if confidence >= self.min_confidence && lift >= self.min_lift {
                    rules.push(Rule {
                        antecedent: ante.iter().map(|&i| ItemIdx(i)).collect(),
                        consequent: ItemIdx(y),
                        support: (*count as f64 / nb) as f32,
                        confidence: confidence as f32,
                        lift: lift as f32,
                    });
                }
            }
        }
        // A fixed order: strongest first, then by items (the itemset order above is unspecified).
        rules.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(b.lift.total_cmp(&a.lift))
                .then(a.antecedent.len().cmp(&b.antecedent.len()))
                .then(a.antecedent.cmp(&b.antecedent))
                .then(a.consequent.cmp(&b.consequent))
        });
        let mut by_first = vec![Vec::new(); n_items];
        for (r, rule) in rules.iter().enumerate() {
            by_first[rule.antecedent[0].get()].push(r as u32);
        }
        let fallback = if self.fallback_popular {
            let counts = data.interactions.item_counts();
            let max = counts.iter().copied().max().unwrap_or(0) as f32 + 1.0;
            counts.iter().map(|&c| c as f32 / max - 1.0).collect()
        } else {
            Vec::new()
        };
        progress.message(&format!("{} rules", rules.len()));
        progress.inc(1);
        Rules {
            n_items,
            n_baskets,
            rules,
            by_first,
            fallback,
            recent: self.recent,
            aggregate: self.aggregate,
        }
    }
}

impl Rules {
    /// Every rule, strongest (confidence, then lift) first.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    /// Number of baskets the rules were mined from.
    pub fn n_baskets(&self) -> usize {
        self.n_baskets
    }

    fn check(&self, i: ItemIdx) -> Result<()> {
        if i.get() < self.n_items {
            Ok(())
        } else {
            Err(Error::IndexOutOfRange {
                kind: "item",
                index: i.0,
                len: self.n_items,
            })
        }
    }

    /// The antecedent items: the last `recent` entries of the query's sequence (all the history when
    /// 0), as a membership mask.
    fn antecedents(&self, q: &Query<'_>) -> Result<(Vec<bool>, Vec<ItemIdx>)> {
        for &(i, _) in q.history {
            self.check(i)?;
        }
        let h = q.items_in_order();
        let from = if self.recent == 0 {
            0
        } else {
            h.len().saturating_sub(self.recent)
        };
        let mut mask = vec![false; self.n_items];
        let mut items = Vec::new();
        for &i in &h[from..] {
            self.check(i)?;
            if !mask[i.get()] {
                mask[i.get()] = true;
                items.push(i);
            }
        }
        Ok((mask, items))
    }

    /// The rules that fire for `q` (antecedent inside its recent history), as indices.
    fn firing(&self, q: &Query<'_>) -> Result<Vec<u32>> {
        let (mask, items) = self.antecedents(q)?;
        let mut out = Vec::new();
        for i in items {
            for &r in &self.by_first[i.get()] {
                let rule = &self.rules[r as usize];
                if rule.antecedent.iter().all(|a| mask[a.get()]) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// The strongest firing rule for `item` (rules are stored strongest first).
    fn best_rule(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<&Rule>> {
        self.check(item)?;
        let best = self
            .firing(q)?
            .into_iter()
            .filter(|&r| self.rules[r as usize].consequent == item)
            .min();
        Ok(best.map(|r| &self.rules[r as usize]))
    }
}

impl Recommender for Rules {
    fn name(&self) -> &str {
        "rules"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter: ItemFilter = q.filter(self.n_items)?;
        let mut scores: Vec<f32> = if self.fallback.is_empty() {
            vec![f32::NEG_INFINITY; self.n_items]
        } else {
            self.fallback.clone()
        };
        let mut hit = vec![false; self.n_items];
        for r in self.firing(q)? {
            let rule = &self.rules[r as usize];
            let y = rule.consequent.get();
            let s = &mut scores[y];
            *s = match (hit[y], self.aggregate) {
                (false, _) => rule.confidence,
                (true, Aggregate::Max) => s.max(rule.confidence),
                (true, Aggregate::Sum) => *s + rule.confidence,
            };
            hit[y] = true;
        }
        let mut out = top_k(&scores, k, &filter)?;
        out.retain(|s| s.score.is_finite());
        Ok(out)
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        self.check(item)?;
        // Single-item rules {item} -> y, strongest first (the stored order), each consequent once.
        let mut out: Vec<Scored> = Vec::new();
        for &r in &self.by_first[item.get()] {
            let rule = &self.rules[r as usize];
            if rule.antecedent.len() == 1 && !out.iter().any(|s| s.item == rule.consequent) {
                out.push(Scored {
                    item: rule.consequent,
                    score: rule.confidence,
                });
                if out.len() == k {
                    break;
                }
            }
        }
        Ok(out)
    }
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        Ok(self.best_rule(q, item)?.map(|rule| Explanation {
            because: rule
                .antecedent
                .iter()
                .take(n)
                .map(|&i| (i, rule.confidence))
                .collect(),
        }))
    }
    fn reason(&self, q: &Query<'_>, item: ItemIdx) -> Result<Option<Reason>> {
        Ok(match self.best_rule(q, item)? {
            Some(rule) => Some(Reason::AlsoWatched {
                antecedent: rule.antecedent.clone(),
                confidence: rule.confidence,
            }),
            None if !self.fallback.is_empty() => Some(Reason::Popular {
                genre: None,
                half_life_days: None,
            }),
            None => None,
        })
    }
}

impl Rules {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): every rule has an antecedent, items in
    /// range, finite measures, and the index by first antecedent points at rules.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        for (r, rule) in self.rules.iter().enumerate() {
            v::ensure(!rule.antecedent.is_empty(), || {
                format!("rule {r} has no antecedent")
            })?;
            let items: Vec<u32> = rule.antecedent.iter().map(|i| i.0).collect();
            v::indices(&format!("rule {r} antecedent"), &items, self.n_items)?;
            v::indices(
                &format!("rule {r} consequent"),
                &[rule.consequent.0],
                self.n_items,
            )?;
            v::finite_f32(
                &format!("rule {r} measures"),
                &[rule.support, rule.confidence, rule.lift],
            )?;
        }
        v::len(
            "rules by first antecedent",
            self.by_first.len(),
            self.n_items,
        )?;
        for (i, rs) in self.by_first.iter().enumerate() {
            v::indices(&format!("rules of item {i}"), rs, self.rules.len())?;
        }
        v::ensure(
            self.fallback.is_empty() || self.fallback.len() == self.n_items,
            || {
                format!(
                    "{} fallback scores for {} items",
                    self.fallback.len(),
                    self.n_items
                )
            },
        )?;
        v::finite_f32("rules fallback scores", &self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use tastebud_core::{Feedback, Interaction, Interactions, UserIdx};

    /// Every itemset of at most `max_len` items over `n` items with its count, by enumeration.
    fn brute(
        baskets: &[Vec<u32>],
        n: u32,
        min_count: usize,
        max_len: usize,
    ) -> BTreeMap<Vec<u32>, usize> {
        let mut out = BTreeMap::new();
        for mask in 1u32..(1 << n) {
            if mask.count_ones() as usize > max_len {
                continue;
            }
            let set: Vec<u32> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let c = baskets
                .iter()
                .filter(|b| set.iter().all(|i| b.contains(i)))
                .count();
            if c >= min_count {
                out.insert(set, c);
            }
        }
        out
    }

    #[test]
    fn fp_growth_equals_brute_force_on_random_baskets() {
        for seed in 0..60u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n: u32 = rng.random_range(1..=9);
            let nb = rng.random_range(1..40);
            let p: f64 = rng.random_range(0.1..0.8);
            let baskets: Vec<Vec<u32>> = (0..nb)
                .map(|_| (0..n).filter(|_| rng.random_bool(p)).collect())
                .collect();
            let min_count = rng.random_range(1..6);
            let max_len = rng.random_range(1..=5);
            let got: BTreeMap<Vec<u32>, usize> =
                frequent_itemsets(&baskets, min_count, max_len, usize::MAX)
                    .unwrap()
                    .into_iter()
                    .collect();
            let want = brute(&baskets, n, min_count, max_len);
            assert_eq!(
                got, want,
                "seed {seed}: {baskets:?} min {min_count} len {max_len}"
            );
        }
    }

    #[test]
    fn too_many_itemsets_is_an_error() {
        let baskets = vec![(0..12).collect::<Vec<u32>>(); 3];
        assert!(frequent_itemsets(&baskets, 2, 12, 100).is_err());
    }

    /// The chosen count is the smallest (to within 2 %) whose itemsets fit the budget: one less does not.
    #[test]
    fn auto_support_is_the_smallest_that_fits() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // 400 baskets over 40 items with skewed popularity: many itemsets at low support.
        let baskets: Vec<Vec<u32>> = (0..400)
            .map(|_| {
                (0..40u32)
                    .filter(|&i| rng.random_bool(0.9 / (1.0 + f64::from(i) / 4.0)))
                    .collect()
            })
            .collect();
        let count = |c| frequent_itemsets(&baskets, c, 3, usize::MAX).unwrap().len();
        for budget in [50, 500, 3000] {
            let (c, sets) = auto_itemsets(&baskets, 4, 3, budget).unwrap();
            assert!(
                sets.len() <= budget && sets.len() == count(c),
                "{budget}: {c}"
            );
            assert!(c > 4, "the start does not fit {budget}");
            // within 2 %: a count 3 % lower (and at least one lower) does not fit
            let lower = c - ((c as f64 * 0.03) as usize).max(1);
            assert!(count(lower) > budget, "{budget}: {c} vs {lower}");
        }
        // a budget the start count already meets keeps it
        let (c, _) = auto_itemsets(&baskets, 4, 3, usize::MAX).unwrap();
        assert_eq!(c, 4);
        // identical baskets of 12 items: C(12, <=3) = 298 itemsets at any count
        let same = vec![(0..12).collect::<Vec<u32>>(); 10];
        assert!(auto_itemsets(&same, 2, 3, 100).is_none());
        assert!(auto_itemsets(&same, 2, 3, 298).is_some());
    }

    /// Records the notes a fit leaves.
    #[derive(Default)]
    struct Notes(std::sync::Mutex<Vec<String>>);

    impl Progress for Notes {
        fn start(&self, _: &str, _: u64) {}
        fn inc(&self, _: u64) {}
        fn message(&self, _: &str) {}
        fn note(&self, msg: &str) {
            self.0.lock().unwrap().push(msg.to_owned());
        }
    }

    #[test]
    fn defaults_choose_the_support_and_an_explicit_one_wins() {
        let d = data();
        // 4 baskets: support 0.01 gives the minimum count 2, and every itemset fits.
        let notes = Notes::default();
        let (m, chosen) = RulesParams::default().fit_with_support(&d, &notes).unwrap();
        assert!(chosen.automatic && chosen.min_count == 2, "{chosen:?}");
        assert_eq!(chosen.min_support, 0.5);
        let explicit = RulesParams::default()
            .min_support(0.5)
            .fit(&d, &NoProgress)
            .unwrap();
        assert_eq!(m.rules(), explicit.rules());
        let notes = notes.0.into_inner().unwrap();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].starts_with("rules: min_support 0.5000 chosen"),
            "{notes:?}"
        );
        // A budget of 3 itemsets: count 2 gives 7 itemsets, count 3 gives 4 ({0}, {1}, {2}, {0, 1}),
        // count 4 none; so 4 it is.
        let (m, chosen) = RulesParams::default()
            .auto_itemsets(3)
            .fit_with_support(&d, &NoProgress)
            .unwrap();
        assert_eq!((chosen.min_count, chosen.itemsets), (4, 0), "{chosen:?}");
        assert!(m.rules().is_empty());
        // An explicit support keeps the error it always had.
        let mut p = RulesParams::default().min_support(0.5);
        p.max_itemsets = 2;
        let err = p.fit(&d, &NoProgress).unwrap_err().to_string();
        assert!(
            err.contains(
                "more than 2 frequent itemsets (max_itemsets); raise min_support or lower max_len"
            ),
            "{err}"
        );
        assert!(RulesParams::default().auto_itemsets(0).validate().is_err());
    }

    /// Baskets {0,1,2} x2, {0,1} x1, {2,3} x1 (4 users, one basket each).
    fn data() -> Dataset {
        let t = [
            (0, 0),
            (0, 1),
            (0, 2),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 0),
            (2, 1),
            (3, 2),
            (3, 3),
        ];
        let t: Vec<(u32, u32, f32)> = t.iter().map(|&(u, i)| (u, i, 1.0)).collect();
        let x = Interactions::from_triplets(4, 4, &t, Feedback::Implicit).unwrap();
        Dataset::from_parts("t", x, ["a", "b", "c", "d"], ["w", "x", "y", "z"]).unwrap()
    }

    #[test]
    fn rule_measures_by_hand() {
        let m = RulesParams::default()
            .min_support(0.5)
            .min_lift(0.0)
            .fit(&data(), &NoProgress)
            .unwrap();
        // supp: 0 -> 3/4, 1 -> 3/4, 2 -> 3/4, {0,1} -> 3/4, {0,2} -> 2/4, {1,2} -> 2/4, {0,1,2} -> 2/4.
        let find = |a: &[u32], c: u32| {
            m.rules()
                .iter()
                .find(|r| {
                    r.consequent == ItemIdx(c)
                        && r.antecedent == a.iter().map(|&i| ItemIdx(i)).collect::<Vec<_>>()
                })
                .cloned()
        };
        let r = find(&[0], 1).unwrap();
        assert_eq!((r.support, r.confidence), (0.75, 1.0));
        assert!((r.lift - 1.0 / 0.75).abs() < 1e-6);
        let r = find(&[0], 2).unwrap(); // 2/4 / 3/4
        assert!((r.confidence - 2.0 / 3.0).abs() < 1e-6 && (r.lift - 8.0 / 9.0).abs() < 1e-6);
        let r = find(&[0, 1], 2).unwrap();
        assert!((r.confidence - 2.0 / 3.0).abs() < 1e-6);
        assert!(find(&[3], 2).is_none(), "{{3}} has support 1/4");
        // Lift >= 1 drops {0} -> 2 (lift 8/9).
        let strict = RulesParams::default()
            .min_support(0.5)
            .fit(&data(), &NoProgress)
            .unwrap();
        assert!(strict.rules().iter().all(|r| r.lift >= 1.0));
        assert!(strict.rules().len() < m.rules().len());
    }

    #[test]
    fn recommends_explains_and_falls_back() {
        let m = RulesParams::default()
            .min_support(0.5)
            .min_lift(0.0)
            .fit(&data(), &NoProgress)
            .unwrap();
        let h = [(ItemIdx(0), 1.0)];
        let q = Query::new(&h);
        let recs = m.recommend(&q, 4).unwrap();
        // {0} -> 1 (1.0), {0} -> 2 (2/3), then item 3 by popularity (negative score).
        assert_eq!(
            recs.iter().map(|s| s.item.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(recs[2].score < 0.0);
        let e = m.explain(&q, ItemIdx(1), 3).unwrap().unwrap();
        assert_eq!(e.because, vec![(ItemIdx(0), 1.0)]);
        assert_eq!(m.explain(&q, ItemIdx(3), 3).unwrap(), None);
        assert_eq!(
            m.reason(&q, ItemIdx(2)).unwrap(),
            Some(Reason::AlsoWatched {
                antecedent: vec![ItemIdx(0)],
                confidence: 2.0 / 3.0
            })
        );
        let sims = m.similar_items(ItemIdx(0), 5).unwrap();
        assert_eq!(
            sims.iter().map(|s| s.item.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        // Sum: item 2 is reached by {0}->2 and {1}->2 and {0,1}->2 when the history is {0, 1}.
        let sum = RulesParams::default()
            .min_support(0.5)
            .min_lift(0.0)
            .aggregate(Aggregate::Sum)
            .fit(&data(), &NoProgress)
            .unwrap();
        let h2 = [(ItemIdx(0), 1.0), (ItemIdx(1), 1.0)];
        let s = sum.recommend(&Query::new(&h2), 1).unwrap();
        assert_eq!(s[0].item, ItemIdx(2));
        assert!((s[0].score - 2.0).abs() < 1e-6, "{}", s[0].score);
        // recent = 1 uses only the last history entry: {1} -> 2 alone.
        let recent = RulesParams::default()
            .min_support(0.5)
            .min_lift(0.0)
            .aggregate(Aggregate::Sum)
            .recent(1)
            .fit(&data(), &NoProgress)
            .unwrap();
        let s = recent.recommend(&Query::new(&h2), 1).unwrap();
        assert!((s[0].score - 2.0 / 3.0).abs() < 1e-6);
        // Without the fallback only rule items come back.
        let bare = RulesParams::default()
            .min_support(0.5)
            .min_lift(0.0)
            .fallback_popular(false)
            .fit(&data(), &NoProgress)
            .unwrap();
        assert_eq!(bare.recommend(&q, 4).unwrap().len(), 2);
    }

    #[test]
    fn sessions_cut_at_the_gap() {
        let rec = |u, i, t| Interaction {
            user: UserIdx(u),
            item: ItemIdx(i),
            value: 1.0,
            time: Some(t),
        };
        // user 0: items 0, 1 within a minute, item 2 two hours later.
        let x = Interactions::from_records(
            1,
            3,
            &[rec(0, 0, 0), rec(0, 1, 60), rec(0, 2, 7260)],
            Feedback::Implicit,
        )
        .unwrap();
        let d = Dataset::from_parts("t", x, ["a"], ["x", "y", "z"]).unwrap();
        assert_eq!(
            baskets(&d, Some(1800.0)).unwrap(),
            vec![vec![0, 1], vec![2]]
        );
        assert_eq!(baskets(&d, None).unwrap(), vec![vec![0, 1, 2]]);
        assert!(baskets(&data(), Some(60.0)).is_err(), "no timestamps");
        assert!(RulesParams::default().min_support(0.0).validate().is_err());
        assert!(RulesParams::default().max_len(1).validate().is_err());
    }
}
