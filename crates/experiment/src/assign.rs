//! Deterministic traffic assignment: which experiments, and which arm of each, a user sees.
//!
//! Every decision is a pure function of the user id and the experiment definitions, so the
//! same user gets the same arm in every process, on every platform, without any stored state:
//!
//! 1. **Global holdout.** `u = unit_hash("tastebud-holdout:" + user_id)`; a user with
//!    `u < global_holdout` is in no experiment at all.
//! 2. **Layers.** Experiments in the same [`ExperimentDef::layer`] are mutually exclusive. The
//!    layer's experiments, in id order, take consecutive slices of `[0, 1)` of length
//!    [`ExperimentDef::layer_share`]; a user belongs to the experiment whose slice contains
//!    `unit_hash(layer + ":" + user_id)`, or to none of them when the shares sum to less than 1.
//!    Different layers hash different strings, so membership in one layer is independent of
//!    membership in another. Stopped experiments keep their slice (and assign nobody), so
//!    stopping one experiment does not move users between the others.
//! 3. **Targeting and status.** A user in an experiment's slice who does not match its
//!    [`Target`], or whose experiment is [`Status::Stopped`] (or outside its time window, for
//!    [`Assigner::assign_at`]), gets nothing from that layer: users do not fall through to
//!    another experiment, which keeps every experiment's population a fixed hash slice.
//! 4. **Arm.** `unit_hash(salt + ":" + user_id)` picks an arm by cumulative weight. Changing an
//!    experiment's salt reshuffles its arms and nothing else.
//!
//! `unit_hash(s)` is the first 8 bytes of SHA-256 of the UTF-8 string, read big-endian, top 53
//! bits scaled to `[0, 1)`: exact in `f64` and independent of platform and endianness.
//!
//! ```
//! use std::collections::BTreeMap;
//! use tastebud_experiment::assign::{Assigner, ExperimentDef, UserContext};
//!
//! let def: ExperimentDef = serde_json::from_str(r#"{
//!     "id": "ranker-v2",
//!     "arms": [{"name": "control", "weight": 1.0},
//!              {"name": "treatment", "weight": 1.0, "model": "models/ranker-v2.bin"}],
//!     "start_unix": 1700000000
//! }"#).unwrap();
//! assert_eq!(def.salt, "ranker-v2");
//! let assigner = Assigner::new(vec![def], 0.05)?;
//! let ctx = UserContext { is_new: false, attributes: BTreeMap::new() };
//! let first = assigner.assign("user-42", &ctx);
//! assert_eq!(first, assigner.assign("user-42", &ctx));
//! # Ok::<(), tastebud_experiment::ExperimentError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, ensure, invalid};

/// Salt of the global holdout hash.
pub const HOLDOUT_SALT: &str = "tastebud-holdout";

/// Maps `s` to `[0, 1)`: the first 8 bytes of SHA-256(`s`), big-endian, top 53 bits / 2⁵³.
pub fn unit_hash(s: &str) -> f64 {
    let digest = Sha256::digest(s.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

fn keyed_hash(key: &str, user_id: &str) -> f64 {
    let mut s = String::with_capacity(key.len() + 1 + user_id.len());
    s.push_str(key);
    s.push(':');
    s.push_str(user_id);
    unit_hash(&s)
}

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmDef {
    /// Arm name, unique within the experiment (e.g. `"control"`).
    pub name: String,
    /// Relative traffic weight (positive; weights need not sum to 1).
    pub weight: f64,
    /// What serves this arm: a model file path or registry version. Opaque to assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// New or returning user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// First-time users ([`UserContext::is_new`]).
    New,
    /// Users seen before.
    Returning,
}

/// Who may enter an experiment. The default targets everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Only new or only returning users; `None` for both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// Attributes the user must have, all with exactly these values (e.g. `country = "NL"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Target {
    /// Whether the user matches the segment and every attribute.
    pub fn matches(&self, ctx: &UserContext) -> bool {
        let segment_ok = match self.segment {
            None => true,
            Some(Segment::New) => ctx.is_new,
            Some(Segment::Returning) => !ctx.is_new,
        };
        segment_ok
            && self
                .attributes
                .iter()
                .all(|(k, v)| ctx.attributes.get(k) == Some(v))
    }
}

/// Whether an experiment is taking traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Assigning users.
    #[default]
    Running,
    /// Assigning nobody (its layer slice stays reserved).
    Stopped,
}

/// How an experiment splits its traffic among its arms.
///
/// `fixed` (the default) hashes each user to an arm by the weights, so a user stays in one arm. The
/// bandit allocations choose the arm of every request adaptively from the arms' observed click-through
/// rates (clicks over items shown), sending more traffic to the better arms as evidence accumulates; the
/// weights are then ignored, each response carries the propensity of its arm, and the sample-ratio check
/// does not apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Allocation {
    /// Deterministic hashing by weight.
    #[default]
    Fixed,
    /// Thompson sampling with `Beta(1, 1)` priors.
    Thompson,
    /// UCB1 (deterministic given the counts).
    Ucb1,
    /// The best arm with probability `1 - epsilon`, a uniform one otherwise.
    EpsilonGreedy {
        /// Exploration probability in `(0, 1]`.
        epsilon: f64,
    },
}

impl Allocation {
    /// Whether arms are chosen per request by a bandit.
    pub fn is_bandit(&self) -> bool {
        !matches!(self, Allocation::Fixed)
    }
}

/// An experiment's definition, as stored in JSON.
///
/// Defaults when a field is missing: `salt` = `id`, `layer` = `"default"`,
/// `layer_share` = `1.0`, `target` = everyone, `status` = running, `end_unix` = none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawExperimentDef")]
pub struct ExperimentDef {
    /// Unique experiment id.
    pub id: String,
    /// Salt of the arm hash; change it to reshuffle the arms. Defaults to `id`.
    pub salt: String,
    /// Layer: experiments of one layer are mutually exclusive. Defaults to `"default"`.
    pub layer: String,
    /// Share of the layer's traffic this experiment takes, in `(0, 1]`. Defaults to `1.0`.
    pub layer_share: f64,
    /// Arms; the first is the control.
    pub arms: Vec<ArmDef>,
    /// Who may enter.
    pub target: Target,
    /// Running or stopped.
    pub status: Status,
    /// Start of exposure, unix seconds.
    pub start_unix: i64,
    /// End of exposure, unix seconds, if scheduled.
    pub end_unix: Option<i64>,
    /// How traffic is split among the arms (fixed hashing by default).
    pub allocation: Allocation,
}

#[derive(Deserialize)]
struct RawExperimentDef {
    id: String,
    #[serde(default)]
    salt: Option<String>,
    #[serde(default)]
    layer: Option<String>,
    #[serde(default)]
    layer_share: Option<f64>,
    arms: Vec<ArmDef>,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    status: Status,
    start_unix: i64,
    #[serde(default)]
    end_unix: Option<i64>,
    #[serde(default)]
    allocation: Allocation,
}

impl From<RawExperimentDef> for ExperimentDef {
    fn from(r: RawExperimentDef) -> Self {
        Self {
            salt: r.salt.unwrap_or_else(|| r.id.clone()),
            id: r.id,
            layer: r.layer.unwrap_or_else(|| "default".to_owned()),
            layer_share: r.layer_share.unwrap_or(1.0),
            arms: r.arms,
            target: r.target,
            status: r.status,
            start_unix: r.start_unix,
            end_unix: r.end_unix,
            allocation: r.allocation,
        }
    }
}

impl ExperimentDef {
    /// A running experiment with the defaults: salt = id, layer `"default"`, full layer share,
    /// no targeting, no end.
    pub fn new(id: impl Into<String>, arms: Vec<ArmDef>, start_unix: i64) -> Self {
        let id = id.into();
        Self {
            salt: id.clone(),
            id,
            layer: "default".to_owned(),
            layer_share: 1.0,
            arms,
            target: Target::default(),
            status: Status::Running,
            start_unix,
            end_unix: None,
            allocation: Allocation::Fixed,
        }
    }

    /// The arm weights, in arm order.
    pub fn weights(&self) -> Vec<f64> {
        self.arms.iter().map(|a| a.weight).collect()
    }

    /// Checks the definition: non-empty id, salt and layer; `layer_share` in `(0, 1]`; at least
    /// two arms with unique non-empty names and positive finite weights; `end_unix` not before
    /// `start_unix`.
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] naming the field and, in the reason, the
    /// experiment and arm.
    pub fn validate(&self) -> Result<()> {
        ensure(!self.id.is_empty(), "id", "must not be empty")?;
        let id = &self.id;
        ensure(
            !self.salt.is_empty(),
            "salt",
            &format!("experiment `{id}`: must not be empty"),
        )?;
        ensure(
            !self.layer.is_empty(),
            "layer",
            &format!("experiment `{id}`: must not be empty"),
        )?;
        let share = self.layer_share;
        ensure(
            share > 0.0 && share <= 1.0,
            "layer_share",
            &format!("experiment `{id}`: {share} is not in (0, 1]"),
        )?;
        ensure(
            self.arms.len() >= 2,
            "arms",
            &format!(
                "experiment `{id}`: needs at least two arms, has {}",
                self.arms.len()
            ),
        )?;
        let mut names = BTreeSet::new();
        for arm in &self.arms {
            let name = &arm.name;
            ensure(
                !name.is_empty(),
                "arms.name",
                &format!("experiment `{id}`: arm name must not be empty"),
            )?;
            ensure(
                names.insert(name.as_str()),
                "arms.name",
                &format!("experiment `{id}`: arm name `{name}` is used twice"),
            )?;
            let w = arm.weight;
            ensure(
                w.is_finite() && w > 0.0,
                "arms.weight",
                &format!("experiment `{id}`, arm `{name}`: weight {w} is not positive and finite"),
            )?;
        }
        if let Allocation::EpsilonGreedy { epsilon } = self.allocation {
            ensure(
                epsilon > 0.0 && epsilon <= 1.0,
                "allocation.epsilon",
                &format!("experiment `{id}`: {epsilon} is not in (0, 1]"),
            )?;
        }
        if let Some(end) = self.end_unix {
            ensure(
                end >= self.start_unix,
                "end_unix",
                &format!("experiment `{id}`: ends before it starts"),
            )?;
        }
        Ok(())
    }

    /// The arm index for a point `u` in `[0, 1)`, by cumulative weight.
    fn arm_for(&self, u: f64) -> usize {
        let total: f64 = self.arms.iter().map(|a| a.weight).sum();
        let target = u * total;
        let mut cum = 0.0;
        for (i, arm) in self.arms.iter().enumerate() {
            cum += arm.weight;
            if target < cum {
                return i;
            }
        }
        self.arms.len() - 1
    }
}

/// What assignment knows about a user besides the id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserContext {
    /// First visit.
    pub is_new: bool,
    /// Attributes matched against [`Target::attributes`].
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A user's arm in one experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Experiment id.
    pub experiment: String,
    /// Arm name.
    pub arm: String,
    /// Index of the arm in [`ExperimentDef::arms`] (0 = control).
    pub arm_index: usize,
}

/// One experiment's slice `[low, high)` of its layer.
#[derive(Debug, Clone)]
struct Slice {
    experiment: usize,
    low: f64,
    high: f64,
}

/// Assigns users to experiments and arms (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Assigner {
    experiments: Vec<ExperimentDef>,
    global_holdout: f64,
    /// Layer name → its experiments' slices, in id order.
    layers: BTreeMap<String, Vec<Slice>>,
}

impl Assigner {
    /// Validates the definitions and lays out the layers.
    ///
    /// # Errors
    ///
    /// [`crate::ExperimentError::InvalidParam`] when a definition is invalid
    /// ([`ExperimentDef::validate`]), two experiments share an id, the shares of a layer sum to
    /// more than 1, or `global_holdout` is not in `[0, 1)`.
    pub fn new(experiments: Vec<ExperimentDef>, global_holdout: f64) -> Result<Self> {
        ensure(
            (0.0..1.0).contains(&global_holdout),
            "global_holdout",
            &format!("{global_holdout} is not in [0, 1)"),
        )?;
        let mut ids = BTreeSet::new();
        for e in &experiments {
            e.validate()?;
            if !ids.insert(e.id.as_str()) {
                return Err(invalid(
                    "id",
                    format!("experiment id `{}` is used twice", e.id),
                ));
            }
        }
        let mut by_layer: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, e) in experiments.iter().enumerate() {
            by_layer.entry(e.layer.clone()).or_default().push(i);
        }
        let mut layers = BTreeMap::new();
        for (layer, mut members) in by_layer {
            members.sort_by(|&a, &b| experiments[a].id.cmp(&experiments[b].id));
            let mut low = 0.0;
            let mut slices = Vec::with_capacity(members.len());
            for i in members {
                let high = low + experiments[i].layer_share;
                slices.push(Slice {
                    experiment: i,
                    low,
                    high,
                });
                low = high;
            }
            ensure(
                low <= 1.0 + 1e-9,
                "layer_share",
                &format!("the shares of layer `{layer}` sum to {low}, more than 1"),
            )?;
            layers.insert(layer, slices);
        }
        Ok(Self {
            experiments,
            global_holdout,
            layers,
        })
    }

    /// The definitions, in the order given.
    pub fn experiments(&self) -> &[ExperimentDef] {
        &self.experiments
    }

    /// The global holdout share.
    pub fn global_holdout(&self) -> f64 {
        self.global_holdout
    }

    /// Whether the user is in the global holdout (in no experiment).
    pub fn in_holdout(&self, user_id: &str) -> bool {
        self.global_holdout > 0.0 && keyed_hash(HOLDOUT_SALT, user_id) < self.global_holdout
    }

    /// The user's arms: at most one experiment per layer, in layer-name order; empty when the
    /// user is in the global holdout. Ignores the experiments' time windows (see
    /// [`Self::assign_at`]).
    pub fn assign(&self, user_id: &str, ctx: &UserContext) -> Vec<Assignment> {
        self.assign_impl(user_id, ctx, None)
    }

    /// [`Self::assign`], also assigning nobody to experiments that have not started at
    /// `now_unix` or whose `end_unix` is at or before it.
    pub fn assign_at(&self, user_id: &str, ctx: &UserContext, now_unix: i64) -> Vec<Assignment> {
        self.assign_impl(user_id, ctx, Some(now_unix))
    }

    fn assign_impl(&self, user_id: &str, ctx: &UserContext, now: Option<i64>) -> Vec<Assignment> {
        // No experiment: no hashing on every request of a server that runs none.
        if self.experiments.is_empty() || self.in_holdout(user_id) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (layer, slices) in &self.layers {
            let u = keyed_hash(layer, user_id);
            let Some(slice) = slices.iter().find(|s| s.low <= u && u < s.high) else {
                continue;
            };
            let def = &self.experiments[slice.experiment];
            if def.status != Status::Running || !def.target.matches(ctx) {
                continue;
            }
            if let Some(now) = now
                && (now < def.start_unix || def.end_unix.is_some_and(|end| now >= end))
            {
                continue;
            }
            let arm_index = def.arm_for(keyed_hash(&def.salt, user_id));
            out.push(Assignment {
                experiment: def.id.clone(),
                arm: def.arms[arm_index].name.clone(),
                arm_index,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::dist::chi2_sf;
    use crate::stats::srm_test;

    const N: usize = 200_000;

    fn arms(weights: &[f64]) -> Vec<ArmDef> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| ArmDef {
                name: format!("arm{i}"),
                weight,
                model: None,
            })
            .collect()
    }

    fn exp(id: &str, layer: &str, share: f64, weights: &[f64]) -> ExperimentDef {
        let mut e = ExperimentDef::new(id, arms(weights), 1_700_000_000);
        e.layer = layer.to_owned();
        e.layer_share = share;
        e
    }

    fn user(i: usize) -> String {
        format!("user-{i}")
    }

    fn anyone() -> UserContext {
        UserContext::default()
    }

    #[test]
    fn unit_hash_is_stable() {
        // Pinned against Python's hashlib: changing them re-assigns every user everywhere.
        assert_eq!(unit_hash(""), 0.8894159948913373);
        assert_eq!(unit_hash("tastebud-holdout:user-1"), 0.3746986208153523);
        assert_eq!(unit_hash("ranker-v2:user-1"), 0.928752538370698);
    }

    #[test]
    fn golden_assignments() {
        // Expected arms computed independently in Python (hashlib.sha256, same layout).
        let defs = vec![
            exp("ranker-v2", "ranking", 1.0, &[1.0, 1.0]),
            exp("ui-tiles", "ui", 0.5, &[0.1, 0.3, 0.6]),
        ];
        let a = Assigner::new(defs, 0.05).unwrap();
        let got: Vec<String> = [
            "alice", "bob", "carol", "dave", "erin", "frank", "42", "user-9",
        ]
        .iter()
        .map(|u| {
            let first = a.assign(u, &anyone());
            assert_eq!(first, a.assign(u, &anyone()));
            let arms: Vec<String> = first
                .into_iter()
                .map(|x| format!("{}={}", x.experiment, x.arm))
                .collect();
            format!("{u}:{}", arms.join(","))
        })
        .collect();
        assert_eq!(
            got,
            [
                "alice:ranker-v2=arm1,ui-tiles=arm2",
                "bob:ranker-v2=arm0,ui-tiles=arm0",
                "carol:ranker-v2=arm1",
                "dave:ranker-v2=arm0",
                "erin:ranker-v2=arm1,ui-tiles=arm2",
                "frank:ranker-v2=arm1,ui-tiles=arm1",
                "42:ranker-v2=arm0",
                "user-9:",
            ]
        );
        // A fresh assigner from a JSON round trip of the same definitions agrees.
        let json = serde_json::to_string(a.experiments()).unwrap();
        let again = Assigner::new(serde_json::from_str(&json).unwrap(), 0.05).unwrap();
        for i in 0..1000 {
            assert_eq!(
                a.assign(&user(i), &anyone()),
                again.assign(&user(i), &anyone())
            );
        }
    }

    fn arm_counts(a: &Assigner, experiment: &str, n_arms: usize) -> Vec<u64> {
        let mut counts = vec![0u64; n_arms];
        for i in 0..N {
            for x in a.assign(&user(i), &anyone()) {
                if x.experiment == experiment {
                    counts[x.arm_index] += 1;
                }
            }
        }
        counts
    }

    #[test]
    fn arm_shares_match_weights() {
        for weights in [&[50.0, 50.0][..], &[10.0, 30.0, 60.0][..]] {
            let a = Assigner::new(vec![exp("e", "l", 1.0, weights)], 0.0).unwrap();
            let counts = arm_counts(&a, "e", weights.len());
            assert_eq!(counts.iter().sum::<u64>(), N as u64);
            let srm = srm_test(&counts, weights).unwrap();
            assert!(
                srm.p_value > 0.001,
                "{weights:?}: {counts:?} p={}",
                srm.p_value
            );
        }
    }

    #[test]
    fn layers_are_exclusive_within_and_independent_across() {
        let defs = vec![
            exp("a", "l1", 0.2, &[1.0, 1.0]),
            exp("b", "l1", 0.3, &[1.0, 1.0]),
            exp("c", "l1", 0.5, &[1.0, 1.0]),
            exp("d", "l2", 1.0, &[1.0, 1.0]),
        ];
        let a = Assigner::new(defs, 0.0).unwrap();
        // counts of l1 membership (a, b, c) and the joint table (l1 experiment × d's arm)
        let mut l1 = [0u64; 3];
        let mut joint = [[0u64; 2]; 3];
        for i in 0..N {
            let xs = a.assign(&user(i), &anyone());
            let in_l1: Vec<usize> = xs
                .iter()
                .filter_map(|x| ["a", "b", "c"].iter().position(|&e| e == x.experiment))
                .collect();
            assert_eq!(in_l1.len(), 1, "user {i} in {xs:?}");
            let d = xs.iter().find(|x| x.experiment == "d").unwrap();
            l1[in_l1[0]] += 1;
            joint[in_l1[0]][d.arm_index] += 1;
        }
        let srm = srm_test(&l1, &[0.2, 0.3, 0.5]).unwrap();
        assert!(srm.p_value > 0.001, "{l1:?}");
        // chi-square test of independence on the 3×2 table
        let n = N as f64;
        let col: Vec<f64> = (0..2)
            .map(|j| joint.iter().map(|r| r[j] as f64).sum())
            .collect();
        let mut x2 = 0.0;
        for (r, row) in joint.iter().enumerate() {
            for (j, &obs) in row.iter().enumerate() {
                let expected = l1[r] as f64 * col[j] / n;
                x2 += (obs as f64 - expected).powi(2) / expected;
                assert!((obs as f64 / expected - 1.0).abs() < 0.03);
            }
        }
        assert!(chi2_sf(x2, 2.0) > 0.001, "{joint:?}");
    }

    #[test]
    fn holdout_share_is_as_configured() {
        let a = Assigner::new(vec![exp("e", "l", 1.0, &[1.0, 1.0])], 0.1).unwrap();
        let held = (0..N)
            .filter(|&i| a.assign(&user(i), &anyone()).is_empty())
            .count() as u64;
        let srm = srm_test(&[held, N as u64 - held], &[0.1, 0.9]).unwrap();
        assert!(srm.p_value > 0.001, "held out {held} of {N}");
        assert!((0..N).all(|i| a.in_holdout(&user(i)) == a.assign(&user(i), &anyone()).is_empty()));
    }

    #[test]
    fn targeting_is_respected() {
        let mut new_only = exp("new-only", "l1", 1.0, &[1.0, 1.0]);
        new_only.target.segment = Some(Segment::New);
        let mut nl_returning = exp("nl-returning", "l2", 1.0, &[1.0, 1.0]);
        nl_returning.target.segment = Some(Segment::Returning);
        nl_returning
            .target
            .attributes
            .insert("country".into(), "NL".into());
        let a = Assigner::new(vec![new_only, nl_returning], 0.0).unwrap();
        let ctx = |is_new: bool, country: Option<&str>| UserContext {
            is_new,
            attributes: country
                .map(|c| BTreeMap::from([("country".to_owned(), c.to_owned())]))
                .unwrap_or_default(),
        };
        let ids = |u: &str, c: &UserContext| -> Vec<String> {
            a.assign(u, c).into_iter().map(|x| x.experiment).collect()
        };
        for i in 0..200 {
            let u = user(i);
            assert_eq!(ids(&u, &ctx(true, Some("NL"))), ["new-only"]);
            assert_eq!(ids(&u, &ctx(false, Some("NL"))), ["nl-returning"]);
            assert!(ids(&u, &ctx(false, Some("DE"))).is_empty());
            assert!(ids(&u, &ctx(false, None)).is_empty());
            assert_eq!(ids(&u, &ctx(true, None)), ["new-only"]);
        }
    }

    #[test]
    fn stopped_and_out_of_window_experiments_assign_nobody() {
        let mut stopped = exp("stopped", "l1", 0.5, &[1.0, 1.0]);
        stopped.status = Status::Stopped;
        let mut windowed = exp("windowed", "l2", 1.0, &[1.0, 1.0]);
        windowed.end_unix = Some(windowed.start_unix + 100);
        let running = exp("z-running", "l1", 0.5, &[1.0, 1.0]);
        let a = Assigner::new(vec![stopped, windowed, running], 0.0).unwrap();
        let start = 1_700_000_000;
        let mut running_count = 0;
        for i in 0..10_000 {
            let xs = a.assign(&user(i), &anyone());
            assert!(xs.iter().all(|x| x.experiment != "stopped"));
            running_count += xs.iter().filter(|x| x.experiment == "z-running").count();
            let ids = |now| -> Vec<String> {
                a.assign_at(&user(i), &anyone(), now)
                    .into_iter()
                    .map(|x| x.experiment)
                    .filter(|e| e == "windowed")
                    .collect()
            };
            assert!(ids(start - 1).is_empty() && ids(start + 100).is_empty());
            assert_eq!(ids(start + 50), ["windowed"]);
        }
        // the running experiment keeps its half of the layer, it does not absorb the stopped one's
        assert!((4_700..5_300).contains(&running_count), "{running_count}");
    }

    #[test]
    fn changing_a_salt_reshuffles_only_that_experiment() {
        let before = vec![
            exp("a", "l1", 1.0, &[1.0, 1.0]),
            exp("b", "l2", 1.0, &[1.0, 1.0]),
        ];
        let mut after = before.clone();
        after[0].salt = "a-v2".into();
        let (x, y) = (
            Assigner::new(before, 0.0).unwrap(),
            Assigner::new(after, 0.0).unwrap(),
        );
        let n = 20_000;
        let mut moved = 0;
        for i in 0..n {
            let (p, q) = (x.assign(&user(i), &anyone()), y.assign(&user(i), &anyone()));
            assert_eq!(p.len(), 2);
            assert_eq!(p[1], q[1], "experiment b changed for user {i}");
            assert_eq!(p[0].experiment, q[0].experiment);
            moved += usize::from(p[0].arm != q[0].arm);
        }
        // an independent reshuffle moves about half of a 50/50 experiment's users
        assert!((9_400..10_600).contains(&moved), "{moved}");
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = exp("e", "l", 1.0, &[1.0, 1.0]);
        assert!(ok.validate().is_ok());
        let err = |e: ExperimentDef| e.validate().unwrap_err().to_string();
        assert!(err(exp("e", "l", 1.0, &[1.0])).contains("at least two arms"));
        assert!(err(exp("e", "l", 1.0, &[1.0, 0.0])).contains("arm `arm1`"));
        assert!(err(exp("e", "l", 1.0, &[1.0, f64::NAN])).contains("arms.weight"));
        assert!(err(exp("e", "l", 0.0, &[1.0, 1.0])).contains("layer_share"));
        assert!(err(exp("e", "l", 1.5, &[1.0, 1.0])).contains("layer_share"));
        assert!(err(exp("", "l", 1.0, &[1.0, 1.0])).contains("`id`"));
        let mut dup = ok.clone();
        dup.arms[1].name = "arm0".into();
        assert!(err(dup).contains("`arm0` is used twice"));
        let over = vec![
            exp("a", "l", 0.6, &[1.0, 1.0]),
            exp("b", "l", 0.6, &[1.0, 1.0]),
        ];
        assert!(
            Assigner::new(over, 0.0)
                .unwrap_err()
                .to_string()
                .contains("layer `l`")
        );
        let twice = vec![ok.clone(), ok.clone()];
        assert!(Assigner::new(twice, 0.0).is_err());
        assert!(Assigner::new(vec![ok.clone()], 1.0).is_err());
        assert!(Assigner::new(vec![ok], -0.1).is_err());
    }

    #[test]
    fn json_defaults() {
        let def: ExperimentDef = serde_json::from_str(
            r#"{"id": "x", "arms": [{"name": "c", "weight": 1}, {"name": "t", "weight": 1}],
                "target": {"segment": "returning"}, "status": "stopped", "start_unix": 5}"#,
        )
        .unwrap();
        assert_eq!(def.salt, "x");
        assert_eq!(def.layer, "default");
        assert_eq!(def.layer_share, 1.0);
        assert_eq!(def.target.segment, Some(Segment::Returning));
        assert_eq!(def.status, Status::Stopped);
        assert_eq!(def.end_unix, None);
        let back: ExperimentDef =
            serde_json::from_str(&serde_json::to_string(&def).unwrap()).unwrap();
        assert_eq!(back, def);
    }
}
