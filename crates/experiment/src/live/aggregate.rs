//! The running aggregate of an experiment's events: per arm, per segment and per day, kept between
//! reports so that a report reads only the events logged since the previous one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tastebud_store::{Event, EventLog, EventType, StoreError};

use super::DAY;
use crate::assign::ExperimentDef;
use crate::report::{ArmData, RevenueData};
use crate::stats::RatioSums;

/// The served model as a report sees it: it decides who is `new` (never seen in training).
#[derive(Clone, Copy)]
pub struct ModelView<'a> {
    /// The model's version: when it changes, the running aggregates start over.
    pub version: &'a str,
    /// Whether the model saw the user in training.
    pub knows_user: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for ModelView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelView")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
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
        revenue: None,
    }
}

/// One user's running sums in one arm.
#[derive(Clone, Copy, Default)]
struct UserSums {
    clicks: f64,
    shown: f64,
    revenue: f64,
}

/// One arm's running aggregate: the counts plus each user's clicks, items shown and revenue, and the
/// converted users.
#[derive(Clone)]
struct Acc {
    d: ArmData,
    users: HashMap<String, UserSums>,
    converted: HashSet<String>,
    /// Purchases that carried an amount.
    purchases: u64,
}

impl Acc {
    fn new(name: &str) -> Self {
        Self {
            d: empty_arm(name),
            users: HashMap::new(),
            converted: HashSet::new(),
            purchases: 0,
        }
    }

    fn add(&mut self, e: &Event, bounce_ms: f64) {
        let u = self.users.entry(e.user.clone()).or_default();
        match e.kind {
            EventType::Impression => {
                let n = e.items.len() + usize::from(e.item.is_some());
                self.d.impressions += n as u64;
                u.shown += n as f64;
            }
            EventType::Click => {
                self.d.clicks += 1;
                u.clicks += 1.0;
            }
            EventType::AddToCart | EventType::Purchase => {
                if e.kind == EventType::Purchase
                    && let Some(amount) = e.amount
                {
                    u.revenue += amount;
                    self.purchases += 1;
                }
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
        for (u, o) in &other.users {
            let e = self.users.entry(u.clone()).or_default();
            e.clicks += o.clicks;
            e.shown += o.shown;
            e.revenue += o.revenue;
        }
        self.converted.extend(other.converted.iter().cloned());
        self.purchases += other.purchases;
    }

    /// The arm's data without per-user revenue (the timeline's days).
    fn data(&self) -> ArmData {
        let mut d = self.d.clone();
        d.users = self.users.len() as u64;
        d.converted_users = self.converted.len() as u64;
        let mut s = RatioSums::default();
        for u in self.users.values() {
            s.add(u.clicks, u.shown);
        }
        d.ctr_per_user = Some(s);
        d
    }

    /// The arm's data with each user's revenue and, when `pre` holds anybody's pre-period revenue,
    /// each user's revenue before the start (the CUPED covariate).
    fn data_with_revenue(&self, pre: &HashMap<String, f64>) -> ArmData {
        let mut d = self.data();
        let mut r = RevenueData {
            purchases: self.purchases,
            per_user: Vec::with_capacity(self.users.len()),
            pre_period: Vec::new(),
            per_impression: None,
        };
        let mut per_impression = RatioSums::default();
        // In user order, so that the report does not depend on the map's order (float sums).
        let mut users: Vec<(&String, &UserSums)> = self.users.iter().collect();
        users.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (user, u) in users {
            r.per_user.push(u.revenue);
            per_impression.add(u.revenue, u.shown);
            if !pre.is_empty() {
                r.pre_period.push(pre.get(user).copied().unwrap_or(0.0));
            }
        }
        r.per_impression = Some(per_impression);
        d.revenue = Some(r);
        d
    }
}

/// Everything the report reads from the log for one experiment.
#[derive(Debug, Clone)]
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
    /// Each user's revenue (purchase amounts) before the start, the revenue test's CUPED covariate.
    pre_revenue: HashMap<String, f64>,
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
            pre_revenue: HashMap::new(),
        }
    }

    /// Feeds the events logged after `self.seq` up to `head`, a page at a time (`seq` moves after each
    /// whole page, so an error leaves a consistent aggregate).
    fn catch_up(
        &mut self,
        log: &dyn EventLog,
        def: &ExperimentDef,
        model: ModelView<'_>,
        bounce_ms: f64,
        head: u64,
    ) -> Result<(), StoreError> {
        let arm_of: HashMap<&str, usize> = def
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.as_str(), i))
            .collect();
        while self.seq < head {
            let page = log.scan(self.seq, 100_000)?;
            let Some(last) = page.last() else { break };
            let last = last.seq;
            for s in &page {
                self.feed(&s.event, def, model, &arm_of, bounce_ms);
            }
            self.seq = last;
        }
        Ok(())
    }

    fn feed(
        &mut self,
        e: &Event,
        def: &ExperimentDef,
        model: ModelView<'_>,
        arm_of: &HashMap<&str, usize>,
        bounce_ms: f64,
    ) {
        let first = *self.first_seen.entry(e.user.clone()).or_insert(e.timestamp);
        if e.timestamp < def.start_unix && e.kind == EventType::Click {
            *self.pre_clicks.entry(e.user.clone()).or_default() += 1.0;
        }
        if e.timestamp < def.start_unix
            && e.kind == EventType::Purchase
            && let Some(amount) = e.amount
        {
            *self.pre_revenue.entry(e.user.clone()).or_default() += amount;
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
        let is_new = first >= def.start_unix && !(model.knows_user)(&e.user);
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
        let data = |v: &[Acc]| {
            v.iter()
                .map(|a| a.data_with_revenue(&self.pre_revenue))
                .collect::<Vec<_>>()
        };
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

/// The running aggregates, by experiment id. One lock per experiment: a report on one does not wait for
/// a report on another.
#[derive(Default)]
pub(super) struct Runs {
    runs: Mutex<HashMap<String, Arc<Mutex<Running>>>>,
}

impl Runs {
    /// Drops every running aggregate.
    pub(super) fn clear(&self) {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// See [`aggregate`](super::aggregate()).
    pub(super) fn aggregate(
        &self,
        log: &dyn EventLog,
        def: &ExperimentDef,
        model: ModelView<'_>,
        bounce_ms: f64,
        now: i64,
        segment_by: Option<&str>,
    ) -> Result<Aggregate, StoreError> {
        let key = RunKey {
            start_unix: def.start_unix,
            arms: def.arms.iter().map(|a| a.name.clone()).collect(),
            model_version: model.version.to_owned(),
            segment_by: segment_by.map(str::to_owned),
        };
        let head = log.last_seq()?;
        if segment_by.is_some() {
            let mut r = Running::new(def, key);
            r.catch_up(log, def, model, bounce_ms, head)?;
            return Ok(r.finish(def, now));
        }
        let run = self
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
        r.catch_up(log, def, model, bounce_ms, head)?;
        Ok(r.finish(def, now))
    }
}
