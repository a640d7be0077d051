//! `/v1/experiments`: online experiments, defined in the configuration or created and stopped through the
//! API, their arm allocation (fixed hashing or a bandit) and their reports, computed from the event log.
//!
//! Attribution: a recommendation response names the user's `experiment`, `arm` and the arm's `propensity`;
//! the client sends experiment and arm back on the impression, click, view and conversion events of that
//! slate, and the report aggregates the events carrying them (items shown, clicks, conversions, dwell,
//! bounces, users per arm), in total, per day (the charts) and per segment (new vs returning users).
//!
//! Persistence: the definitions live in `experiments.json` in the data directory (written atomically on
//! every create and stop). At start the server reads that file and adds the configuration's experiments
//! whose id it does not hold; the file wins for an id in both, so a stop survives a restart.
//!
//! Bandit allocation ([`Allocation`]): the arm of every request is chosen by the policy in the state the
//! arms' counts give (items shown and clicks, from the events that carry the experiment and arm; rebuilt
//! from the log at start), and the response carries the choice's propensity.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use tastebud_experiment::assign::{
    Allocation, Assigner, Assignment, ExperimentDef, Status, UserContext,
};
use tastebud_experiment::bandit::allocation_policy;
use tastebud_experiment::report::{ArmData, Report, ReportOptions};
use tastebud_experiment::stats::{
    Cuped, Interval, MeanTest, Msprt, Proportion, RatioSums, ratio_ztest, variance_reduction,
    welch_t_test_samples,
};
use tastebud_store::{Event, EventType};
use utoipa::IntoParams;

use crate::api::{PathArg, QueryArgs};
use crate::config::{Ann as AnnConfig, Config};
use crate::error::{ApiError, ApiResult};
use crate::serving::Serving;
use crate::state::AppState;

const DAY: i64 = 86_400;

/// The experiments being run: definitions, assignment, the arms' own models and the bandits' counts.
pub struct Experiments {
    file: PathBuf,
    ann: AnnConfig,
    holdout: f64,
    live: RwLock<Arc<Live>>,
    /// Per bandit experiment: items shown and clicks per arm.
    counts: Mutex<HashMap<String, ArmCounts>>,
    /// Serialises create/stop (read, validate, write, swap).
    write: Mutex<()>,
    /// Running report aggregates, by experiment id (see [`aggregate`]).
    /// One lock per experiment: a report on one does not wait for a report on another.
    runs: Mutex<HashMap<String, Arc<Mutex<Running>>>>,
}

/// One consistent set of definitions with its assigner and arm models.
pub struct Live {
    /// Assignment over the definitions.
    pub assigner: Assigner,
    /// Models of arms that name their own file, by `experiment/arm`.
    pub arm_models: HashMap<String, Arc<Serving>>,
}

#[derive(Debug, Clone, Default)]
struct ArmCounts {
    shown: Vec<u64>,
    clicks: Vec<u64>,
}

/// The arm serving one request.
#[derive(Debug, Clone)]
pub struct Served {
    /// Experiment and arm.
    pub assignment: Assignment,
    /// Probability that this request got this arm (the weight share, or the bandit's propensity).
    pub propensity: f64,
    /// The arm's own model, when it names one.
    pub model: Option<Arc<Serving>>,
}

impl Experiments {
    /// Loads `experiments.json` from the data directory (when present), adds the configuration's
    /// experiments it does not hold, validates them all and loads the arms' model files.
    ///
    /// # Errors
    ///
    /// An unreadable or invalid file, an invalid definition, or an arm model that does not load.
    pub fn open(config: &Config) -> Result<Self, String> {
        let file = config.data_dir.join("experiments.json");
        let mut defs: Vec<ExperimentDef> = match std::fs::read(&file) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        for d in &config.experiments {
            if !defs.iter().any(|x| x.id == d.id) {
                defs.push(d.clone());
            }
        }
        let live = build(defs, config.experiment_holdout, &config.ann, None)?;
        Ok(Self {
            file,
            ann: config.ann.clone(),
            holdout: config.experiment_holdout,
            live: RwLock::new(Arc::new(live)),
            counts: Mutex::new(HashMap::new()),
            write: Mutex::new(()),
            runs: Mutex::new(HashMap::new()),
        })
    }

    /// The current definitions, assignment and arm models.
    pub fn live(&self) -> Arc<Live> {
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
    pub fn serve(&self, user: &str, ctx: &UserContext, now: i64) -> Option<Served> {
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
    /// A store read error.
    pub fn replay(&self, store: &tastebud_store::Store) -> Result<(), String> {
        if !self.defs().iter().any(|d| d.allocation.is_bandit()) {
            return Ok(());
        }
        let head = store.last_seq().map_err(|e| e.to_string())?;
        let mut after = 0;
        while after < head {
            let page = store.scan(after, 100_000).map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let events: Vec<Event> = page.into_iter().map(|s| s.event).collect();
            self.observe(&events);
        }
        Ok(())
    }

    /// Drops the running report aggregates (after a user's data is deleted: the next report reads the
    /// log again, without them).
    pub fn forget_reports(&self) {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clear();
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
    /// `409` for an id in use; `422` for an invalid definition or an arm model that does not load;
    /// `500` when the file cannot be written.
    pub fn create(&self, def: ExperimentDef) -> ApiResult<ExperimentDef> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live();
        let mut defs = live.assigner.experiments().to_vec();
        if defs.iter().any(|d| d.id == def.id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("experiment `{}` exists", def.id),
            ));
        }
        defs.push(def.clone());
        let next = build(defs, self.holdout, &self.ann, Some(&live)).map_err(ApiError::invalid)?;
        self.persist(next.assigner.experiments())?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(def)
    }

    /// Stops an experiment: it assigns nobody from now on (its layer slice stays reserved) and its
    /// `end_unix` becomes `now` unless it ended earlier. Stopping a stopped experiment changes nothing.
    ///
    /// # Errors
    ///
    /// `404` for an unknown id; `500` when the file cannot be written.
    pub fn stop(&self, id: &str, now: i64) -> ApiResult<ExperimentDef> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live();
        let mut defs = live.assigner.experiments().to_vec();
        let d = defs
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(|| ApiError::not_found(format!("no experiment `{id}`")))?;
        if d.status == Status::Stopped {
            return Ok(d.clone());
        }
        d.status = Status::Stopped;
        d.end_unix = Some(d.end_unix.map_or(now, |e| e.min(now)).max(d.start_unix));
        let out = d.clone();
        let next = build(defs, self.holdout, &self.ann, Some(&live)).map_err(ApiError::invalid)?;
        self.persist(next.assigner.experiments())?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(out)
    }

    fn persist(&self, defs: &[ExperimentDef]) -> ApiResult<()> {
        write_atomic(
            &self.file,
            &serde_json::to_vec_pretty(defs).unwrap_or_default(),
        )
        .map_err(|e| ApiError::internal(format!("{}: {e}", self.file.display())))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Validates `defs` and loads their arms' models (reusing `prev`'s already loaded ones).
fn build(
    defs: Vec<ExperimentDef>,
    holdout: f64,
    ann: &AnnConfig,
    prev: Option<&Live>,
) -> Result<Live, String> {
    let assigner = Assigner::new(defs, holdout).map_err(|e| format!("experiments: {e}"))?;
    let mut arm_models = HashMap::new();
    for e in assigner.experiments() {
        for a in &e.arms {
            let Some(path) = &a.model else { continue };
            let key = format!("{}/{}", e.id, a.name);
            let s = match prev.and_then(|p| p.arm_models.get(&key)) {
                Some(s) => s.clone(),
                None => Arc::new(
                    Serving::load(Path::new(path), ann)
                        .map_err(|err| format!("experiment {} arm {}: {err}", e.id, a.name))?,
                ),
            };
            arm_models.insert(key, s);
        }
    }
    Ok(Live {
        assigner,
        arm_models,
    })
}

/// The experiment definitions.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments",
    responses((status = 200, description = "The experiment definitions", body = Object)))]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<ExperimentDef>> {
    Json(state.experiments.defs())
}

/// Creates an experiment (admin). The body is an experiment definition; `start_unix` defaults to now.
#[utoipa::path(post, path = "/v1/experiments", tag = "experiments",
    request_body(content = Object, description = "{\"id\", \"arms\": [{\"name\", \"weight\", \"model\"?}], \"salt\"?, \"layer\"?, \"layer_share\"?, \"target\"?, \"allocation\"?, \"start_unix\"?, \"end_unix\"?}"),
    responses((status = 201, description = "Created", body = Object),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<ExperimentDef>)> {
    crate::api::check_admin(&state, &headers)?;
    let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("expected an experiment object"))?;
    obj.entry("start_unix")
        .or_insert_with(|| crate::now_unix().into());
    let def: ExperimentDef = serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(if path == "." {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        })
    })?;
    let st = state.clone();
    let def = tokio::task::spawn_blocking(move || st.experiments.create(def))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(def)))
}

/// Stops an experiment (admin): nobody is assigned from now on; its report stays.
#[utoipa::path(post, path = "/v1/experiments/{id}/stop", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id")),
    responses((status = 200, description = "The stopped definition", body = Object),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn stop(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    PathArg(id): PathArg<String>,
) -> ApiResult<Json<ExperimentDef>> {
    crate::api::check_admin(&state, &headers)?;
    let st = state.clone();
    let def = tokio::task::spawn_blocking(move || st.experiments.stop(&id, crate::now_unix()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(def))
}

/// Query of the report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default), `table` or `html` (a page with the charts over time).
    pub format: Option<String>,
    /// Significance level (default 0.05).
    pub alpha: Option<f64>,
    /// Planned minimum detectable effect on CTR, relative (default 0.1).
    pub mde: Option<f64>,
    /// Also break the results down by this user attribute (from the `attrs` the events carry).
    pub segment_by: Option<String>,
}

fn empty_arm(name: &str) -> ArmData {
    ArmData {
        name: name.to_owned(),
        users: 0,
        impressions: 0,
        clicks: 0,
        conversions: 0,
        converted_users: 0,
        dwell_ms: Vec::new(),
        views: 0,
        bounces: 0,
        ctr_per_user: None,
    }
}

/// One arm's running aggregate: the counts plus each user's (clicks, items shown) and the converted users.
#[derive(Clone)]
struct Acc {
    d: ArmData,
    users: HashMap<String, (f64, f64)>,
    converted: HashSet<String>,
}

impl Acc {
    fn new(name: &str) -> Self {
        Self {
            d: empty_arm(name),
            users: HashMap::new(),
            converted: HashSet::new(),
        }
    }

    fn add(&mut self, e: &Event, bounce_ms: f64) {
        let u = self.users.entry(e.user.clone()).or_default();
        match e.kind {
            EventType::Impression => {
                let n = e.items.len() + usize::from(e.item.is_some());
                self.d.impressions += n as u64;
                u.1 += n as f64;
            }
            EventType::Click => {
                self.d.clicks += 1;
                u.0 += 1.0;
            }
            EventType::AddToCart | EventType::Purchase => {
                self.d.conversions += 1;
                self.converted.insert(e.user.clone());
            }
            EventType::View => {
                self.d.views += 1;
                if let Some(ms) = e.dwell_ms {
                    self.d.dwell_ms.push(ms as f64);
                    if (ms as f64) < bounce_ms {
                        self.d.bounces += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// Adds another accumulator's counts, users and conversions.
    fn merge(&mut self, other: &Acc) {
        self.d.impressions += other.d.impressions;
        self.d.clicks += other.d.clicks;
        self.d.conversions += other.d.conversions;
        self.d.views += other.d.views;
        self.d.bounces += other.d.bounces;
        self.d.dwell_ms.extend_from_slice(&other.d.dwell_ms);
        for (u, &(c, n)) in &other.users {
            let e = self.users.entry(u.clone()).or_default();
            e.0 += c;
            e.1 += n;
        }
        self.converted.extend(other.converted.iter().cloned());
    }

    fn data(&self) -> ArmData {
        let mut d = self.d.clone();
        d.users = self.users.len() as u64;
        d.converted_users = self.converted.len() as u64;
        let mut s = RatioSums::default();
        for &(clicks, shown) in self.users.values() {
            s.add(clicks, shown);
        }
        d.ctr_per_user = Some(s);
        d
    }
}

/// Everything the report reads from the log for one experiment.
pub struct Aggregate {
    /// Per arm, in the definition's order.
    pub arms: Vec<ArmData>,
    /// Per segment (`new`, `returning`), per arm.
    pub segments: BTreeMap<String, Vec<ArmData>>,
    /// Cumulative per arm at the end of each day since the start (day 1 = the first 24 hours).
    pub days: Vec<Vec<ArmData>>,
    /// Per arm, per user: `(clicks in the experiment, clicks before its start)`, for CUPED.
    pub per_user: Vec<Vec<(f64, f64)>>,
}

/// What a running aggregate depends on besides the log: when it changes, the aggregate starts over.
#[derive(Clone, Debug, PartialEq)]
struct RunKey {
    start_unix: i64,
    arms: Vec<String>,
    /// The served model's version: it decides who is `new` (never seen in training).
    model_version: String,
    segment_by: Option<String>,
}

/// One experiment's aggregate over the log up to `seq`, kept between reports so that a report reads only
/// the events logged since the last one (the dashboard asks every few seconds). Feeding the log in two
/// parts gives exactly what one pass gives: every step depends only on the events before it in log order.
struct Running {
    key: RunKey,
    /// The last sequence number fed.
    seq: u64,
    total: Vec<Acc>,
    seg_new: Vec<Acc>,
    seg_ret: Vec<Acc>,
    seg_attr: BTreeMap<String, Vec<Acc>>,
    /// Per day since the start (not cumulative), as many as the events reach (at most 366); days past the
    /// report's last day are folded into it when the report is made.
    per_day: Vec<Vec<Acc>>,
    first_seen: HashMap<String, i64>,
    /// CUPED: each experiment user's arm and clicks, and everyone's clicks before the start.
    user_arm: HashMap<String, (usize, f64)>,
    pre_clicks: HashMap<String, f64>,
}

/// The most days a report covers.
const MAX_DAYS: usize = 366;

impl Running {
    fn new(def: &ExperimentDef, key: RunKey) -> Self {
        let fresh = fresh_accs(def);
        Self {
            key,
            seq: 0,
            total: fresh.clone(),
            seg_new: fresh.clone(),
            seg_ret: fresh,
            seg_attr: BTreeMap::new(),
            per_day: Vec::new(),
            first_seen: HashMap::new(),
            user_arm: HashMap::new(),
            pre_clicks: HashMap::new(),
        }
    }

    /// Feeds the events logged after `self.seq` up to `head`, a page at a time (`seq` moves after each
    /// whole page, so an error leaves a consistent aggregate).
    fn catch_up(
        &mut self,
        state: &AppState,
        def: &ExperimentDef,
        serving: &Serving,
        head: u64,
    ) -> Result<(), String> {
        let bounce_ms = state.config.monitoring.bounce_ms as f64;
        let arm_of: HashMap<&str, usize> = def
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        while self.seq < head {
            let page = state
                .store
                .scan(self.seq, 100_000)
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            let last = last.seq;
            for s in &page {
                self.feed(&s.event, def, serving, &arm_of, bounce_ms);
            }
            self.seq = last;
        }
        Ok(())
    }

    fn feed(
        &mut self,
        e: &Event,
        def: &ExperimentDef,
        serving: &Serving,
        arm_of: &HashMap<&str, usize>,
        bounce_ms: f64,
    ) {
        let first = *self.first_seen.entry(e.user.clone()).or_insert(e.timestamp);
        if e.timestamp < def.start_unix && e.kind == EventType::Click {
            *self.pre_clicks.entry(e.user.clone()).or_default() += 1.0;
        }
        if e.experiment.as_deref() != Some(def.id.as_str()) {
            return;
        }
        let Some(&a) = e.arm.as_deref().and_then(|a| arm_of.get(a)) else {
            return;
        };
        let ua = self.user_arm.entry(e.user.clone()).or_insert((a, 0.0));
        if e.kind == EventType::Click {
            ua.1 += 1.0;
        }
        self.total[a].add(e, bounce_ms);
        let is_new = first >= def.start_unix && serving.user(&e.user).is_none();
        if is_new {
            self.seg_new[a].add(e, bounce_ms)
        } else {
            self.seg_ret[a].add(e, bounce_ms)
        }
        if let Some(key) = &self.key.segment_by {
            let value = e.attrs.get(key).map_or("(none)", String::as_str);
            self.seg_attr
                .entry(format!("{key}={value}"))
                .or_insert_with(|| fresh_accs(def))[a]
                .add(e, bounce_ms);
        }
        let day = (((e.timestamp - def.start_unix).max(0) / DAY) as usize).min(MAX_DAYS - 1);
        if self.per_day.len() <= day {
            self.per_day.resize_with(day + 1, || fresh_accs(def));
        }
        self.per_day[day][a].add(e, bounce_ms);
    }

    /// The aggregate as of `now`: days cumulated up to the report's last day.
    fn finish(&self, def: &ExperimentDef, now: i64) -> Aggregate {
        let n_days = (((def.end_unix.unwrap_or(now).min(now) - def.start_unix).max(0) + DAY - 1)
            / DAY)
            .clamp(1, MAX_DAYS as i64) as usize;
        // Cumulate the days (users are unique over the cumulative window); the events of days after the
        // last one count on the last one.
        let mut days = Vec::with_capacity(n_days);
        let mut run = fresh_accs(def);
        for day in 0..n_days {
            let last = day + 1 == n_days;
            for (raw, accs) in self.per_day.iter().enumerate().skip(day) {
                if raw > day && !last {
                    break;
                }
                for (r, d) in run.iter_mut().zip(accs) {
                    r.merge(d);
                }
            }
            days.push(run.iter().map(Acc::data).collect());
        }
        let data = |v: &[Acc]| v.iter().map(Acc::data).collect::<Vec<_>>();
        let mut per_user = vec![Vec::new(); def.arms.len()];
        for (user, &(a, clicks)) in &self.user_arm {
            per_user[a].push((clicks, self.pre_clicks.get(user).copied().unwrap_or(0.0)));
        }
        Aggregate {
            per_user,
            arms: data(&self.total),
            segments: [
                ("new".to_owned(), data(&self.seg_new)),
                ("returning".to_owned(), data(&self.seg_ret)),
            ]
            .into_iter()
            .chain(self.seg_attr.iter().map(|(k, v)| (k.clone(), data(v))))
            .collect(),
            days,
        }
    }
}

fn fresh_accs(def: &ExperimentDef) -> Vec<Acc> {
    def.arms.iter().map(|a| Acc::new(&a.name)).collect()
}

/// Aggregates the log's events of experiment `def` per arm, per segment and per day. A user is `new`
/// when the served model never saw them in training and their first logged event is not before the
/// experiment's start. With `segment_by = Some(key)` the events are also grouped by the value of the
/// attribute `key` they carry (`attrs`, echoed by the client; `(none)` without it), as segments named
/// `key=value`.
///
/// Without `segment_by`, the aggregate is kept between calls (per experiment) and a call reads only the
/// events logged since the previous one; it starts over when the experiment's start or arms or the served
/// model change, and after a user's data is deleted ([`Experiments::forget_reports`]). With `segment_by`
/// (an analyst's question, any attribute) the whole log is read.
///
/// # Errors
///
/// A store read error.
pub fn aggregate(
    state: &AppState,
    def: &ExperimentDef,
    now: i64,
    segment_by: Option<&str>,
) -> Result<Aggregate, String> {
    let serving = state.serving();
    let key = RunKey {
        start_unix: def.start_unix,
        arms: def.arms.iter().map(|a| a.name.clone()).collect(),
        model_version: serving.version.clone(),
        segment_by: segment_by.map(str::to_owned),
    };
    let head = state.store.last_seq().map_err(|e| e.to_string())?;
    if segment_by.is_some() {
        let mut r = Running::new(def, key);
        r.catch_up(state, def, &serving, head)?;
        return Ok(r.finish(def, now));
    }
    let run = state
        .experiments
        .runs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(def.id.clone())
        .or_insert_with(|| Arc::new(Mutex::new(Running::new(def, key.clone()))))
        .clone();
    let mut r = run.lock().unwrap_or_else(|e| e.into_inner());
    if r.key != key {
        *r = Running::new(def, key);
    }
    r.catch_up(state, def, &serving, head)?;
    Ok(r.finish(def, now))
}

/// Aggregates the log's events of experiment `id` per arm (see [`aggregate`]).
///
/// # Errors
///
/// A store read error.
pub fn arm_data(state: &AppState, def: &ExperimentDef) -> Result<Vec<ArmData>, String> {
    Ok(aggregate(state, def, crate::now_unix(), None)?.arms)
}

/// One arm on one day (cumulative since the start).
#[derive(Debug, Clone, Serialize)]
pub struct ArmDay {
    /// Arm name.
    pub arm: String,
    /// Users so far.
    pub users: u64,
    /// Items shown so far.
    pub impressions: u64,
    /// Clicks so far.
    pub clicks: u64,
    /// CTR so far, with its Wilson interval (`None` before the first impression).
    pub ctr: Option<f64>,
    /// The interval's bounds.
    pub ctr_ci: Option<Interval>,
    /// Two-proportion z-test p-value against the control so far (what a naive daily look reads).
    pub p_value: Option<f64>,
    /// Always-valid mSPRT p-value against the control after this day's look.
    pub sequential_p: Option<f64>,
}

/// The report's values at the end of one day.
#[derive(Debug, Clone, Serialize)]
pub struct DayPoint {
    /// Day number, 1 = the first 24 hours.
    pub day: usize,
    /// Unix time of the day's end.
    pub end_unix: i64,
    /// Per arm.
    pub arms: Vec<ArmDay>,
}

/// A segment's report, or why there is none (an arm without users or impressions in it).
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    /// Users in the segment, all arms.
    pub users: u64,
    /// The report on the segment's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// Why `report` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// CUPED on clicks per user: the pre-period covariate is each user's clicks before the experiment's
/// start (zero for users without any), `θ` fitted on all arms pooled.
#[derive(Debug, Clone, Serialize)]
pub struct CupedReport {
    /// The metric adjusted.
    pub metric: &'static str,
    /// The fitted slope.
    pub theta: f64,
    /// Share of the metric's variance removed, `1 - var(Y') / var(Y)`.
    pub variance_reduction: f64,
    /// Per arm, in the definition's order.
    pub arms: Vec<CupedArm>,
}

/// One arm under CUPED.
#[derive(Debug, Clone, Serialize)]
pub struct CupedArm {
    /// Arm name.
    pub arm: String,
    /// Users.
    pub users: usize,
    /// Mean clicks per user.
    pub mean: f64,
    /// Mean of the adjusted values.
    pub adjusted_mean: f64,
    /// Welch test against the control on the raw values.
    pub test: Option<MeanTest>,
    /// Welch test against the control on the adjusted values (narrower when the covariate predicts).
    pub adjusted_test: Option<MeanTest>,
}

fn cuped(def: &ExperimentDef, per_user: &[Vec<(f64, f64)>], alpha: f64) -> Option<CupedReport> {
    if per_user.iter().any(|a| a.len() < 2) {
        return None;
    }
    let (y, x): (Vec<f64>, Vec<f64>) = per_user.iter().flatten().copied().unzip();
    let fit = Cuped::fit(&y, &x).ok()?;
    let adjusted: Vec<Vec<f64>> = per_user
        .iter()
        .map(|a| {
            let (y, x): (Vec<f64>, Vec<f64>) = a.iter().copied().unzip();
            fit.adjust(&y, &x).ok()
        })
        .collect::<Option<_>>()?;
    let all_adjusted: Vec<f64> = adjusted.iter().flatten().copied().collect();
    let vr = variance_reduction(&y, &all_adjusted).ok()?;
    let raw: Vec<Vec<f64>> = per_user
        .iter()
        .map(|a| a.iter().map(|p| p.0).collect())
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let conf = 1.0 - alpha;
    Some(CupedReport {
        metric: "clicks per user",
        theta: fit.theta,
        variance_reduction: vr,
        arms: def
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| CupedArm {
                arm: a.name.clone(),
                users: raw[i].len(),
                mean: mean(&raw[i]),
                adjusted_mean: mean(&adjusted[i]),
                test: (i > 0)
                    .then(|| welch_t_test_samples(&raw[0], &raw[i], conf).ok())
                    .flatten(),
                adjusted_test: (i > 0)
                    .then(|| welch_t_test_samples(&adjusted[0], &adjusted[i], conf).ok())
                    .flatten(),
            })
            .collect(),
    })
}

/// The full report: the per-arm analysis plus allocation, bandit state, segments and the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct FullReport {
    /// The analysis over all the experiment's events.
    #[serde(flatten)]
    pub report: Report,
    /// Running or stopped.
    pub status: Status,
    /// How traffic is allocated.
    pub allocation: Allocation,
    /// For bandit allocation: each arm's probability of the next request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandit_probabilities: Option<Vec<f64>>,
    /// New vs returning users.
    pub segments: BTreeMap<String, SegmentReport>,
    /// Cumulative values per day since the start.
    pub timeline: Vec<DayPoint>,
    /// CUPED on clicks per user (`None` without two users per arm or any pre-period variation).
    pub cuped: Option<CupedReport>,
}

fn timeline(def: &ExperimentDef, days: &[Vec<ArmData>], opts: &ReportOptions) -> Vec<DayPoint> {
    let conf = 1.0 - opts.alpha;
    let mut tests: Vec<Option<Msprt>> = def.arms.iter().map(|_| None).collect();
    days.iter()
        .enumerate()
        .map(|(i, arms)| {
            let control_users = arms[0].ctr_per_user;
            let arms = arms
                .iter()
                .enumerate()
                .map(|(a, d)| {
                    let p = Proportion::new(d.clicks, d.impressions).ok();
                    // The CTR test per user (delta method), as the report's.
                    let test = (a > 0)
                        .then_some(())
                        .and(control_users.zip(d.ctr_per_user))
                        .and_then(|(c, t)| Some((c, ratio_ztest(&c, &t, conf).ok()?)));
                    let p_value = test.map(|(_, t)| t.p_value);
                    let sequential_p = test.and_then(|(c, t)| {
                        let tau2 = (opts.mde * c.ratio()).powi(2);
                        if tau2.is_nan() || tau2 <= 0.0 {
                            return None;
                        }
                        let m = tests[a].get_or_insert_with(|| {
                            Msprt::new(tau2, opts.alpha).expect("tau2 > 0, alpha checked")
                        });
                        m.observe(t.difference, t.std_error * t.std_error)
                            .ok()
                            .map(|l| l.p_value)
                    });
                    ArmDay {
                        arm: d.name.clone(),
                        users: d.users,
                        impressions: d.impressions,
                        clicks: d.clicks,
                        ctr: p.filter(|p| p.trials > 0).map(|p| p.rate()),
                        ctr_ci: p
                            .filter(|p| p.trials > 0)
                            .and_then(|p| p.wilson_ci(conf).ok()),
                        p_value,
                        sequential_p,
                    }
                })
                .collect();
            DayPoint {
                day: i + 1,
                end_unix: def.start_unix + (i as i64 + 1) * DAY,
                arms,
            }
        })
        .collect()
}

/// Builds the full report of `def` from the log.
///
/// # Errors
///
/// A store error (500) or options/data the analysis rejects (422).
pub fn full_report(
    state: &AppState,
    def: &ExperimentDef,
    opts: &ReportOptions,
    segment_by: Option<&str>,
) -> ApiResult<FullReport> {
    let agg = aggregate(state, def, opts.now_unix, segment_by).map_err(ApiError::internal)?;
    let report = Report::new(def, &agg.arms, opts).map_err(|e| ApiError::invalid(e.to_string()))?;
    let segments = agg
        .segments
        .iter()
        .map(|(name, arms)| {
            let users = arms.iter().map(|a| a.users).sum();
            let seg = match Report::new(def, arms, opts) {
                Ok(r) => SegmentReport {
                    users,
                    report: Some(r),
                    note: None,
                },
                Err(e) => SegmentReport {
                    users,
                    report: None,
                    note: Some(e.to_string()),
                },
            };
            (name.clone(), seg)
        })
        .collect();
    let bandit_probabilities = def.allocation.is_bandit().then(|| {
        let n = def.arms.len();
        let (shown, clicks) = state
            .experiments
            .bandit_counts(&def.id)
            .filter(|(s, _)| s.len() == n)
            .unwrap_or((vec![0; n], vec![0; n]));
        allocation_policy(&def.allocation, &shown, &clicks)
            .ok()
            .flatten()
            .and_then(|p| p.probabilities(None).ok())
            .unwrap_or_default()
    });
    Ok(FullReport {
        cuped: cuped(def, &agg.per_user, opts.alpha),
        timeline: timeline(def, &agg.days, opts),
        report,
        status: def.status,
        allocation: def.allocation,
        bandit_probabilities,
        segments,
    })
}

/// The report of an experiment: per arm CTR, conversion, dwell and bounce with intervals, lifts against
/// the first arm, fixed-horizon and always-valid p-values, the sample-ratio check, warnings and a
/// decision; the same per segment (new vs returning users) and per day.
#[utoipa::path(get, path = "/v1/experiments/{id}/report", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id"), ReportQuery),
    responses((status = 200, description = "The report (JSON, a text table with format=table, a page with format=html)", body = Object),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn report(
    State(state): State<Arc<AppState>>,
    PathArg(id): PathArg<String>,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> ApiResult<axum::response::Response> {
    let format = q.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "table" | "html") {
        return Err(ApiError::bad_request(format!(
            "format `{format}`: expected json, table or html"
        )));
    }
    let def = state
        .experiments
        .defs()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no experiment `{id}`")))?;
    let opts = ReportOptions {
        now_unix: crate::now_unix().max(def.start_unix),
        alpha: q.alpha.unwrap_or(0.05),
        mde: q.mde.unwrap_or(0.1),
        power: 0.8,
    };
    let st = state.clone();
    let seg = q.segment_by.clone();
    let r = tokio::task::spawn_blocking(move || full_report(&st, &def, &opts, seg.as_deref()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(match format.as_str() {
        "table" => {
            let mut t = r.report.to_table();
            if let Some(c) = &r.cuped {
                t.push_str(&format!(
                    "\nCUPED on {} (covariate: clicks before the start), theta {:.3}, variance -{:.1}%\n",
                    c.metric,
                    c.theta,
                    100.0 * c.variance_reduction
                ));
                for a in &c.arms {
                    let p = |t: &Option<MeanTest>| {
                        t.map_or("-".to_owned(), |t| format!("{:.4}", t.p_value))
                    };
                    t.push_str(&format!(
                        "  {}: {} users, mean {:.3}, adjusted {:.3}, p {} -> adjusted p {}\n",
                        a.arm,
                        a.users,
                        a.mean,
                        a.adjusted_mean,
                        p(&a.test),
                        p(&a.adjusted_test)
                    ));
                }
            }
            for (name, s) in &r.segments {
                t.push_str(&format!("\nsegment {name} ({} users)\n", s.users));
                match (&s.report, &s.note) {
                    (Some(rep), _) => t.push_str(&rep.to_table()),
                    (None, Some(n)) => t.push_str(&format!("no report: {n}\n")),
                    _ => {}
                }
            }
            t.into_response()
        }
        "html" => axum::response::Html(crate::experiment_html::render(&r)).into_response(),
        _ => Json(r).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A damaged `experiments.json` stops the server from starting, naming the file and the parse error,
    /// rather than starting with the experiments silently gone (a stop would be undone).
    #[test]
    fn a_corrupt_experiments_file_is_a_clear_startup_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        assert!(Experiments::open(&config).unwrap().defs().is_empty());
        std::fs::write(
            dir.path().join("experiments.json"),
            b"[{\"id\": \"x\", \"arms\": [",
        )
        .unwrap();
        let err = Experiments::open(&config)
            .err()
            .expect("corrupt file refused");
        assert!(err.contains("experiments.json"), "{err}");
        assert!(err.contains("EOF"), "{err}");
        std::fs::write(dir.path().join("experiments.json"), b"{}").unwrap();
        let err = Experiments::open(&config)
            .err()
            .expect("wrong shape refused");
        assert!(
            err.contains("experiments.json") && err.contains("expected a sequence"),
            "{err}"
        );
    }
}
