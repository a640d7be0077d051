//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with the conjugate-gradient solver of Takács, Pilászy
//! & Tikk (2011), as in implicit's `AlternatingLeastSquares`.
//!
//! The model minimises `Σ_ui c_ui (p_ui − x_uᵀ y_i)² + λ (Σ_u |x_u|² + Σ_i |y_i|²)` over all user–item pairs,
//! where for an interaction with value `v` the confidence is `c_ui = alpha · v` and the preference
//! `p_ui = 1` (implicit 0.7's convention: the matrix values *are* the confidences; unobserved pairs have
//! `c = 1, p = 0`). So a binary matrix with the default `alpha = 1` is plain, unweighted least squares on
//! the 0/1 matrix, and Hu et al.'s `c = 1 + a·r` is obtained by passing values `1 + a·r` (or values `r` and
//! `alpha = a` for `a·r`, which is implicit's usage). A negative value means "disliked": `p = 0` with
//! confidence `|c|`. The regularisation is `λ I`, not scaled by the number of interactions.
//!
//! Each half-iteration solves every user (then every item) against the other side's factors, in parallel
//! with rayon; each row's solve depends only on the other side, so fitting is deterministic for a given
//! seed whatever the number of threads. The item Gramian `YᵀY + λI` is computed once per half-iteration, so
//! a row costs `O(k²)` plus `O(k)` per interaction whose confidence differs from 1.
//!
//! Recommendation folds the query's history in with one exact least-squares solve against the item
//! factors (implicit's `recalculate_user=True`). With `exact_user_factors` the stored user factors are
//! recomputed after the last iteration with that same solve, so the fold-in of a training user's history
//! reproduces its stored factor exactly; by default they are the last iteration's.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, UserIdx, ensure_param, top_k};

use crate::linalg::{
    axpy, cholesky_robust, cholesky_robust_with, cholesky_solve, dot, dot64_32, gram, simd, symv,
};
use crate::{Explanation, Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Als`], named and defaulted as implicit's `AlternatingLeastSquares`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlsParams {
    /// Number of latent factors. By default, 100.
    pub factors: usize,
    /// L2 regularisation `λ` of user and item factors (not scaled by counts). By default, 0.01.
    pub regularization: f32,
    /// Confidence scale: an interaction with value `v` has confidence `alpha · v` (implicit 0.7). By
    /// default, 1.0.
    pub alpha: f32,
    /// Number of ALS iterations (each updates users, then items). By default, 15.
    pub iterations: usize,
    /// Compute the training loss after each iteration and report it as a progress message (costs about a
    /// third of an iteration). By default, false.
    pub calculate_training_loss: bool,
    /// Solve each row with a few conjugate-gradient steps warm-started from the previous iteration; when
    /// false, solve exactly with a Cholesky factorisation. By default, true.
    pub use_cg: bool,
    /// Conjugate-gradient steps per row and half-iteration. By default, 3.
    pub cg_steps: usize,
    /// Seed of the initial factors (implicit's `random_state`). By default, 42.
    #[serde(alias = "random_state")]
    pub seed: u64,
    /// After the last iteration, recompute every stored user factor with the exact solve that recommending
    /// uses, so [`Als::user_factors`] equals the fold-in of each training history. Recommendations never
    /// read the stored user factors (they always fold the history in), so this only matters to callers of
    /// `user_factors`; it costs about two iterations on large data. By default, false.
    pub exact_user_factors: bool,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 100,
            regularization: 0.01,
            alpha: 1.0,
            iterations: 15,
            calculate_training_loss: false,
            use_cg: true,
            cg_steps: 3,
            seed: 42,
            exact_user_factors: false,
        }
    }
}

impl AlsParams {
    /// Sets the number of latent factors. By default, 100.
    pub fn factors(mut self, v: usize) -> Self {
        self.factors = v;
        self
    }
    /// Sets the L2 regularisation. By default, 0.01.
    pub fn regularization(mut self, v: f32) -> Self {
        self.regularization = v;
        self
    }
    /// Sets the confidence scale. By default, 1.0.
    pub fn alpha(mut self, v: f32) -> Self {
        self.alpha = v;
        self
    }
    /// Sets the number of iterations. By default, 15.
    pub fn iterations(mut self, v: usize) -> Self {
        self.iterations = v;
        self
    }
    /// Computes and reports the training loss per iteration. By default, false.
    pub fn calculate_training_loss(mut self, v: bool) -> Self {
        self.calculate_training_loss = v;
        self
    }
    /// Chooses the conjugate-gradient solver (true) or the exact Cholesky solve (false). By default, true.
    pub fn use_cg(mut self, v: bool) -> Self {
        self.use_cg = v;
        self
    }
    /// Sets the conjugate-gradient steps per row. By default, 3.
    pub fn cg_steps(mut self, v: usize) -> Self {
        self.cg_steps = v;
        self
    }
    /// Recomputes stored user factors exactly after the last iteration. By default, false.
    pub fn exact_user_factors(mut self, v: bool) -> Self {
        self.exact_user_factors = v;
        self
    }
    /// Sets the seed. By default, 42.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Checks every parameter.
    pub fn validate(&self) -> Result<()> {
        ensure_param(self.factors >= 1, "factors", "must be at least 1")?;
        ensure_param(
            self.factors <= 4096,
            "factors",
            "must be at most 4096 (each row solve is O(factors²))",
        )?;
        ensure_param(
            self.regularization.is_finite() && self.regularization >= 0.0,
            "regularization",
            "must be a finite number >= 0",
        )?;
        ensure_param(
            self.alpha.is_finite() && self.alpha > 0.0,
            "alpha",
            "must be a finite number > 0",
        )?;
        ensure_param(self.iterations >= 1, "iterations", "must be at least 1")?;
        ensure_param(
            !self.use_cg || self.cg_steps >= 1,
            "cg_steps",
            "must be at least 1 with use_cg",
        )
    }
}

/// A fitted implicit ALS model: user and item factors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Als {
    #[serde(with = "crate::params_body")]
    params: AlsParams,
    n_items: usize,
    /// `n_users x factors`, row-major.
    user_factors: Vec<f32>,
    /// `n_items x factors`, row-major.
    item_factors: Vec<f32>,
    /// `YᵀY` of the final item factors, `factors x factors` (rebuilt at fit; small).
    yty: Vec<f64>,
    /// Cholesky factor of `YᵀY + λI`, the system of every history whose confidences are all 1.
    base_chol: Vec<f64>,
    /// Training loss after each iteration, when `calculate_training_loss` was set.
    training_loss: Vec<f64>,
}

/// One side of the interaction matrix as compressed rows of `(column, confidence)`.
struct Side {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    conf: Vec<f32>,
}

impl Side {
    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let s = self.ptr[r]..self.ptr[r + 1];
        (&self.idx[s.clone()], &self.conf[s])
    }
    fn rows(&self) -> usize {
        self.ptr.len() - 1
    }
}

fn sides(data: &Dataset, alpha: f32) -> (Side, Side) {
    let x = &data.interactions;
    let mut ptr = Vec::with_capacity(x.n_users() + 1);
    ptr.push(0);
    let mut idx = Vec::with_capacity(x.nnz());
    for u in 0..x.n_users() {
        idx.extend(x.user_items(UserIdx(u as u32)).iter().map(|i| i.0));
        ptr.push(idx.len());
    }
    let conf = x.values().iter().map(|&v| alpha * v).collect();
    let users = Side { ptr, idx, conf };
    let mut ptr = Vec::with_capacity(x.n_items() + 1);
    ptr.push(0);
    let mut idx = Vec::with_capacity(x.nnz());
    let mut conf = Vec::with_capacity(x.nnz());
    for i in 0..x.n_items() {
        let i = ItemIdx(i as u32);
        idx.extend(x.item_users(i).iter().map(|u| u.0));
        conf.extend(x.item_values(i).map(|v| alpha * v));
        ptr.push(idx.len());
    }
    (users, Side { ptr, idx, conf })
}

/// `(p_ui · c_ui, |c_ui|)` of a stored confidence (negative = disliked, `p = 0`).
#[inline(always)]
fn split_conf(c: f32) -> (f32, f32) {
    if c > 0.0 { (c, c) } else { (0.0, -c) }
}

/// The Gramian plus `λI`, as f32 row-major (the CG operator's dense part).
fn regularized(yty: &[f64], k: usize, reg: f32) -> Vec<f32> {
    let mut a: Vec<f32> = yty.iter().map(|&v| v as f32).collect();
    for d in 0..k {
        a[d * k + d] += reg;
    }
    a
}

struct CgScratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

/// A few conjugate-gradient steps on `(YᵀC_uY + λI) x = YᵀC_u p_u`, warm-started from `x`.
#[inline(always)]
fn cg_row(
    a: &[f32],
    y: &[f32],
    k: usize,
    (cols, conf): (&[u32], &[f32]),
    steps: usize,
    x: &mut [f32],
    s: &mut CgScratch,
) {
    if cols.is_empty() {
        x.fill(0.0);
        return;
    }
    let (r, p, ap) = (&mut s.r, &mut s.p, &mut s.ap);
    // r = b - A x
    symv(a, x, r);
    for v in r.iter_mut() {
        *v = -*v;
    }
    for (&j, &c) in cols.iter().zip(conf) {
        let (cp, ca) = split_conf(c);
        let yj = &y[j as usize * k..][..k];
        let mut t = cp;
        if ca != 1.0 {
            t -= (ca - 1.0) * dot(yj, x);
        }
        axpy(t, yj, r);
    }
    p.copy_from_slice(r);
    let mut rsold = dot(r, r);
    if rsold < 1e-20 {
        return;
    }
    for _ in 0..steps {
        symv(a, p, ap);
        for (&j, &c) in cols.iter().zip(conf) {
            let ca = c.abs();
            if ca != 1.0 {
                let yj = &y[j as usize * k..][..k];
                axpy((ca - 1.0) * dot(yj, p), yj, ap);
            }
        }
        let step = rsold / dot(p, ap);
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rsnew = dot(r, r);
        if rsnew < 1e-20 {
            break;
        }
        let beta = rsnew / rsold;
        for (pi, &ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rsold = rsnew;
    }
}

/// Reusable buffers of one row's exact solve: after [`Solve::factor`], `l` holds the Cholesky factor of the
/// row's system (unless it is the shared base factor) and `x` the solution. One per thread serves every
/// request on it, so a fold-in allocates nothing once warm.
#[derive(Default)]
struct Solve {
    /// The row's system `YᵀY + λI + Σ (|c| − 1) y yᵀ`, then its Cholesky factor (row-major lower).
    l: Vec<f64>,
    /// Four weighted history rows at a time, in f64 (`y` then `w·y`, interleaved per row).
    rows: Vec<f64>,
    /// Right-hand side, then solution.
    x: Vec<f64>,
    /// The history's items and confidences.
    cols: Vec<u32>,
    conf: Vec<f32>,
    /// Whether `l` is not used because the base factor applies (every confidence ±1).
    base: bool,
}

thread_local! {
    /// The fold-in buffers of this thread.
    static SOLVE: std::cell::RefCell<Solve> = std::cell::RefCell::new(Solve::default());
}

/// `a += Σ w_j y_j y_jᵀ` on the lower triangle of the row-major `k x k` matrix `a`, four rows at a time (one
/// pass over `a` per four rows; rows with `w = 0` skipped). `rows` is scratch.
#[inline(always)]
fn add_weighted_grams(
    a: &mut [f64],
    k: usize,
    y: &[f32],
    weighted: impl Iterator<Item = (u32, f64)>,
    rows: &mut Vec<f64>,
) {
    rows.clear();
    rows.resize(8 * k, 0.0);
    // Its own SIMD dispatch: a closure is compiled apart from the function that calls it.
    let flush = |rows: &mut [f64], a: &mut [f64]| {
        simd(
            #[inline(always)]
            || {
                let (u, v) = rows.split_at(4 * k);
                let (u0, u1, u2, u3) = (&u[..k], &u[k..2 * k], &u[2 * k..3 * k], &u[3 * k..]);
                let (v0, v1, v2, v3) = (&v[..k], &v[k..2 * k], &v[2 * k..3 * k], &v[3 * k..]);
                for r in 0..k {
                    let (c0, c1, c2, c3) = (v0[r], v1[r], v2[r], v3[r]);
                    let ar = &mut a[r * k..][..=r];
                    for (q, aq) in ar.iter_mut().enumerate() {
                        *aq += c0 * u0[q] + c1 * u1[q] + c2 * u2[q] + c3 * u3[q];
                    }
                }
            },
        )
    };
    let mut n = 0;
    for (j, w) in weighted.filter(|&(_, w)| w != 0.0) {
        let yj = &y[j as usize * k..][..k];
        let (u, v) = rows.split_at_mut(4 * k);
        for ((uq, vq), &yq) in u[n * k..][..k].iter_mut().zip(&mut v[n * k..][..k]).zip(yj) {
            *uq = yq as f64;
            *vq = w * yq as f64;
        }
        n += 1;
        if n == 4 {
            flush(rows, a);
            n = 0;
        }
    }
    if n > 0 {
        rows[4 * k + n * k..].fill(0.0);
        flush(rows, a);
    }
}

impl Solve {
    /// Loads a row's items and stored confidences.
    fn load(&mut self, cols: &[u32], conf: &[f32]) {
        self.cols.clear();
        self.cols.extend_from_slice(cols);
        self.conf.clear();
        self.conf.extend_from_slice(conf);
    }

    /// Factorises the system of the loaded row: `base` (the factor of `YᵀY + λI`) when every confidence is
    /// ±1, else `YᵀY + λI + Σ (|c| − 1) y yᵀ` built and factorised in `l` (f64; `O(k²)` per history item
    /// whose confidence differs from 1, then `k³/3`).
    #[allow(clippy::too_many_arguments)]
    fn factor(&mut self, yty: &[f64], reg: f32, y: &[f32], k: usize) {
        let Solve {
            l,
            rows,
            cols,
            conf,
            base,
            ..
        } = self;
        *base = conf.iter().all(|c| c.abs() == 1.0);
        if *base {
            return;
        }
        l.resize(k * k, 0.0);
        simd(
            #[inline(always)]
            || {
                cholesky_robust_with(l, k, |a| {
                    a.copy_from_slice(yty);
                    for d in 0..k {
                        a[d * k + d] += reg as f64;
                    }
                    let weighted = cols
                        .iter()
                        .zip(conf.iter())
                        .map(|(&j, &c)| (j, (c.abs() - 1.0) as f64));
                    add_weighted_grams(a, k, y, weighted, rows);
                })
            },
        );
    }

    /// The factor from [`Solve::factor`].
    fn factor_of<'a>(&'a self, base_chol: &'a [f64]) -> &'a [f64] {
        if self.base { base_chol } else { &self.l }
    }

    /// Solves the factorised system for `YᵀC_u p_u` into `x`.
    fn solve(&mut self, base_chol: &[f64], y: &[f32], k: usize) {
        let mut x = std::mem::take(&mut self.x);
        x.clear();
        x.resize(k, 0.0);
        simd(
            #[inline(always)]
            || {
                for (&j, &c) in self.cols.iter().zip(&self.conf) {
                    let (cp, _) = split_conf(c);
                    if cp != 0.0 {
                        let cp = cp as f64;
                        for (xi, &v) in x.iter_mut().zip(&y[j as usize * k..][..k]) {
                            *xi += cp * v as f64;
                        }
                    }
                }
            },
        );
        cholesky_solve(self.factor_of(base_chol), k, &mut x);
        self.x = x;
    }
}

/// The exact least-squares solve of one row into `out` (zero for an empty row, as implicit).
#[allow(clippy::too_many_arguments)]
fn exact_row(
    yty: &[f64],
    base_chol: &[f64],
    y: &[f32],
    k: usize,
    reg: f32,
    (cols, conf): (&[u32], &[f32]),
    s: &mut Solve,
    out: &mut [f32],
) {
    if cols.is_empty() {
        out.fill(0.0);
        return;
    }
    s.load(cols, conf);
    s.factor(yty, reg, y, k);
    s.solve(base_chol, y, k);
    for (o, &v) in out.iter_mut().zip(&s.x) {
        *o = v as f32;
    }
}

fn base_cholesky(yty: &[f64], k: usize, reg: f32) -> Vec<f64> {
    let mut a = yty.to_vec();
    for d in 0..k {
        a[d * k + d] += reg as f64;
    }
    cholesky_robust(&mut a, k);
    a
}

/// Updates every row of `x` against the fixed factors `y`.
fn solve_side(side: &Side, x: &mut [f32], y: &[f32], k: usize, p: &AlsParams) {
    let yty = gram(y, k);
    if p.use_cg {
        let a = regularized(&yty, k, p.regularization);
        x.par_chunks_mut(k)
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || CgScratch {
                    r: vec![0.0; k],
                    p: vec![0.0; k],
                    ap: vec![0.0; k],
                },
                |s, (r, xr)| {
                    let (cols, conf) = side.row(r);
                    simd(
                        #[inline(always)]
                        || cg_row(&a, y, k, (cols, conf), p.cg_steps, xr, s),
                    );
                },
            );
    } else {
        let base = base_cholesky(&yty, k, p.regularization);
        x.par_chunks_mut(k)
            .enumerate()
            .with_min_len(16)
            .for_each_init(Solve::default, |s, (r, xr)| {
                exact_row(&yty, &base, y, k, p.regularization, side.row(r), s, xr);
            });
    }
}

/// implicit's training loss: the weighted squared error over all pairs plus the penalty, divided by the
/// total confidence of all pairs.
fn loss(users: &Side, x: &[f32], y: &[f32], k: usize, reg: f32, n_items: usize) -> f64 {
    let yty = gram(y, k);
    let (sum, total_conf) = (0..users.rows())
        .into_par_iter()
        .map(|u| {
            let xu = &x[u * k..][..k];
            let (cols, conf) = users.row(u);
            // xᵀ YᵀY x + Σ ((c − 1)(yᵀx)² − 2 c p yᵀx + c)
            let mut l = 0f64;
            for r in 0..k {
                let mut s = 0f64;
                for q in 0..k {
                    s += yty[r * k + q] * xu[q] as f64;
                }
                l += s * xu[r] as f64;
            }
            let mut tc = 0f64;
            for (&j, &c) in cols.iter().zip(conf) {
                let (cp, ca) = split_conf(c);
                let s = dot(&y[j as usize * k..][..k], xu) as f64;
                l += (ca as f64 - 1.0) * s * s - 2.0 * cp as f64 * s + ca as f64;
                tc += ca as f64;
            }
            (l, tc)
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let norms: f64 = x.iter().chain(y).map(|&v| v as f64 * v as f64).sum();
    let nnz = users.idx.len() as f64;
    (sum + reg as f64 * norms) / (total_conf + users.rows() as f64 * n_items as f64 - nnz)
}

impl Fit for AlsParams {
    type Model = Als;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Als> {
        self.validate()?;
        let k = self.factors;
        let (n_users, n_items) = (data.n_users(), data.n_items());
        let (users, items) = sides(data, self.alpha);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut init =
            |n: usize| -> Vec<f32> { (0..n * k).map(|_| rng.random::<f32>() * 0.01).collect() };
        let mut x = init(n_users);
        let mut y = init(n_items);
        let mut training_loss = Vec::new();
        progress.start("epochs", self.iterations as u64);
        for it in 0..self.iterations {
            solve_side(&users, &mut x, &y, k, self);
            solve_side(&items, &mut y, &x, k, self);
            if self.calculate_training_loss {
                let l = loss(&users, &x, &y, k, self.regularization, n_items);
                training_loss.push(l);
                progress.message(&format!("iteration {}: loss {l:.6}", it + 1));
            }
            progress.inc(1);
        }
        // Final users (on request): the exact fold-in against the final items, so stored factors equal the
        // fold-in.
        let yty = gram(&y, k);
        let base_chol = base_cholesky(&yty, k, self.regularization);
        if self.exact_user_factors {
            x.par_chunks_mut(k)
                .enumerate()
                .with_min_len(16)
                .for_each_init(Solve::default, |s, (u, xu)| {
                    exact_row(
                        &yty,
                        &base_chol,
                        &y,
                        k,
                        self.regularization,
                        users.row(u),
                        s,
                        xu,
                    );
                });
        }
        if x.iter().chain(&y).any(|v| !v.is_finite()) {
            return Err(Error::InvalidParam {
                name: "regularization",
                reason: "ALS diverged (non-finite factors); increase the regularization".into(),
            });
        }
        Ok(Als {
            params: self.clone(),
            n_items,
            user_factors: x,
            item_factors: y,
            yty,
            base_chol,
            training_loss,
        })
    }
}

impl Als {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &AlsParams {
        &self.params
    }
    /// Number of latent factors.
    pub fn factors(&self) -> usize {
        self.params.factors
    }
    /// User factors, `n_users x factors` row-major (each equals the fold-in of the user's training history).
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }
    /// Item factors, `n_items x factors` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }
    /// Training loss after each iteration (empty unless `calculate_training_loss`).
    pub fn training_loss(&self) -> &[f64] {
        &self.training_loss
    }

    /// Runs `f` with this thread's solve buffers holding `history` (items checked, confidences
    /// `alpha · value`).
    fn with_history<R>(
        &self,
        history: &[(ItemIdx, f32)],
        f: impl FnOnce(&mut Solve) -> Result<R>,
    ) -> Result<R> {
        if let Some(&(i, _)) = history.iter().find(|(i, _)| i.get() >= self.n_items) {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: i.0,
                len: self.n_items,
            });
        }
        SOLVE.with(|cell| {
            // A re-entrant call (none today) would get fresh buffers instead of a panic.
            let mut fresh = Solve::default();
            let mut guard = cell.try_borrow_mut();
            let s = match &mut guard {
                Ok(s) => &mut **s,
                Err(_) => &mut fresh,
            };
            s.cols.clear();
            s.conf.clear();
            for &(i, v) in history {
                s.cols.push(i.0);
                s.conf.push(self.params.alpha * v);
            }
            f(s)
        })
    }

    /// Factorises and solves the loaded history's system (`s.x` is then the user factor in f64).
    fn solve_loaded(&self, s: &mut Solve) {
        let (k, y) = (self.params.factors, &self.item_factors);
        s.factor(&self.yty, self.params.regularization, y, k);
        s.solve(&self.base_chol, y, k);
    }

    /// The user factor of `history`: one exact least-squares solve against the item factors (implicit's
    /// `recalculate_user`). A zero vector for an empty history. Fails on an out-of-range item.
    ///
    /// The cost is what the flops cost: `YᵀY` and the Cholesky factor of `YᵀY + λI` are stored with the model,
    /// so a history whose confidences are all 1 costs `O(k)` per item plus two triangular solves, and any
    /// other history `O(k²)` per item whose confidence differs from 1 (in f64, four items per pass) plus one
    /// `k x k` Cholesky factorisation; no per-request Gramian of the catalogue, and no allocation but the
    /// returned vector (the buffers are per thread).
    pub fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        let k = self.params.factors;
        if history.is_empty() {
            return Ok(vec![0.0; k]);
        }
        self.with_history(history, |s| {
            self.solve_loaded(s);
            Ok(s.x.iter().map(|&v| v as f32).collect())
        })
    }

    /// The score of every item for a user factor.
    pub fn scores(&self, user: &[f32]) -> Vec<f32> {
        let k = self.params.factors;
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
}

impl Recommender for Als {
    fn name(&self) -> &str {
        "als"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        let xu = self.fold_in(q.history)?;
        top_k(&self.scores(&xu), k, &filter)
    }
    /// Items by cosine similarity of item factors (as implicit), the item itself left out.
    /// Cosine of item factors.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let f = self.params.factors;
        crate::linalg::cosine_similar_items(&self.item_factors, f, f, item, k)
    }
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.factors, &self.item_factors))
    }
    /// The folded-in user factor (scores are its inner products with the item factors).
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.fold_in(q.history).map(Some)
    }
    /// implicit's `explain`: with `W_u = (YᵀC_uY + λI)⁻¹` the user's weighted solve, the score of item `i`
    /// is exactly `Σ_j c_uj p_uj · (y_iᵀ W_u y_j)` over the history items `j`; each term is `j`'s
    /// contribution.
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        Ok(self.explain_many(q, &[item], n)?.pop().flatten())
    }
    /// One factorisation of the user's system serves every item (`k` solves instead of `k`
    /// factorisations).
    fn explain_many(
        &self,
        q: &Query<'_>,
        items: &[ItemIdx],
        n: usize,
    ) -> Result<Vec<Option<Explanation>>> {
        if let Some(item) = items.iter().find(|i| i.get() >= self.n_items) {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: item.0,
                len: self.n_items,
            });
        }
        if q.history.is_empty() {
            return Ok(items
                .iter()
                .map(|_| Some(Explanation { because: vec![] }))
                .collect());
        }
        self.with_history(q.history, |s| {
            s.factor(
                &self.yty,
                self.params.regularization,
                &self.item_factors,
                self.params.factors,
            );
            Ok(self.explain_with(s, items, n))
        })
    }
    /// The fold-in and the explanations share one factorisation of the user's system.
    fn recommend_explained(
        &self,
        q: &Query<'_>,
        k: usize,
        n: usize,
    ) -> Result<(Vec<Scored>, Vec<Option<Explanation>>)> {
        let filter = q.filter(self.n_items)?;
        if q.history.is_empty() {
            let recs = top_k(&self.scores(&vec![0.0; self.params.factors]), k, &filter)?;
            let e = recs
                .iter()
                .map(|_| Some(Explanation { because: vec![] }))
                .collect();
            return Ok((recs, e));
        }
        self.with_history(q.history, |s| {
            self.solve_loaded(s);
            let xu: Vec<f32> = s.x.iter().map(|&v| v as f32).collect();
            let recs = top_k(&self.scores(&xu), k, &filter)?;
            let items: Vec<ItemIdx> = recs.iter().map(|s| s.item).collect();
            let e = self.explain_with(s, &items, n);
            Ok((recs, e))
        })
    }
}

impl Als {
    /// The explanations of `items` from the factorised system in `s` (its `x` is used as scratch): per item,
    /// one solve `W_u y_i` (`2k²`) and one inner product per history item.
    fn explain_with(&self, s: &mut Solve, items: &[ItemIdx], n: usize) -> Vec<Option<Explanation>> {
        let k = self.params.factors;
        let y = &self.item_factors;
        let mut w = std::mem::take(&mut s.x);
        let out = items
            .iter()
            .map(|item| {
                w.clear();
                w.extend(y[item.get() * k..][..k].iter().map(|&v| v as f64));
                cholesky_solve(s.factor_of(&self.base_chol), k, &mut w);
                let mut because: Vec<(ItemIdx, f32)> = simd(
                    #[inline(always)]
                    || {
                        s.cols
                            .iter()
                            .zip(&s.conf)
                            .filter_map(|(&j, &c)| {
                                let (cp, _) = split_conf(c);
                                if cp == 0.0 {
                                    return None;
                                }
                                let sc = dot64_32(&w, &y[j as usize * k..][..k]);
                                Some((ItemIdx(j), (sc * cp as f64) as f32))
                            })
                            .collect()
                    },
                );
                because.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                because.truncate(n);
                Some(Explanation { because })
            })
            .collect();
        s.x = w;
        out
    }
}

impl Als {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): valid hyperparameters, factor matrices
    /// of `n x factors` finite values, and `factors x factors` solver matrices.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        let f = self.params.factors;
        v::ensure(self.user_factors.len().is_multiple_of(f), || {
            format!(
                "ALS user factors ({}) are not a multiple of {f} factors",
                self.user_factors.len()
            )
        })?;
        v::matrix_f32("ALS item factors", &self.item_factors, self.n_items, f)?;
        v::finite_f32("ALS user factors", &self.user_factors)?;
        let ff = v::product("ALS factors", f, f)?;
        v::len("ALS YtY", self.yty.len(), ff)?;
        v::finite_f64("ALS YtY", &self.yty)?;
        v::len("ALS Cholesky factor", self.base_chol.len(), ff)?;
        v::finite_f64("ALS Cholesky factor", &self.base_chol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{Feedback, Interactions};

    /// Two blocks of users and items: users 0..6 like items 0..4, users 6..12 like items 4..8, each user
    /// missing one item of their block.
    fn blocks() -> Dataset {
        let mut t = Vec::new();
        for u in 0..12u32 {
            let base = if u < 6 { 0 } else { 4 };
            for i in base..base + 4 {
                if i != base + u % 4 {
                    t.push((u, i, 1.0));
                }
            }
        }
        let x = Interactions::from_triplets(12, 8, &t, Feedback::Implicit).unwrap();
        let users: Vec<String> = (0..12).map(|u| format!("u{u}")).collect();
        let items: Vec<String> = (0..8).map(|i| format!("i{i}")).collect();
        Dataset::from_parts("blocks", x, users, items).unwrap()
    }

    fn small() -> AlsParams {
        AlsParams::default()
            .exact_user_factors(true)
            .factors(4)
            .regularization(0.1)
            .iterations(10)
    }

    #[test]
    fn params_are_validated() {
        let d = blocks();
        for p in [
            AlsParams::default().factors(0),
            AlsParams::default().regularization(-1.0),
            AlsParams::default().alpha(0.0),
            AlsParams::default().alpha(f32::NAN),
            AlsParams::default().iterations(0),
            AlsParams::default().cg_steps(0),
        ] {
            assert!(
                matches!(p.fit(&d, &NoProgress), Err(Error::InvalidParam { .. })),
                "{p:?}"
            );
        }
        assert!(
            AlsParams::default()
                .cg_steps(0)
                .use_cg(false)
                .validate()
                .is_ok()
        );
        let p: AlsParams = serde_json::from_str(r#"{"factors": 8, "random_state": 3}"#).unwrap();
        assert_eq!((p.factors, p.seed, p.iterations), (8, 3, 15));
        assert!(serde_json::from_str::<AlsParams>(r#"{"factor": 8}"#).is_err());
    }

    #[test]
    fn loss_decreases_every_iteration() {
        let d = blocks();
        for cg in [true, false] {
            let m = small()
                .alpha(3.0)
                .use_cg(cg)
                .calculate_training_loss(true)
                .fit(&d, &NoProgress)
                .unwrap();
            let l = m.training_loss();
            assert_eq!(l.len(), 10);
            for w in l.windows(2) {
                assert!(w[1] <= w[0] + 1e-9, "cg={cg}: {l:?}");
            }
        }
    }

    #[test]
    fn exact_solver_matches_a_direct_solve() {
        // With use_cg = false every half-step is the exact minimiser: check the normal equations of the
        // stored user factors against the item factors with a naive dense computation.
        let d = blocks();
        let m = small()
            .use_cg(false)
            .alpha(2.0)
            .fit(&d, &NoProgress)
            .unwrap();
        let k = 4;
        let y = m.item_factors();
        for u in 0..12u32 {
            let x = &m.user_factors()[u as usize * k..][..k];
            let h = d.interactions.history(UserIdx(u));
            // gradient: Σ_i c_i (x·y_i − p_i) y_i + λ x with c = 1 off-history, 2 on history
            for r in 0..k {
                let mut g = 0.1 * x[r] as f64;
                for i in 0..8usize {
                    let yi = &y[i * k..][..k];
                    let s: f64 = x.iter().zip(yi).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let (c, p) = if h.iter().any(|&(j, _)| j.get() == i) {
                        (2.0, 1.0)
                    } else {
                        (1.0, 0.0)
                    };
                    g += c * (s - p) * yi[r] as f64;
                }
                assert!(g.abs() < 1e-4, "user {u} component {r}: gradient {g}");
            }
        }
    }

    #[test]
    fn same_seed_same_factors_and_fold_in_equals_stored() {
        let d = blocks();
        let a = small().fit(&d, &NoProgress).unwrap();
        let b = small().fit(&d, &NoProgress).unwrap();
        assert_eq!(a.item_factors(), b.item_factors());
        assert_eq!(a.user_factors(), b.user_factors());
        let c = small().seed(7).fit(&d, &NoProgress).unwrap();
        assert_ne!(a.item_factors(), c.item_factors());
        // A one-thread pool gives the same factors as the default pool.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let e = pool.install(|| small().fit(&d, &NoProgress).unwrap());
        assert_eq!(a.item_factors(), e.item_factors());
        for u in 0..12u32 {
            let h = d.interactions.history(UserIdx(u));
            assert_eq!(
                a.fold_in(&h).unwrap(),
                &a.user_factors()[u as usize * 4..][..4]
            );
        }
    }

    /// The fold-in of a history with confidences other than 1 (the rank updates four items at a time plus a
    /// remainder, a disliked item, `k` not a multiple of the SIMD width) is the minimiser of the weighted
    /// least squares, checked against a naive dense solve; the explanations of `recommend_explained` add up to
    /// the scores, and a second call on the same thread (reused buffers) gives the same answer.
    #[test]
    fn fold_in_with_confidences_matches_a_naive_solve() {
        let d = blocks();
        let k = 11;
        let m = small().factors(k).fit(&d, &NoProgress).unwrap();
        let y = m.item_factors();
        let h: Vec<(ItemIdx, f32)> = [(0, 3.0), (1, 1.0), (2, 5.0), (3, 2.0), (5, 0.5), (6, -2.0)]
            .iter()
            .map(|&(i, v)| (ItemIdx(i), v))
            .collect();
        // Dense normal equations: (Σ_i y yᵀ + Σ_h (|c| − 1) y yᵀ + λI) x = Σ_h p c y.
        let mut a = vec![vec![0f64; k + 1]; k];
        for i in 0..8 {
            let yi = &y[i * k..][..k];
            let (c, p) = match h.iter().find(|(j, _)| j.get() == i) {
                Some(&(_, v)) if v > 0.0 => (v as f64, 1.0),
                Some(&(_, v)) => (-v as f64, 0.0),
                None => (1.0, 0.0),
            };
            for r in 0..k {
                for q in 0..k {
                    a[r][q] += c * yi[r] as f64 * yi[q] as f64;
                }
                a[r][k] += c * p * yi[r] as f64;
            }
        }
        for (r, row) in a.iter_mut().enumerate() {
            row[r] += 0.1;
        }
        for c in 0..k {
            let pivot = a[c].clone();
            for (r, row) in a.iter_mut().enumerate() {
                if r != c {
                    let f = row[c] / pivot[c];
                    for (v, p) in row.iter_mut().zip(&pivot).skip(c) {
                        *v -= f * p;
                    }
                }
            }
        }
        let want: Vec<f64> = (0..k).map(|r| a[r][k] / a[r][r]).collect();
        let got = m.fold_in(&h).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        let (recs, e) = m.recommend_explained(&Query::new(&h), 2, 10).unwrap();
        for (r, e) in recs.iter().zip(&e) {
            let total: f32 = e.as_ref().unwrap().because.iter().map(|b| b.1).sum();
            assert!((total - r.score).abs() < 1e-4, "{total} vs {}", r.score);
            // The disliked item explains nothing (p = 0).
            assert!(
                e.as_ref()
                    .unwrap()
                    .because
                    .iter()
                    .all(|b| b.0 != ItemIdx(6))
            );
        }
        assert_eq!(
            m.recommend_explained(&Query::new(&h), 2, 10).unwrap(),
            (recs, e)
        );
        assert_eq!(m.fold_in(&h).unwrap(), got);
    }

    #[test]
    fn recommends_within_block_and_explains() {
        let d = blocks();
        let m = small().fit(&d, &NoProgress).unwrap();
        for u in 0..12u32 {
            let h = d.interactions.history(UserIdx(u));
            let r = m.recommend(&Query::new(&h).user(UserIdx(u)), 1).unwrap();
            let missing = if u < 6 { u % 4 } else { 4 + u % 4 };
            assert_eq!(r[0].item, ItemIdx(missing), "user {u}");
            // Contributions sum to the score.
            let e = m.explain(&Query::new(&h), r[0].item, 10).unwrap().unwrap();
            assert_eq!(e.because.len(), 3);
            let total: f32 = e.because.iter().map(|b| b.1).sum();
            assert!(
                (total - r[0].score).abs() < 1e-4,
                "{total} vs {}",
                r[0].score
            );
        }
        let s = m.similar_items(ItemIdx(0), 3).unwrap();
        assert!(
            s.iter().all(|x| x.item.get() < 4 && x.item != ItemIdx(0)),
            "{s:?}"
        );
        assert_eq!(m.item_embeddings().unwrap().1.len(), 32);
        // Errors, not panics.
        assert!(m.recommend(&Query::new(&[(ItemIdx(8), 1.0)]), 3).is_err());
        assert!(m.explain(&Query::new(&[]), ItemIdx(9), 3).is_err());
        // New user: zero factor, all scores 0 (ties by lower index).
        let r = m.recommend(&Query::new(&[]), 2).unwrap();
        assert_eq!((r[0].item, r[0].score), (ItemIdx(0), 0.0));
        // Round trip.
        let json = serde_json::to_string(&m).unwrap();
        let back: Als = serde_json::from_str(&json).unwrap();
        assert_eq!(back.item_factors(), m.item_factors());
    }
}
