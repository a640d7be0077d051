//! Descriptive statistics of a dataset (what `tastebud datasets info` prints).

use serde::Serialize;

use crate::dataset::Dataset;
use crate::features::FeatureValues;
use crate::interactions::Feedback;

/// Distribution summary of a count (interactions per user or per item).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantiles {
    /// Smallest value.
    pub min: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Quantiles {
    /// Quantiles by the nearest-rank method (`ceil(q * n)`-th smallest value); all zeros when empty.
    pub fn of(values: &[usize]) -> Self {
        let mut v: Vec<usize> = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let q = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
            v[rank - 1] as f64
        };
        let mean = if n == 0 {
            0.0
        } else {
            v.iter().sum::<usize>() as f64 / n as f64
        };
        Quantiles {
            min: q(0.0),
            p25: q(0.25),
            p50: q(0.5),
            p75: q(0.75),
            p90: q(0.9),
            p99: q(0.99),
            max: q(1.0),
            mean,
        }
    }
}

/// A summary of one feature column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureSummary {
    /// Column name.
    pub name: String,
    /// `categorical`, `numeric` or `text`.
    pub kind: &'static str,
    /// Vocabulary size (categorical) or number of non-missing values (numeric, text).
    pub size: usize,
}

/// Counts, density, rating histogram, activity quantiles and popularity concentration of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetStats {
    /// Dataset name.
    pub name: String,
    /// `explicit` or `implicit`.
    pub kind: Feedback,
    /// Users (including those with no interaction, e.g. from a user file).
    pub users: usize,
    /// Items (including catalogue items nobody interacted with).
    pub items: usize,
    /// Stored interactions (after duplicate resolution).
    pub interactions: usize,
    /// `interactions / (users * items)`.
    pub density: f64,
    /// Users with at least one interaction.
    pub active_users: usize,
    /// Items with at least one interaction.
    pub active_items: usize,
    /// `(value, count)` for each distinct value, when there are at most 20 (rating scales); empty otherwise.
    pub value_histogram: Vec<(f32, usize)>,
    /// Mean value.
    pub mean_value: f64,
    /// Earliest and latest timestamp, when the data has timestamps.
    pub time_range: Option<(i64, i64)>,
    /// Interactions per user (over users with at least one).
    pub per_user: Quantiles,
    /// Interactions per item (over items with at least one).
    pub per_item: Quantiles,
    /// Share of interactions on the long tail: every item outside the 20 % most popular items (the "short
    /// head", by interaction count, ties broken by index).
    pub long_tail_share: f64,
    /// Smallest share of items that together receive 80 % of all interactions.
    pub items_for_80pct: f64,
    /// Gini index of interactions over items (0 = uniform, 1 = all on one item).
    pub item_gini: f64,
    /// Item feature columns.
    pub item_features: Vec<FeatureSummary>,
    /// User feature columns.
    pub user_features: Vec<FeatureSummary>,
    /// Malformed lines skipped while loading.
    pub skipped_lines: u64,
}

fn summarise(t: Option<&crate::FeatureTable>) -> Vec<FeatureSummary> {
    t.map(|t| {
        t.columns()
            .iter()
            .map(|c| {
                let (kind, size) = match &c.values {
                    FeatureValues::Categorical { vocab, .. } => ("categorical", vocab.len()),
                    FeatureValues::Numeric(v) => ("numeric", v.iter().flatten().count()),
                    FeatureValues::Text(v) => ("text", v.iter().flatten().count()),
                };
                FeatureSummary {
                    name: c.name.clone(),
                    kind,
                    size,
                }
            })
            .collect()
    })
    .unwrap_or_default()
}

impl DatasetStats {
    /// Computes the statistics of `d`.
    pub fn of(d: &Dataset) -> Self {
        let x = &d.interactions;
        let user_counts: Vec<usize> = x.user_counts().into_iter().filter(|&c| c > 0).collect();
        let mut item_counts = x.item_counts();
        let active_items = item_counts.iter().filter(|&&c| c > 0).count();
        let nnz = x.nnz();
        // Histogram of distinct values (rating scales have few).
        let mut hist: Vec<(f32, usize)> = Vec::new();
        let mut sorted: Vec<f32> = x.values().to_vec();
        sorted.sort_unstable_by(f32::total_cmp);
        for v in sorted {
            if let Some((w, c)) = hist.last_mut()
                && *w == v
            {
                *c += 1;
                continue;
            }
            if hist.len() > 20 {
                break;
            }
            hist.push((v, 1));
        }
        if hist.len() > 20 {
            hist.clear();
        }
        let mean_value = if nnz == 0 {
            0.0
        } else {
            x.values().iter().map(|&v| v as f64).sum::<f64>() / nnz as f64
        };
        let time_range = x
            .times()
            .and_then(|t| Some((*t.iter().min()?, *t.iter().max()?)));
        let per_item = Quantiles::of(
            &item_counts
                .iter()
                .copied()
                .filter(|&c| c > 0)
                .collect::<Vec<_>>(),
        );
        // Popularity concentration over the whole catalogue.
        item_counts.sort_unstable_by(|a, b| b.cmp(a));
        let n_items = item_counts.len();
        let head = (n_items as f64 * 0.2).ceil() as usize;
        let head_sum: usize = item_counts[..head.min(n_items)].iter().sum();
        let long_tail_share = if nnz == 0 {
            0.0
        } else {
            1.0 - head_sum as f64 / nnz as f64
        };
        let mut acc = 0usize;
        let mut k80 = 0usize;
        for &c in &item_counts {
            if acc as f64 >= 0.8 * nnz as f64 {
                break;
            }
            acc += c;
            k80 += 1;
        }
        let items_for_80pct = if n_items == 0 {
            0.0
        } else {
            k80 as f64 / n_items as f64
        };
        let item_gini = gini(&item_counts);
        DatasetStats {
            name: d.meta.name.clone(),
            kind: x.kind(),
            users: x.n_users(),
            items: x.n_items(),
            interactions: nnz,
            density: x.density(),
            active_users: user_counts.len(),
            active_items,
            value_histogram: hist,
            mean_value,
            time_range,
            per_user: Quantiles::of(&user_counts),
            per_item,
            long_tail_share,
            items_for_80pct,
            item_gini,
            item_features: summarise(d.item_features.as_ref()),
            user_features: summarise(d.user_features.as_ref()),
            skipped_lines: d.meta.skipped_lines,
        }
    }
}

/// Gini index of non-negative counts: `sum_i (2i - n - 1) c_(i) / (n sum c)` with `c` sorted ascending
/// (i from 1). 0 when every count is equal, `(n-1)/n` when one entity has everything.
///
/// ```
/// assert_eq!(tastebud_core::stats::gini(&[5, 5, 5, 5]), 0.0);
/// assert!((tastebud_core::stats::gini(&[0, 0, 0, 8]) - 0.75).abs() < 1e-12);
/// ```
pub fn gini(counts: &[usize]) -> f64 {
    let n = counts.len();
    let total: usize = counts.iter().sum();
    if n == 0 || total == 0 {
        return 0.0;
    }
    let mut c = counts.to_vec();
    c.sort_unstable();
    let num: f64 = c
        .iter()
        .enumerate()
        .map(|(i, &v)| (2.0 * (i as f64 + 1.0) - n as f64 - 1.0) * v as f64)
        .sum();
    num / (n as f64 * total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dataset, Interactions};

    #[test]
    fn hand_computed_stats() {
        // 3 users, 5 items; item 0 has 3, item 1 has 2, item 2 has 1, items 3-4 none.
        let x = Interactions::from_triplets(
            3,
            5,
            &[
                (0, 0, 5.0),
                (1, 0, 4.0),
                (2, 0, 4.0),
                (0, 1, 3.0),
                (1, 1, 1.0),
                (0, 2, 5.0),
            ],
            Feedback::Explicit,
        )
        .unwrap();
        let d = Dataset::from_parts("t", x, ["a", "b", "c"], ["0", "1", "2", "3", "4"]).unwrap();
        let s = DatasetStats::of(&d);
        assert_eq!((s.users, s.items, s.interactions), (3, 5, 6));
        assert!((s.density - 0.4).abs() < 1e-12);
        assert_eq!(s.active_items, 3);
        assert_eq!(
            s.value_histogram,
            vec![(1.0, 1), (3.0, 1), (4.0, 2), (5.0, 2)]
        );
        assert_eq!(s.per_user.max, 3.0);
        assert_eq!(s.per_user.p50, 2.0);
        // head = ceil(0.2 * 5) = 1 item (item 0, 3 of 6 interactions): tail share 0.5
        assert!((s.long_tail_share - 0.5).abs() < 1e-12);
        // 80 % of 6 = 4.8: items 0 and 1 give 5 -> 2 of 5 items
        assert!((s.items_for_80pct - 0.4).abs() < 1e-12);
        assert_eq!(s.time_range, None);
    }
}
