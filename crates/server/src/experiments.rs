//! `/v1/experiments`: the HTTP side of the online experiments (list, create, stop, report). The live
//! experiment code (definitions, allocation, bandit counts, the running aggregate, the report) is
//! [`tastebud_experiment::live`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use tastebud_experiment::assign::ExperimentDef;
use tastebud_experiment::report::ReportOptions;
use tastebud_experiment::stats::MeanTest;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, JsonBody, PathArg, QueryArgs, blocking, is_admin, parse_json};
use crate::state::AppState;

/// The experiment definitions. Their salts (with which anyone could compute each user's arm) only for
/// the admin key; a request without it (or with another key) gets the definitions without `salt`.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments",
    responses((status = 200, description = "The experiment definitions", body = Vec<Object>)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let admin = is_admin(&state, &headers);
    state
        .experiments
        .defs()
        .into_iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).map_err(|e| ApiError::internal(e.to_string()))?;
            if !admin && let Some(o) = v.as_object_mut() {
                o.remove("salt");
            }
            Ok(v)
        })
        .collect::<ApiResult<_>>()
        .map(Json)
}

/// Creates an experiment (admin). The body is an experiment definition; `start_unix` defaults to now.
#[utoipa::path(post, path = "/v1/experiments", tag = "experiments",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Object),
              (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create(
    _: Admin,
    State(state): State<Arc<AppState>>,
    JsonBody(mut v): JsonBody<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<ExperimentDef>)> {
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("expected an experiment object"))?;
    obj.entry("start_unix")
        .or_insert_with(|| crate::now_unix().into());
    let def: ExperimentDef = parse_json(v, "")?;
    let st = state.clone();
    let def = blocking(move || Ok(st.experiments.create(def)?)).await?;
    Ok((StatusCode::CREATED, Json(def)))
}

/// Stops an experiment (admin): nobody is assigned from now on; its report stays.
#[utoipa::path(post, path = "/v1/experiments/{id}/stop", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id")),
    responses((status = 200, description = "The stopped definition", body = Object),
              (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn stop(
    _: Admin,
    State(state): State<Arc<AppState>>,
    PathArg(id): PathArg<String>,
) -> ApiResult<Json<ExperimentDef>> {
    let st = state.clone();
    let def = blocking(move || Ok(st.experiments.stop(&id, crate::now_unix())?)).await?;
    Ok(Json(def))
}

/// Query of the report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default), `table` or `html` (a page with the charts over time).
    #[param(pattern = "^(json|table|html)$")]
    pub format: Option<String>,
    /// Significance level in (0, 1) (default 0.05).
    #[param(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub alpha: Option<f64>,
    /// Planned minimum detectable effect on CTR, relative (default 0.1).
    pub mde: Option<f64>,
    /// Planned minimum detectable effect on revenue per user, relative (default `[revenue] mde`).
    pub revenue_mde: Option<f64>,
    /// Winsorise per-user revenue at this quantile of the buyers' revenue, in (0, 1] (default
    /// `[revenue] winsor_quantile`; 1: no cap).
    #[param(exclusive_minimum = 0.0, maximum = 1.0)]
    pub winsor_quantile: Option<f64>,
    /// Also break the results down by this user attribute (from the `attrs` the events carry).
    pub segment_by: Option<String>,
}

/// The report of an experiment: per arm CTR, conversion, dwell and bounce with intervals, lifts against
/// the first arm, fixed-horizon and always-valid p-values, the sample-ratio check, warnings and a
/// decision; the same per segment (new vs returning users) and per day. Once purchases with an `amount`
/// are logged, `revenue` adds revenue per user and per impression per arm (in `[revenue] currency`) with
/// intervals, the relative lift, a per-user Welch test (winsorised at `winsor_quantile`, with CUPED on
/// pre-period revenue when there is any) and the users per arm needed for `revenue_mde`.
#[utoipa::path(get, path = "/v1/experiments/{id}/report", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id"), ReportQuery),
    responses((status = 200, description = "The report (JSON, a text table with format=table, a page with format=html); `data` says whether there is an analysis yet", body = Object),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
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
        revenue_mde: q.revenue_mde.unwrap_or(state.config.revenue.mde),
        winsor_quantile: q
            .winsor_quantile
            .unwrap_or(state.config.revenue.winsor_quantile),
    };
    let st = state.clone();
    let seg = q.segment_by.clone();
    let r = blocking(move || Ok(st.full_report(&def, &opts, seg.as_deref())?)).await?;
    Ok(match format.as_str() {
        "table" => {
            let mut t = match (&r.report, &r.no_data) {
                (Some(rep), _) => rep.to_table(),
                (None, Some(nd)) => no_data_table(nd),
                (None, None) => String::new(),
            };
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

/// The text table of a report without data: the message and each arm's counts.
fn no_data_table(nd: &tastebud_experiment::live::NoData) -> String {
    let mut t = format!("experiment {}: {}\n", nd.experiment, nd.message);
    t.push_str("arm                  users  impressions     clicks\n");
    for a in &nd.arms {
        t.push_str(&format!(
            "{:<18} {:>7} {:>12} {:>10}\n",
            a.arm, a.users, a.impressions, a.clicks
        ));
    }
    t
}
