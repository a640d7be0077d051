//! ALS as Apache Spark MLlib computes it (`org.apache.spark.ml.recommendation.ALS`): the model that a
//! Spark cluster trains and `tastebud import spark-als` brings here to serve, explain and evaluate, and
//! the same algorithm fitted on one machine, so the two can be compared on one split.
//!
//! Spark's ALS is ALS-WR (Zhou et al. 2008): each row's regularisation is `regParam` times the number of
//! ratings it has. For explicit ratings (the default) a user's factor solves
//!
//! `(Σ_j y_j y_jᵀ + λ n_u I) x_u = Σ_j r_uj y_j`
//!
//! over the items `j` the user rated; with `implicit_prefs` (Hu, Koren & Volinsky 2008 as Spark extends
//! it to negative values) the confidence is `c = 1 + α|r|`, the preference `p = [r > 0]`, and
//!
//! `(YᵀY + Σ_j α|r_uj| y_j y_jᵀ + λ n⁺_u I) x_u = Σ_{j: r > 0} (1 + α r_uj) y_j`
//!
//! with `n⁺_u` the number of positive ratings. Spark's last half-iteration updates the users against the
//! final item factors with exactly this solve, so folding a training user's history in reproduces Spark's
//! stored user factor (up to float rounding): recommendations always fold the query's history in (fresh
//! events and new users need no retraining), and an imported model ranks a known user's unseen items as
//! Spark's `recommendForAllUsers` does. Scores are `x_uᵀ y_i`, which is also Spark's rating prediction.
//!
//! Spark's `nonnegative = true` (NNLS) is not supported: its fold-in is a different solve.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, UserIdx, ensure_param, top_k};

use crate::linalg::{cholesky_robust, cholesky_solve, dot, dot64_32, gram, simd};
use crate::{Explanation, Fit, PredictRating, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`SparkAls`], named and defaulted as Spark's `ALS` estimator (in snake case).
///
/// ```
/// use tastebud_models::spark_als::SparkAlsParams;
/// let p = SparkAlsParams::default();
/// assert_eq!((p.rank, p.reg_param, p.max_iter), (10, 0.1, 10));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SparkAlsParams {
    /// Number of latent factors (`rank`). By default, 10.
    pub rank: usize,
    /// Regularisation `λ`, scaled per row by its number of ratings (`regParam`). By default, 0.1.
    pub reg_param: f32,
    /// Iterations, each updating the items and then the users (`maxIter`). By default, 10.
    pub max_iter: usize,
    /// Implicit preferences with confidences `1 + α|r|` (`implicitPrefs`). By default, false.
    pub implicit_prefs: bool,
    /// Confidence scale of implicit preferences (`alpha`). By default, 1.0.
    pub alpha: f32,
    /// Seed of the initial factors (`seed`; Spark's generator differs, so fits agree in quality, not
    /// bit for bit). By default, 42.
    pub seed: u64,
}

impl Default for SparkAlsParams {
    fn default() -> Self {
        SparkAlsParams {
            rank: 10,
            reg_param: 0.1,
            max_iter: 10,
            implicit_prefs: false,
            alpha: 1.0,
            seed: 42,
        }
    }
}

impl SparkAlsParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param(self.rank >= 1, "rank", "must be at least 1")?;
        ensure_param(
            self.rank <= 4096,
            "rank",
            "must be at most 4096 (each row solve is O(rank³))",
        )?;
        ensure_param(
            self.reg_param.is_finite() && self.reg_param >= 0.0,
            "reg_param",
            "must be a finite number >= 0",
        )?;
        ensure_param(
            self.alpha.is_finite() && self.alpha >= 0.0,
            "alpha",
            "must be a finite number >= 0",
        )?;
        ensure_param(self.max_iter >= 1, "max_iter", "must be at least 1")
    }
}

/// A fitted (or imported) Spark-style ALS model: user and item factors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SparkAls {
    #[serde(with = "crate::params_body")]
    params: SparkAlsParams,
    n_items: usize,
    /// `n_users x rank`, row-major (Spark's `userFactors`; a user Spark did not see has a zero row).
    user_factors: Vec<f32>,
    /// `n_items x rank`, row-major (Spark's `itemFactors`; an item Spark did not see has a zero row).
    item_factors: Vec<f32>,
    /// `YᵀY` of the item factors, `rank x rank` (used by implicit preferences).
    yty: Vec<f64>,
}

/// Rows of one side of the rating matrix: `(column, rating)`.
struct Rows {
    ptr: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f32>,
}

impl Rows {
    fn by_user(data: &Dataset) -> Rows {
        let x = &data.interactions;
        let mut ptr = vec![0usize];
        let (mut cols, mut vals) = (Vec::new(), Vec::new());
        for u in 0..x.n_users() {
            for (i, v) in x.history(UserIdx(u as u32)) {
                cols.push(i.0);
                vals.push(v);
            }
            ptr.push(cols.len());
        }
        Rows { ptr, cols, vals }
    }

    /// The transpose of `self` over `n_cols` columns.
    fn transpose(&self, n_cols: usize) -> Rows {
        let mut count = vec![0usize; n_cols + 1];
        for &c in &self.cols {
            count[c as usize + 1] += 1;
        }
        for i in 0..n_cols {
            count[i + 1] += count[i];
        }
        let ptr = count.clone();
        let mut next = count;
        let mut cols = vec![0u32; self.cols.len()];
        let mut vals = vec![0f32; self.vals.len()];
        for r in 0..self.ptr.len() - 1 {
            for k in self.ptr[r]..self.ptr[r + 1] {
                let c = self.cols[k] as usize;
                cols[next[c]] = r as u32;
                vals[next[c]] = self.vals[k];
                next[c] += 1;
            }
        }
        Rows { ptr, cols, vals }
    }

    fn row(&self, r: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let s = self.ptr[r]..self.ptr[r + 1];
        self.cols[s.clone()]
            .iter()
            .copied()
            .zip(self.vals[s].iter().copied())
    }
}

/// The normal equations of one row, `A x = b`, as Spark builds them (`A` row-major `k x k`, in f64).
fn normal_equations(
    p: &SparkAlsParams,
    yty: &[f64],
    y: &[f32],
    row: impl Iterator<Item = (u32, f32)>,
) -> (Vec<f64>, Vec<f64>) {
    let k = p.rank;
    let mut a = if p.implicit_prefs {
        yty.to_vec()
    } else {
        vec![0f64; k * k]
    };
    let mut b = vec![0f64; k];
    let mut n = 0usize;
    for (j, r) in row {
        let yj = &y[j as usize * k..][..k];
        let (weight, target) = if p.implicit_prefs {
            let c1 = (p.alpha * r.abs()) as f64;
            if r > 0.0 {
                n += 1;
            }
            (c1, if r > 0.0 { 1.0 + c1 } else { 0.0 })
        } else {
            n += 1;
            (1.0, r as f64)
        };
        if weight != 0.0 {
            for (r_, &yr) in yj.iter().enumerate() {
                let w = weight * yr as f64;
                let row = &mut a[r_ * k..][..k];
                for (ac, &yc) in row.iter_mut().zip(yj) {
                    *ac += w * yc as f64;
                }
            }
        }
        if target != 0.0 {
            for (bi, &yv) in b.iter_mut().zip(yj) {
                *bi += target * yv as f64;
            }
        }
    }
    let lambda = p.reg_param as f64 * n as f64;
    for d in 0..k {
        a[d * k + d] += lambda;
    }
    (a, b)
}

/// Solves one row: the factor, and the Cholesky factor of its system (for explanations).
fn solve_row(
    p: &SparkAlsParams,
    yty: &[f64],
    y: &[f32],
    row: impl Iterator<Item = (u32, f32)>,
) -> (Vec<f64>, Vec<f64>) {
    let k = p.rank;
    let (mut a, mut b) = normal_equations(p, yty, y, row);
    if b.iter().all(|&v| v == 0.0) {
        // No (positive) rating: Spark's factor is zero too.
        return (vec![0.0; k], Vec::new());
    }
    cholesky_robust(&mut a, k);
    cholesky_solve(&a, k, &mut b);
    (b, a)
}

/// Solves every row of `rows` against `y`, writing the factors into `out` (`rows x k`).
fn solve_side(p: &SparkAlsParams, rows: &Rows, y: &[f32], out: &mut [f32]) {
    let k = p.rank;
    let yty = if p.implicit_prefs {
        gram(y, k)
    } else {
        Vec::new()
    };
    out.par_chunks_mut(k).enumerate().for_each(|(r, x)| {
        let (f, _) = solve_row(p, &yty, y, rows.row(r));
        for (xi, fi) in x.iter_mut().zip(f) {
            *xi = fi as f32;
        }
    });
}

/// Spark's initialisation: each row a standard normal vector scaled to unit length.
fn init_factors(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<f32> {
    let mut v = vec![0f32; n * k];
    for row in v.chunks_mut(k) {
        for x in row.iter_mut() {
            *x = StandardNormal.sample(rng);
        }
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    v
}

impl Fit for SparkAlsParams {
    type Model = SparkAls;

    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<SparkAls> {
        self.validate()?;
        let k = self.rank;
        let (n_users, n_items) = (data.n_users(), data.n_items());
        let users = Rows::by_user(data);
        let items = users.transpose(n_items);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut x = init_factors(&mut rng, n_users, k);
        let mut y = init_factors(&mut rng, n_items, k);
        progress.start("spark_als", self.max_iter as u64);
        for _ in 0..self.max_iter {
            solve_side(self, &items, &x, &mut y);
            solve_side(self, &users, &y, &mut x);
            progress.inc(1);
        }
        SparkAls::from_factors(self.clone(), n_users, n_items, x, y)
    }
}

impl SparkAls {
    /// A model from factors computed elsewhere (Spark's `userFactors` and `itemFactors`, rows already in
    /// the dataset's user and item order; zero rows for ids Spark did not see). Fails on wrong lengths or
    /// non-finite values.
    ///
    /// ```
    /// use tastebud_models::spark_als::{SparkAls, SparkAlsParams};
    /// let p = SparkAlsParams { rank: 2, ..Default::default() };
    /// let m = SparkAls::from_factors(p, 1, 2, vec![1.0, 0.0], vec![0.5, 0.0, 0.0, 2.0])?;
    /// assert_eq!(m.user_factors(), &[1.0, 0.0]);
    /// # Ok::<(), tastebud_core::Error>(())
    /// ```
    pub fn from_factors(
        params: SparkAlsParams,
        n_users: usize,
        n_items: usize,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
    ) -> Result<Self> {
        params.validate()?;
        let k = params.rank;
        let yty = gram(&item_factors, k);
        let m = SparkAls {
            params,
            n_items,
            user_factors,
            item_factors,
            yty,
        };
        m.validate_rows(n_users)?;
        Ok(m)
    }

    /// The parameters (for an imported model, the ones given at import).
    pub fn params(&self) -> &SparkAlsParams {
        &self.params
    }
    /// User factors, `n_users x rank` row-major.
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }
    /// Item factors, `n_items x rank` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// The user factor of `history` (one solve of the normal equations above); zero for an empty
    /// history. Fails on an out-of-range item.
    pub fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        self.check(history)?;
        let (x, _) = solve_row(
            &self.params,
            &self.yty,
            &self.item_factors,
            history.iter().map(|&(i, v)| (i.0, v)),
        );
        Ok(x.into_iter().map(|v| v as f32).collect())
    }

    /// The score of every item for a user factor.
    pub fn scores(&self, user: &[f32]) -> Vec<f32> {
        let k = self.params.rank;
        simd(
            #[inline(always)]
            || {
                self.item_factors
                    .chunks_exact(k)
                    .map(|y| dot(y, user))
                    .collect()
            },
        )
    }

    fn check(&self, history: &[(ItemIdx, f32)]) -> Result<()> {
        match history.iter().find(|(i, _)| i.get() >= self.n_items) {
            Some(&(i, _)) => Err(Error::IndexOutOfRange {
                kind: "item",
                index: i.0,
                len: self.n_items,
            }),
            None => Ok(()),
        }
    }

    fn validate_rows(&self, n_users: usize) -> Result<()> {
        use tastebud_core::validate as v;
        let k = self.params.rank;
        v::matrix_f32(
            "Spark ALS item factors",
            &self.item_factors,
            self.n_items,
            k,
        )?;
        v::matrix_f32("Spark ALS user factors", &self.user_factors, n_users, k)?;
        v::len("Spark ALS YtY", self.yty.len(), v::product("rank", k, k)?)?;
        v::finite_f64("Spark ALS YtY", &self.yty)
    }

    /// Checks a decoded model (see [`crate::AnyModel::validate`]).
    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        let k = self.params.rank;
        tastebud_core::validate::ensure(self.user_factors.len().is_multiple_of(k), || {
            format!(
                "Spark ALS user factors ({}) are not a multiple of rank {k}",
                self.user_factors.len()
            )
        })?;
        self.validate_rows(self.user_factors.len() / k)
    }

    /// Each history item's share of `item`'s score: with `A` the user's system, the score is
    /// `y_iᵀ A⁻¹ b = Σ_j t_j (y_iᵀ A⁻¹ y_j)` with `t_j` the history item's target (`r` for ratings,
    /// `1 + α r` for positive implicit preferences).
    fn explain_with(&self, chol: &[f64], q: &Query<'_>, item: ItemIdx, n: usize) -> Explanation {
        let k = self.params.rank;
        let y = &self.item_factors;
        let mut w: Vec<f64> = y[item.get() * k..][..k].iter().map(|&v| v as f64).collect();
        cholesky_solve(chol, k, &mut w);
        let mut because: Vec<(ItemIdx, f32)> = q
            .history
            .iter()
            .filter_map(|&(j, r)| {
                let t = if self.params.implicit_prefs {
                    if r > 0.0 {
                        1.0 + (self.params.alpha * r) as f64
                    } else {
                        0.0
                    }
                } else {
                    r as f64
                };
                (t != 0.0).then(|| (j, (t * dot64_32(&w, &y[j.get() * k..][..k])) as f32))
            })
            .collect();
        because.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        because.truncate(n);
        Explanation { because }
    }
}

impl Recommender for SparkAls {
    fn name(&self) -> &str {
        "spark_als"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        let xu = self.fold_in(q.history)?;
        top_k(&self.scores(&xu), k, &filter)
    }
    /// Cosine of item factors.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let r = self.params.rank;
        crate::linalg::cosine_similar_items(&self.item_factors, r, r, item, k)
    }
    fn rating_predictor(&self) -> Option<&dyn PredictRating> {
        Some(self)
    }
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.rank, &self.item_factors))
    }
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.fold_in(q.history).map(Some)
    }
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        Ok(self.explain_many(q, &[item], n)?.pop().flatten())
    }
    /// One factorisation of the user's system serves every item.
    fn explain_many(
        &self,
        q: &Query<'_>,
        items: &[ItemIdx],
        n: usize,
    ) -> Result<Vec<Option<Explanation>>> {
        self.check(q.history)?;
        if let Some(item) = items.iter().find(|i| i.get() >= self.n_items) {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: self.n_items,
            });
        }
        let (_, chol) = solve_row(
            &self.params,
            &self.yty,
            &self.item_factors,
            q.history.iter().map(|&(i, v)| (i.0, v)),
        );
        if chol.is_empty() {
            return Ok(items
                .iter()
                .map(|_| Some(Explanation { because: vec![] }))
                .collect());
        }
        Ok(items
            .iter()
            .map(|&i| Some(self.explain_with(&chol, q, i, n)))
            .collect())
    }
}

impl PredictRating for SparkAls {
    /// `x_uᵀ y_i` with `x_u` the fold-in of the history (Spark's `transform`).
    fn predict(
        &self,
        _user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
        item: ItemIdx,
    ) -> Result<f32> {
        if item.get() >= self.n_items {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: self.n_items,
            });
        }
        let x = self.fold_in(history)?;
        let k = self.params.rank;
        Ok(dot(&x, &self.item_factors[item.get() * k..][..k]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{Feedback, Interactions};

    fn data(kind: Feedback) -> Dataset {
        let mut t = Vec::new();
        for u in 0..30u32 {
            for k in 0..5u32 {
                let i = (u * 7 + k * 3) % 20;
                t.push((u, i, ((u + k) % 5 + 1) as f32));
            }
        }
        let x = Interactions::from_triplets(30, 20, &t, kind).unwrap();
        Dataset::from_parts(
            "t",
            x,
            (0..30).map(|u| u.to_string()),
            (0..20).map(|i| i.to_string()),
        )
        .unwrap()
    }

    /// After the fit, every stored user factor solves its normal equations, so the fold-in of the
    /// training history equals it (what makes an imported Spark model rank as Spark does).
    #[test]
    fn fold_in_reproduces_the_last_half_step() {
        for implicit in [false, true] {
            let kind = if implicit {
                Feedback::Implicit
            } else {
                Feedback::Explicit
            };
            let d = data(kind);
            let p = SparkAlsParams {
                rank: 4,
                implicit_prefs: implicit,
                alpha: 2.0,
                ..Default::default()
            };
            let m = p.fit(&d, &NoProgress).unwrap();
            for u in 0..30u32 {
                let h = d.interactions.history(UserIdx(u));
                let x = m.fold_in(&h).unwrap();
                let stored = &m.user_factors()[u as usize * 4..][..4];
                for (a, b) in x.iter().zip(stored) {
                    assert!((a - b).abs() < 1e-4, "user {u}: {x:?} vs {stored:?}");
                }
            }
        }
    }

    /// The explanation's contributions add up to the score (the decomposition is exact).
    #[test]
    fn contributions_sum_to_the_score() {
        let d = data(Feedback::Explicit);
        let m = SparkAlsParams::default().fit(&d, &NoProgress).unwrap();
        let h = d.interactions.history(UserIdx(3));
        let q = Query::new(&h);
        let recs = m.recommend(&q, 3).unwrap();
        let e = m.explain(&q, recs[0].item, 100).unwrap().unwrap();
        let sum: f32 = e.because.iter().map(|c| c.1).sum();
        assert!(
            (sum - recs[0].score).abs() < 1e-3,
            "{sum} vs {}",
            recs[0].score
        );
        let p = m.predict(None, &h, recs[0].item).unwrap();
        assert!((p - recs[0].score).abs() < 1e-5);
    }

    /// Explicit ALS-WR fits the ratings it was given: the training RMSE is well under the ratings' spread.
    #[test]
    fn fits_the_training_ratings() {
        let d = data(Feedback::Explicit);
        let m = SparkAlsParams {
            reg_param: 0.01,
            ..Default::default()
        }
        .fit(&d, &NoProgress)
        .unwrap();
        let mut se = 0.0;
        for u in 0..30u32 {
            let h = d.interactions.history(UserIdx(u));
            for &(i, r) in &h {
                se += (m.predict(None, &h, i).unwrap() - r).powi(2) as f64;
            }
        }
        let rmse = (se / 150.0).sqrt();
        assert!(rmse < 0.5, "training RMSE {rmse}");
    }

    #[test]
    fn bad_factors_are_refused() {
        let p = SparkAlsParams {
            rank: 2,
            ..Default::default()
        };
        assert!(SparkAls::from_factors(p.clone(), 1, 2, vec![1.0], vec![0.0; 4]).is_err());
        assert!(SparkAls::from_factors(p, 1, 2, vec![1.0, 0.0], vec![f32::NAN; 4]).is_err());
    }
}
