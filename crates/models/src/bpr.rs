//! Bayesian Personalized Ranking (Rendle et al. 2009) as implicit's `BayesianPersonalizedRanking`.
//!
//! Matrix factorisation trained with SGD on the pairwise loss `−ln σ(x_u·y_i − x_u·y_j)` over sampled
//! triples (user, liked item `i`, other item `j`), with L2 regularisation. As in implicit:
//! - each item vector has one extra coordinate, the **item bias**, and each user vector a constant 1 there,
//!   so `x_u·y_i` includes the bias (and [`Recommender::item_embeddings`] has `factors + 1` dimensions);
//! - an epoch draws as many samples as there are interactions: the (user, liked item) pair is a uniformly
//!   drawn interaction;
//! - factors start uniform in `[−0.5, 0.5) / factors`; users and items without interactions start at 0.
//!
//! **Negative sampling.** By default (`uniform_negatives = true`) the other item is drawn uniformly from
//! the catalogue and, with `verify_negative_samples`, redrawn while the user liked it (up to
//! [`MAX_REDRAWS`] times, then the sample is skipped): the sampler of the BPR paper and of Cornac, `j`
//! uniform over the items the user has not interacted with. With `uniform_negatives = false` it is
//! implicit's sampler exactly: the other item is the item of another uniformly drawn interaction (so
//! negatives are popularity-weighted) and a sample whose other item the user also liked is skipped, not
//! redrawn. Same factors, epochs, learning rate and regularisation, the uniform sampler ranks better on
//! MovieLens (BENCHMARKS.md: NDCG@10 0.229 vs 0.208 on the fixed implicit split, 0.44 vs 0.29 on Microsoft
//! Recommenders' protocol); popularity-weighted negatives push lists away from popular items.
//!
//! Values are ignored: every stored interaction is a positive.
//!
//! **Threads.** `threads = 1` runs the SGD and the user refit on one thread. With `t > 1` threads (`0` =
//! every thread of the current rayon pool, the default) the SGD is stratified (Gemulla et al. 2011, as
//! "DSGD"): users are cut into `t` fixed blocks of about equal interaction counts and, every epoch, the
//! items into `t` random blocks; an epoch is `t` rounds in which each thread trains on the interactions of
//! its user block with a different item block, drawing the negative from that same item block. The threads
//! of a round never touch the same factor row, so they need no locks or atomics and do not fight over cache
//! lines (Hogwild, which this replaced, made two threads slower than one: BENCHMARKS.md). Every
//! interaction is still drawn as often in expectation; the negative of a pair is uniform over a random
//! `1/t` of the catalogue (the item's block) instead of all of it, and the blocks change every epoch.
//! The `t` threads are the fit's own (the calling thread and `t − 1` scoped threads that live for the whole
//! fit and meet at spinning barriers between rounds): a round lasts about a millisecond on ML-100K, less than
//! a busy rayon pool may take to wake an idle worker. A fit is deterministic for a given seed **and thread
//! count** (a given `t` always gives the same vectors; different `t` give different, equally good ones:
//! BENCHMARKS.md compares their quality over seeds). The refit is the same on any number of threads (each fold-in is seeded from its history).
//!
//! **Fold-in.** A history is folded in by fitting a user vector with the same SGD and the item factors
//! frozen, for `fold_in_epochs` epochs of `|history|` samples, starting from the mean of the history's item
//! vectors, seeded from the history (deterministic). An empty history gives the user vector
//! `(0, …, 0, 1)`: items are ranked by their bias. With `refit_users` (the default) every user vector is
//! replaced after training by the fold-in of the user's training history, so known users, users with fresh
//! events and new users share one path: the vectors trained jointly with the items lag behind them, and
//! the refitted ones rank clearly better (BENCHMARKS.md).
//!
//! **Recommendation.** For a known user (`q.user`) whose query history is exactly the training history
//! (recognised by a 64-bit fingerprint of the item list stored per user), the stored user vector is used
//! (with `refit_users`, the very vector the fold-in would give); any other history is folded in.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, UserIdx, ensure_param, top_k};

use crate::linalg::{dot, fingerprint, simd};
use crate::{Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Bpr`], named and defaulted as implicit's `BayesianPersonalizedRanking`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BprParams {
    /// Number of latent factors (plus one bias coordinate). By default, 100.
    pub factors: usize,
    /// SGD learning rate. By default, 0.01.
    pub learning_rate: f32,
    /// L2 regularisation of the user and item vectors touched by each update. By default, 0.01.
    pub regularization: f32,
    /// Number of epochs (each draws as many samples as there are interactions). By default, 100.
    pub iterations: usize,
    /// Never use a negative item the user actually liked: with uniform negatives it is redrawn, with
    /// implicit's popularity-weighted sampler the sample is skipped. By default, true.
    pub verify_negative_samples: bool,
    /// Draw negative items uniformly from the catalogue (as the BPR paper and Cornac do) instead of in
    /// proportion to popularity (implicit's sampler). Popularity-weighted negatives push recommendations
    /// away from popular items; uniform ones score higher on popularity-heavy test sets such as MovieLens.
    /// By default, true.
    pub uniform_negatives: bool,
    /// Threads: 0 (all threads of the current rayon pool) or more than 1 runs the stratified parallel SGD
    /// of the module documentation, deterministic for a given seed and thread count. By default, 0.
    pub threads: usize,
    /// Epochs of the SGD that folds a history in (every user's, after training, with `refit_users`; any
    /// history that is not a training history, at query time). By default, 30 (100 ranks no better on
    /// ML-100K and costs 3x more).
    pub fold_in_epochs: usize,
    /// After training, replace every user vector by the fold-in of the user's training history against
    /// the final item vectors, so that a known user and the same history from a new user get the same
    /// vector. The jointly trained user vectors lag behind the items they were fitted with; refitted ones
    /// rank clearly better (BENCHMARKS.md: NDCG@10 0.25 vs 0.23 on the fixed implicit split). With 30
    /// fold-in epochs it adds about a third to the training time. By default, true.
    pub refit_users: bool,
    /// Seed of the initial factors and of the sampling (implicit's `random_state`). By default, 42.
    #[serde(alias = "random_state")]
    pub seed: u64,
}

impl Default for BprParams {
    fn default() -> Self {
        BprParams {
            factors: 100,
            learning_rate: 0.01,
            regularization: 0.01,
            iterations: 100,
            verify_negative_samples: true,
            uniform_negatives: true,
            threads: 0,
            fold_in_epochs: 30,
            refit_users: true,
            seed: 42,
        }
    }
}

impl BprParams {
    /// Sets the number of latent factors. By default, 100.
    pub fn factors(mut self, v: usize) -> Self {
        self.factors = v;
        self
    }
    /// Sets the learning rate. By default, 0.01.
    pub fn learning_rate(mut self, v: f32) -> Self {
        self.learning_rate = v;
        self
    }
    /// Sets the L2 regularisation. By default, 0.01.
    pub fn regularization(mut self, v: f32) -> Self {
        self.regularization = v;
        self
    }
    /// Sets the number of epochs. By default, 100.
    pub fn iterations(mut self, v: usize) -> Self {
        self.iterations = v;
        self
    }
    /// Skips samples whose negative the user liked. By default, true.
    pub fn verify_negative_samples(mut self, v: bool) -> Self {
        self.verify_negative_samples = v;
        self
    }
    /// Draws negatives uniformly instead of by popularity (implicit's sampler). By default, true.
    pub fn uniform_negatives(mut self, v: bool) -> Self {
        self.uniform_negatives = v;
        self
    }
    /// Sets the number of threads (0 = all of the current rayon pool). By default, 0.
    pub fn threads(mut self, v: usize) -> Self {
        self.threads = v;
        self
    }
    /// Sets the fold-in epochs. By default, 30.
    pub fn fold_in_epochs(mut self, v: usize) -> Self {
        self.fold_in_epochs = v;
        self
    }
    /// Refits every user vector by fold-in after training. By default, true.
    pub fn refit_users(mut self, v: bool) -> Self {
        self.refit_users = v;
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
            self.learning_rate.is_finite() && self.learning_rate > 0.0,
            "learning_rate",
            "must be a finite number > 0",
        )?;
        ensure_param(
            self.regularization.is_finite() && self.regularization >= 0.0,
            "regularization",
            "must be a finite number >= 0",
        )?;
        ensure_param(self.iterations >= 1, "iterations", "must be at least 1")
    }
}

/// A fitted BPR model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bpr {
    #[serde(with = "crate::params_body")]
    params: BprParams,
    n_items: usize,
    /// `n_users x (factors + 1)`, row-major; the last coordinate is 1 (0 for users without interactions).
    user_factors: Vec<f32>,
    /// `n_items x (factors + 1)`, row-major; the last coordinate is the item bias.
    item_factors: Vec<f32>,
    /// Cumulative training interaction counts per item (fold-in draws negatives by popularity, as training).
    item_cumcounts: Vec<u64>,
    /// Fingerprint of each user's training item list (to recognise an unchanged training history).
    history_fingerprints: Vec<u64>,
}

/// One SGD step on `(user, liked, disliked)`; returns whether the pair was already ranked correctly.
#[inline(always)]
fn sgd_step(u: &mut [f32], i: &mut [f32], j: &mut [f32], lr: f32, reg: f32) -> bool {
    let k = u.len() - 1;
    let score = dot(u, i) - dot(u, j);
    let z = 1.0 / (1.0 + score.exp());
    for f in 0..k {
        let tu = u[f];
        let (yi, yj) = (i[f], j[f]);
        u[f] += lr * (z * (yi - yj) - reg * tu);
        i[f] += lr * (z * tu - reg * yi);
        j[f] += lr * (-z * tu - reg * yj);
    }
    i[k] += lr * (z - reg * i[k]);
    j[k] += lr * (-z - reg * j[k]);
    z < 0.5
}

/// Two distinct rows of a row-major matrix, mutably.
fn two_rows(m: &mut [f32], a: usize, b: usize, w: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert_ne!(a, b);
    if a < b {
        let (lo, hi) = m.split_at_mut(b * w);
        (&mut lo[a * w..][..w], &mut hi[..w])
    } else {
        let (lo, hi) = m.split_at_mut(a * w);
        (&mut hi[..w], &mut lo[b * w..][..w])
    }
}

/// The training interactions as sampling arrays.
struct Samples<'a> {
    users: Vec<u32>,
    items: Vec<ItemIdx>,
    data: &'a tastebud_core::Interactions,
    /// Draw negatives uniformly from `0..n_items` (else from the interaction list, by popularity).
    uniform: bool,
}

/// How many times a uniform negative that the user liked is redrawn before the sample is skipped (only
/// users who liked nearly the whole catalogue get there).
pub const MAX_REDRAWS: usize = 64;

impl Samples<'_> {
    /// Draws one `(user, liked, disliked)`; `None` when skipped.
    #[inline(always)]
    fn draw(&self, rng: &mut ChaCha8Rng, verify: bool) -> Option<(usize, usize, usize)> {
        let n = self.users.len();
        let li = rng.random_range(0..n);
        let (u, i) = (self.users[li], self.items[li]);
        let liked = |j: ItemIdx| {
            i == j || (verify && self.data.user_items(UserIdx(u)).binary_search(&j).is_ok())
        };
        if self.uniform {
            let n_items = self.data.n_items() as u32;
            (0..MAX_REDRAWS)
                .map(|_| ItemIdx(rng.random_range(0..n_items)))
                .find(|&j| !liked(j))
                .map(|j| (u as usize, i.get(), j.get()))
        } else {
            let j = self.items[rng.random_range(0..n)];
            (!liked(j)).then_some((u as usize, i.get(), j.get()))
        }
    }
}

fn epoch_rng(seed: u64, epoch: usize, thread: usize) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(((epoch as u64) << 20) | thread as u64 | 1 << 63);
    r
}

/// One epoch on one thread over plain factors. Returns `(correct, skipped)`.
fn epoch_seq(
    s: &Samples<'_>,
    x: &mut [f32],
    y: &mut [f32],
    w: usize,
    p: &BprParams,
    epoch: usize,
) -> (u64, u64) {
    let mut rng = epoch_rng(p.seed, epoch, 0);
    let (mut correct, mut skipped) = (0u64, 0u64);
    simd(
        #[inline(always)]
        || {
            for _ in 0..s.users.len() {
                match s.draw(&mut rng, p.verify_negative_samples) {
                    None => skipped += 1,
                    Some((u, i, j)) => {
                        let xu = &mut x[u * w..][..w];
                        let (yi, yj) = two_rows(y, i, j, w);
                        correct += sgd_step(xu, yi, yj, p.learning_rate, p.regularization) as u64;
                    }
                }
            }
        },
    );
    (correct, skipped)
}

/// The strata of a parallel epoch: users in `t` fixed contiguous blocks of about equal interaction counts,
/// items in `t` blocks drawn anew every epoch (a random order, each item to the block with the fewest
/// interactions so far), the item factor rows stored block after block so that every block is one
/// contiguous slice.
///
/// A parallel epoch is `t` rounds; in round `s` thread `b` trains on the interactions of user block `b`
/// with item block `(b + s) mod t`, drawing its negatives from that item block: the `t` threads of a round
/// touch disjoint user rows and disjoint item rows, so they update the factors without locks, atomics or
/// shared cache lines (the stratified SGD of Gemulla et al. 2011, "DSGD"), and an epoch's result does not
/// depend on scheduling.
struct Strata {
    t: usize,
    /// First user of each user block, then `n_users`.
    user_start: Vec<usize>,
    /// Item ids of each item block, in row order (block `b` occupies rows `item_start[b]..item_start[b + 1]`).
    block_items: Vec<Vec<u32>>,
    item_start: Vec<usize>,
    /// Row of each item in the block-ordered item factors.
    row_of: Vec<u32>,
    /// Item block and row within it of each item.
    place: Vec<(u32, u32)>,
    /// Local item row of every interaction of each item block (popularity-weighted negatives only).
    popular: Vec<Vec<u32>>,
}

impl Strata {
    fn new(data: &tastebud_core::Interactions, t: usize) -> Strata {
        let n_users = data.n_users();
        let nnz = data.nnz();
        // Block `b` starts at the first user with `b / t` of the interactions before it.
        let mut user_start = vec![n_users; t + 1];
        user_start[0] = 0;
        let (mut acc, mut b) = (0usize, 1usize);
        for (u, c) in data.user_counts().into_iter().enumerate() {
            while b < t && acc * t >= nnz * b {
                user_start[b] = u;
                b += 1;
            }
            acc += c;
        }
        Strata {
            t,
            user_start,
            block_items: vec![Vec::new(); t],
            item_start: vec![0; t + 1],
            row_of: (0..data.n_items() as u32).collect(),
            place: vec![(0, 0); data.n_items()],
            popular: vec![Vec::new(); t],
        }
    }

    /// Draws this epoch's item blocks and reorders the item factors `y` (rows of `w`) to match; with
    /// `popular`, also lists the interactions of each item block (for popularity-weighted negatives). The
    /// strata themselves are filled by [`Strata::fill_row`], one user block per thread.
    fn shuffle_items(
        &mut self,
        data: &tastebud_core::Interactions,
        y: &mut Vec<f32>,
        w: usize,
        rng: &mut ChaCha8Rng,
        popular: bool,
    ) {
        let t = self.t;
        let counts = data.item_counts();
        let mut order: Vec<u32> = (0..counts.len() as u32).collect();
        for a in (1..order.len()).rev() {
            order.swap(a, rng.random_range(0..=a));
        }
        let mut load = vec![0usize; t];
        for b in &mut self.block_items {
            b.clear();
        }
        for &i in &order {
            let b = (0..t)
                .min_by_key(|&b| (load[b], self.block_items[b].len()))
                .unwrap_or(0);
            load[b] += counts[i as usize];
            self.block_items[b].push(i);
        }
        let mut moved = vec![0f32; y.len()];
        let mut row = 0usize;
        for (b, items) in self.block_items.iter().enumerate() {
            self.item_start[b] = row;
            for (local, &i) in items.iter().enumerate() {
                let old = self.row_of[i as usize] as usize;
                moved[row * w..][..w].copy_from_slice(&y[old * w..][..w]);
                self.row_of[i as usize] = row as u32;
                self.place[i as usize] = (b as u32, local as u32);
                row += 1;
            }
        }
        self.item_start[t] = row;
        *y = moved;
        for (b, items) in self.block_items.iter().enumerate() {
            let list = &mut self.popular[b];
            list.clear();
            if popular {
                for (local, &i) in items.iter().enumerate() {
                    list.extend(std::iter::repeat_n(local as u32, counts[i as usize]));
                }
            }
        }
    }

    /// Fills the strata of user block `ub` (`row[ib]`: its interactions with item block `ib`, as `(user,
    /// local item row)`) for the current item blocks.
    fn fill_row(&self, data: &tastebud_core::Interactions, ub: usize, row: &mut [Vec<(u32, u32)>]) {
        for s in row.iter_mut() {
            s.clear();
        }
        for u in self.user_start[ub]..self.user_start[ub + 1] {
            for &i in data.user_items(UserIdx(u as u32)) {
                let (ib, local) = self.place[i.get()];
                row[ib as usize].push((u as u32, local));
            }
        }
    }

    /// The item factors back in item order.
    fn unshuffle(&self, y: &[f32], w: usize) -> Vec<f32> {
        let mut out = vec![0f32; y.len()];
        for (i, &r) in self.row_of.iter().enumerate() {
            out[i * w..][..w].copy_from_slice(&y[r as usize * w..][..w]);
        }
        out
    }
}

/// A barrier that spins (then yields) instead of sleeping: a round of the stratified SGD lasts about a
/// millisecond, less than a sleeping thread can take to be woken on a busy machine. A thread that panics
/// poisons it, so the others panic instead of spinning forever.
struct SpinBarrier {
    n: usize,
    count: std::sync::atomic::AtomicUsize,
    generation: std::sync::atomic::AtomicUsize,
    poisoned: std::sync::atomic::AtomicBool,
}

impl SpinBarrier {
    fn new(n: usize) -> Self {
        SpinBarrier {
            n,
            count: 0.into(),
            generation: 0.into(),
            poisoned: false.into(),
        }
    }
    fn wait(&self) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
        let g = self.generation.load(Acquire);
        if self.count.fetch_add(1, AcqRel) + 1 == self.n {
            self.count.store(0, Relaxed);
            self.generation.fetch_add(1, Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Acquire) == g {
            assert!(!self.poisoned.load(Relaxed), "a BPR thread panicked");
            if spins < 1 << 16 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Poisons the barrier when its thread unwinds.
struct PoisonOnPanic<'a>(&'a SpinBarrier);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .poisoned
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The stratified parallel SGD (see [`Strata`]) over every epoch, on `st.t` threads of its own that live for
/// the whole fit (the calling thread is thread 0): per epoch, thread 0 draws the item blocks and hands
/// them out, then `t` rounds separated by spinning barriers. `on_epoch(correct, skipped)` is called on the
/// calling thread after each epoch.
#[allow(clippy::too_many_arguments)]
fn train_strata(
    st: Strata,
    data: &tastebud_core::Interactions,
    x: &mut [f32],
    y: &mut Vec<f32>,
    w: usize,
    p: &BprParams,
    on_epoch: &mut dyn FnMut(u64, u64),
) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Mutex, RwLock};
    let t = st.t;
    let mut xs: Vec<&mut [f32]> = Vec::with_capacity(t);
    let mut rest = &mut *x;
    for b in 0..t {
        let (head, tail) = rest.split_at_mut((st.user_start[b + 1] - st.user_start[b]) * w);
        xs.push(head);
        rest = tail;
    }
    let meta = RwLock::new(st);
    let slots: Vec<Mutex<Vec<f32>>> = (0..t).map(|_| Mutex::new(Vec::new())).collect();
    let barrier = SpinBarrier::new(t);
    let (correct, skipped) = (AtomicU64::new(0), AtomicU64::new(0));
    let lock = |b: usize| slots[b].lock().unwrap_or_else(|e| e.into_inner());
    // Thread `ub` owns user block `ub` and its strata; in round `r` it locks item block `(ub + r) mod t`,
    // which no other thread wants in that round (one uncontended lock per round).
    let rounds = |ub: usize, xb: &mut [f32], row: &mut Vec<Vec<(u32, u32)>>, epoch: usize| {
        let m = meta.read().unwrap_or_else(|e| e.into_inner());
        m.fill_row(data, ub, row);
        let u0 = m.user_start[ub];
        let (mut ok, mut skip) = (0u64, 0u64);
        for round in 0..t {
            let ib = (ub + round) % t;
            let mut guard = lock(ib);
            let yb: &mut [f32] = &mut guard;
            let mut rng = epoch_rng(p.seed, epoch, round * t + ub);
            let stratum = &row[ib];
            let (items, popular) = (&m.block_items[ib], &m.popular[ib]);
            simd(
                #[inline(always)]
                || {
                    for _ in 0..stratum.len() {
                        let (u, i) = stratum[rng.random_range(0..stratum.len())];
                        let liked = |j: u32| {
                            j == i
                                || (p.verify_negative_samples
                                    && data
                                        .user_items(UserIdx(u))
                                        .binary_search(&ItemIdx(items[j as usize]))
                                        .is_ok())
                        };
                        let j = if p.uniform_negatives {
                            (0..MAX_REDRAWS)
                                .map(|_| rng.random_range(0..items.len() as u32))
                                .find(|&j| !liked(j))
                        } else {
                            Some(popular[rng.random_range(0..popular.len())]).filter(|&j| !liked(j))
                        };
                        let Some(j) = j else {
                            skip += 1;
                            continue;
                        };
                        let xu = &mut xb[(u as usize - u0) * w..][..w];
                        let (yi, yj) = two_rows(yb, i as usize, j as usize, w);
                        ok += sgd_step(xu, yi, yj, p.learning_rate, p.regularization) as u64;
                    }
                },
            );
            drop(guard);
            if round + 1 == t {
                correct.fetch_add(ok, Relaxed);
                skipped.fetch_add(skip, Relaxed);
                drop(m);
                barrier.wait();
                return;
            }
            barrier.wait();
        }
    };
    let new_row = || vec![Vec::new(); t];
    std::thread::scope(|scope| {
        let mut xs = xs.into_iter();
        let x0 = xs.next().expect("at least one block");
        for (b, xb) in xs.enumerate() {
            let (rounds, barrier) = (&rounds, &barrier);
            scope.spawn(move || {
                let _poison = PoisonOnPanic(barrier);
                let mut row = new_row();
                for epoch in 0..p.iterations {
                    barrier.wait();
                    rounds(b + 1, xb, &mut row, epoch);
                }
            });
        }
        let _poison = PoisonOnPanic(&barrier);
        let mut row = new_row();
        for epoch in 0..p.iterations {
            {
                let mut m = meta.write().unwrap_or_else(|e| e.into_inner());
                if epoch > 0 {
                    for (b, slot) in slots.iter().enumerate() {
                        y[m.item_start[b] * w..m.item_start[b + 1] * w].copy_from_slice(&lock(b));
                        let _ = slot;
                    }
                }
                let mut rng = epoch_rng(p.seed, epoch, 1 << 19);
                m.shuffle_items(data, y, w, &mut rng, !p.uniform_negatives);
                for b in 0..t {
                    let mut g = lock(b);
                    g.clear();
                    g.extend_from_slice(&y[m.item_start[b] * w..m.item_start[b + 1] * w]);
                }
            }
            barrier.wait();
            rounds(0, x0, &mut row, epoch);
            on_epoch(correct.swap(0, Relaxed), skipped.swap(0, Relaxed));
        }
    });
    let m = meta.into_inner().unwrap_or_else(|e| e.into_inner());
    for b in 0..t {
        y[m.item_start[b] * w..m.item_start[b + 1] * w].copy_from_slice(&lock(b));
    }
    *y = m.unshuffle(y, w);
}

fn item_fingerprint(items: impl Iterator<Item = ItemIdx>) -> u64 {
    fingerprint(items.map(|i| (i.0, 0.0)))
}

impl Fit for BprParams {
    type Model = Bpr;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Bpr> {
        self.validate()?;
        let x = &data.interactions;
        let (n_users, n_items, k) = (x.n_users(), x.n_items(), self.factors);
        let w = k + 1;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut init = |n: usize, counts: Vec<usize>, user: bool| -> Vec<f32> {
            let mut f: Vec<f32> = (0..n * w)
                .map(|_| (rng.random::<f32>() - 0.5) / k as f32)
                .collect();
            for (r, c) in counts.into_iter().enumerate() {
                let row = &mut f[r * w..][..w];
                if c == 0 {
                    row.fill(0.0);
                } else if user {
                    row[k] = 1.0;
                }
            }
            f
        };
        let mut uf = init(n_users, x.user_counts(), true);
        let mut itf = init(n_items, x.item_counts(), false);
        let samples = Samples {
            users: x.csr_users().map(|u| u.0).collect(),
            items: (0..n_users)
                .flat_map(|u| x.user_items(UserIdx(u as u32)).iter().copied())
                .collect(),
            data: x,
            uniform: self.uniform_negatives,
        };
        let threads = match self.threads {
            0 => rayon::current_num_threads(),
            t => t,
        };
        progress.start("epochs", self.iterations as u64);
        let nnz = x.nnz() as u64;
        // More blocks than users or items would leave a thread without work.
        let threads = threads.min(n_users).min(n_items).max(1);
        let epoch_done = |epoch: usize, correct: u64, skipped: u64| {
            if nnz > skipped {
                progress.message(&format!(
                    "epoch {}: train AUC {:.2}%, skipped {:.2}%",
                    epoch + 1,
                    100.0 * correct as f64 / (nnz - skipped) as f64,
                    100.0 * skipped as f64 / nnz as f64
                ));
            }
            progress.inc(1);
        };
        if nnz > 0 && threads > 1 {
            let mut epoch = 0;
            train_strata(
                Strata::new(x, threads),
                x,
                &mut uf,
                &mut itf,
                w,
                self,
                &mut |correct, skipped| {
                    epoch_done(epoch, correct, skipped);
                    epoch += 1;
                },
            );
        } else if nnz > 0 {
            for epoch in 0..self.iterations {
                let (correct, skipped) = epoch_seq(&samples, &mut uf, &mut itf, w, self, epoch);
                epoch_done(epoch, correct, skipped);
            }
        }
        if uf.iter().chain(&itf).any(|v| !v.is_finite()) {
            return Err(Error::InvalidParam {
                name: "learning_rate",
                reason: "BPR diverged (non-finite factors); lower the learning rate".into(),
            });
        }
        let mut item_cumcounts = Vec::with_capacity(n_items);
        let mut acc = 0u64;
        for c in x.item_counts() {
            acc += c as u64;
            item_cumcounts.push(acc);
        }
        let history_fingerprints: Vec<u64> = (0..n_users)
            .map(|u| item_fingerprint(x.user_items(UserIdx(u as u32)).iter().copied()))
            .collect();
        let mut model = Bpr {
            params: self.clone(),
            n_items,
            user_factors: uf,
            item_factors: itf,
            item_cumcounts,
            history_fingerprints,
        };
        if self.refit_users {
            // Each fold-in is seeded from its history: the same vectors whatever the thread count. The fold-in
            // reads only the item side, so the user rows are rewritten in place, in `threads` blocks of
            // consecutive users (one block, one thread, with `threads = 1`).
            let mut users = std::mem::take(&mut model.user_factors);
            let per_block = x.n_users().div_ceil(threads).max(1);
            users
                .par_chunks_mut(per_block * w)
                .enumerate()
                .for_each(|(b, block)| {
                    for (r, row) in block.chunks_mut(w).enumerate() {
                        let u = b * per_block + r;
                        let items = x.user_items(UserIdx(u as u32));
                        if !items.is_empty() {
                            row.copy_from_slice(
                                &model.fold_in(items, model.history_fingerprints[u]),
                            );
                        }
                    }
                });
            model.user_factors = users;
        }
        Ok(model)
    }
}

impl Bpr {
    /// The parameters the model was fitted with.
    pub fn params(&self) -> &BprParams {
        &self.params
    }
    /// Number of latent factors (without the bias coordinate).
    pub fn factors(&self) -> usize {
        self.params.factors
    }
    /// User vectors, `n_users x (factors + 1)` row-major (last coordinate 1).
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }
    /// Item vectors, `n_items x (factors + 1)` row-major (last coordinate: the item bias).
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// The user vector of a query: the trained vector when `user` is known and `history` is its training
    /// history, otherwise the SGD fold-in described in the module documentation.
    pub fn user_vector(
        &self,
        user: Option<UserIdx>,
        history: &[(ItemIdx, f32)],
    ) -> Result<Vec<f32>> {
        let w = self.params.factors + 1;
        let mut items: Vec<ItemIdx> = Vec::with_capacity(history.len());
        for &(i, _) in history {
            if i.get() >= self.n_items {
                return Err(Error::IndexOutOfRange {
                    kind: "item",
                    index: i.0,
                    len: self.n_items,
                });
            }
            items.push(i);
        }
        items.sort_unstable();
        items.dedup();
        let fp = item_fingerprint(items.iter().copied());
        if let Some(u) = user
            && self.history_fingerprints.get(u.get()) == Some(&fp)
        {
            return Ok(self.user_factors[u.get() * w..][..w].to_vec());
        }
        Ok(self.fold_in(&items, fp))
    }

    fn fold_in(&self, items: &[ItemIdx], fp: u64) -> Vec<f32> {
        let k = self.params.factors;
        let w = k + 1;
        let mut xu = vec![0f32; w];
        xu[k] = 1.0;
        if items.is_empty() {
            return xu;
        }
        let y = &self.item_factors;
        for i in items {
            for (a, &b) in xu[..k].iter_mut().zip(&y[i.get() * w..][..k]) {
                *a += b / items.len() as f32;
            }
        }
        let total = self.item_cumcounts.last().copied().unwrap_or(0);
        let mut rng = ChaCha8Rng::seed_from_u64(fp ^ self.params.seed);
        let (lr, reg) = (self.params.learning_rate, self.params.regularization);
        simd(
            #[inline(always)]
            || {
                let in_history = |j: usize| items.binary_search(&ItemIdx(j as u32)).is_ok();
                for _ in 0..self.params.fold_in_epochs * items.len() {
                    let i = items[rng.random_range(0..items.len())];
                    let j = if total > 0 && !self.params.uniform_negatives {
                        let r = rng.random_range(0..total);
                        Some(self.item_cumcounts.partition_point(|&c| c <= r))
                            .filter(|&j| !in_history(j))
                    } else {
                        (0..MAX_REDRAWS)
                            .map(|_| rng.random_range(0..self.n_items))
                            .find(|&j| !in_history(j))
                    };
                    let Some(j) = j else { continue };
                    let yi = &y[i.get() * w..][..w];
                    let yj = &y[j * w..][..w];
                    let score = dot(&xu, yi) - dot(&xu, yj);
                    let z = 1.0 / (1.0 + score.exp());
                    for f in 0..k {
                        xu[f] += lr * (z * (yi[f] - yj[f]) - reg * xu[f]);
                    }
                }
            },
        );
        xu
    }

    /// The score of every item for a user vector.
    pub fn scores(&self, user: &[f32]) -> Vec<f32> {
        let w = self.params.factors + 1;
        simd(
            #[inline(always)]
            || {
                self.item_factors
                    .chunks_exact(w)
                    .map(|y| dot(y, user))
                    .collect()
            },
        )
    }
}

impl Recommender for Bpr {
    fn name(&self) -> &str {
        "bpr"
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.n_items)?;
        let xu = self.user_vector(q.user, q.history)?;
        top_k(&self.scores(&xu), k, &filter)
    }
    /// Items by cosine similarity of their factors (the bias coordinate left out), the item itself left out.
    /// Cosine of item factors, without the bias coordinate.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let f = self.params.factors;
        crate::linalg::cosine_similar_items(&self.item_factors, f + 1, f, item, k)
    }
    /// `factors + 1` dimensions: the last is the item bias (pair with a user coordinate of 1).
    fn item_embeddings(&self) -> Option<(usize, &[f32])> {
        Some((self.params.factors + 1, &self.item_factors))
    }
    /// The user vector (bias coordinate 1): scores are its inner products with the item vectors.
    fn query_embedding(&self, q: &Query<'_>) -> Result<Option<Vec<f32>>> {
        self.user_vector(q.user, q.history).map(Some)
    }
}

impl Bpr {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): valid hyperparameters, `n x (factors + 1)`
    /// finite vectors, one fingerprint per user vector, cumulative counts per item.
    pub(crate) fn validate(&self) -> Result<()> {
        use tastebud_core::validate as v;
        self.params.validate()?;
        let w = self.params.factors.saturating_add(1);
        v::matrix_f32("BPR item factors", &self.item_factors, self.n_items, w)?;
        v::matrix_f32(
            "BPR user factors",
            &self.user_factors,
            self.history_fingerprints.len(),
            w,
        )?;
        v::ensure(
            self.item_cumcounts.is_empty() || self.item_cumcounts.len() == self.n_items,
            || {
                format!(
                    "BPR has {} cumulative counts for {} items",
                    self.item_cumcounts.len(),
                    self.n_items
                )
            },
        )?;
        v::ensure(self.item_cumcounts.windows(2).all(|p| p[0] <= p[1]), || {
            "BPR cumulative counts decrease".to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{Feedback, Interactions};

    /// 40 users, 20 items in two blocks: users 0..20 like items 0..10, users 20..40 like items 10..20, each
    /// user liking 6 of the 10 items of their block.
    fn blocks() -> Dataset {
        let mut t = Vec::new();
        for u in 0..40u32 {
            let base = if u < 20 { 0 } else { 10 };
            for o in 0..6 {
                t.push((u, base + (u + 3 * o) % 10, 1.0));
            }
        }
        let x = Interactions::from_triplets(40, 20, &t, Feedback::Implicit).unwrap();
        let users: Vec<String> = (0..40).map(|u| format!("u{u}")).collect();
        let items: Vec<String> = (0..20).map(|i| format!("i{i}")).collect();
        Dataset::from_parts("blocks", x, users, items).unwrap()
    }

    /// A user who liked the whole catalogue leaves no negative to draw: the sampler gives up after
    /// `MAX_REDRAWS` and skips, so training and the fold-in finish with finite vectors, and the other users
    /// still learn.
    #[test]
    fn a_user_who_liked_everything_does_not_stall_the_sampler() {
        let mut t: Vec<(u32, u32, f32)> = (0..5).map(|i| (0, i, 1.0)).collect();
        t.extend([(1, 0, 1.0), (1, 1, 1.0), (2, 3, 1.0), (2, 4, 1.0)]);
        let x = Interactions::from_triplets(3, 5, &t, Feedback::Implicit).unwrap();
        let d = Dataset::from_parts("full", x, ["a", "b", "c"], ["v", "w", "x", "y", "z"]).unwrap();
        let m = BprParams::default()
            .factors(4)
            .iterations(20)
            .threads(1)
            .fit(&d, &NoProgress)
            .unwrap();
        assert!(m.user_factors().iter().all(|v| v.is_finite()));
        let full = d.interactions.history(UserIdx(0));
        let v = m.user_vector(None, &full).unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        // Everything the user has seen is excluded: nothing left to recommend.
        assert!(m.recommend(&Query::new(&full), 3).unwrap().is_empty());
        // User 1 (items 0, 1) still gets the catalogue's other items.
        let h = d.interactions.history(UserIdx(1));
        assert_eq!(m.recommend(&Query::new(&h), 10).unwrap().len(), 3);
    }

    fn params() -> BprParams {
        BprParams::default()
            .factors(8)
            .learning_rate(0.05)
            .iterations(200)
            .threads(1)
    }

    fn train_auc(m: &Bpr, d: &Dataset) -> f64 {
        let x = &d.interactions;
        let mut auc = 0.0;
        for u in 0..x.n_users() as u32 {
            let h = x.history(UserIdx(u));
            let s = m.scores(&m.user_vector(Some(UserIdx(u)), &h).unwrap());
            let pos = x.user_items(UserIdx(u));
            let (mut good, mut all) = (0usize, 0usize);
            for &i in pos {
                for j in 0..x.n_items() {
                    if pos.binary_search(&ItemIdx(j as u32)).is_err() {
                        all += 1;
                        good += usize::from(s[i.get()] > s[j]);
                    }
                }
            }
            auc += good as f64 / all as f64;
        }
        auc / x.n_users() as f64
    }

    #[test]
    fn params_are_validated() {
        let d = blocks();
        for p in [
            BprParams::default().factors(0),
            BprParams::default().learning_rate(0.0),
            BprParams::default().regularization(-0.1),
            BprParams::default().iterations(0),
        ] {
            assert!(
                matches!(p.fit(&d, &NoProgress), Err(Error::InvalidParam { .. })),
                "{p:?}"
            );
        }
        let p: BprParams =
            serde_json::from_str(r#"{"learning_rate": 0.1, "random_state": 1}"#).unwrap();
        assert_eq!((p.learning_rate, p.seed, p.factors), (0.1, 1, 100));
        assert!(serde_json::from_str::<BprParams>(r#"{"lr": 0.1}"#).is_err());
    }

    #[test]
    fn training_auc_rises_above_0_9_and_single_thread_is_deterministic() {
        let d = blocks();
        let untrained = params()
            .iterations(1)
            .learning_rate(1e-6)
            .fit(&d, &NoProgress)
            .unwrap();
        let m = params().fit(&d, &NoProgress).unwrap();
        let (before, after) = (train_auc(&untrained, &d), train_auc(&m, &d));
        assert!(before < 0.7 && after > 0.9, "AUC {before} -> {after}");
        let again = params().fit(&d, &NoProgress).unwrap();
        assert_eq!(m.item_factors(), again.item_factors());
        assert_eq!(m.user_factors(), again.user_factors());
        // The stratified SGD on two and three threads learns as well, and is deterministic for a thread
        // count (whatever the pool size: the strata, not the scheduling, decide).
        for t in [2, 3] {
            let h = params().threads(t).fit(&d, &NoProgress).unwrap();
            assert!(train_auc(&h, &d) > 0.9, "{t} threads");
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let again = one.install(|| params().threads(t).fit(&d, &NoProgress).unwrap());
            assert_eq!(h.item_factors(), again.item_factors());
            assert_eq!(h.user_factors(), again.user_factors());
            assert_ne!(h.item_factors(), m.item_factors());
        }
        // Users and items start at zero without interactions; users carry a 1 for the bias.
        assert_eq!(m.user_factors()[8], 1.0);
    }

    /// The strata of a parallel epoch cover every interaction exactly once, pair a user block with an item
    /// block, balance the interactions, and the item rows come back in item order.
    #[test]
    fn strata_cover_every_interaction_once_and_unshuffle_restores_the_items() {
        let d = blocks();
        let x = &d.interactions;
        let (t, w) = (3, 2);
        let mut st = Strata::new(x, t);
        // 240 interactions, 6 per user: blocks start at the first user with 80 and 160 before it.
        assert_eq!(st.user_start, vec![0, 14, 27, 40]);
        let orig: Vec<f32> = (0..20 * w).map(|v| v as f32).collect();
        let mut y = orig.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut layouts = Vec::new();
        for _ in 0..3 {
            st.shuffle_items(x, &mut y, w, &mut rng, true);
            let mut strata = vec![Vec::new(); t * t];
            for (ub, row) in strata.chunks_mut(t).enumerate() {
                st.fill_row(x, ub, row);
            }
            let mut all = st.block_items.concat();
            layouts.push(all.clone());
            all.sort_unstable();
            assert_eq!(all, (0..20).collect::<Vec<u32>>());
            for (i, &r) in st.row_of.iter().enumerate() {
                assert_eq!(y[r as usize * w], orig[i * w]);
            }
            let mut seen = Vec::new();
            for ub in 0..t {
                let mut load = 0;
                for ib in 0..t {
                    for &(u, l) in &strata[ub * t + ib] {
                        assert!((st.user_start[ub]..st.user_start[ub + 1]).contains(&(u as usize)));
                        seen.push((u, st.block_items[ib][l as usize]));
                        load += 1;
                    }
                }
                assert!((78..=84).contains(&load), "user block {ub}: {load}");
            }
            seen.sort_unstable();
            let want: Vec<(u32, u32)> = x.iter().map(|r| (r.user.0, r.item.0)).collect();
            assert_eq!(seen, want);
            // Every item has 12 interactions: the greedy blocks hold 84, 84 and 72.
            let mut loads: Vec<usize> = st.popular.iter().map(Vec::len).collect();
            loads.sort_unstable();
            assert_eq!(loads, vec![72, 84, 84]);
            assert_eq!(st.unshuffle(&y, w), orig);
        }
        // The item blocks change from epoch to epoch.
        assert!(layouts[0] != layouts[1] || layouts[1] != layouts[2]);
    }

    #[test]
    fn fold_in_and_recommend() {
        let d = blocks();
        let m = params().fit(&d, &NoProgress).unwrap();
        let h = d.interactions.history(UserIdx(3));
        // The training history of a known user uses the stored vector.
        assert_eq!(
            m.user_vector(Some(UserIdx(3)), &h).unwrap(),
            &m.user_factors()[27..36]
        );
        // Another history is folded in, deterministically, and stays in its block.
        let fresh = [(ItemIdx(12), 1.0), (ItemIdx(15), 1.0), (ItemIdx(17), 1.0)];
        let a = m.user_vector(Some(UserIdx(3)), &fresh).unwrap();
        assert_eq!(a, m.user_vector(None, &fresh).unwrap());
        let r = m.recommend(&Query::new(&fresh), 3).unwrap();
        assert!(r.iter().all(|s| s.item.get() >= 10), "{r:?}");
        // Empty history: the bias ranking.
        let r = m.recommend(&Query::new(&[]), 1).unwrap();
        let bias: Vec<f32> = m.item_factors().chunks(9).map(|y| y[8]).collect();
        assert_eq!(r[0].score, bias.iter().cloned().fold(f32::MIN, f32::max));
        let s = m.similar_items(ItemIdx(0), 3).unwrap();
        assert!(
            s.iter().all(|x| x.item.get() < 10 && x.item != ItemIdx(0)),
            "{s:?}"
        );
        assert_eq!(m.item_embeddings().unwrap().0, 9);
        assert!(m.recommend(&Query::new(&[(ItemIdx(20), 1.0)]), 3).is_err());
        assert!(m.similar_items(ItemIdx(20), 3).is_err());
    }
}
