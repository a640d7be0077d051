//! The one top-k + filter kernel every model ranks with.
//!
//! Ranking rule, everywhere in Tastebud: **higher score first; equal scores by lower [`ItemIdx`] first**;
//! NaN scores are never returned. The rule makes results identical across runs and thread counts.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::ItemIdx;

/// An item with its score. **Higher is better**, for every model and metric.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The item.
    pub item: ItemIdx,
    /// Its score; only the order matters across models.
    pub score: f32,
}

impl Scored {
    /// `Less` when `self` ranks before `other` (higher score, then lower index).
    #[inline]
    pub fn rank_cmp(&self, other: &Scored) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.item.cmp(&other.item))
    }
}

/// Heap entry ordered so that the *worst* ranked entry is the heap's maximum.
#[derive(Copy, Clone, Debug)]
struct Worst(Scored);
impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.rank_cmp(&o.0)
    }
}

/// A bounded collector of the best `k` scored items (a min-heap of size `k` with a pruning threshold).
///
/// ```
/// use tastebud_core::{ItemIdx, TopK};
/// let mut t = TopK::new(2);
/// for (i, s) in [(0, 0.5), (1, 0.9), (2, 0.9), (3, 0.1)] { t.push(ItemIdx(i), s); }
/// let best: Vec<u32> = t.into_sorted().iter().map(|s| s.item.0).collect();
/// assert_eq!(best, vec![1, 2]); // tie at 0.9 broken by lower index
/// ```
#[derive(Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// A collector keeping the best `k`.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
        }
    }
    /// Offers one item; NaN scores are ignored.
    #[inline]
    pub fn push(&mut self, item: ItemIdx, score: f32) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        let s = Scored { item, score };
        if self.heap.len() < self.k {
            self.heap.push(Worst(s));
        } else if let Some(mut top) = self.heap.peek_mut()
            && s.rank_cmp(&top.0) == Ordering::Less
        {
            *top = Worst(s);
        }
    }
    /// Current number of kept items.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
    /// The kept items, best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_unstable_by(Scored::rank_cmp);
        v
    }
}

/// Which items may be returned: everything, minus exclusions, optionally restricted to candidates.
///
/// ```
/// use tastebud_core::{ItemFilter, ItemIdx, top_k};
/// let scores = [0.1, 0.9, 0.5, 0.7];
/// let f = ItemFilter::new(4).exclude(&[ItemIdx(1)])?;
/// let r = top_k(&scores, 2, &f)?;
/// assert_eq!(r.iter().map(|s| s.item.0).collect::<Vec<_>>(), vec![3, 2]);
/// let f = ItemFilter::new(4).candidates(&[ItemIdx(0), ItemIdx(2)])?;
/// assert_eq!(top_k(&scores, 5, &f)?.len(), 2);
/// # Ok::<(), tastebud_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ItemFilter {
    n_items: usize,
    excluded: Vec<u64>,
    candidates: Option<Vec<ItemIdx>>,
}

impl ItemFilter {
    /// Allows every item of a catalogue of `n_items`.
    pub fn new(n_items: usize) -> Self {
        ItemFilter {
            n_items,
            excluded: vec![0; n_items.div_ceil(64)],
            candidates: None,
        }
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
    /// Excludes these items (a user's history, a blocklist). Fails on an index outside the catalogue.
    pub fn exclude(mut self, items: &[ItemIdx]) -> Result<Self> {
        for &i in items {
            self.check(i)?;
            self.excluded[i.get() / 64] |= 1 << (i.get() % 64);
        }
        Ok(self)
    }
    /// Ranks only these items (duplicates count once). Fails on an index outside the catalogue.
    pub fn candidates(mut self, items: &[ItemIdx]) -> Result<Self> {
        for &i in items {
            self.check(i)?;
        }
        let mut c = items.to_vec();
        c.sort_unstable();
        c.dedup();
        self.candidates = Some(c);
        Ok(self)
    }
    /// True when item `i` may be returned (ignoring the candidate restriction).
    #[inline]
    pub fn allows(&self, i: ItemIdx) -> bool {
        i.get() < self.n_items && self.excluded[i.get() / 64] & (1 << (i.get() % 64)) == 0
    }
    /// Catalogue size.
    pub fn n_items(&self) -> usize {
        self.n_items
    }
    /// The candidate restriction, sorted and deduplicated.
    pub fn candidate_list(&self) -> Option<&[ItemIdx]> {
        self.candidates.as_deref()
    }
}

/// The best `k` items of a dense score vector (one score per item) that pass `filter`, best first.
pub fn top_k(scores: &[f32], k: usize, filter: &ItemFilter) -> Result<Vec<Scored>> {
    if scores.len() != filter.n_items {
        return Err(Error::Shape(format!(
            "{} scores for {} items",
            scores.len(),
            filter.n_items
        )));
    }
    let mut t = TopK::new(k);
    match &filter.candidates {
        Some(c) => {
            for &i in c {
                if filter.allows(i) {
                    t.push(i, scores[i.get()]);
                }
            }
        }
        None => {
            for (i, &s) in scores.iter().enumerate() {
                let i = ItemIdx(i as u32);
                if filter.allows(i) {
                    t.push(i, s);
                }
            }
        }
    }
    Ok(t.into_sorted())
}

/// The best `k` of sparse `(item, score)` pairs that pass `filter` (items missing from the iterator are not
/// ranked). An item appearing twice keeps its first score.
pub fn top_k_sparse(
    pairs: impl IntoIterator<Item = (ItemIdx, f32)>,
    k: usize,
    filter: &ItemFilter,
) -> Vec<Scored> {
    let mut seen = vec![0u64; filter.n_items.div_ceil(64)];
    let mut t = TopK::new(k);
    for (i, s) in pairs {
        if !filter.allows(i) || seen[i.get() / 64] & (1 << (i.get() % 64)) != 0 {
            continue;
        }
        seen[i.get() / 64] |= 1 << (i.get() % 64);
        if filter
            .candidates
            .as_ref()
            .is_some_and(|c| c.binary_search(&i).is_err())
        {
            continue;
        }
        t.push(i, s);
    }
    t.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn oracle(scores: &[f32], k: usize, excl: &[u32], cand: Option<&[u32]>) -> Vec<(u32, f32)> {
        let mut all: Vec<(u32, f32)> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (i as u32, s))
            .filter(|(i, s)| !s.is_nan() && !excl.contains(i) && cand.is_none_or(|c| c.contains(i)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    proptest! {
        /// The kernel equals sort-and-truncate, with ties (scores from a small set), NaN, k = 0, k > n,
        /// exclusions (possibly all items) and candidates.
        #[test]
        fn matches_sort_and_truncate(
            raw in proptest::collection::vec(0u8..6, 0..60),
            k in 0usize..70,
            excl_mask in proptest::collection::vec(any::<bool>(), 60),
            cand_mask in proptest::option::of(proptest::collection::vec(any::<bool>(), 60)),
        ) {
            let scores: Vec<f32> = raw.iter().map(|&r| if r == 5 { f32::NAN } else { r as f32 * 0.5 }).collect();
            let n = scores.len();
            let excl: Vec<u32> = (0..n as u32).filter(|&i| excl_mask[i as usize]).collect();
            let cand: Option<Vec<u32>> = cand_mask.map(|m| (0..n as u32).filter(|&i| m[i as usize]).collect());
            let to_idx = |v: &[u32]| v.iter().map(|&i| ItemIdx(i)).collect::<Vec<_>>();
            let mut f = ItemFilter::new(n).exclude(&to_idx(&excl)).unwrap();
            if let Some(c) = &cand { f = f.candidates(&to_idx(c)).unwrap(); }
            let got: Vec<(u32, f32)> = top_k(&scores, k, &f).unwrap().iter().map(|s| (s.item.0, s.score)).collect();
            let want = oracle(&scores, k, &excl, cand.as_deref());
            prop_assert_eq!(&got, &want);
            let sparse: Vec<(u32, f32)> = top_k_sparse(
                scores.iter().enumerate().map(|(i, &s)| (ItemIdx(i as u32), s)), k, &f)
                .iter().map(|s| (s.item.0, s.score)).collect();
            prop_assert_eq!(sparse, want);
        }
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(ItemFilter::new(3).exclude(&[ItemIdx(3)]).is_err());
        assert!(ItemFilter::new(3).candidates(&[ItemIdx(9)]).is_err());
        assert!(top_k(&[1.0], 1, &ItemFilter::new(3)).is_err());
    }
}
