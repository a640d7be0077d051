//! Honest train/test splits. Every splitter checks its arguments before any work, is seeded where random
//! (ChaCha8, stable across platforms and `rand` versions), and returns interactions of the full shape so
//! indices mean the same thing in train and test.

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_param};
use crate::ids::{ItemIdx, UserIdx};
use crate::interactions::Interactions;

/// A train/test split. For held-out users, `fold_in` holds the part of each held-out user's history a model
/// may see at query time, `test` the part to predict, and `train` none of their interactions.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// What models are fitted on.
    pub train: Interactions,
    /// What is predicted.
    pub test: Interactions,
    /// Query-time history of held-out users (strong generalisation only).
    pub fold_in: Option<Interactions>,
}

/// A splitting protocol, as given on the command line.
///
/// | spec | meaning |
/// |---|---|
/// | `random:0.2` | 20 % of all interactions, uniformly at random |
/// | `user:0.2` | 20 % of each user's interactions (rounded, at least one left in train) |
/// | `last:1` | each user's last `k` interactions by time (users with `<= k` stay in train) |
/// | `time:893000000` | global cutoff: interactions at or after the Unix time go to test |
/// | `time-ratio:0.8` | global cutoff at the time quantile that leaves 80 % in train |
/// | `kfold:5` | k-fold cross-validation over interactions |
/// | `users:0.1` | strong generalisation: 10 % of users held out, 20 % of each one's history as target |
/// | `cold-items:0.2` | cold start: 20 % of the items with interactions held out whole, all their interactions in test |
///
/// ```
/// use tastebud_core::SplitSpec;
/// let s: SplitSpec = "kfold:5".parse()?;
/// assert_eq!(s, SplitSpec::KFold { k: 5 });
/// assert_eq!(s.to_string(), "kfold:5");
/// assert!("user:1.5".parse::<SplitSpec>().is_err());
/// # Ok::<(), tastebud_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SplitSpec {
    /// Uniform random holdout over interactions.
    Random {
        /// Share of interactions in test, in (0, 1).
        test_ratio: f64,
    },
    /// Per-user ratio holdout.
    PerUser {
        /// Share of each user's interactions in test, in (0, 1).
        test_ratio: f64,
    },
    /// Leave the last `k` per user out, by time.
    LeaveLast {
        /// How many per user.
        k: usize,
    },
    /// Global time cutoff (Unix seconds): `time >= cutoff` goes to test.
    TimeCutoff {
        /// The cutoff.
        cutoff: i64,
    },
    /// Global time cutoff at the time quantile leaving `train_ratio` of interactions in train.
    TimeRatio {
        /// Share in train, in (0, 1).
        train_ratio: f64,
    },
    /// k-fold cross-validation.
    KFold {
        /// Number of folds, at least 2.
        k: usize,
    },
    /// Strong generalisation: whole users held out.
    HeldOutUsers {
        /// Share of users held out, in (0, 1).
        users_ratio: f64,
        /// Share of each held-out user's history used as target, in (0, 1).
        target_ratio: f64,
    },
    /// Item cold start: whole items held out (they stay in the catalogue, with their features).
    ColdItems {
        /// Share of the items with interactions held out, in (0, 1).
        items_ratio: f64,
    },
}

fn ratio(name: &'static str, v: f64) -> Result<f64> {
    ensure_param(v > 0.0 && v < 1.0, name, "must be strictly between 0 and 1")?;
    Ok(v)
}

impl SplitSpec {
    /// Checks the parameters (ratios in (0, 1), k >= 1 or >= 2 for folds).
    pub fn validate(&self) -> Result<()> {
        match *self {
            SplitSpec::Random { test_ratio } | SplitSpec::PerUser { test_ratio } => {
                ratio("test_ratio", test_ratio).map(|_| ())
            }
            SplitSpec::LeaveLast { k } => ensure_param(k >= 1, "k", "must be at least 1"),
            SplitSpec::TimeCutoff { .. } => Ok(()),
            SplitSpec::TimeRatio { train_ratio } => ratio("train_ratio", train_ratio).map(|_| ()),
            SplitSpec::KFold { k } => ensure_param(k >= 2, "k", "k-fold needs at least 2 folds"),
            SplitSpec::HeldOutUsers {
                users_ratio,
                target_ratio,
            } => {
                ratio("users_ratio", users_ratio)?;
                ratio("target_ratio", target_ratio).map(|_| ())
            }
            SplitSpec::ColdItems { items_ratio } => ratio("items_ratio", items_ratio).map(|_| ()),
        }
    }

    /// Runs the split. k-fold returns `k` splits, every other protocol one.
    pub fn apply(&self, x: &Interactions, seed: u64) -> Result<Vec<Split>> {
        self.validate()?;
        Ok(match *self {
            SplitSpec::Random { test_ratio } => vec![random_split(x, test_ratio, seed)?],
            SplitSpec::PerUser { test_ratio } => vec![per_user_split(x, test_ratio, seed)?],
            SplitSpec::LeaveLast { k } => vec![leave_last_k_out(x, k)?],
            SplitSpec::TimeCutoff { cutoff } => vec![time_cutoff(x, cutoff)?],
            SplitSpec::TimeRatio { train_ratio } => vec![time_ratio(x, train_ratio)?],
            SplitSpec::KFold { k } => k_fold(x, k, seed)?,
            SplitSpec::HeldOutUsers {
                users_ratio,
                target_ratio,
            } => {
                vec![held_out_users(x, users_ratio, target_ratio, seed)?]
            }
            SplitSpec::ColdItems { items_ratio } => vec![cold_items(x, items_ratio, seed)?],
        })
    }
}

impl fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitSpec::Random { test_ratio } => write!(f, "random:{test_ratio}"),
            SplitSpec::PerUser { test_ratio } => write!(f, "user:{test_ratio}"),
            SplitSpec::LeaveLast { k } => write!(f, "last:{k}"),
            SplitSpec::TimeCutoff { cutoff } => write!(f, "time:{cutoff}"),
            SplitSpec::TimeRatio { train_ratio } => write!(f, "time-ratio:{train_ratio}"),
            SplitSpec::KFold { k } => write!(f, "kfold:{k}"),
            SplitSpec::HeldOutUsers {
                users_ratio,
                target_ratio,
            } => {
                write!(f, "users:{users_ratio}:{target_ratio}")
            }
            SplitSpec::ColdItems { items_ratio } => write!(f, "cold-items:{items_ratio}"),
        }
    }
}

impl FromStr for SplitSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidParam {
            name: "split",
            reason: format!("`{s}`: {reason}"),
        };
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        let args: Vec<&str> = if rest.is_empty() {
            vec![]
        } else {
            rest.split(':').collect()
        };
        let f = |i: usize, default: Option<f64>| -> Result<f64> {
            match args.get(i) {
                Some(a) => a
                    .parse::<f64>()
                    .map_err(|_| bad(&format!("`{a}` is not a number"))),
                None => default.ok_or_else(|| bad("missing argument")),
            }
        };
        let n = |i: usize, default: Option<usize>| -> Result<usize> {
            match args.get(i) {
                Some(a) => a
                    .parse::<usize>()
                    .map_err(|_| bad(&format!("`{a}` is not a whole number"))),
                None => default.ok_or_else(|| bad("missing argument")),
            }
        };
        let spec = match kind {
            "random" => SplitSpec::Random {
                test_ratio: f(0, Some(0.2))?,
            },
            "user" => SplitSpec::PerUser {
                test_ratio: f(0, Some(0.2))?,
            },
            "last" => SplitSpec::LeaveLast { k: n(0, Some(1))? },
            "time" => SplitSpec::TimeCutoff {
                cutoff: args
                    .first()
                    .ok_or_else(|| bad("missing cutoff"))?
                    .parse()
                    .map_err(|_| bad("cutoff must be Unix seconds"))?,
            },
            "time-ratio" => SplitSpec::TimeRatio {
                train_ratio: f(0, Some(0.8))?,
            },
            "kfold" => SplitSpec::KFold { k: n(0, Some(5))? },
            "users" => SplitSpec::HeldOutUsers {
                users_ratio: f(0, Some(0.1))?,
                target_ratio: f(1, Some(0.2))?,
            },
            "cold-items" => SplitSpec::ColdItems {
                items_ratio: f(0, Some(0.2))?,
            },
            _ => {
                return Err(bad(
                    "unknown protocol (random, user, last, time, time-ratio, kfold, users, cold-items)",
                ));
            }
        };
        spec.validate()?;
        Ok(spec)
    }
}

fn by_mask(x: &Interactions, test: &[bool]) -> Split {
    Split {
        train: x.filter_positions(|p| !test[p]),
        test: x.filter_positions(|p| test[p]),
        fold_in: None,
    }
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform random holdout: exactly `round(nnz * test_ratio)` interactions go to test.
pub fn random_split(x: &Interactions, test_ratio: f64, seed: u64) -> Result<Split> {
    ratio("test_ratio", test_ratio)?;
    let n = x.nnz();
    let mut pos: Vec<u32> = (0..n as u32).collect();
    pos.shuffle(&mut rng(seed));
    let n_test = (n as f64 * test_ratio).round() as usize;
    let mut mask = vec![false; n];
    for &p in &pos[..n_test] {
        mask[p as usize] = true;
    }
    Ok(by_mask(x, &mask))
}

/// Per-user holdout: `round(len * test_ratio)` of each user's interactions, at random, go to test, but at
/// least one always stays in train (a user with one interaction is train-only).
pub fn per_user_split(x: &Interactions, test_ratio: f64, seed: u64) -> Result<Split> {
    ratio("test_ratio", test_ratio)?;
    let mut r = rng(seed);
    let mut mask = vec![false; x.nnz()];
    let mut start = 0usize;
    let mut local: Vec<usize> = Vec::new();
    for u in 0..x.n_users() {
        let len = x.user_len(UserIdx(u as u32));
        let n_test = ((len as f64 * test_ratio).round() as usize).min(len.saturating_sub(1));
        local.clear();
        local.extend(0..len);
        local.shuffle(&mut r);
        for &k in &local[..n_test] {
            mask[start + k] = true;
        }
        start += len;
    }
    Ok(by_mask(x, &mask))
}

fn require_times(x: &Interactions) -> Result<&[i64]> {
    x.times().ok_or(Error::InvalidParam {
        name: "split",
        reason: "this protocol needs timestamps and the data has none".into(),
    })
}

/// Leave-last-k-out: each user's `k` latest interactions go to test (ties in time broken by item index, the
/// later index counting as later). Users with `k` or fewer interactions stay entirely in train.
pub fn leave_last_k_out(x: &Interactions, k: usize) -> Result<Split> {
    ensure_param(k >= 1, "k", "must be at least 1")?;
    let times = require_times(x)?;
    let mut mask = vec![false; x.nnz()];
    let mut start = 0usize;
    let mut local: Vec<usize> = Vec::new();
    for u in 0..x.n_users() {
        let len = x.user_len(UserIdx(u as u32));
        if len > k {
            local.clear();
            local.extend(0..len);
            local.sort_by_key(|&j| (times[start + j], j));
            for &j in &local[len - k..] {
                mask[start + j] = true;
            }
        }
        start += len;
    }
    Ok(by_mask(x, &mask))
}

/// Global time cutoff: interactions at or after `cutoff` go to test.
pub fn time_cutoff(x: &Interactions, cutoff: i64) -> Result<Split> {
    let times = require_times(x)?;
    let mask: Vec<bool> = times.iter().map(|&t| t >= cutoff).collect();
    Ok(by_mask(x, &mask))
}

/// Global time cutoff chosen so that about `train_ratio` of interactions fall before it. All interactions at
/// the cutoff second go to test, so train never holds an event as late as any test event.
pub fn time_ratio(x: &Interactions, train_ratio: f64) -> Result<Split> {
    ratio("train_ratio", train_ratio)?;
    let times = require_times(x)?;
    if times.is_empty() {
        return time_cutoff(x, 0);
    }
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let idx = ((sorted.len() as f64 * train_ratio) as usize).min(sorted.len() - 1);
    time_cutoff(x, sorted[idx])
}

/// k-fold cross-validation over interactions: positions are shuffled and dealt into `k` folds of sizes
/// differing by at most one; split `f` tests on fold `f` and trains on the rest.
pub fn k_fold(x: &Interactions, k: usize, seed: u64) -> Result<Vec<Split>> {
    ensure_param(k >= 2, "k", "k-fold needs at least 2 folds")?;
    ensure_param(x.nnz() >= k, "k", "more folds than interactions")?;
    let mut pos: Vec<u32> = (0..x.nnz() as u32).collect();
    pos.shuffle(&mut rng(seed));
    let mut fold = vec![0u32; x.nnz()];
    for (r, &p) in pos.iter().enumerate() {
        fold[p as usize] = (r % k) as u32;
    }
    Ok((0..k as u32)
        .map(|f| {
            let mask: Vec<bool> = fold.iter().map(|&g| g == f).collect();
            by_mask(x, &mask)
        })
        .collect())
}

/// Strong generalisation (as in Liang et al. 2018, VAE-CF): `round(n_users * users_ratio)` users with at
/// least two interactions are held out whole; train has none of their interactions; each held-out user's
/// history is split at random into `fold_in` and `test` (`round(len * target_ratio)`, at least one each).
pub fn held_out_users(
    x: &Interactions,
    users_ratio: f64,
    target_ratio: f64,
    seed: u64,
) -> Result<Split> {
    ratio("users_ratio", users_ratio)?;
    ratio("target_ratio", target_ratio)?;
    let mut r = rng(seed);
    let mut eligible: Vec<u32> = (0..x.n_users() as u32)
        .filter(|&u| x.user_len(UserIdx(u)) >= 2)
        .collect();
    eligible.shuffle(&mut r);
    let n_held = ((x.n_users() as f64 * users_ratio).round() as usize).min(eligible.len());
    let mut held = vec![false; x.n_users()];
    for &u in &eligible[..n_held] {
        held[u as usize] = true;
    }
    // 0 = train, 1 = fold-in, 2 = test
    let mut part = vec![0u8; x.nnz()];
    let mut start = 0usize;
    let mut local: Vec<usize> = Vec::new();
    for (u, &is_held) in held.iter().enumerate() {
        let len = x.user_len(UserIdx(u as u32));
        if is_held {
            let n_test = ((len as f64 * target_ratio).round() as usize).clamp(1, len - 1);
            local.clear();
            local.extend(0..len);
            local.shuffle(&mut r);
            for (rank, &j) in local.iter().enumerate() {
                part[start + j] = if rank < n_test { 2 } else { 1 };
            }
        }
        start += len;
    }
    Ok(Split {
        train: x.filter_positions(|p| part[p] == 0),
        test: x.filter_positions(|p| part[p] == 2),
        fold_in: Some(x.filter_positions(|p| part[p] == 1)),
    })
}

/// Item cold start: `round(n * items_ratio)` of the `n` items with at least one interaction, drawn at
/// random, are held out whole: every interaction with them goes to test and none to train. The items keep
/// their index (and so their features), so a model that reads features can still score them; test users
/// are those who interacted with a held-out item, and their other interactions stay in train.
pub fn cold_items(x: &Interactions, items_ratio: f64, seed: u64) -> Result<Split> {
    ratio("items_ratio", items_ratio)?;
    let mut items: Vec<u32> = (0..x.n_items() as u32)
        .filter(|&i| x.item_len(ItemIdx(i)) > 0)
        .collect();
    items.shuffle(&mut rng(seed));
    let n_held = (items.len() as f64 * items_ratio).round() as usize;
    ensure_param(
        n_held >= 1,
        "items_ratio",
        "holds out no item: raise it or use more data",
    )?;
    let mut held = vec![false; x.n_items()];
    for &i in &items[..n_held] {
        held[i as usize] = true;
    }
    let mut mask = Vec::with_capacity(x.nnz());
    for u in 0..x.n_users() {
        mask.extend(
            x.user_items(UserIdx(u as u32))
                .iter()
                .map(|i| held[i.get()]),
        );
    }
    Ok(by_mask(x, &mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::{Feedback, Interaction};
    use std::collections::BTreeSet;

    /// 30 users x 40 items, deterministic pseudo-random pattern with timestamps.
    fn fixture() -> Interactions {
        let mut recs = Vec::new();
        for u in 0..30u32 {
            for i in 0..40u32 {
                if (u * 7 + i * 13) % 5 < 2 || i == u % 40 {
                    recs.push(Interaction {
                        user: UserIdx(u),
                        item: ItemIdx(i),
                        value: ((u + i) % 5 + 1) as f32,
                        time: Some(((u * 31 + i * 17) % 97) as i64),
                    });
                }
            }
        }
        Interactions::from_records(30, 40, &recs, Feedback::Explicit).unwrap()
    }

    fn set(x: &Interactions) -> BTreeSet<(u32, u32)> {
        x.iter().map(|r| (r.user.0, r.item.0)).collect()
    }

    /// No pair in both parts, nothing lost, nothing duplicated.
    fn assert_partition(x: &Interactions, parts: &[&Interactions]) {
        let total: usize = parts.iter().map(|p| p.nnz()).sum();
        assert_eq!(total, x.nnz(), "an interaction was lost or duplicated");
        let mut union = BTreeSet::new();
        for p in parts {
            assert_eq!((p.n_users(), p.n_items()), (x.n_users(), x.n_items()));
            for pair in set(p) {
                assert!(union.insert(pair), "pair {pair:?} in two parts");
            }
        }
        assert_eq!(union, set(x));
    }

    #[test]
    fn every_protocol_partitions_and_is_reproducible() {
        let x = fixture();
        for spec in [
            "random:0.25",
            "user:0.3",
            "last:2",
            "time:50",
            "time-ratio:0.7",
            "kfold:4",
            "users:0.2:0.3",
            "cold-items:0.25",
        ] {
            let s: SplitSpec = spec.parse().unwrap();
            let a = s.apply(&x, 7).unwrap();
            let b = s.apply(&x, 7).unwrap();
            assert_eq!(a, b, "{spec} is not reproducible");
            for split in &a {
                let mut parts = vec![&split.train, &split.test];
                if let Some(f) = &split.fold_in {
                    parts.push(f);
                }
                assert_partition(&x, &parts);
                assert!(split.test.nnz() > 0, "{spec} produced an empty test set");
            }
        }
        let s: SplitSpec = "random:0.25".parse().unwrap();
        assert_ne!(
            s.apply(&x, 1).unwrap(),
            s.apply(&x, 2).unwrap(),
            "seed has no effect"
        );
    }

    #[test]
    fn kfold_tests_cover_everything_once() {
        let x = fixture();
        let folds = k_fold(&x, 5, 3).unwrap();
        let tests: Vec<&Interactions> = folds.iter().map(|s| &s.test).collect();
        assert_partition(&x, &tests);
        let sizes: Vec<usize> = folds.iter().map(|s| s.test.nnz()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn temporal_splits_never_leak_the_future() {
        let x = fixture();
        let s = leave_last_k_out(&x, 2).unwrap();
        for u in 0..x.n_users() as u32 {
            let u = UserIdx(u);
            let tr = s.train.user_times(u).unwrap();
            let te = s.test.user_times(u).unwrap();
            assert!(te.len() == 2 || x.user_len(u) <= 2);
            if let (Some(max_tr), Some(min_te)) = (tr.iter().max(), te.iter().min()) {
                assert!(
                    max_tr <= min_te,
                    "user {u:?}: train has a later event than test"
                );
            }
        }
        let s = time_ratio(&x, 0.6).unwrap();
        let max_tr = s.train.times().unwrap().iter().max().unwrap();
        let min_te = s.test.times().unwrap().iter().min().unwrap();
        assert!(max_tr < min_te);
    }

    #[test]
    fn per_user_keeps_one_in_train_and_held_out_users_are_absent_from_train() {
        let x = fixture();
        let s = per_user_split(&x, 0.9, 1).unwrap();
        for u in 0..x.n_users() as u32 {
            assert!(s.train.user_len(UserIdx(u)) >= 1);
        }
        let s = held_out_users(&x, 0.2, 0.3, 5).unwrap();
        let fold_in = s.fold_in.as_ref().unwrap();
        let held: Vec<u32> = (0..30)
            .filter(|&u| fold_in.user_len(UserIdx(u)) > 0)
            .collect();
        assert_eq!(held.len(), 6);
        for &u in &held {
            assert_eq!(s.train.user_len(UserIdx(u)), 0);
            assert!(s.test.user_len(UserIdx(u)) >= 1);
        }
    }

    #[test]
    fn cold_items_are_held_out_whole_and_stay_in_the_catalogue() {
        let x = fixture();
        let s: SplitSpec = "cold-items:0.25".parse().unwrap();
        assert_eq!(s, SplitSpec::ColdItems { items_ratio: 0.25 });
        assert_eq!(s.to_string(), "cold-items:0.25");
        let split = cold_items(&x, 0.25, 9).unwrap();
        assert_eq!(split.train.n_items(), 40);
        let cold: Vec<u32> = (0..40)
            .filter(|&i| split.test.item_len(ItemIdx(i)) > 0)
            .collect();
        assert_eq!(cold.len(), 10);
        for i in 0..40 {
            let i = ItemIdx(i);
            let (tr, te) = (split.train.item_len(i), split.test.item_len(i));
            // Every item is either wholly in train or wholly in test.
            assert!(tr == 0 || te == 0, "{i:?} is in both");
            assert_eq!(tr + te, x.item_len(i));
        }
        assert_ne!(cold_items(&x, 0.25, 10).unwrap(), split);
        assert!(cold_items(&x, 0.0, 1).is_err());
        assert!("cold-items:1".parse::<SplitSpec>().is_err());
        let tiny = Interactions::from_triplets(1, 3, &[(0, 0, 1.0)], Feedback::Implicit).unwrap();
        assert!(cold_items(&tiny, 0.2, 1).is_err());
    }

    #[test]
    fn bad_arguments_fail_before_work() {
        let x = fixture();
        assert!(random_split(&x, 0.0, 1).is_err());
        assert!(random_split(&x, 1.0, 1).is_err());
        assert!(k_fold(&x, 1, 1).is_err());
        assert!("last:0".parse::<SplitSpec>().is_err());
        assert!("nonsense".parse::<SplitSpec>().is_err());
        let untimed =
            Interactions::from_triplets(1, 2, &[(0, 0, 1.0), (0, 1, 1.0)], Feedback::Implicit)
                .unwrap();
        assert!(leave_last_k_out(&untimed, 1).is_err());
    }
}
