//! Off-policy evaluation from the event log (`POST /v1/admin/ope`): what click-through rate would a
//! candidate model have had in the top slot, estimated from slates served with exploration?
//!
//! With `[explore]` (or `explore=` per request) each item of a response carries its propensity. The client
//! logs the impression with the top slot's `propensity` (and the response's `request_id`); a later click
//! on the top item (same `request_id`, or the same user within `attribution_secs`) is the reward. For every
//! such impression the candidate model ranks for the user as the server would have at that moment (the
//! training history plus the user's events logged before the impression) and its top item is compared with
//! the logged one: inverse propensity scoring, its self-normalised form and the doubly robust estimate
//! (reward model: each item's smoothed top-slot CTR in the log), with 95% intervals, from
//! `tastebud_experiment::ope`. The top slot is used because its propensity does not depend on other
//! slots: the estimate is exact in expectation, not an approximation of slate effects.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tastebud_experiment::ope::{CiMethod, LoggedEvent, OpeEstimate, doubly_robust, ips, snips};
use tastebud_store::{EventType, ItemFlags, Stored, UserData};

use crate::config::Mode;
use crate::error::{ServeError, ServeResult};
use crate::history::UserView;
use crate::model::Serving;
use crate::pipeline::{Pipeline, flagged_items};

/// Body of `POST /v1/admin/ope`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpeRequest {
    /// The candidate's model file (default: the served model).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub model: Option<PathBuf>,
    /// Only impressions at or after this time.
    #[serde(default, deserialize_with = "whole_i64")]
    pub since_unix: Option<i64>,
    /// Clicks without a `request_id` count for an impression of the same user within this many seconds
    /// (default 3600).
    #[serde(default, deserialize_with = "whole_i64")]
    pub attribution_secs: Option<i64>,
}

/// A JSON number that is whole (`5` or `5.0`, as JSON Schema's `integer`).
fn whole_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    n.map(|n| {
        n.as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && (i64::MIN as f64..=i64::MAX as f64).contains(f))
                    .map(|f| f as i64)
            })
            .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {n}")))
    })
    .transpose()
}

/// The estimates.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpeResponse {
    /// The candidate model and version.
    pub target: String,
    /// Logged impressions with a top-slot propensity that were used.
    pub impressions: usize,
    /// Impressions without a propensity (served without exploration), skipped.
    pub skipped: usize,
    /// The logging policy's observed top-slot CTR.
    pub logged_ctr: f64,
    /// Share of impressions whose top item the candidate would also have put first.
    pub match_rate: f64,
    /// Inverse propensity scoring.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub ips: Option<OpeEstimate>,
    /// Self-normalised IPS (`None` when the candidate never agrees with the log).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub snips: Option<OpeEstimate>,
    /// Doubly robust.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub doubly_robust: Option<OpeEstimate>,
}

struct Logged {
    seq: u64,
    user: String,
    ts: i64,
    item: String,
    propensity: f64,
    request_id: Option<String>,
}

/// Runs the evaluation (blocking: scans the log and ranks once per impression) of `req.model`, or of
/// `served` when the request names none, through `pipeline` ranking in real time.
///
/// # Errors
///
/// [`ServeError::Invalid`] for a model that does not load or no usable impression; store errors.
pub fn evaluate(
    pipeline: &Pipeline,
    served: &Serving,
    data: &dyn UserData,
    flags: &[(String, ItemFlags)],
    req: &OpeRequest,
) -> ServeResult<OpeResponse> {
    let loaded;
    let target: &Serving = match &req.model {
        Some(p) => {
            loaded = Serving::load(p, &pipeline.config().ann)
                .map_err(|e| ServeError::Invalid(e.to_string()))?;
            &loaded
        }
        None => served,
    };
    let window = req.attribution_secs.unwrap_or(3600);
    let since = req.since_unix.unwrap_or(i64::MIN);
    let mut logged = Vec::new();
    let mut skipped = 0;
    let mut by_request: HashSet<(String, String)> = HashSet::new();
    let mut by_user: HashMap<(String, String), Vec<i64>> = HashMap::new();
    let head = data.last_seq()?;
    let mut after = 0;
    while after < head {
        let page = data.scan(after, 100_000)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for Stored { seq, event: e, .. } in page {
            match e.kind {
                EventType::Impression if e.timestamp >= since => {
                    let top = e.items.first().or(e.item.as_ref());
                    match (top, e.propensity) {
                        (Some(top), Some(p)) if p > 0.0 && p <= 1.0 => logged.push(Logged {
                            seq,
                            user: e.user.clone(),
                            ts: e.timestamp,
                            item: top.clone(),
                            propensity: p,
                            request_id: e.request_id.clone(),
                        }),
                        _ => skipped += 1,
                    }
                }
                EventType::Click => {
                    if let Some(item) = e.item {
                        if let Some(r) = e.request_id {
                            by_request.insert((r, item));
                        } else {
                            by_user.entry((e.user, item)).or_default().push(e.timestamp);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if logged.is_empty() {
        return Err(ServeError::Invalid(format!(
            "no impression with a top-slot propensity in the log ({skipped} without): serve with \
             [explore] epsilon > 0 (or explore=) and log the top item's propensity on the impression"
        )));
    }
    let reward = |l: &Logged| -> f64 {
        let hit = match &l.request_id {
            Some(r) if by_request.contains(&(r.clone(), l.item.clone())) => true,
            _ => by_user
                .get(&(l.user.clone(), l.item.clone()))
                .is_some_and(|ts| ts.iter().any(|&t| t >= l.ts && t <= l.ts + window)),
        };
        f64::from(u8::from(hit))
    };
    // The reward model of the doubly robust estimate: each item's top-slot CTR, shrunk to the mean.
    let rewards: Vec<f64> = logged.iter().map(reward).collect();
    let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
    let mut per_item: HashMap<&str, (f64, f64)> = HashMap::new();
    for (l, r) in logged.iter().zip(&rewards) {
        let e = per_item.entry(l.item.as_str()).or_default();
        e.0 += r;
        e.1 += 1.0;
    }
    const PRIOR: f64 = 10.0;
    let q = |item: &str| {
        let (c, n) = per_item.get(item).copied().unwrap_or_default();
        (c + PRIOR * mean) / (n + PRIOR)
    };
    // The candidate's top item for each impression, from the user's state just before it.
    let mut events_of: HashMap<String, Option<Vec<Stored>>> = HashMap::new();
    // The candidate ranks in real time (no precomputed lists), with the server's other rules.
    let pipeline = pipeline.with_mode(Mode::Realtime)?;
    let request = pipeline.request(1);
    let mut logs = Vec::with_capacity(logged.len());
    let mut target_rows = Vec::with_capacity(logged.len());
    let mut q_rows = Vec::with_capacity(logged.len());
    let mut matches = 0usize;
    for (l, r) in logged.iter().zip(&rewards) {
        if !events_of.contains_key(&l.user) {
            let ev = if pipeline.may_personalise(data, &l.user)? {
                Some(data.user_events(&l.user)?)
            } else {
                None // without consent the target policy sees a new user, as it would serve one
            };
            events_of.insert(l.user.clone(), ev);
        }
        let personal = events_of[&l.user].is_some();
        let all = events_of[&l.user].as_deref().unwrap_or_default();
        let before = &all[..all.partition_point(|s| s.seq < l.seq)];
        let known = if !personal || data.is_forgotten(&l.user)? {
            None
        } else {
            target.user(&l.user)
        };
        let view = UserView::build(target, pipeline.config(), known, before, u64::MAX, l.ts);
        let flagged = flagged_items(target, flags, l.ts);
        let top = pipeline
            .rank(target, &view, &request, &flagged, None)?
            .items
            .into_iter()
            .next()
            .map(|i| i.item);
        // Actions of this event: 0 = the logged item, 1 = the candidate's (when different).
        let same = top.as_deref() == Some(l.item.as_str());
        matches += usize::from(same);
        logs.push(LoggedEvent {
            context: Vec::new(),
            action: 0,
            reward: *r,
            propensity: l.propensity,
        });
        target_rows.push(if same { vec![1.0, 0.0] } else { vec![0.0, 1.0] });
        q_rows.push(vec![q(&l.item), top.as_deref().map_or(mean, q)]);
    }
    let m = CiMethod::Normal;
    Ok(OpeResponse {
        target: format!("{} {}", target.file.header.model, target.version),
        impressions: logged.len(),
        skipped,
        logged_ctr: mean,
        match_rate: matches as f64 / logged.len() as f64,
        ips: ips(&logs, &target_rows, 0.95, m).ok(),
        snips: snips(&logs, &target_rows, 0.95, m).ok(),
        doubly_robust: doubly_robust(&logs, &target_rows, &q_rows, 0.95, m).ok(),
    })
}
