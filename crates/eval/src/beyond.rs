//! Beyond-accuracy metrics of recommendation lists: coverage, diversity, novelty, serendipity, popularity
//! bias and exposure concentration.
//!
//! Per-list metrics (averaged over users) at cut-off K, for a list `L` (its first K items):
//!
//! | metric | formula |
//! |---|---|
//! | `novelty@K` | mean self-information `-log2(pop(i) / n_users)` over `i in L`, `pop(i)` = train users of `i` (at least 1) |
//! | `ild@K` | intra-list diversity: mean over pairs `i != j` in `L` of `1 - cos(f_i, f_j)`, `f` an item's feature vector (e.g. genres) |
//! | `ild_emb@K` | the same with the model's item embeddings |
//! | `arp@K` | average recommendation popularity: mean `pop(i)` over `L` |
//! | `long_tail@K` | share of `L` outside the short head (the 20 % most popular train items) |
//! | `serendipity@K` | share of `L` that is relevant **and** not in the popularity baseline's top-K for that user |
//!
//! Catalogue-level metrics at cut-off K, over all users' lists:
//!
//! | metric | formula |
//! |---|---|
//! | `coverage@K` | distinct items recommended / catalogue size |
//! | `gini@K` | Gini index of item exposure counts (0 = every item shown equally, 1 = one item shown to everyone) |

use tastebud_core::{FeatureTable, FeatureValues, Interactions, ItemIdx, stats::gini};

use crate::metrics::Relevant;

/// What the beyond-accuracy metrics need to know about the catalogue.
#[derive(Clone, Debug)]
pub struct Catalogue {
    /// Train users per item.
    pub popularity: Vec<usize>,
    /// Number of users in train.
    pub n_users: usize,
    /// Whether each item is in the short head (top 20 % by train popularity).
    pub head: Vec<bool>,
    /// Normalised feature vectors per item (sparse: `(label, weight)` with unit norm), when features exist.
    pub features: Option<Vec<Vec<(u32, f32)>>>,
    /// Item embeddings (row-major `n_items x dim`, unit rows), when the model has them.
    pub embeddings: Option<(usize, Vec<f32>)>,
}

impl Catalogue {
    /// Builds from train interactions and, optionally, a categorical item feature column.
    pub fn new(train: &Interactions, features: Option<(&FeatureTable, &str)>) -> Self {
        let popularity = train.item_counts();
        let n = popularity.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| popularity[b].cmp(&popularity[a]).then(a.cmp(&b)));
        let mut head = vec![false; n];
        for &i in order.iter().take((n as f64 * 0.2).ceil() as usize) {
            head[i] = true;
        }
        let features = features.and_then(|(t, col)| match t.column(col)? {
            FeatureValues::Categorical {
                offsets,
                labels,
                weights,
                ..
            } => Some(
                (0..n.min(offsets.len().saturating_sub(1)))
                    .map(|e| {
                        let r = offsets[e]..offsets[e + 1];
                        let norm = weights[r.clone()].iter().map(|w| w * w).sum::<f32>().sqrt();
                        let mut v: Vec<(u32, f32)> = labels[r.clone()]
                            .iter()
                            .zip(&weights[r])
                            .map(|(&l, &w)| (l, w / norm.max(1e-12)))
                            .collect();
                        v.sort_by_key(|p| p.0);
                        v
                    })
                    .chain(std::iter::repeat_with(Vec::new))
                    .take(n)
                    .collect(),
            ),
            FeatureValues::Numeric(_) | FeatureValues::Text(_) => None,
        });
        Catalogue {
            popularity,
            n_users: train.n_users(),
            head,
            features,
            embeddings: None,
        }
    }

    /// Attaches item embeddings (`n_items x dim`, row-major); rows are normalised here.
    pub fn with_embeddings(mut self, dim: usize, vectors: &[f32]) -> Self {
        if dim == 0 || vectors.len() != dim * self.popularity.len() {
            return self;
        }
        let mut v = vectors.to_vec();
        for row in v.chunks_exact_mut(dim) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            row.iter_mut().for_each(|x| *x /= n);
        }
        self.embeddings = Some((dim, v));
        self
    }

    /// Self-information of an item, `-log2(max(pop, 1) / n_users)`.
    pub fn self_information(&self, i: ItemIdx) -> f64 {
        let p = self.popularity.get(i.get()).copied().unwrap_or(0).max(1) as f64
            / self.n_users.max(1) as f64;
        -p.min(1.0).log2()
    }

    fn feature_cos(&self, a: ItemIdx, b: ItemIdx) -> Option<f64> {
        let f = self.features.as_ref()?;
        let (x, y) = (f.get(a.get())?, f.get(b.get())?);
        let (mut i, mut j, mut dot) = (0, 0, 0f32);
        while i < x.len() && j < y.len() {
            match x[i].0.cmp(&y[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += x[i].1 * y[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        Some(dot as f64)
    }

    fn embedding_cos(&self, a: ItemIdx, b: ItemIdx) -> Option<f64> {
        let (dim, v) = self.embeddings.as_ref()?;
        let x = v.get(a.get() * dim..(a.get() + 1) * dim)?;
        let y = v.get(b.get() * dim..(b.get() + 1) * dim)?;
        Some(x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>() as f64)
    }
}

/// Mean pairwise `1 - similarity` of a list; `None` for lists shorter than 2 or without the needed data.
fn ild(list: &[ItemIdx], sim: impl Fn(ItemIdx, ItemIdx) -> Option<f64>) -> Option<f64> {
    if list.len() < 2 {
        return None;
    }
    let mut total = 0.0;
    let mut pairs = 0usize;
    for a in 0..list.len() {
        for b in a + 1..list.len() {
            total += 1.0 - sim(list[a], list[b])?;
            pairs += 1;
        }
    }
    Some(total / pairs as f64)
}

/// Per-list beyond-accuracy names, in the order [`list_metrics`] returns them.
pub const LIST_METRICS: [&str; 6] = [
    "novelty",
    "ild",
    "ild_emb",
    "arp",
    "long_tail",
    "serendipity",
];

/// The per-list beyond-accuracy metrics of `list` (already cut at K), in [`LIST_METRICS`] order; `None`
/// entries are undefined (no features, no embeddings, list too short, empty list).
pub fn list_metrics(
    cat: &Catalogue,
    list: &[ItemIdx],
    rel: &Relevant,
    pop_list: &[ItemIdx],
) -> [Option<f64>; 6] {
    if list.is_empty() {
        return [None; 6];
    }
    let n = list.len() as f64;
    let novelty = list.iter().map(|&i| cat.self_information(i)).sum::<f64>() / n;
    let arp = list
        .iter()
        .map(|&i| cat.popularity.get(i.get()).copied().unwrap_or(0) as f64)
        .sum::<f64>()
        / n;
    let tail = list
        .iter()
        .filter(|&&i| !cat.head.get(i.get()).copied().unwrap_or(false))
        .count() as f64
        / n;
    let seren = list
        .iter()
        .filter(|&&i| rel.grade(i).is_some() && !pop_list.contains(&i))
        .count() as f64
        / n;
    [
        Some(novelty),
        ild(list, |a, b| cat.feature_cos(a, b)),
        ild(list, |a, b| cat.embedding_cos(a, b)),
        Some(arp),
        Some(tail),
        Some(seren),
    ]
}

/// Catalogue coverage and exposure Gini of a set of lists (each already cut at K) over `n_items`.
pub fn catalogue_metrics<'a>(
    lists: impl Iterator<Item = &'a [ItemIdx]>,
    n_items: usize,
) -> (f64, f64) {
    let mut exposure = vec![0usize; n_items];
    for l in lists {
        for &i in l {
            if let Some(e) = exposure.get_mut(i.get()) {
                *e += 1;
            }
        }
    }
    let covered = exposure.iter().filter(|&&e| e > 0).count();
    let coverage = if n_items == 0 {
        0.0
    } else {
        covered as f64 / n_items as f64
    };
    (coverage, gini(&exposure))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tastebud_core::Feedback;

    fn cat() -> Catalogue {
        // 4 users; item 0 seen by all 4, item 1 by 2, item 2 by 1, items 3, 4 by none.
        let x = Interactions::from_triplets(
            4,
            5,
            &[
                (0, 0, 1.0),
                (1, 0, 1.0),
                (2, 0, 1.0),
                (3, 0, 1.0),
                (0, 1, 1.0),
                (1, 1, 1.0),
                (2, 2, 1.0),
            ],
            Feedback::Implicit,
        )
        .unwrap();
        let mut t = FeatureTable::new(5);
        let mut g = t.categorical_builder();
        g.push(0, "a", 1.0);
        g.push(1, "a", 1.0);
        g.push(1, "b", 1.0);
        g.push(2, "b", 1.0);
        t.add("genres", g.finish()).unwrap();
        Catalogue::new(&x, Some((&t, "genres")))
    }

    #[test]
    fn hand_computed_list_metrics() {
        let c = cat();
        let rel = Relevant::new(vec![(ItemIdx(2), 1.0), (ItemIdx(0), 1.0)]);
        let list = [ItemIdx(0), ItemIdx(1), ItemIdx(2)];
        let m = list_metrics(&c, &list, &rel, &[ItemIdx(0)]);
        // novelty: (-log2(4/4) - log2(2/4) - log2(1/4)) / 3 = (0 + 1 + 2) / 3
        assert!((m[0].unwrap() - 1.0).abs() < 1e-12);
        // ild: cos(0,1) = 1/sqrt2, cos(0,2) = 0, cos(1,2) = 1/sqrt2 -> mean(1 - c) = (3 - sqrt2) / 3
        assert!((m[1].unwrap() - (3.0 - 2f64.sqrt()) / 3.0).abs() < 1e-6);
        assert_eq!(m[2], None); // no embeddings
        assert!((m[3].unwrap() - 7.0 / 3.0).abs() < 1e-12);
        // head = ceil(0.2 * 5) = 1 item (item 0): 2 of 3 in the tail
        assert!((m[4].unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // relevant and not in the popularity list: item 2 only
        assert!((m[5].unwrap() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn coverage_and_gini() {
        let lists: Vec<Vec<ItemIdx>> =
            vec![vec![ItemIdx(0), ItemIdx(1)], vec![ItemIdx(0), ItemIdx(1)]];
        let (cov, g) = catalogue_metrics(lists.iter().map(Vec::as_slice), 4);
        assert!((cov - 0.5).abs() < 1e-12);
        // exposure [2, 2, 0, 0]: gini = 0.5
        assert!((g - 0.5).abs() < 1e-12);
    }

    #[test]
    fn embedding_diversity() {
        let c = cat().with_embeddings(2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        let rel = Relevant::default();
        let m = list_metrics(&c, &[ItemIdx(0), ItemIdx(1)], &rel, &[]);
        assert!((m[2].unwrap() - 1.0).abs() < 1e-6); // orthogonal
    }
}
