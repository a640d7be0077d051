//! Ranking metrics, computed for every cut-off K in one pass over a user's ranked list.
//!
//! Definitions follow trec_eval (and so pytrec_eval and ranx) wherever trec_eval has the measure:
//! `rel` is the user's set of relevant test items, `|rel|` its size, `hit(r)` is 1 when the item at rank
//! `r` (1-based) is relevant, `g(r)` its relevance grade.
//!
//! | metric | formula | trec_eval name |
//! |---|---|---|
//! | Precision@K | `sum_{r<=K} hit(r) / K` (always divided by K, even when fewer items were returned) | `P_K` |
//! | Recall@K | `sum_{r<=K} hit(r) / |rel|` | `recall_K` |
//! | NDCG@K | `DCG@K / IDCG@K`, `DCG@K = sum_{r<=K} hit(r) / log2(r + 1)`, IDCG the DCG of an ideal list | `ndcg_cut_K` on binary qrels |
//! | NDCG-graded@K | as NDCG with gain `g(r)` (the grade itself, trec_eval's linear gain) | `ndcg_cut_K` on graded qrels |
//! | MAP@K | `sum_{r<=K} hit(r) * P@r / |rel|` (divided by all relevant, not `min(K, |rel|)`) | `map_cut_K` |
//! | MRR@K | `1 / r*` for the first relevant rank `r* <= K`, else 0 | `recip_rank` on a run cut at K |
//! | HitRate@K | 1 when `sum_{r<=K} hit(r) > 0`, else 0 | `success_K` |
//! | AUC | share of (relevant, non-relevant) pairs ordered correctly; unranked items tie below the list | — |
//!
//! A user with no relevant test item has no defined value for any of these and is left out of averages (the
//! evaluator reports how many were left out), as trec_eval does for queries without relevant documents.

use serde::{Deserialize, Serialize};
use tastebud_core::ItemIdx;

/// A ranking metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Precision@K.
    Precision,
    /// Recall@K.
    Recall,
    /// NDCG@K with binary gains.
    Ndcg,
    /// NDCG@K with graded gains (the relevance grade, e.g. the rating).
    NdcgGraded,
    /// MAP@K (trec_eval `map_cut`).
    Map,
    /// MRR@K.
    Mrr,
    /// HitRate@K.
    HitRate,
    /// Area under the ROC curve over the user's whole ranking (not cut at K).
    Auc,
}

impl MetricKind {
    /// Every ranking metric.
    pub const ALL: [MetricKind; 8] = [
        MetricKind::Precision,
        MetricKind::Recall,
        MetricKind::Ndcg,
        MetricKind::NdcgGraded,
        MetricKind::Map,
        MetricKind::Mrr,
        MetricKind::HitRate,
        MetricKind::Auc,
    ];
    /// The name used in column headers (`ndcg`, `precision`...).
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Precision => "precision",
            MetricKind::Recall => "recall",
            MetricKind::Ndcg => "ndcg",
            MetricKind::NdcgGraded => "ndcg_graded",
            MetricKind::Map => "map",
            MetricKind::Mrr => "mrr",
            MetricKind::HitRate => "hit_rate",
            MetricKind::Auc => "auc",
        }
    }
    /// Parses a name (`ndcg`, `p`, `precision`, `hr`, `hit_rate`, `auc`...).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "precision" | "p" | "prec" => MetricKind::Precision,
            "recall" | "r" => MetricKind::Recall,
            "ndcg" => MetricKind::Ndcg,
            "ndcg_graded" | "ndcg-graded" => MetricKind::NdcgGraded,
            "map" => MetricKind::Map,
            "mrr" => MetricKind::Mrr,
            "hit_rate" | "hitrate" | "hr" | "hit" => MetricKind::HitRate,
            "auc" => MetricKind::Auc,
            _ => return None,
        })
    }
    /// Whether the metric is computed at each K (all but AUC).
    pub fn at_k(self) -> bool {
        self != MetricKind::Auc
    }
}

/// One user's relevant items with their grades (all grades > 0).
///
/// ```
/// use tastebud_core::ItemIdx;
/// use tastebud_eval::metrics::Relevant;
/// let r = Relevant::new(vec![(ItemIdx(4), 5.0), (ItemIdx(1), 4.0)]);
/// assert_eq!(r.grade(ItemIdx(4)), Some(5.0));
/// assert_eq!(r.grade(ItemIdx(2)), None);
/// assert_eq!(r.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relevant {
    items: Vec<ItemIdx>,
    grades: Vec<f32>,
}

impl Relevant {
    /// From `(item, grade)` pairs; pairs with a grade `<= 0` are dropped, a repeated item keeps its last grade.
    pub fn new(mut pairs: Vec<(ItemIdx, f32)>) -> Self {
        pairs.retain(|&(_, g)| g > 0.0);
        pairs.sort_by_key(|&(i, _)| i);
        let mut items: Vec<ItemIdx> = Vec::with_capacity(pairs.len());
        let mut grades: Vec<f32> = Vec::with_capacity(pairs.len());
        for (i, g) in pairs {
            if items.last() == Some(&i) {
                *grades.last_mut().expect("same length") = g;
            } else {
                items.push(i);
                grades.push(g);
            }
        }
        Relevant { items, grades }
    }
    /// Number of relevant items.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when nothing is relevant.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The grade of `item`, or `None` when it is not relevant.
    #[inline]
    pub fn grade(&self, item: ItemIdx) -> Option<f32> {
        self.items.binary_search(&item).ok().map(|k| self.grades[k])
    }
    /// Relevant items, sorted by index.
    pub fn items(&self) -> &[ItemIdx] {
        &self.items
    }
    /// Grades, aligned with [`Self::items`].
    pub fn grades(&self) -> &[f32] {
        &self.grades
    }
}

/// Which metrics at which cut-offs; fixes the column order of per-user values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSet {
    /// Metrics, in column order.
    pub kinds: Vec<MetricKind>,
    /// Cut-offs, ascending.
    pub ks: Vec<usize>,
}

impl MetricSet {
    /// A set; cut-offs are sorted and deduplicated, metrics deduplicated in given order.
    pub fn new(kinds: &[MetricKind], ks: &[usize]) -> Self {
        let mut k: Vec<usize> = ks.iter().copied().filter(|&k| k > 0).collect();
        k.sort_unstable();
        k.dedup();
        let mut seen = Vec::new();
        for &m in kinds {
            if !seen.contains(&m) {
                seen.push(m);
            }
        }
        MetricSet { kinds: seen, ks: k }
    }
    /// The largest K (the list length the evaluator asks models for).
    pub fn max_k(&self) -> usize {
        self.ks.last().copied().unwrap_or(0)
    }
    /// Column names: `precision@5`, `precision@10`, ..., `auc`.
    pub fn columns(&self) -> Vec<String> {
        let mut c = Vec::new();
        for &m in &self.kinds {
            if m.at_k() {
                for k in &self.ks {
                    c.push(format!("{}@{k}", m.name()));
                }
            } else {
                c.push(m.name().to_string());
            }
        }
        c
    }
    /// True when AUC is requested (the evaluator then needs whole rankings).
    pub fn wants_auc(&self) -> bool {
        self.kinds.contains(&MetricKind::Auc)
    }

    /// All metrics of one user, in [`Self::columns`] order; `None` when the user has no relevant item.
    ///
    /// `ranked` is the user's list, best first (at least `max_k` long when the model had that many items to
    /// give); `n_eligible` is the number of items that could have been ranked (for AUC: the catalogue minus
    /// excluded items).
    pub fn score(&self, ranked: &[ItemIdx], rel: &Relevant, n_eligible: usize) -> Option<Vec<f64>> {
        if rel.is_empty() {
            return None;
        }
        let n_rel = rel.len() as f64;
        let max_k = self.max_k();
        // One pass over the top max_k: prefix sums of hits, DCG (binary and graded) and AP.
        let depth = ranked.len().min(max_k);
        let mut hits = vec![0f64; max_k + 1];
        let mut dcg = vec![0f64; max_k + 1];
        let mut dcg_g = vec![0f64; max_k + 1];
        let mut ap = vec![0f64; max_k + 1];
        let mut first_hit: Option<usize> = None;
        for r in 0..max_k {
            let (h, g) = match (r < depth).then(|| rel.grade(ranked[r])).flatten() {
                Some(g) => (1.0, g as f64),
                None => (0.0, 0.0),
            };
            let disc = 1.0 / ((r + 2) as f64).log2();
            hits[r + 1] = hits[r] + h;
            dcg[r + 1] = dcg[r] + h * disc;
            dcg_g[r + 1] = dcg_g[r] + g * disc;
            ap[r + 1] = ap[r]
                + if h > 0.0 {
                    hits[r + 1] / (r + 1) as f64
                } else {
                    0.0
                };
            if h > 0.0 && first_hit.is_none() {
                first_hit = Some(r + 1);
            }
        }
        // Ideal DCGs.
        let mut ideal = vec![0f64; max_k + 1];
        let mut ideal_g = vec![0f64; max_k + 1];
        let mut sorted_grades: Vec<f64> = rel.grades().iter().map(|&g| g as f64).collect();
        sorted_grades.sort_by(|a, b| b.total_cmp(a));
        for r in 0..max_k {
            let disc = 1.0 / ((r + 2) as f64).log2();
            let (h, g) = if r < rel.len() {
                (1.0, sorted_grades[r])
            } else {
                (0.0, 0.0)
            };
            ideal[r + 1] = ideal[r] + h * disc;
            ideal_g[r + 1] = ideal_g[r] + g * disc;
        }
        let mut out = Vec::with_capacity(self.kinds.len() * self.ks.len());
        for &m in &self.kinds {
            if m == MetricKind::Auc {
                out.push(auc(ranked, rel, n_eligible));
                continue;
            }
            for &k in &self.ks {
                out.push(match m {
                    MetricKind::Precision => hits[k] / k as f64,
                    MetricKind::Recall => hits[k] / n_rel,
                    MetricKind::Ndcg => dcg[k] / ideal[k],
                    MetricKind::NdcgGraded => dcg_g[k] / ideal_g[k],
                    MetricKind::Map => ap[k] / n_rel,
                    MetricKind::Mrr => first_hit
                        .filter(|&r| r <= k)
                        .map_or(0.0, |r| 1.0 / r as f64),
                    MetricKind::HitRate => f64::from(hits[k] > 0.0),
                    MetricKind::Auc => unreachable!("handled above"),
                });
            }
        }
        Some(out)
    }
}

/// AUC of one ranking: the share of (relevant, non-relevant) pairs where the relevant item ranks higher.
///
/// Items not in `ranked` (of the `n_eligible` that could have been) are tied below the list; a tie counts
/// one half. With a full ranking (`ranked.len() == n_eligible`) this is the exact ROC AUC.
pub fn auc(ranked: &[ItemIdx], rel: &Relevant, n_eligible: usize) -> f64 {
    let n_eligible = n_eligible.max(ranked.len());
    let pos_ranked = ranked.iter().filter(|&&i| rel.grade(i).is_some()).count();
    let neg_ranked = ranked.len() - pos_ranked;
    // Relevant items beyond the list are among the unranked eligible items.
    let pos_unranked = rel
        .len()
        .saturating_sub(pos_ranked)
        .min(n_eligible - ranked.len());
    let neg_unranked = n_eligible - ranked.len() - pos_unranked;
    let n_pos = pos_ranked + pos_unranked;
    let n_neg = neg_ranked + neg_unranked;
    if n_pos == 0 || n_neg == 0 {
        return if n_pos == 0 { 0.0 } else { 1.0 };
    }
    let mut correct = 0f64;
    let mut neg_above = 0usize;
    for &i in ranked {
        if rel.grade(i).is_some() {
            // negatives below this positive: ranked ones after it, plus every unranked one
            correct += (neg_ranked - neg_above + neg_unranked) as f64;
        } else {
            neg_above += 1;
        }
    }
    correct += 0.5 * (pos_unranked * neg_unranked) as f64;
    correct / (n_pos * n_neg) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(v: &[u32]) -> Vec<ItemIdx> {
        v.iter().map(|&i| ItemIdx(i)).collect()
    }
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Hand-computed example: ranked [1, 2, 3, 4, 5], relevant {1: 3, 3: 1, 9: 2} (9 never retrieved).
    #[test]
    fn golden_hand_computed() {
        let rel = Relevant::new(vec![
            (ItemIdx(1), 3.0),
            (ItemIdx(3), 1.0),
            (ItemIdx(9), 2.0),
        ]);
        let set = MetricSet::new(&MetricKind::ALL, &[1, 3, 5]);
        let v = set.score(&items(&[1, 2, 3, 4, 5]), &rel, 10).unwrap();
        let cols = set.columns();
        let get = |name: &str| v[cols.iter().position(|c| c == name).unwrap()];
        // hits at ranks 1 and 3
        assert!(close(get("precision@1"), 1.0));
        assert!(close(get("precision@3"), 2.0 / 3.0));
        assert!(close(get("precision@5"), 2.0 / 5.0));
        assert!(close(get("recall@1"), 1.0 / 3.0));
        assert!(close(get("recall@5"), 2.0 / 3.0));
        // binary NDCG@3: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/2
        let idcg3 = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(get("ndcg@3"), 1.5 / idcg3));
        assert!(close(get("ndcg@1"), 1.0));
        // graded NDCG@3: DCG = 3 + 1/2 = 3.5; IDCG = 3 + 2/log2(3) + 1/2
        let idcg_g3 = 3.0 + 2.0 / 3f64.log2() + 0.5;
        assert!(close(get("ndcg_graded@3"), 3.5 / idcg_g3));
        // MAP@5 = (1/1 + 2/3) / 3
        assert!(close(get("map@5"), (1.0 + 2.0 / 3.0) / 3.0));
        assert!(close(get("map@1"), 1.0 / 3.0));
        assert!(close(get("mrr@1"), 1.0));
        assert!(close(get("hit_rate@1"), 1.0));
        // AUC: 10 eligible items, 3 relevant (2 ranked, 9 unranked), 7 non-relevant (3 ranked: 2, 4, 5; 4 unranked).
        // item 1 is above 7 negatives, item 3 above 6 (4, 5 and the 4 unranked), item 9 ties with 4 unranked: 2.
        assert!(close(get("auc"), (7.0 + 6.0 + 2.0) / 21.0));
    }

    #[test]
    fn mrr_and_hit_rate_respect_the_cutoff() {
        let rel = Relevant::new(vec![(ItemIdx(3), 1.0)]);
        let set = MetricSet::new(&[MetricKind::Mrr, MetricKind::HitRate], &[2, 4]);
        let v = set.score(&items(&[0, 1, 2, 3]), &rel, 4).unwrap();
        assert_eq!(v, vec![0.0, 0.25, 0.0, 1.0]);
    }

    #[test]
    fn short_lists_and_users_without_relevant_items() {
        let rel = Relevant::new(vec![(ItemIdx(0), 1.0)]);
        let set = MetricSet::new(&[MetricKind::Precision, MetricKind::Ndcg], &[10]);
        // One item returned: precision still divides by K (trec_eval P_10).
        assert_eq!(set.score(&items(&[0]), &rel, 1).unwrap(), vec![0.1, 1.0]);
        assert!(
            set.score(&items(&[0]), &Relevant::new(vec![(ItemIdx(0), 0.0)]), 1)
                .is_none()
        );
    }

    proptest! {
        /// Every metric is in [0, 1]; an ideal ranking has NDCG = 1 (binary and graded), and AUC = 1.
        #[test]
        fn bounds_and_ideal_ranking(
            n in 1usize..40,
            rel_mask in proptest::collection::vec(any::<bool>(), 40),
            grades in proptest::collection::vec(1u8..6, 40),
            perm_seed in any::<u64>(),
            k in 1usize..30,
        ) {
            let rel_pairs: Vec<(ItemIdx, f32)> = (0..n).filter(|&i| rel_mask[i]).map(|i| (ItemIdx(i as u32), grades[i] as f32)).collect();
            let rel = Relevant::new(rel_pairs.clone());
            let set = MetricSet::new(&MetricKind::ALL, &[1, k, 30]);
            // a pseudo-random permutation
            let mut order: Vec<u32> = (0..n as u32).collect();
            let mut s = perm_seed | 1;
            for i in (1..order.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                order.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let ranked = items(&order);
            match set.score(&ranked, &rel, n) {
                None => prop_assert!(rel.is_empty()),
                Some(v) => for x in v { prop_assert!((0.0..=1.0 + 1e-12).contains(&x), "{x}"); }
            }
            if !rel.is_empty() {
                // ideal: relevant by grade descending, then the rest
                let mut ideal: Vec<(ItemIdx, f32)> = rel_pairs.clone();
                ideal.sort_by(|a, b| b.1.total_cmp(&a.1));
                let mut list: Vec<ItemIdx> = ideal.iter().map(|p| p.0).collect();
                list.extend((0..n as u32).map(ItemIdx).filter(|i| rel.grade(*i).is_none()));
                let cols = set.columns();
                let v = set.score(&list, &rel, n).unwrap();
                for (c, x) in cols.iter().zip(&v) {
                    if c.starts_with("ndcg") || c == "auc" {
                        prop_assert!((x - 1.0).abs() < 1e-9, "{c} = {x}");
                    }
                }
            }
        }
    }
}
