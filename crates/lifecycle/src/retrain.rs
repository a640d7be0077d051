//! Retraining with gating: build the training set from the base data plus the event log (through the
//! feedback rules), train the configured model, compare it with the current model on a recent temporal
//! holdout, and promote it in the registry only when it is not worse than a margin.
//!
//! **The holdout** is made of the positive events of the last `gate.holdout_days` that arrived after the
//! current model's training data (its lineage's `event_seq`): neither model has seen them, so the
//! comparison is fair. The candidate trains on everything else. When fewer than `gate.min_holdout_users`
//! users have such events, the last 10% of the base data by time is held out instead (the current model
//! may have seen those, which favours it: the gate errs toward keeping the current model). After passing,
//! the candidate is refitted on everything (`gate.refit_full`).
//!
//! **Ids**: the candidate's id maps start with the current model's, in order, then add new users and
//! items, so both models rank in one item space and the current model simply cannot recommend new items.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tastebud_core::{
    Dataset, DatasetMeta, Feedback, IdMap, Interactions, ItemIdx, ItemMap, UserMap,
};
use tastebud_eval::metrics::{MetricKind, MetricSet, Relevant};
use tastebud_models::file::{Lineage, ModelFile};
use tastebud_models::registry::{self as models, ModelSpec};
use tastebud_models::{Progress, Query, Recommender};
use tastebud_serve::feedback::EventRules;
use tastebud_store::{EventLog, Forgotten, Stored, UserData};

use crate::error::{LifecycleError, Result};
use crate::registry::{Entry, Registry, Status};
use crate::triggers::{self, TriggerConfig, Verdict};

use LifecycleError as E;

/// The promotion gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gate {
    /// The candidate is promoted when its NDCG@k is at least `(1 - margin)` times the current model's.
    pub margin: f64,
    /// Recent window of the holdout, days.
    pub holdout_days: f64,
    /// Fewer holdout users than this: hold out the last 10% of the base data by time instead.
    pub min_holdout_users: usize,
    /// Cut-off of the metrics.
    pub k: usize,
    /// Refit the promoted candidate on all the data, holdout included.
    pub refit_full: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            margin: 0.02,
            holdout_days: 7.0,
            min_holdout_users: 20,
            k: 10,
            refit_full: true,
        }
    }
}

/// `retrain.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// The base dataset (any folder or file `tastebud` reads).
    pub base_data: PathBuf,
    /// The model registry folder.
    pub registry: PathBuf,
    /// Model to train (a registry name, e.g. `ease`, `als`).
    pub model: String,
    /// Its hyperparameters, `key=value`.
    #[serde(default)]
    pub params: Vec<String>,
    /// Feedback rules.
    #[serde(default)]
    pub events: EventRules,
    /// Promotion gate.
    #[serde(default)]
    pub gate: Gate,
    /// Triggers (for `--if-triggered` and the server's background loop).
    #[serde(default)]
    pub triggers: TriggerConfig,
    /// Consent rules (`[privacy] consent_required = true`: users who never set their consent are left
    /// out); keep it equal to the server's.
    #[serde(default)]
    pub privacy: tastebud_serve::Privacy,
}

impl RetrainConfig {
    /// Reads and checks a `retrain.toml`; relative paths are relative to the file's folder.
    pub fn load(path: &Path) -> Result<RetrainConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| E::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut c: RetrainConfig =
            toml::from_str(&text).map_err(|e| E::Config(format!("{}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for p in [&mut c.base_data, &mut c.registry] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        c.validate()
            .map_err(|e| E::Config(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Checks the model name, parameters, rules and gate.
    pub fn validate(&self) -> Result<()> {
        self.spec()?;
        self.events.validate().map_err(E::Config)?;
        let g = &self.gate;
        if !(g.margin.is_finite() && g.margin >= 0.0) || g.k == 0 || g.holdout_days <= 0.0 {
            return Err(E::Config(
                "gate: need margin >= 0, k >= 1, holdout_days > 0".into(),
            ));
        }
        Ok(())
    }

    /// The model spec with its parameters.
    pub fn spec(&self) -> Result<ModelSpec> {
        let config = |e: tastebud_core::Error| E::Config(e.to_string());
        let mut s = ModelSpec::new(&self.model).map_err(config)?;
        for p in &self.params {
            s = s.param(p).map_err(config)?;
        }
        Ok(s)
    }
}

/// A model's scores on the holdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Score {
    /// Mean NDCG@k.
    pub ndcg: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Users evaluated.
    pub users: usize,
}

/// What a retraining run did.
#[derive(Clone, Debug, Serialize)]
pub struct RetrainReport {
    /// Trigger verdicts (empty when triggers were not checked).
    pub triggers: Vec<Verdict>,
    /// True when no trigger fired and nothing was trained.
    pub skipped: bool,
    /// The candidate's version.
    pub candidate_version: Option<String>,
    /// The version served before.
    pub current_version: Option<String>,
    /// Candidate on the holdout.
    pub candidate: Option<Score>,
    /// Current model on the holdout.
    pub current: Option<Score>,
    /// How the holdout was made.
    pub holdout: String,
    /// Whether the candidate became current.
    pub promoted: bool,
    /// Why.
    pub reason: String,
    /// Events turned into training interactions.
    pub events_used: u64,
    /// Newest event sequence number in the training data.
    pub event_seq: u64,
    /// Seconds spent.
    pub seconds: f64,
}

/// Builds the training dataset: `base` plus the feedback of `events` (in log order) folded by
/// [`EventRules::fold`] (a rating sets the pair's value, other events add their weight, events that count
/// for nothing are skipped), leaving out forgotten users and the `exclude` pairs. Id maps start with
/// `prefix` (the current model's). Returns the dataset and the number of events used.
pub fn training_set(
    base: &Dataset,
    prefix: Option<(&UserMap, &ItemMap)>,
    events: &[Stored],
    rules: &EventRules,
    forgotten: &LeftOut,
    exclude: &HashSet<(String, String)>,
    now: i64,
) -> Result<(Dataset, u64)> {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    if let Some((u, i)) = prefix {
        for id in u.0.ids() {
            users.insert(id);
        }
        for id in i.0.ids() {
            items.insert(id);
        }
    }
    let mut values: HashMap<(u32, u32), f32> = HashMap::new();
    let key = |u: &str, i: &str| (u.to_string(), i.to_string());
    for r in base.interactions.iter() {
        let (Some(u), Some(i)) = (base.users.id(r.user), base.items.id(r.item)) else {
            continue;
        };
        if forgotten.contains(u) || exclude.contains(&key(u, i)) {
            continue;
        }
        let (u, i) = (users.insert(u), items.insert(i));
        *values.entry((u, i)).or_insert(0.0) += r.value;
    }
    // Every base item is in the catalogue, even without interactions left.
    for id in base.items.0.ids() {
        items.insert(id);
    }
    let mut used = 0u64;
    for s in events {
        let e = &s.event;
        let Some(item) = e.item.as_deref() else {
            continue;
        };
        if forgotten.contains(&e.user) || exclude.contains(&key(&e.user, item)) {
            continue;
        }
        // Fold into a copy first: an event that counts for nothing adds no user, item or pair.
        let old = match (users.get(&e.user), items.get(item)) {
            (Some(u), Some(i)) => values.get(&(u, i)).copied(),
            _ => None,
        };
        let mut v = old.unwrap_or(0.0);
        if !rules.fold(&mut v, e, now) {
            continue;
        }
        let (u, i) = (users.insert(&e.user), items.insert(item));
        values.insert((u, i), v);
        used += 1;
    }
    let mut triplets: Vec<(u32, u32, f32)> = values
        .into_iter()
        .filter(|&(_, v)| v > 0.0)
        .map(|((u, i), v)| (u, i, v))
        .collect();
    triplets.sort_unstable_by_key(|&(u, i, _)| (u, i));
    let kind = if used > 0 {
        Feedback::Implicit
    } else {
        base.interactions.kind()
    };
    let x = Interactions::from_triplets(users.len(), items.len(), &triplets, kind)?;
    // Item features carry over when the base items are a prefix of the new order (the usual case).
    let features = base.item_features.as_ref().and_then(|f| {
        let prefix_ok = base
            .items
            .0
            .ids()
            .enumerate()
            .all(|(k, id)| items.get(id) == Some(k as u32));
        prefix_ok.then(|| {
            let mut f = f.clone();
            f.grow(items.len());
            f
        })
    });
    let meta = DatasetMeta {
        name: base.meta.name.clone(),
        source: base.meta.source.clone(),
        skipped_lines: 0,
    };
    let d = Dataset::new(meta, UserMap(users), ItemMap(items), x, features, None)?;
    Ok((d, used))
}

/// NDCG@k and recall@k of `model` for the held-out `(user, item)` pairs, with each user's history from
/// `train` (items the model does not know are dropped from the history).
fn score(
    model: &dyn Recommender,
    train: &Dataset,
    holdout: &HashMap<String, Vec<String>>,
    k: usize,
) -> Score {
    let set = MetricSet::new(&[MetricKind::Ndcg, MetricKind::Recall], &[k]);
    let n = model.n_items();
    let (mut ndcg, mut recall, mut users) = (0.0, 0.0, 0usize);
    for (user, items) in holdout {
        let rel: Vec<(ItemIdx, f32)> = items
            .iter()
            .filter_map(|i| train.items.get(i))
            .map(|i| (i, 1.0))
            .collect();
        if rel.is_empty() {
            continue;
        }
        let history: Vec<(ItemIdx, f32)> = train
            .users
            .get(user)
            .map(|u| train.interactions.history(u))
            .unwrap_or_default()
            .into_iter()
            .filter(|(i, _)| i.get() < n)
            .collect();
        let sequence: Vec<ItemIdx> = train
            .users
            .get(user)
            .map(|u| train.interactions.sequence(u))
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i.get() < n)
            .collect();
        let ranked: Vec<ItemIdx> = model
            .recommend(&Query::new(&history).sequence(&sequence), k)
            .map(|r| r.into_iter().map(|s| s.item).collect())
            .unwrap_or_default();
        if let Some(v) = set.score(
            &ranked,
            &Relevant::new(rel),
            n.saturating_sub(history.len()),
        ) {
            ndcg += v[0];
            recall += v[1];
            users += 1;
        }
    }
    let m = users.max(1) as f64;
    Score {
        ndcg: ndcg / m,
        recall: recall / m,
        users,
    }
}

/// Every event of the log up to its high-water mark at the call, in log order (read in pages), with
/// that high-water mark.
pub fn read_log(log: &dyn EventLog) -> Result<(Vec<Stored>, u64)> {
    let head = log.last_seq()?;
    let mut events = Vec::new();
    let mut after = 0;
    while after < head {
        let page = log.scan(after, 100_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        events.extend(page.into_iter().filter(|s| s.seq <= head));
    }
    Ok((events, head))
}

/// The users whose data training leaves out: those who asked to be forgotten and those without
/// consent to training (withdrawn, or never given when consent is required).
#[derive(Clone, Debug, Default)]
pub struct LeftOut {
    forgotten: Forgotten,
    withheld: HashSet<String>,
    granted: HashSet<String>,
    consent_required: bool,
}

impl LeftOut {
    /// Reads the forgotten users and the recorded consents.
    pub fn read(users: &dyn UserData, consent_required: bool) -> Result<LeftOut> {
        let mut out = LeftOut {
            forgotten: users.forgotten()?,
            consent_required,
            ..LeftOut::default()
        };
        for (u, c) in users.consents()? {
            if c.training {
                out.granted.insert(u);
            } else {
                out.withheld.insert(u);
            }
        }
        Ok(out)
    }

    /// Leaves out exactly these users (tests, tools).
    pub fn of_ids<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> LeftOut {
        LeftOut {
            withheld: ids.into_iter().map(Into::into).collect(),
            ..LeftOut::default()
        }
    }

    /// Whether training leaves `user` out.
    pub fn contains(&self, user: &str) -> bool {
        self.withheld.contains(user)
            || (self.consent_required && !self.granted.contains(user))
            || self.forgotten.contains(user)
    }
}

/// Runs one retraining: triggers (when `only_if_triggered`), training set, candidate, gate, registry.
/// Events come from `log`, forgotten users and consents from `users` (one store may be both: `run(&cfg,
/// &store, &store, ...)`); users [`LeftOut`] are not trained on.
pub fn run(
    cfg: &RetrainConfig,
    log: &dyn EventLog,
    users: &dyn UserData,
    only_if_triggered: bool,
    now: i64,
    progress: &dyn Progress,
) -> Result<RetrainReport> {
    run_with_index(cfg, log, users, None, only_if_triggered, now, progress)
}

/// [`run`] with the registry's index in `index` (a shared store's documents, so that every replica
/// reads the same index and is told of a promotion) instead of the registry folder; the model files
/// stay in the folder (a volume the replicas share).
pub fn run_with_index(
    cfg: &RetrainConfig,
    log: &dyn EventLog,
    users: &dyn UserData,
    index: Option<std::sync::Arc<dyn tastebud_store::Documents>>,
    only_if_triggered: bool,
    now: i64,
    progress: &dyn Progress,
) -> Result<RetrainReport> {
    let t = Instant::now();
    cfg.validate()?;
    let mut registry = match index {
        Some(d) => Registry::open_with(&cfg.registry, d)?,
        None => Registry::open(&cfg.registry)?,
    };
    let base = tastebud_data::load(&cfg.base_data, &tastebud_data::LoadOptions::default())
        .map_err(|source| E::Data {
            path: cfg.base_data.clone(),
            source,
        })?;
    let current = match registry.current() {
        Some(e) => Some((
            e.version.clone(),
            ModelFile::load(&registry.current_path())?,
        )),
        None => None,
    };
    let (events, head) = read_log(log)?;
    let forgotten = LeftOut::read(users, cfg.privacy.consent_required)?;
    let mut report = RetrainReport {
        triggers: Vec::new(),
        skipped: false,
        candidate_version: None,
        current_version: current.as_ref().map(|c| c.0.clone()),
        candidate: None,
        current: None,
        holdout: String::new(),
        promoted: false,
        reason: String::new(),
        events_used: 0,
        event_seq: head,
        seconds: 0.0,
    };
    if only_if_triggered && let Some((_, cur)) = &current {
        let cats = triggers::categories(base.item_features.as_ref());
        report.triggers = triggers::check(&cfg.triggers, &events, cur, &cats, now);
        if !report.triggers.iter().any(|v| v.fired) {
            report.skipped = true;
            report.reason = "no trigger fired".into();
            report.seconds = t.elapsed().as_secs_f64();
            return Ok(report);
        }
    }

    // The holdout: recent positive events newer than the current model's data.
    let cur_seq = current
        .as_ref()
        .and_then(|c| c.1.header.lineage.as_ref())
        .map_or(0, |l| l.event_seq);
    let cutoff = now - (cfg.gate.holdout_days * 86_400.0) as i64;
    let mut holdout: HashMap<String, Vec<String>> = HashMap::new();
    for s in &events {
        let e = &s.event;
        if s.seq > cur_seq
            && e.timestamp >= cutoff
            && !forgotten.contains(&e.user)
            && cfg.events.is_positive(e, now)
            && let Some(i) = &e.item
        {
            let v = holdout.entry(e.user.clone()).or_default();
            if !v.contains(i) {
                v.push(i.clone());
            }
        }
    }
    let fallback = current.is_some() && holdout.len() < cfg.gate.min_holdout_users;
    if fallback {
        let recent = holdout.len();
        holdout = base_tail(&base, &forgotten);
        report.holdout = format!(
            "the last 10% of the base data by time ({} users; only {recent} users with new events in the last {} days); \
             the current model's configuration is refitted on the same training data, since the artifact has seen this holdout",
            holdout.len(),
            cfg.gate.holdout_days
        );
    } else {
        report.holdout = format!(
            "{} users' positive events of the last {} days after event #{cur_seq}",
            holdout.len(),
            cfg.gate.holdout_days
        );
    }
    let exclude: HashSet<(String, String)> = holdout
        .iter()
        .flat_map(|(u, is)| is.iter().map(move |i| (u.clone(), i.clone())))
        .collect();
    let prefix = current
        .as_ref()
        .map(|c| (&c.1.context.users, &c.1.context.items));
    let spec = cfg.spec()?;
    let (train, used) = training_set(
        &base,
        prefix,
        &events,
        &cfg.events,
        &forgotten,
        &exclude,
        now,
    )?;
    let (model, params) = models::fit(&spec, &train, progress)?;
    let cand_score = score(model.as_recommender(), &train, &holdout, cfg.gate.k);
    report.candidate = Some(cand_score);
    let (promote, reason) = match &current {
        None => (true, "no current model".to_string()),
        Some((_, cur)) => {
            // On the fallback holdout the artifact has seen the test data: compare configurations instead.
            let refit = if fallback {
                let spec = ModelSpec {
                    name: cur.header.model.clone(),
                    params: cur.header.params.as_object().cloned().unwrap_or_default(),
                };
                models::fit(&spec, &train, progress).ok().map(|(m, _)| m)
            } else {
                None
            };
            let cur_model = refit.as_ref().unwrap_or(&cur.model);
            let cur_score = score(cur_model.as_recommender(), &train, &holdout, cfg.gate.k);
            report.current = Some(cur_score);
            let bar = cur_score.ndcg * (1.0 - cfg.gate.margin);
            if cand_score.ndcg >= bar {
                (
                    true,
                    format!(
                        "candidate NDCG@{k} {:.4} >= {:.4} (current {:.4} minus {:.0}% margin)",
                        cand_score.ndcg,
                        bar,
                        cur_score.ndcg,
                        cfg.gate.margin * 100.0,
                        k = cfg.gate.k
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "candidate NDCG@{k} {:.4} < {:.4} (current {:.4} minus {:.0}% margin)",
                        cand_score.ndcg,
                        bar,
                        cur_score.ndcg,
                        cfg.gate.margin * 100.0,
                        k = cfg.gate.k
                    ),
                )
            }
        }
    };
    // Refit on everything once it passed (the holdout is the freshest data).
    let (model, params, train, used) = if promote && cfg.gate.refit_full && !exclude.is_empty() {
        let (full, used) = training_set(
            &base,
            prefix,
            &events,
            &cfg.events,
            &forgotten,
            &HashSet::new(),
            now,
        )?;
        let (m, p) = models::fit(&spec, &full, progress)?;
        (m, p, full, used)
    } else {
        (model, params, train, used)
    };
    report.events_used = used;
    let mut file = ModelFile::new(model, params.clone(), &train, true);
    file.header.lineage = Some(Lineage {
        base_data: cfg.base_data.display().to_string(),
        event_seq: head,
        events_used: used,
        parent: report.current_version.clone(),
    });
    let tmp = registry.dir().join("candidate.tbm");
    file.save(&tmp)?;
    let bytes = std::fs::read(&tmp).map_err(|e| E::io("reading", &tmp, e))?;
    let version = tastebud_serve::version_of(&file.header.model, &bytes);
    let mut metrics = std::collections::BTreeMap::new();
    metrics.insert(format!("ndcg@{}", cfg.gate.k), cand_score.ndcg);
    metrics.insert(format!("recall@{}", cfg.gate.k), cand_score.recall);
    metrics.insert("holdout_users".into(), cand_score.users as f64);
    registry.add(
        &tmp,
        Entry {
            version: version.clone(),
            model: file.header.model.clone(),
            params,
            created_unix: now,
            metrics,
            lineage: file.header.lineage.clone(),
            status: if promote {
                Status::Current
            } else {
                Status::Rejected
            },
            note: reason.clone(),
        },
    )?;
    let _ = std::fs::remove_file(&tmp);
    report.candidate_version = Some(version);
    report.promoted = promote;
    report.reason = reason;
    report.seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// The last 10% of the base interactions by time, per user (the fallback holdout).
fn base_tail(base: &Dataset, forgotten: &LeftOut) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let Some(times) = base.interactions.times() else {
        return out;
    };
    let mut sorted: Vec<i64> = times.to_vec();
    sorted.sort_unstable();
    let Some(&cut) = sorted.get((sorted.len() * 9 / 10).min(sorted.len().saturating_sub(1))) else {
        return out;
    };
    for r in base.interactions.iter() {
        if r.time.is_some_and(|t| t >= cut)
            && let (Some(u), Some(i)) = (base.users.id(r.user), base.items.id(r.item))
            && !forgotten.contains(u)
        {
            out.entry(u.to_string()).or_default().push(i.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tastebud_store::{ConsentStore, ForgottenUsers};

    fn base() -> Dataset {
        // a-x and b-y, implicit.
        let x = Interactions::from_triplets(2, 2, &[(0, 0, 1.0), (1, 1, 1.0)], Feedback::Implicit)
            .unwrap();
        Dataset::from_parts("tiny", x, ["a", "b"], ["x", "y"]).unwrap()
    }

    fn stored(seq: u64, json: serde_json::Value) -> Stored {
        Stored {
            seq,
            received_ms: 0,
            event: serde_json::from_value(json).unwrap(),
        }
    }

    fn value(d: &Dataset, u: &str, i: &str) -> Option<f32> {
        let (u, i) = (d.users.get(u)?, d.items.get(i)?);
        d.interactions
            .history(u)
            .into_iter()
            .find(|&(j, _)| j == i)
            .map(|(_, v)| v)
    }

    #[test]
    fn events_fold_by_the_shared_rule_and_those_that_count_for_nothing_add_nobody() {
        let now = 1_800_000_000;
        let ev = |seq, user: &str, item: &str, kind: &str, v: Option<f64>| {
            let mut j =
                serde_json::json!({"user": user, "item": item, "type": kind, "timestamp": now});
            if let Some(v) = v {
                j["value"] = v.into();
            }
            stored(seq, j)
        };
        let events = vec![
            ev(1, "a", "y", "click", None),       // a-y = 1
            ev(2, "b", "x", "rating", Some(4.0)), // b-x = 4 (a rating sets the value)
            ev(3, "c", "z", "impression", None),  // counts for nothing: no user c, no item z
            ev(4, "a", "x", "dislike", None),     // a-x = 1 - 5 <= 0: dropped
            ev(5, "a", "y", "purchase", None),    // a-y = 1 + 5
            ev(6, "d", "x", "click", None),       // forgotten
            ev(7, "b", "y", "click", None),       // excluded pair
        ];
        let rules = EventRules::default();
        let forgotten = LeftOut::of_ids(["d"]);
        let exclude: HashSet<(String, String)> = [("b".to_string(), "y".to_string())].into();
        let (d, used) =
            training_set(&base(), None, &events, &rules, &forgotten, &exclude, now).unwrap();
        assert_eq!(used, 4);
        assert_eq!(
            d.users.len(),
            2,
            "no user for an impression or a forgotten user"
        );
        assert_eq!(d.items.len(), 2, "no item for an impression");
        assert_eq!(value(&d, "a", "y"), Some(6.0));
        assert_eq!(value(&d, "b", "x"), Some(4.0));
        assert_eq!(value(&d, "a", "x"), None);
        assert_eq!(value(&d, "b", "y"), None);
        assert_eq!(d.interactions.kind(), Feedback::Implicit);

        // The same result as folding each pair's events with `EventRules::fold` directly.
        let mut v = 0.0; // a-y is not in the base data
        for s in events
            .iter()
            .filter(|s| s.event.user == "a" && s.event.item.as_deref() == Some("y"))
        {
            rules.fold(&mut v, &s.event, now);
        }
        assert_eq!(value(&d, "a", "y"), Some(v));
    }

    #[test]
    fn the_current_models_ids_come_first_and_new_ones_after() {
        let users = UserMap(IdMap::from_ids(["b", "old"]).unwrap());
        let items = ItemMap(IdMap::from_ids(["y", "gone"]).unwrap());
        let events = vec![stored(
            1,
            serde_json::json!({"user": "new", "item": "fresh", "type": "like", "timestamp": 0}),
        )];
        let (d, used) = training_set(
            &base(),
            Some((&users, &items)),
            &events,
            &EventRules::default(),
            &LeftOut::default(),
            &HashSet::new(),
            0,
        )
        .unwrap();
        assert_eq!(used, 1);
        let ids = |m: &IdMap| m.ids().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(ids(&d.users.0), ["b", "old", "a", "new"]);
        assert_eq!(ids(&d.items.0), ["y", "gone", "x", "fresh"]);
        assert_eq!(value(&d, "new", "fresh"), Some(3.0));
    }

    #[test]
    fn read_log_pages_through_the_whole_log() {
        let store = tastebud_store::MemoryStore::new();
        let events: Vec<tastebud_store::Event> = (0..5)
            .map(|n| {
                serde_json::from_value(serde_json::json!(
                    {"user": format!("u{n}"), "item": "i", "type": "click", "timestamp": n}))
                .unwrap()
            })
            .collect();
        store.append(events).unwrap();
        store.forget_user("u1", 7).unwrap();
        let (events, head) = read_log(&store).unwrap();
        assert_eq!(head, 5);
        assert_eq!(
            events.iter().map(|s| s.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        let left_out = LeftOut::read(&store, false).unwrap();
        assert!(left_out.contains("u1") && !left_out.contains("u2"));
        store
            .set_consent(
                "u3",
                &tastebud_store::Consent {
                    personalisation: true,
                    training: false,
                    updated_unix: 8,
                },
            )
            .unwrap();
        let left_out = LeftOut::read(&store, false).unwrap();
        assert!(left_out.contains("u3") && !left_out.contains("u2"));
        // Opt-in: only users who granted it are trained on.
        let left_out = LeftOut::read(&store, true).unwrap();
        assert!(left_out.contains("u2") && left_out.contains("u3"));
    }

    #[test]
    fn config_errors_are_typed_and_keep_their_messages() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("retrain.toml");
        std::fs::write(
            &p,
            "base_data = \"data\"\nregistry = \"reg\"\nmodel = \"nope\"\n",
        )
        .unwrap();
        let e = RetrainConfig::load(&p).unwrap_err();
        assert!(matches!(e, LifecycleError::Config(_)), "{e:?}");
        assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
        std::fs::write(
            &p,
            "base_data = \"data\"\nregistry = \"reg\"\nmodel = \"ease\"\n[gate]\nk = 0\n",
        )
        .unwrap();
        let e = RetrainConfig::load(&p).unwrap_err();
        assert!(e.to_string().contains("gate: need margin >= 0"), "{e}");
        std::fs::write(
            &p,
            "base_data = \"data\"\nregistry = \"reg\"\nmodel = \"ease\"\n",
        )
        .unwrap();
        let c = RetrainConfig::load(&p).unwrap();
        assert_eq!(c.base_data, dir.path().join("data"));
        assert_eq!(c.registry, dir.path().join("reg"));
        let e = RetrainConfig::load(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
    }
}
