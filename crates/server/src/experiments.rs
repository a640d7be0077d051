//! `/v1/experiments`: the configured experiments and their reports, computed from the event log.
//!
//! Attribution: a recommendation response names the user's `experiment` and `arm`; the client sends them
//! back on the impression, click, view and conversion events of that slate, and the report aggregates the
//! events carrying them (items shown, clicks, conversions, dwell, bounces, users per arm).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use tastebud_experiment::assign::ExperimentDef;
use tastebud_experiment::report::{ArmData, Report, ReportOptions};
use tastebud_store::EventType;
use utoipa::IntoParams;

use crate::api::{PathArg, QueryArgs};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The configured experiments.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments",
    responses((status = 200, description = "The experiment definitions", body = Object)))]
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<ExperimentDef>> {
    Json(state.config.experiments.clone())
}

/// Query of the report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default) or `table`.
    pub format: Option<String>,
    /// Significance level (default 0.05).
    pub alpha: Option<f64>,
    /// Planned minimum detectable effect on CTR, relative (default 0.1).
    pub mde: Option<f64>,
}

/// Aggregates the log's events of experiment `id` per arm.
pub fn arm_data(state: &AppState, def: &ExperimentDef) -> Result<Vec<ArmData>, String> {
    let mut arms: BTreeMap<&str, (ArmData, HashSet<String>, HashSet<String>)> = def
        .arms
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                (
                    ArmData {
                        name: a.name.clone(),
                        users: 0,
                        impressions: 0,
                        clicks: 0,
                        conversions: 0,
                        converted_users: 0,
                        dwell_ms: Vec::new(),
                        views: 0,
                        bounces: 0,
                    },
                    HashSet::new(),
                    HashSet::new(),
                ),
            )
        })
        .collect();
    let head = state.store.last_seq().map_err(|e| e.to_string())?;
    let bounce_ms = state.config.monitoring.bounce_ms as f64;
    let mut after = 0;
    while after < head {
        let page = state
            .store
            .scan(after, 100_000)
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for s in &page {
            let e = &s.event;
            if e.experiment.as_deref() != Some(def.id.as_str()) {
                continue;
            }
            let Some((d, users, converted)) = e.arm.as_deref().and_then(|a| arms.get_mut(a)) else {
                continue;
            };
            users.insert(e.user.clone());
            match e.kind {
                EventType::Impression => d.impressions += e.items.len() as u64,
                EventType::Click => d.clicks += 1,
                EventType::AddToCart | EventType::Purchase => {
                    d.conversions += 1;
                    converted.insert(e.user.clone());
                }
                EventType::View => {
                    d.views += 1;
                    if let Some(ms) = e.dwell_ms {
                        d.dwell_ms.push(ms as f64);
                        if (ms as f64) < bounce_ms {
                            d.bounces += 1;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(def
        .arms
        .iter()
        .filter_map(|a| arms.remove(a.name.as_str()))
        .map(|(mut d, users, converted)| {
            d.users = users.len() as u64;
            d.converted_users = converted.len() as u64;
            d
        })
        .collect())
}

/// The per-arm report of an experiment: CTR, conversion, dwell and bounce with intervals, lifts against
/// the first arm, tests, the sample-ratio check, warnings and a decision.
#[utoipa::path(get, path = "/v1/experiments/{id}/report", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id"), ReportQuery),
    responses((status = 200, description = "The report (JSON, or a text table with format=table)", body = Object),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn report(
    State(state): State<Arc<AppState>>,
    PathArg(id): PathArg<String>,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> ApiResult<axum::response::Response> {
    let def = state
        .config
        .experiments
        .iter()
        .find(|e| e.id == id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no experiment `{id}`")))?;
    let st = state.clone();
    let d = def.clone();
    let arms = tokio::task::spawn_blocking(move || arm_data(&st, &d))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    let opts = ReportOptions {
        now_unix: crate::now_unix(),
        alpha: q.alpha.unwrap_or(0.05),
        mde: q.mde.unwrap_or(0.1),
        power: 0.8,
    };
    let r = Report::new(&def, &arms, &opts).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(match q.format.as_deref() {
        None | Some("json") => Json(r).into_response(),
        Some("table") => r.to_table().into_response(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format `{other}`: expected json or table"
            )));
        }
    })
}
