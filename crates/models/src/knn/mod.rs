//! Nearest-neighbour models, all built on one neighbour engine.
//!
//! The variants share one engine ([`Similarity`], [`Weighting`], shrinkage, minimum support, top-k pruning)
//! and differ only in what they compare and how they weight neighbours:
//!
//! - [`item::ItemKnn`]: item-item top-N for implicit feedback, like implicit's `CosineRecommender`,
//!   `TFIDFRecommender` and `BM25Recommender`: `score(i) = Σ_{j in history} value_j · sim(j, i)` over the
//!   `k` stored neighbours of each item.
//! - [`user::UserKnn`]: user-user top-N; the query history is compared with every stored user on the fly,
//!   so a new user or fresh events need no refit.
//! - [`rating::KnnRating`]: Surprise's `KNNBasic`, `KNNWithMeans` and `KNNBaseline` rating predictors
//!   (user- or item-based), predictions clipped to the rating scale.
//!
//! Similarities are computed by sparse accumulation over shared coordinates (an item's users, or a user's
//! items), in parallel over rows with rayon; each row's result depends only on the data, so fitting is
//! deterministic whatever the number of threads.

pub(crate) mod baseline;
pub mod item;
pub mod rating;
pub mod user;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Interactions, ItemIdx, Result, UserIdx, ensure_param};

use crate::Progress;

pub use item::{ItemKnn, ItemKnnParams};
pub use rating::{KnnKind, KnnRating, KnnRatingParams};
pub use user::{UserKnn, UserKnnParams};

/// How two sparse vectors `a`, `b` (two items over their users, or two users over their items) are compared.
///
/// "Common" means the coordinates where both vectors have an entry (`n` of them).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Similarity {
    /// `a·b / (‖a‖ ‖b‖)` with the norms of the whole vectors: implicit's cosine and the textbook one.
    /// This is the default.
    #[default]
    Cosine,
    /// Surprise's `cosine`: `a·b / sqrt(Σ_common a² · Σ_common b²)`, norms over the common coordinates only.
    CosineCommon,
    /// Cosine after subtracting, from each value, the mean of its coordinate (for items: each user's mean
    /// rating; for users: each item's mean rating).
    AdjustedCosine,
    /// Pearson correlation over the common coordinates (Surprise's `pearson`); 0 when a variance is 0.
    Pearson,
    /// Surprise's `pearson_baseline`: Pearson-like correlation of the residuals `r − (μ + b_u + b_i)` over
    /// the common coordinates, shrunk by `(n − 1) / (n − 1 + shrinkage)`; needs at least 2 common
    /// coordinates. Only for [`rating::KnnRating`], which fits the baselines.
    PearsonBaseline,
    /// Surprise's `msd`: `1 / (mean squared difference over the common coordinates + 1)`.
    Msd,
    /// `n / (|a| + |b| − n)`: shared coordinates over the union, values ignored.
    Jaccard,
    /// The plain dot product `a·b` (implicit's `BM25Recommender` uses it on BM25 weights).
    Dot,
}

/// How raw values are re-weighted before similarities are computed (implicit's item-item weightings).
///
/// For item-item similarities an item is a vector over users, a "document" whose "terms" are users.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Raw values. This is the default.
    #[default]
    None,
    /// `sqrt(value) · idf`, `idf = ln(N) − ln(1 + df)`: `N` the number of vectors compared, `df` the number of
    /// them with an entry at that coordinate (implicit's `tfidf_weight`).
    Tfidf,
    /// BM25: `value · (k1 + 1) / (k1 · (1 − b + b · len / avg_len) + value) · idf`, `len` the sum of the
    /// vector's values, `avg_len` its mean over all vectors (implicit's `bm25_weight`).
    Bm25,
}

/// Checks the parameters every KNN variant shares.
pub(crate) fn validate_common(k: usize, shrinkage: f32, min_support: usize) -> Result<()> {
    ensure_param(k >= 1, "k", "must be at least 1")?;
    ensure_param(
        shrinkage.is_finite() && shrinkage >= 0.0,
        "shrinkage",
        "must be finite and >= 0",
    )?;
    ensure_param(min_support >= 1, "min_support", "must be at least 1")
}

/// Checks BM25's parameters (used when the weighting is [`Weighting::Bm25`]).
pub(crate) fn validate_bm25(k1: f32, b: f32) -> Result<()> {
    ensure_param(k1.is_finite() && k1 >= 0.0, "k1", "must be finite and >= 0")?;
    ensure_param((0.0..=1.0).contains(&b), "b", "must be in [0, 1]")
}

/// The similarity options shared by every variant.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct SimSpec {
    pub measure: Similarity,
    pub shrinkage: f32,
    pub min_support: u32,
}

impl SimSpec {
    fn needs_sums(&self) -> bool {
        self.measure == Similarity::Pearson
    }
    fn needs_squares(&self) -> bool {
        matches!(
            self.measure,
            Similarity::CosineCommon | Similarity::Pearson | Similarity::PearsonBaseline
        )
    }
    fn needs_sq_diff(&self) -> bool {
        self.measure == Similarity::Msd
    }

    /// The similarity from the pair statistics; `None` when below the minimum support.
    #[inline]
    fn finish(&self, p: &PairStats, qa: RowStats, rb: RowStats) -> Option<f32> {
        let n = p.n as f64;
        let min = if self.measure == Similarity::PearsonBaseline {
            self.min_support.max(2)
        } else {
            self.min_support
        };
        if p.n < min {
            return None;
        }
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        let s = match self.measure {
            Similarity::Cosine | Similarity::AdjustedCosine => {
                ratio(p.dot, (qa.norm2 * rb.norm2).sqrt())
            }
            Similarity::CosineCommon | Similarity::PearsonBaseline => {
                ratio(p.dot, (p.saa * p.sbb).sqrt())
            }
            Similarity::Pearson => ratio(
                n * p.dot - p.sa * p.sb,
                ((n * p.saa - p.sa * p.sa) * (n * p.sbb - p.sb * p.sb)).sqrt(),
            ),
            Similarity::Msd => 1.0 / (p.sdd / n + 1.0),
            Similarity::Jaccard => ratio(n, qa.len as f64 + rb.len as f64 - n),
            Similarity::Dot => p.dot,
        };
        let shrink = self.shrinkage as f64;
        let s = if shrink == 0.0 {
            s
        } else if self.measure == Similarity::PearsonBaseline {
            s * (n - 1.0) / (n - 1.0 + shrink)
        } else {
            s * n / (n + shrink)
        };
        Some(s as f32)
    }
}

/// Statistics of one whole vector.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct RowStats {
    pub norm2: f64,
    pub len: usize,
}

impl RowStats {
    pub fn of(values: &[f32]) -> Self {
        RowStats {
            norm2: values.iter().map(|&v| v as f64 * v as f64).sum(),
            len: values.len(),
        }
    }
}

/// Statistics of a pair of vectors over their common coordinates.
#[derive(Copy, Clone, Debug, Default)]
struct PairStats {
    n: u32,
    dot: f64,
    sa: f64,
    sb: f64,
    saa: f64,
    sbb: f64,
    sdd: f64,
}

/// Per-thread scratch for accumulating pair statistics of one query against every row.
#[derive(Debug, Default)]
pub(crate) struct Acc {
    stats: Vec<PairStats>,
    touched: Vec<u32>,
}

impl Acc {
    pub fn new(n_rows: usize) -> Self {
        Acc {
            stats: vec![PairStats::default(); n_rows],
            touched: Vec::new(),
        }
    }
}

/// Sparse vectors to compare (`rows`), stored both by row and by coordinate, after weighting.
///
/// For item-item similarities the rows are items and the coordinates users; for user-user the reverse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Space {
    n_rows: usize,
    n_coords: usize,
    row_ptr: Vec<usize>,
    row_idx: Vec<u32>,
    row_val: Vec<f32>,
    col_ptr: Vec<usize>,
    col_idx: Vec<u32>,
    col_val: Vec<f32>,
    norm2: Vec<f64>,
}

impl Space {
    /// Builds the space from interactions: rows are users when `rows_are_users`, else items. `f(row, coord,
    /// value)` gives the weighted value of each entry.
    pub fn build(
        x: &Interactions,
        rows_are_users: bool,
        f: impl Fn(u32, u32, f32) -> f32 + Sync,
    ) -> Space {
        let (n_rows, n_coords) = if rows_are_users {
            (x.n_users(), x.n_items())
        } else {
            (x.n_items(), x.n_users())
        };
        let row = |r: u32| -> (Vec<u32>, Vec<f32>) {
            if rows_are_users {
                let u = UserIdx(r);
                let idx: Vec<u32> = x.user_items(u).iter().map(|i| i.0).collect();
                let val = idx
                    .iter()
                    .zip(x.user_values(u))
                    .map(|(&c, &v)| f(r, c, v))
                    .collect();
                (idx, val)
            } else {
                let i = ItemIdx(r);
                let idx: Vec<u32> = x.item_users(i).iter().map(|u| u.0).collect();
                let val = idx
                    .iter()
                    .zip(x.item_values(i))
                    .map(|(&c, v)| f(r, c, v))
                    .collect();
                (idx, val)
            }
        };
        let mut row_ptr = Vec::with_capacity(n_rows + 1);
        row_ptr.push(0);
        let mut row_idx = Vec::with_capacity(x.nnz());
        let mut row_val = Vec::with_capacity(x.nnz());
        let mut norm2 = Vec::with_capacity(n_rows);
        for r in 0..n_rows as u32 {
            let (idx, val) = row(r);
            norm2.push(RowStats::of(&val).norm2);
            row_idx.extend(idx);
            row_val.extend(val);
            row_ptr.push(row_idx.len());
        }
        // Transpose: coordinates to rows, rows increasing within each coordinate.
        let mut col_ptr = vec![0usize; n_coords + 1];
        for &c in &row_idx {
            col_ptr[c as usize + 1] += 1;
        }
        for c in 0..n_coords {
            col_ptr[c + 1] += col_ptr[c];
        }
        let mut next = col_ptr.clone();
        let mut col_idx = vec![0u32; row_idx.len()];
        let mut col_val = vec![0f32; row_idx.len()];
        for r in 0..n_rows {
            for p in row_ptr[r]..row_ptr[r + 1] {
                let c = row_idx[p] as usize;
                col_idx[next[c]] = r as u32;
                col_val[next[c]] = row_val[p];
                next[c] += 1;
            }
        }
        Space {
            n_rows,
            n_coords,
            row_ptr,
            row_idx,
            row_val,
            col_ptr,
            col_idx,
            col_val,
            norm2,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let s = self.row_ptr[r]..self.row_ptr[r + 1];
        (&self.row_idx[s.clone()], &self.row_val[s])
    }

    fn row_stats(&self, r: usize) -> RowStats {
        RowStats {
            norm2: self.norm2[r],
            len: self.row_ptr[r + 1] - self.row_ptr[r],
        }
    }

    /// Calls `emit(row, sim)` for every row sharing at least `min_support` coordinates with the query
    /// (`q_idx`, `q_val`: a weighted sparse vector over the coordinates, indices in range), in
    /// order of first touch. Cost: `O(Σ_{c in query} |rows of c|)`.
    pub fn similarities(
        &self,
        q_idx: &[u32],
        q_val: &[f32],
        spec: &SimSpec,
        acc: &mut Acc,
        mut emit: impl FnMut(u32, f32),
    ) {
        let (sums, squares, sq_diff) = (
            spec.needs_sums(),
            spec.needs_squares(),
            spec.needs_sq_diff(),
        );
        let lean = !(sums || squares || sq_diff);
        for (&c, &a) in q_idx.iter().zip(q_val) {
            let a = a as f64;
            let s = self.col_ptr[c as usize]..self.col_ptr[c as usize + 1];
            let rows = self.col_idx[s.clone()].iter().zip(&self.col_val[s]);
            if lean {
                // Count and dot product only (cosine, dot, Jaccard): the hot loop of item-item top-N.
                for (&r, &b) in rows {
                    let p = &mut acc.stats[r as usize];
                    if p.n == 0 {
                        acc.touched.push(r);
                    }
                    p.n += 1;
                    p.dot += a * b as f64;
                }
                continue;
            }
            for (&r, &b) in rows {
                let p = &mut acc.stats[r as usize];
                if p.n == 0 {
                    acc.touched.push(r);
                }
                let b = b as f64;
                p.n += 1;
                p.dot += a * b;
                if sums {
                    p.sa += a;
                    p.sb += b;
                }
                if squares {
                    p.saa += a * a;
                    p.sbb += b * b;
                }
                if sq_diff {
                    p.sdd += (a - b) * (a - b);
                }
            }
        }
        let qs = RowStats {
            norm2: q_val.iter().map(|&v| v as f64 * v as f64).sum(),
            len: q_idx.len(),
        };
        for &r in &acc.touched {
            let p = std::mem::take(&mut acc.stats[r as usize]);
            if let Some(s) = spec.finish(&p, qs, self.row_stats(r as usize))
                && !s.is_nan()
            {
                emit(r, s);
            }
        }
        acc.touched.clear();
    }

    /// The similarity of every row to every other row, in parallel over rows (deterministic).
    ///
    /// `top`: keep the best `top` per row, best first (higher similarity, then lower index); `None` keeps
    /// all, by increasing index. `keep_self`: whether a row may be its own neighbour. `positive_only`: drop
    /// similarities `<= 0`.
    pub fn all_pairs(
        &self,
        spec: &SimSpec,
        top: Option<usize>,
        keep_self: bool,
        positive_only: bool,
        progress: &dyn Progress,
    ) -> Neighbours {
        progress.start("similarities", self.n_rows as u64);
        let rows: Vec<Vec<(u32, f32)>> = (0..self.n_rows)
            .into_par_iter()
            .map_init(
                || Acc::new(self.n_rows),
                |acc, r| {
                    let (idx, val) = self.row(r);
                    let mut out = Vec::new();
                    self.similarities(idx, val, spec, acc, |o, s| {
                        if (keep_self || o as usize != r) && (!positive_only || s > 0.0) {
                            out.push((o, s));
                        }
                    });
                    match top {
                        Some(k) => keep_best(&mut out, k),
                        None => out.sort_unstable_by_key(|p| p.0),
                    }
                    progress.inc(1);
                    out
                },
            )
            .collect();
        Neighbours::from_rows(rows)
    }
}

/// Rank order of neighbours: higher similarity first, then lower index.
#[inline]
pub(crate) fn rank_cmp(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Keeps the best `k` of `v`, sorted best first.
pub(crate) fn keep_best(v: &mut Vec<(u32, f32)>, k: usize) {
    if v.len() > k {
        v.select_nth_unstable_by(k, rank_cmp);
        v.truncate(k);
    }
    v.sort_unstable_by(rank_cmp);
}

/// Neighbour lists in CSR form: row `r`'s neighbours and similarities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Neighbours {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    sim: Vec<f32>,
}

impl Neighbours {
    fn from_rows(rows: Vec<Vec<(u32, f32)>>) -> Self {
        let mut n = Neighbours {
            ptr: Vec::with_capacity(rows.len() + 1),
            idx: Vec::with_capacity(rows.iter().map(Vec::len).sum()),
            sim: Vec::new(),
        };
        n.sim.reserve(n.idx.capacity());
        n.ptr.push(0);
        for row in rows {
            for (i, s) in row {
                n.idx.push(i);
                n.sim.push(s);
            }
            n.ptr.push(n.idx.len());
        }
        n
    }

    pub fn nnz(&self) -> usize {
        self.idx.len()
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let s = self.ptr[r]..self.ptr[r + 1];
        (&self.idx[s.clone()], &self.sim[s])
    }

    /// `sim(r, o)` in a row sorted by index (binary search); `None` when not stored.
    pub fn get_sorted(&self, r: usize, o: u32) -> Option<f32> {
        let (idx, sim) = self.row(r);
        idx.binary_search(&o).ok().map(|p| sim[p])
    }
}

/// Per-coordinate and per-row statistics that turn raw rows into weighted ones, for stored rows and for
/// queries alike (a query row is weighted exactly like a stored one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Weigher {
    weighting: Weighting,
    k1: f32,
    b: f32,
    /// `ln(N) − ln(1 + df)` per coordinate (tf-idf and BM25).
    idf: Vec<f32>,
    /// Mean row length (sum of values) over all rows (BM25).
    avg_len: f64,
    /// Mean raw value per coordinate, subtracted for [`Similarity::AdjustedCosine`]; empty otherwise.
    coord_mean: Vec<f32>,
}

impl Weigher {
    /// Statistics from the interactions, for rows that are users (`rows_are_users`) or items.
    pub fn fit(
        x: &Interactions,
        rows_are_users: bool,
        weighting: Weighting,
        k1: f32,
        b: f32,
        centre: bool,
    ) -> Self {
        let (n_rows, coord_counts) = if rows_are_users {
            (x.n_users(), x.item_counts())
        } else {
            (x.n_items(), x.user_counts())
        };
        let n = (n_rows as f64).ln();
        let idf = coord_counts
            .iter()
            .map(|&df| (n - (df as f64).ln_1p()) as f32)
            .collect();
        let avg_len = if n_rows == 0 {
            0.0
        } else {
            x.values().iter().map(|&v| v as f64).sum::<f64>() / n_rows as f64
        };
        let coord_mean = if centre {
            let n_coords = coord_counts.len();
            let mut sum = vec![0f64; n_coords];
            for it in x.iter() {
                let c = if rows_are_users {
                    it.item.get()
                } else {
                    it.user.get()
                };
                sum[c] += it.value as f64;
            }
            sum.iter()
                .zip(&coord_counts)
                .map(|(&s, &c)| if c == 0 { 0.0 } else { (s / c as f64) as f32 })
                .collect()
        } else {
            Vec::new()
        };
        Weigher {
            weighting,
            k1,
            b,
            idf,
            avg_len,
            coord_mean,
        }
    }

    /// The weighted value of `value` at coordinate `c` in a row whose values sum to `row_len`.
    #[inline]
    pub fn weigh(&self, c: u32, value: f32, row_len: f64) -> f32 {
        let c = c as usize;
        let v = match self.weighting {
            Weighting::None => value,
            Weighting::Tfidf => value.sqrt() * self.idf[c],
            Weighting::Bm25 => {
                let (k1, b) = (self.k1 as f64, self.b as f64);
                let norm = if self.avg_len > 0.0 {
                    1.0 - b + b * row_len / self.avg_len
                } else {
                    1.0
                };
                (value as f64 * (k1 + 1.0) / (k1 * norm + value as f64) * self.idf[c] as f64) as f32
            }
        };
        if self.coord_mean.is_empty() {
            v
        } else {
            v - self.coord_mean[c]
        }
    }

    /// Weighs a whole row given as `(coordinate, raw value)`.
    pub fn weigh_row(&self, row: impl Iterator<Item = (u32, f32)> + Clone) -> (Vec<u32>, Vec<f32>) {
        let len: f64 = row.clone().map(|(_, v)| v as f64).sum();
        row.map(|(c, v)| (c, self.weigh(c, v, len))).unzip()
    }
}

/// Row sums of the raw interactions, by user or by item (BM25's document lengths).
pub(crate) fn row_sums(x: &Interactions, rows_are_users: bool) -> Vec<f64> {
    if rows_are_users {
        (0..x.n_users() as u32)
            .map(|u| x.user_values(UserIdx(u)).iter().map(|&v| v as f64).sum())
            .collect()
    } else {
        (0..x.n_items() as u32)
            .map(|i| x.item_values(ItemIdx(i)).map(|v| v as f64).sum())
            .collect()
    }
}

impl Space {
    /// Checks a decoded space: both offset arrays, indices in range, one norm per row, finite values.
    pub fn validate(&self, what: &str) -> Result<()> {
        use tastebud_core::validate as v;
        let n = self.row_idx.len();
        v::offsets(&format!("{what} rows"), &self.row_ptr, self.n_rows, n)?;
        v::offsets(
            &format!("{what} columns"),
            &self.col_ptr,
            self.n_coords,
            self.col_idx.len(),
        )?;
        v::len(&format!("{what} column entries"), self.col_idx.len(), n)?;
        v::len(&format!("{what} row values"), self.row_val.len(), n)?;
        v::len(&format!("{what} column values"), self.col_val.len(), n)?;
        v::len(&format!("{what} norms"), self.norm2.len(), self.n_rows)?;
        v::indices(&format!("{what} row entries"), &self.row_idx, self.n_coords)?;
        v::indices(
            &format!("{what} column entries"),
            &self.col_idx,
            self.n_rows,
        )?;
        v::finite_f32(&format!("{what} row values"), &self.row_val)?;
        v::finite_f32(&format!("{what} column values"), &self.col_val)?;
        v::finite_f64(&format!("{what} norms"), &self.norm2)
    }

    /// Number of coordinates (columns).
    pub fn n_coords(&self) -> usize {
        self.n_coords
    }
}

impl Neighbours {
    /// Checks decoded neighbour lists: `n_rows` rows (or none at all when `may_be_empty`), neighbours
    /// `< bound`, finite similarities.
    pub fn validate(
        &self,
        what: &str,
        n_rows: usize,
        bound: usize,
        may_be_empty: bool,
    ) -> Result<()> {
        use tastebud_core::validate as v;
        if may_be_empty && self.ptr.is_empty() && self.idx.is_empty() {
            return Ok(());
        }
        v::offsets(what, &self.ptr, n_rows, self.idx.len())?;
        v::len(
            &format!("{what} similarities"),
            self.sim.len(),
            self.idx.len(),
        )?;
        v::indices(what, &self.idx, bound)?;
        v::finite_f32(&format!("{what} similarities"), &self.sim)
    }
}

impl Weigher {
    /// Checks a decoded weigher over `n_coords` coordinates: one IDF per coordinate, coordinate means
    /// absent or one per coordinate, finite numbers.
    pub fn validate(&self, n_coords: usize) -> Result<()> {
        use tastebud_core::validate as v;
        v::len("KNN IDF weights", self.idf.len(), n_coords)?;
        v::ensure(
            self.coord_mean.is_empty() || self.coord_mean.len() == n_coords,
            || {
                format!(
                    "{} KNN coordinate means for {n_coords} coordinates",
                    self.coord_mean.len()
                )
            },
        )?;
        v::finite_f32("KNN IDF weights", &self.idf)?;
        v::finite_f32("KNN coordinate means", &self.coord_mean)?;
        v::finite_f32("KNN BM25 parameters", &[self.k1, self.b])?;
        v::finite_f64("KNN average length", &[self.avg_len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::Feedback;

    /// 4 users x 3 items:
    /// ```text
    ///        i0 i1 i2
    ///   u0 [  5  3  . ]
    ///   u1 [  4  .  4 ]
    ///   u2 [  1  1  5 ]
    ///   u3 [  .  2  . ]
    /// ```
    fn tiny() -> Interactions {
        Interactions::from_triplets(
            4,
            3,
            &[
                (0, 0, 5.0),
                (0, 1, 3.0),
                (1, 0, 4.0),
                (1, 2, 4.0),
                (2, 0, 1.0),
                (2, 1, 1.0),
                (2, 2, 5.0),
                (3, 1, 2.0),
            ],
            Feedback::Explicit,
        )
        .unwrap()
    }

    fn item_sims(measure: Similarity, shrinkage: f32, min_support: u32) -> Vec<Vec<(u32, f32)>> {
        let x = tiny();
        let space = Space::build(&x, false, |_, _, v| v);
        let spec = SimSpec {
            measure,
            shrinkage,
            min_support,
        };
        let n = space.all_pairs(&spec, None, true, false, &NoProgress);
        (0..3)
            .map(|r| {
                let (i, s) = n.row(r);
                i.iter().copied().zip(s.iter().copied()).collect()
            })
            .collect()
    }

    fn sim(rows: &[Vec<(u32, f32)>], a: usize, b: u32) -> Option<f32> {
        rows[a].iter().find(|p| p.0 == b).map(|p| p.1)
    }

    fn close(got: Option<f32>, want: f64) {
        let g = got.expect("pair stored") as f64;
        assert!((g - want).abs() < 1e-6, "got {g}, want {want}");
    }

    // Item vectors over users: i0 = (5, 4, 1, 0), i1 = (3, 0, 1, 2), i2 = (0, 4, 5, 0).
    // i0·i1 = 15 + 1 = 16 (common users u0, u2); i0·i2 = 16 + 5 = 21 (u1, u2); i1·i2 = 5 (u2).
    // ‖i0‖² = 42, ‖i1‖² = 14, ‖i2‖² = 41.

    #[test]
    fn cosine_dot_and_jaccard_by_hand() {
        let c = item_sims(Similarity::Cosine, 0.0, 1);
        close(sim(&c, 0, 1), 16.0 / (42f64 * 14.0).sqrt());
        close(sim(&c, 0, 2), 21.0 / (42f64 * 41.0).sqrt());
        close(sim(&c, 1, 2), 5.0 / (14f64 * 41.0).sqrt());
        close(sim(&c, 0, 0), 1.0);
        let d = item_sims(Similarity::Dot, 0.0, 1);
        close(sim(&d, 0, 2), 21.0);
        // Jaccard: i0 {u0,u1,u2}, i1 {u0,u2,u3}: 2 / 4; i1, i2 {u1,u2}: 1 / 4.
        let j = item_sims(Similarity::Jaccard, 0.0, 1);
        close(sim(&j, 0, 1), 0.5);
        close(sim(&j, 1, 2), 0.25);
    }

    #[test]
    fn surprise_measures_by_hand() {
        // Common users of i0, i1: u0 (5, 3), u2 (1, 1).
        let cc = item_sims(Similarity::CosineCommon, 0.0, 1);
        close(sim(&cc, 0, 1), 16.0 / (26f64 * 10.0).sqrt());
        // MSD: ((5-3)² + (1-1)²) / 2 = 2 -> 1 / 3.
        let m = item_sims(Similarity::Msd, 0.0, 1);
        close(sim(&m, 0, 1), 1.0 / 3.0);
        // i0, i2 over u1 (4, 4), u2 (1, 5): msd (0 + 16) / 2 = 8 -> 1/9.
        close(sim(&m, 0, 2), 1.0 / 9.0);
        // Pearson over 2 points is ±1: i0 (5, 1) vs i1 (3, 1) increasing together -> 1; i0 (4, 1) vs i2 (4, 5)
        // -> -1.
        let p = item_sims(Similarity::Pearson, 0.0, 1);
        close(sim(&p, 0, 1), 1.0);
        close(sim(&p, 0, 2), -1.0);
        // One common user: zero variance -> 0.
        close(sim(&p, 1, 2), 0.0);
    }

    #[test]
    fn adjusted_cosine_subtracts_user_means() {
        let x = tiny();
        let w = Weigher::fit(&x, false, Weighting::None, 0.0, 0.0, true);
        // User means: u0 4, u1 4, u2 7/3, u3 2.
        let space = Space::build(&x, false, |_, c, v| w.weigh(c, v, 0.0));
        let spec = SimSpec {
            measure: Similarity::AdjustedCosine,
            shrinkage: 0.0,
            min_support: 1,
        };
        let n = space.all_pairs(&spec, None, false, false, &NoProgress);
        // i0 = (1, 0, -4/3, ·), i1 = (-1, ·, -4/3, 0): dot = -1 + 16/9 = 7/9; ‖i0‖² = 1 + 16/9 = 25/9,
        // ‖i1‖² = 1 + 16/9 + 0 = 25/9 -> 7/25.
        let got = n.row(0).1[n.row(0).0.iter().position(|&o| o == 1).unwrap()];
        assert!((got as f64 - 7.0 / 25.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn shrinkage_and_min_support() {
        let s = item_sims(Similarity::Msd, 10.0, 1);
        // n = 2 common users: (1/3) · 2 / 12.
        close(sim(&s, 0, 1), 1.0 / 3.0 * 2.0 / 12.0);
        let s = item_sims(Similarity::Msd, 0.0, 2);
        assert!(sim(&s, 1, 2).is_none(), "one common user < min_support 2");
        assert!(sim(&s, 0, 1).is_some());
        // pearson_baseline shrinks by (n - 1) / (n - 1 + shrinkage) and needs 2 common coordinates.
        let pb = item_sims(Similarity::PearsonBaseline, 1.0, 1);
        assert!(sim(&pb, 1, 2).is_none());
        // Raw values as residuals: i0, i1 over u0 (5, 3), u2 (1, 1): 16 / sqrt(26 · 10) · 1 / 2.
        close(sim(&pb, 0, 1), 16.0 / (26f64 * 10.0).sqrt() / 2.0);
    }

    #[test]
    fn top_k_pruning_keeps_the_best_with_ties_by_index() {
        let mut v = vec![(4, 0.5), (1, 0.9), (3, 0.5), (2, 0.1), (0, 0.5)];
        keep_best(&mut v, 3);
        assert_eq!(v, vec![(1, 0.9), (0, 0.5), (3, 0.5)]);
        let x = tiny();
        let space = Space::build(&x, false, |_, _, v| v);
        let spec = SimSpec {
            measure: Similarity::Cosine,
            shrinkage: 0.0,
            min_support: 1,
        };
        let n = space.all_pairs(&spec, Some(2), true, false, &NoProgress);
        // i1's similarities: self 1, i0 0.66, i2 0.21 -> keeps self and i0.
        assert_eq!(n.row(1).0, &[1, 0]);
        let n = space.all_pairs(&spec, Some(2), false, false, &NoProgress);
        assert_eq!(n.row(1).0, &[0, 2]);
    }

    #[test]
    fn tfidf_and_bm25_weights_by_hand() {
        let x = tiny();
        // Items as rows over users: N = 3 items; user df: u0 2, u1 2, u2 3, u3 1.
        let w = Weigher::fit(&x, false, Weighting::Tfidf, 0.0, 0.0, false);
        let idf_u0 = 3f64.ln() - 3f64.ln();
        let idf_u3 = 3f64.ln() - 2f64.ln();
        assert!((w.weigh(0, 4.0, 0.0) as f64 - 2.0 * idf_u0).abs() < 1e-6);
        assert!((w.weigh(3, 4.0, 0.0) as f64 - 2.0 * idf_u3).abs() < 1e-6);
        let w = Weigher::fit(&x, false, Weighting::Bm25, 100.0, 0.8, false);
        // Item lengths: i0 10, i1 6, i2 9 -> avg 25 / 3. Entry (i1, u3) = 2.
        let norm = 0.2 + 0.8 * 6.0 / (25.0 / 3.0);
        let want = 2.0 * 101.0 / (100.0 * norm + 2.0) * idf_u3;
        let sums = row_sums(&x, false);
        assert_eq!(sums, vec![10.0, 6.0, 9.0]);
        assert!((w.weigh(3, 2.0, sums[1]) as f64 - want).abs() < 1e-6);
    }

    #[test]
    fn parameter_validation() {
        assert!(validate_common(0, 0.0, 1).is_err());
        assert!(validate_common(1, -1.0, 1).is_err());
        assert!(validate_common(1, f32::NAN, 1).is_err());
        assert!(validate_common(1, 0.0, 0).is_err());
        assert!(validate_common(5, 100.0, 1).is_ok());
        assert!(validate_bm25(-1.0, 0.5).is_err());
        assert!(validate_bm25(1.2, 1.5).is_err());
    }
}
