//! [`Experiments`]: the definitions, their assignment, the arms' own models and the bandits' counts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use tastebud_store::{Documents, Event, EventLog, EventType};

use super::aggregate::Runs;
use super::error::LiveError;
use crate::assign::{Assigner, Assignment, ExperimentDef, Status, UserContext};
use crate::bandit::allocation_policy;

/// The document that holds the definitions (`serde_json::to_vec_pretty` of the list).
pub const DOCUMENT: &str = "experiments.json";

/// Loads an arm's model from the file its definition names (`model`); the error is a message.
pub type ModelLoader<M> = Arc<dyn Fn(&Path) -> Result<Arc<M>, String> + Send + Sync>;

/// The experiments being run: definitions, assignment, the arms' own models (of type `M`) and the
/// bandits' counts, plus the running report aggregates ([`aggregate`](super::aggregate())).
pub struct Experiments<M> {
    documents: Arc<dyn Documents>,
    loader: ModelLoader<M>,
    holdout: f64,
    live: RwLock<Arc<Live<M>>>,
    /// Per bandit experiment: items shown and clicks per arm.
    counts: Mutex<HashMap<String, ArmCounts>>,
    /// Serialises create/stop (read, validate, write, swap).
    write: Mutex<()>,
    /// Running report aggregates, by experiment id.
    pub(super) runs: Runs,
    /// The log position the bandits' counts have seen ([`Experiments::observe_log`]).
    observed: Mutex<u64>,
}

/// One consistent set of definitions with its assigner and arm models.
pub struct Live<M> {
    /// Assignment over the definitions.
    pub assigner: Assigner,
    /// Models of arms that name their own file, by `experiment/arm`.
    pub arm_models: HashMap<String, Arc<M>>,
}

#[derive(Debug, Clone, Default)]
struct ArmCounts {
    shown: Vec<u64>,
    clicks: Vec<u64>,
}

/// The arm serving one request.
#[derive(Debug)]
pub struct Served<M> {
    /// Experiment and arm.
    pub assignment: Assignment,
    /// Probability that this request got this arm (the weight share, or the bandit's propensity).
    pub propensity: f64,
    /// The arm's own model, when it names one.
    pub model: Option<Arc<M>>,
}

impl<M> Clone for Served<M> {
    fn clone(&self) -> Self {
        Self {
            assignment: self.assignment.clone(),
            propensity: self.propensity,
            model: self.model.clone(),
        }
    }
}

impl<M> Experiments<M> {
    /// Reads the definitions from the document [`DOCUMENT`] of `documents` (when present), adds the
    /// experiments of `initial` (the configuration's) whose id it does not hold, validates them all with
    /// the global `holdout` share and loads the arms' model files with `loader`.
    ///
    /// # Errors
    ///
    /// [`LiveError::Store`] when the document cannot be read; [`LiveError::Invalid`] for a document that
    /// is not a list of definitions (the message names `experiments.json`), an invalid definition, or
    /// an arm model that does not load.
    pub fn open(
        initial: &[ExperimentDef],
        holdout: f64,
        documents: Arc<dyn Documents>,
        loader: ModelLoader<M>,
    ) -> Result<Self, LiveError> {
        let mut defs: Vec<ExperimentDef> = match documents.get_document(DOCUMENT)? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| LiveError::Invalid(format!("{DOCUMENT}: {e}")))?,
            None => Vec::new(),
        };
        for d in initial {
            if !defs.iter().any(|x| x.id == d.id) {
                defs.push(d.clone());
            }
        }
        let live = build(defs, holdout, &loader, None)?;
        Ok(Self {
            documents,
            loader,
            holdout,
            live: RwLock::new(Arc::new(live)),
            counts: Mutex::new(HashMap::new()),
            write: Mutex::new(()),
            runs: Runs::default(),
            observed: Mutex::new(0),
        })
    }

    /// The current definitions, assignment and arm models.
    pub fn live(&self) -> Arc<Live<M>> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The definitions.
    pub fn defs(&self) -> Vec<ExperimentDef> {
        self.live().assigner.experiments().to_vec()
    }

    /// Whether any experiment is defined.
    pub fn is_empty(&self) -> bool {
        self.live().assigner.experiments().is_empty()
    }

    /// The arm serving a request of `user` now (the first layer's experiment), if any.
    pub fn serve(&self, user: &str, ctx: &UserContext, now: i64) -> Option<Served<M>> {
        let live = self.live();
        let assignment = live.assigner.assign_at(user, ctx, now).into_iter().next()?;
        let def = live
            .assigner
            .experiments()
            .iter()
            .find(|d| d.id == assignment.experiment)?;
        let (assignment, propensity) = if def.allocation.is_bandit() {
            self.bandit_choice(def, assignment)
        } else {
            let total: f64 = def.arms.iter().map(|a| a.weight).sum();
            let p = def.arms[assignment.arm_index].weight / total;
            (assignment, p)
        };
        let model = live
            .arm_models
            .get(&format!("{}/{}", assignment.experiment, assignment.arm))
            .cloned();
        Some(Served {
            assignment,
            propensity,
            model,
        })
    }

    fn bandit_choice(&self, def: &ExperimentDef, hashed: Assignment) -> (Assignment, f64) {
        let n = def.arms.len();
        let c = {
            let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts.get(&def.id).cloned().unwrap_or_default()
        };
        let (shown, clicks) = if c.shown.len() == n {
            (c.shown, c.clicks)
        } else {
            (vec![0; n], vec![0; n])
        };
        let choice = allocation_policy(&def.allocation, &shown, &clicks)
            .ok()
            .flatten()
            .and_then(|mut p| p.choose(None, &mut rand::rng()).ok());
        match choice {
            Some(c) => (
                Assignment {
                    experiment: def.id.clone(),
                    arm: def.arms[c.arm].name.clone(),
                    arm_index: c.arm,
                },
                c.propensity,
            ),
            // Counts the policy rejects cannot happen (clicks are capped at items shown); fall back to
            // the hashed arm rather than fail the request.
            None => (hashed, 1.0 / n as f64),
        }
    }

    /// Counts the events of bandit experiments: items shown (impressions) and clicks per arm.
    pub fn observe(&self, events: &[Event]) {
        let live = self.live();
        let bandits: Vec<&ExperimentDef> = live
            .assigner
            .experiments()
            .iter()
            .filter(|d| d.allocation.is_bandit())
            .collect();
        if bandits.is_empty() {
            return;
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for e in events {
            let (Some(x), Some(arm)) = (e.experiment.as_deref(), e.arm.as_deref()) else {
                continue;
            };
            let Some(def) = bandits.iter().find(|d| d.id == x) else {
                continue;
            };
            let Some(a) = def.arms.iter().position(|d| d.name == arm) else {
                continue;
            };
            let c = counts.entry(def.id.clone()).or_default();
            if c.shown.len() != def.arms.len() {
                *c = ArmCounts {
                    shown: vec![0; def.arms.len()],
                    clicks: vec![0; def.arms.len()],
                };
            }
            match e.kind {
                EventType::Impression => {
                    c.shown[a] += (e.items.len() + usize::from(e.item.is_some())) as u64;
                }
                EventType::Click => c.clicks[a] = (c.clicks[a] + 1).min(c.shown[a]),
                _ => {}
            }
        }
    }

    /// Rebuilds the bandits' counts from the whole event log (at start).
    ///
    /// # Errors
    ///
    /// [`LiveError::Store`]: a log read error.
    pub fn replay(&self, log: &dyn EventLog) -> Result<(), LiveError> {
        self.observe_log(log)
    }

    /// Counts the bandits' events logged since the last call (or since the start): how a replica of a
    /// shared store sees the events other replicas acknowledged, so that every replica's bandits read
    /// the same counts at the same log position. The whole log at the first call.
    ///
    /// # Errors
    ///
    /// [`LiveError::Store`]: a log read error (the position stays where the last whole page ended).
    pub fn observe_log(&self, log: &dyn EventLog) -> Result<(), LiveError> {
        let mut observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        let head = log.last_seq()?;
        if !self.defs().iter().any(|d| d.allocation.is_bandit()) {
            *observed = (*observed).max(head);
            return Ok(());
        }
        while *observed < head {
            let page = log.scan(*observed, 100_000)?;
            let Some(last) = page.last() else { break };
            let last = last.seq;
            let events: Vec<Event> = page.into_iter().map(|s| s.event).collect();
            self.observe(&events);
            *observed = last;
        }
        Ok(())
    }

    /// Re-reads the definitions document (another replica created or stopped an experiment) and
    /// swaps them in when they changed; returns whether they did.
    ///
    /// # Errors
    ///
    /// As [`Experiments::open`]: the document cannot be read, or holds invalid definitions.
    pub fn reload(&self) -> Result<bool, LiveError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bytes) = self.documents.get_document(DOCUMENT)? else {
            return Ok(false);
        };
        let defs: Vec<ExperimentDef> = serde_json::from_slice(&bytes)
            .map_err(|e| LiveError::Invalid(format!("{DOCUMENT}: {e}")))?;
        let live = self.live();
        if live.assigner.experiments() == defs.as_slice() {
            return Ok(false);
        }
        let next = build(defs, self.holdout, &self.loader, Some(&live))?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(true)
    }

    /// Drops the running report aggregates (after a user's data is deleted: the next report reads the
    /// log again, without them).
    pub fn forget_reports(&self) {
        self.runs.clear();
    }

    /// The counts a bandit experiment's policy reads now: `(items shown, clicks)` per arm.
    pub fn bandit_counts(&self, id: &str) -> Option<(Vec<u64>, Vec<u64>)> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(id).map(|c| (c.shown.clone(), c.clicks.clone()))
    }

    /// Adds an experiment: validated with the others, its arm models loaded, persisted, then live.
    ///
    /// # Errors
    ///
    /// [`LiveError::Conflict`] for an id in use; [`LiveError::Invalid`] for an invalid definition or an
    /// arm model that does not load; [`LiveError::Store`] when the document cannot be written.
    pub fn create(&self, def: ExperimentDef) -> Result<ExperimentDef, LiveError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live();
        let mut defs = live.assigner.experiments().to_vec();
        if defs.iter().any(|d| d.id == def.id) {
            return Err(LiveError::Conflict(format!(
                "experiment `{}` exists",
                def.id
            )));
        }
        defs.push(def.clone());
        let next = build(defs, self.holdout, &self.loader, Some(&live))?;
        self.persist(next.assigner.experiments())?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(def)
    }

    /// Stops an experiment: it assigns nobody from now on (its layer slice stays reserved) and its
    /// `end_unix` becomes `now` unless it ended earlier. Stopping a stopped experiment changes nothing.
    ///
    /// # Errors
    ///
    /// [`LiveError::NotFound`] for an unknown id; [`LiveError::Store`] when the document cannot be
    /// written.
    pub fn stop(&self, id: &str, now: i64) -> Result<ExperimentDef, LiveError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live();
        let mut defs = live.assigner.experiments().to_vec();
        let d = defs
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(|| LiveError::NotFound(format!("no experiment `{id}`")))?;
        if d.status == Status::Stopped {
            return Ok(d.clone());
        }
        d.status = Status::Stopped;
        d.end_unix = Some(d.end_unix.map_or(now, |e| e.min(now)).max(d.start_unix));
        let out = d.clone();
        let next = build(defs, self.holdout, &self.loader, Some(&live))?;
        self.persist(next.assigner.experiments())?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(out)
    }

    fn persist(&self, defs: &[ExperimentDef]) -> Result<(), LiveError> {
        let bytes = serde_json::to_vec_pretty(defs).unwrap_or_default();
        Ok(self.documents.put_document(DOCUMENT, &bytes)?)
    }
}

/// Validates `defs` and loads their arms' models (reusing `prev`'s already loaded ones).
fn build<M>(
    defs: Vec<ExperimentDef>,
    holdout: f64,
    loader: &ModelLoader<M>,
    prev: Option<&Live<M>>,
) -> Result<Live<M>, LiveError> {
    let assigner = Assigner::new(defs, holdout)
        .map_err(|e| LiveError::Invalid(format!("experiments: {e}")))?;
    let mut arm_models = HashMap::new();
    for e in assigner.experiments() {
        for a in &e.arms {
            let Some(path) = &a.model else { continue };
            let key = format!("{}/{}", e.id, a.name);
            let s = match prev.and_then(|p| p.arm_models.get(&key)) {
                Some(s) => s.clone(),
                None => loader(Path::new(path)).map_err(|err| {
                    LiveError::Invalid(format!("experiment {} arm {}: {err}", e.id, a.name))
                })?,
            };
            arm_models.insert(key, s);
        }
    }
    Ok(Live {
        assigner,
        arm_models,
    })
}
