//! `/dashboard`: a page for a wall screen (server-rendered HTML with inline CSS, hand-written SVG charts
//! and a little vanilla JS; no external assets), and `/v1/dashboard/summary`, the JSON it refreshes from
//! every `dashboard.refresh_secs`.
//!
//! Where the numbers come from (so they agree with `/metrics` and a Prometheus query):
//! - CTR, bounce rate, cache hit ratio, served catalogue coverage and diversity: [`Metrics::window_stats`]
//!   over `monitoring.window_secs`, the same values as the `tastebud_ctr`, ... gauges.
//! - latency p50 / p99: [`Metrics::latency_quantile`] on `tastebud_http_request_duration_seconds` since
//!   the server started, interpolated like `histogram_quantile`.
//! - revenue rate and revenue per 1,000 recommendations: [`Metrics::window_stats`] over the window, the
//!   `tastebud_revenue_per_hour` and `tastebud_revenue_per_1000_recommendations` gauges.
//! - requests/s and events/s: a per-second ring of the last 60 seconds ([`Metrics::rates`]).
//! - charts: the sliding window bucket by bucket ([`Metrics::window_series`]) and the per-second ring.
//!
//! [`Metrics::window_stats`]: crate::metrics::Metrics::window_stats
//! [`Metrics::latency_quantile`]: crate::metrics::Metrics::latency_quantile
//! [`Metrics::rates`]: crate::metrics::Metrics::rates
//! [`Metrics::window_series`]: crate::metrics::Metrics::window_series

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use serde::{Deserialize, Serialize};
use tastebud_html::{Page, escape as esc};
use utoipa::{IntoParams, ToSchema};

use crate::dto::ModelInfo;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryArgs;
use crate::metrics::{RECOMMENDATION_ROUTE, SecondPoint, SeriesPoint};
use crate::state::AppState;

/// The headline numbers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Kpis {
    /// The monitoring window the rates are over, seconds.
    pub window_secs: u64,
    /// Clicks / items shown over the window (`tastebud_ctr`).
    pub ctr: f64,
    /// Bounces / views over the window (`tastebud_bounce_rate`).
    pub bounce_rate: f64,
    /// Cache hits / lookups over the window (`tastebud_cache_hit_ratio`).
    pub cache_hit_ratio: f64,
    /// Share of the catalogue recommended at least once over the window
    /// (`tastebud_served_catalog_coverage`).
    pub coverage: f64,
    /// Normalised entropy of the recommended items over the window (`tastebud_served_diversity`).
    pub diversity: f64,
    /// Items shown over the window.
    pub shown: u64,
    /// Clicks over the window.
    pub clicks: u64,
    /// Views over the window.
    pub views: u64,
    /// Bounces over the window.
    pub bounces: u64,
    /// Cache hits over the window.
    pub cache_hits: u64,
    /// Cache lookups over the window.
    pub cache_lookups: u64,
    /// Distinct items recommended over the window.
    pub served_items: u64,
    /// The currency of the revenue numbers (`[revenue] currency`).
    pub currency: String,
    /// Revenue of purchases with an amount over the window.
    pub revenue: f64,
    /// Purchases with an amount over the window.
    pub purchases: u64,
    /// Recommendation lists served over the window.
    pub recommendations: u64,
    /// Revenue per hour over the window (`tastebud_revenue_per_hour`).
    pub revenue_per_hour: f64,
    /// Revenue per 1,000 recommendation lists served over the window
    /// (`tastebud_revenue_per_1000_recommendations`).
    pub revenue_per_1000_recommendations: f64,
    /// Median latency of `GET /v1/users/{id}/recommendations` since the server started, seconds.
    pub rec_p50_seconds: Option<f64>,
    /// 99th percentile latency of the recommendation route since the server started, seconds.
    pub rec_p99_seconds: Option<f64>,
    /// Median latency of every route but the monitoring ones (`/metrics`, `/dashboard`,
    /// `/v1/dashboard/summary`, `/healthz`, `/readyz`) since the server started, seconds.
    pub all_p50_seconds: Option<f64>,
    /// 99th percentile latency of the same routes since the server started, seconds.
    pub all_p99_seconds: Option<f64>,
    /// HTTP requests per second over the last minute.
    pub requests_per_sec: f64,
    /// Events durably written per second over the last minute.
    pub events_per_sec: f64,
    /// Seconds since the server started.
    pub uptime_secs: u64,
}

/// A model version: a registry entry, or the model being served when there is no registry.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RegistryRow {
    /// Version (`{model}-{hash}`).
    pub version: String,
    /// Model type.
    pub model: String,
    /// `current`, `retired` or `rejected` (`serving` when there is no registry).
    pub status: String,
    /// Unix time it entered the registry (for the served model without a registry: when it was loaded).
    pub created_unix: i64,
    /// Offline metrics on the gating holdout, e.g. `ndcg@10`.
    pub metrics: BTreeMap<String, f64>,
    /// Why it was promoted or rejected.
    pub note: String,
    /// Whether this server serves it now.
    pub serving: bool,
    /// Hyperparameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

/// Everything the dashboard shows.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardSummary {
    /// Unix time of this summary.
    pub generated_unix: i64,
    /// How often the page refreshes, seconds (`dashboard.refresh_secs`).
    pub refresh_secs: u64,
    /// Width of one point of `series`, seconds.
    pub bucket_secs: u64,
    /// Headline numbers.
    pub kpis: Kpis,
    /// The monitoring window bucket by bucket, oldest first.
    pub series: Vec<SeriesPoint>,
    /// The last minute second by second, oldest first.
    pub last_minute: Vec<SecondPoint>,
    /// The model being served.
    pub model: ModelInfo,
    /// Model versions, oldest first: the registry's (`dashboard.registry_dir`), else just the served one.
    pub registry: Vec<RegistryRow>,
    /// Why the registry could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_error: Option<String>,
    /// The configured experiments' reports (see `GET /v1/experiments/{id}/report`).
    #[schema(value_type = Vec<Object>)]
    pub experiments: Vec<serde_json::Value>,
}

/// Builds the summary (reads the registry file: call off the async workers).
pub fn build_summary(state: &AppState) -> DashboardSummary {
    let now = crate::now_unix();
    let m = &state.metrics;
    m.tick(now);
    let serving = state.serving();
    let model = state.model_info();
    let w = m.window_stats(now, serving.model().n_items());
    let (requests_per_sec, events_per_sec) = m.rates(now);
    let (registry, registry_error) = registry_rows(state, &model);
    DashboardSummary {
        generated_unix: now,
        refresh_secs: state.config.dashboard.refresh_secs.max(1),
        bucket_secs: m.bucket_secs() as u64,
        kpis: Kpis {
            window_secs: state.config.monitoring.window_secs,
            ctr: w.ctr,
            bounce_rate: w.bounce_rate,
            cache_hit_ratio: w.hit_ratio,
            coverage: w.coverage,
            diversity: w.diversity,
            shown: w.shown,
            clicks: w.clicks,
            views: w.views,
            bounces: w.bounces,
            cache_hits: w.hits,
            cache_lookups: w.lookups,
            served_items: w.served_items,
            currency: state.config.revenue.currency.clone(),
            revenue: w.revenue,
            purchases: w.purchases,
            recommendations: w.recommendations,
            revenue_per_hour: w.revenue_per_hour,
            revenue_per_1000_recommendations: w.revenue_per_1000_recommendations,
            rec_p50_seconds: m.latency_quantile(0.5, Some(RECOMMENDATION_ROUTE)),
            rec_p99_seconds: m.latency_quantile(0.99, Some(RECOMMENDATION_ROUTE)),
            all_p50_seconds: m.latency_quantile(0.5, None),
            all_p99_seconds: m.latency_quantile(0.99, None),
            requests_per_sec,
            events_per_sec,
            uptime_secs: m.uptime_secs(),
        },
        series: m.window_series(now),
        last_minute: m.last_minute(now),
        model,
        registry,
        registry_error,
        experiments: experiment_reports(state, now),
    }
}

fn experiment_reports(state: &AppState, now: i64) -> Vec<serde_json::Value> {
    state
        .experiments
        .defs()
        .iter()
        .filter_map(|def| {
            let arms = state.arm_data(def).ok()?;
            let opts = tastebud_experiment::report::ReportOptions {
                now_unix: now,
                alpha: 0.05,
                mde: 0.1,
                power: 0.8,
                revenue_mde: state.config.revenue.mde,
                winsor_quantile: state.config.revenue.winsor_quantile,
            };
            let r = tastebud_experiment::report::Report::new(def, &arms, &opts).ok()?;
            serde_json::to_value(r).ok()
        })
        .collect()
}

fn registry_rows(state: &AppState, model: &ModelInfo) -> (Vec<RegistryRow>, Option<String>) {
    let serving_row = || RegistryRow {
        version: model.model_version.clone(),
        model: model.model.clone(),
        status: "serving".into(),
        created_unix: model.loaded_unix,
        metrics: BTreeMap::new(),
        note: "loaded from the model file (no registry configured)".into(),
        serving: true,
        params: model.params.clone(),
    };
    let Some(dir) = &state.config.dashboard.registry_dir else {
        return (vec![serving_row()], None);
    };
    if !state.is_shared() && !dir.join("registry.json").is_file() {
        let e = format!("no registry.json in {}", dir.display());
        return (vec![serving_row()], Some(e));
    }
    match state.registry(dir) {
        Ok(r) => {
            let rows = r
                .entries()
                .iter()
                .map(|e| RegistryRow {
                    version: e.version.clone(),
                    model: e.model.clone(),
                    status: serde_json::to_value(e.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    created_unix: e.created_unix,
                    metrics: e.metrics.clone(),
                    note: e.note.clone(),
                    serving: e.version == model.model_version,
                    params: e.params.clone(),
                })
                .collect();
            (rows, None)
        }
        Err(e) => (vec![serving_row()], Some(e.to_string())),
    }
}

/// The numbers behind the dashboard: rates over the monitoring window, latency quantiles, traffic over
/// the last minute, the window bucket by bucket, the model and the registry.
#[utoipa::path(get, path = "/v1/dashboard/summary", tag = "ops",
    responses((status = 200, body = DashboardSummary)))]
pub async fn summary(State(state): State<Arc<AppState>>) -> ApiResult<Json<DashboardSummary>> {
    tokio::task::spawn_blocking(move || build_summary(&state))
        .await
        .map(Json)
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))
}

/// Query of `GET /dashboard`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// A user id to pre-fill the "Try it" panel with.
    pub user: Option<String>,
}

/// The dashboard page (HTML for a wall screen; refreshes itself from `/v1/dashboard/summary`).
#[utoipa::path(get, path = "/dashboard", tag = "ops", params(PageQuery),
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub async fn page(
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<PageQuery>,
) -> ApiResult<Html<String>> {
    let s = tokio::task::spawn_blocking(move || build_summary(&state))
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?;
    Ok(Html(render_page(&s, q.user.as_deref().unwrap_or(""))))
}

// The formatting below is mirrored by `pct`, `ms` and `rate` in the page's script.

fn fmt_pct(v: f64) -> String {
    let p = v * 100.0;
    if p != 0.0 && p < 10.0 {
        format!("{p:.2}<small>%</small>")
    } else {
        format!("{p:.1}<small>%</small>")
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    match v {
        None => "&mdash;".into(),
        Some(s) => {
            let ms = s * 1000.0;
            let n = if ms < 1.0 {
                format!("{ms:.2}")
            } else if ms < 10.0 {
                format!("{ms:.1}")
            } else {
                format!("{ms:.0}")
            };
            format!("{n}<small>ms</small>")
        }
    }
}

fn fmt_rate(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn fmt_money(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.0}")
    }
}

fn raw(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

fn number(name: &str, value: Option<f64>, text: &str) -> String {
    format!(
        r#"<div class="num" data-kpi="{name}" data-value="{}">{text}</div>"#,
        raw(value)
    )
}

fn tile(class: &str, label: &str, name: &str, value: f64, text: &str, sub: &str) -> String {
    format!(
        r#"<div class="tile {class}"><div class="label">{label}</div>{}<div class="sub" id="sub-{name}">{sub}</div></div>"#,
        number(name, Some(value), text)
    )
}

fn latency_tile(
    label: &str,
    prefix: &str,
    p50: Option<f64>,
    p99: Option<f64>,
    note: &str,
) -> String {
    format!(
        r#"<div class="tile s3 lat"><div class="label">{label}</div><div class="pair"><div><span class="q">p50</span>{}</div><div class="p99"><span class="q">p99</span>{}</div></div><div class="sub">{note}</div></div>"#,
        number(&format!("{prefix}_p50"), p50, &fmt_ms(p50)),
        number(&format!("{prefix}_p99"), p99, &fmt_ms(p99)),
    )
}

fn rate_tile(label: &str, name: &str, value: f64) -> String {
    format!(
        r#"<div class="tile s2 rate"><div class="label">{label}</div>{}<svg class="spark" id="spark-{name}" aria-hidden="true"></svg></div>"#,
        number(name, Some(value), &fmt_rate(value))
    )
}

fn window_label(secs: u64) -> String {
    if secs.is_multiple_of(3600) {
        format!("last {} h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("last {} min", secs / 60)
    } else {
        format!("last {secs} s")
    }
}

/// The registry table's rows (the script renders the same markup on refresh).
fn registry_html(s: &DashboardSummary) -> String {
    let mut keys: Vec<&String> = s.registry.iter().flat_map(|r| r.metrics.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut h =
        String::from("<thead><tr><th>Version</th><th>Model</th><th>Status</th><th>Created</th>");
    for k in &keys {
        let _ = write!(h, r#"<th class="r">{}</th>"#, esc(k));
    }
    h.push_str("</tr></thead><tbody>");
    for r in s.registry.iter().rev() {
        let _ = write!(
            h,
            r#"<tr class="{}"><td><div class="mono">{}</div><div class="note">{}</div></td><td>{}</td><td><span class="pill st-{}">{}</span></td><td class="ts" data-ts="{}"></td>"#,
            if r.serving { "serving" } else { "" },
            esc(&r.version),
            esc(&r.note),
            esc(&r.model),
            esc(&r.status),
            esc(&r.status),
            r.created_unix
        );
        for k in &keys {
            let v = r
                .metrics
                .get(*k)
                .map_or_else(|| "&mdash;".into(), |v| format!("{v:.4}"));
            let _ = write!(h, r#"<td class="r mono">{v}</td>"#);
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody>");
    h
}

/// The page, with the summary's numbers in place (the script redraws them every refresh).
pub fn render_page(s: &DashboardSummary, user: &str) -> String {
    let k = &s.kpis;
    let m = &s.model;
    let win = window_label(k.window_secs);
    let json = serde_json::to_string(s)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c");
    let mut h = Page::new("Tastebud dashboard")
        .style(CSS)
        .head("<link rel=\"icon\" href=\"data:,\" />\n")
        .open();
    let _ = write!(
        h,
        r##"<header><div class="brand"><svg viewBox="0 0 32 32" width="34" height="34" aria-hidden="true"><circle cx="16" cy="16" r="15" fill="#14b8a6"/><path d="M9 17c2 5 12 5 14 0" stroke="#0b1220" stroke-width="3" fill="none" stroke-linecap="round"/><circle cx="11.5" cy="12" r="2" fill="#0b1220"/><circle cx="20.5" cy="12" r="2" fill="#0b1220"/></svg><div><div class="name">Tastebud</div><div class="tag">recommendations &middot; live</div></div></div>
<div class="model"><span class="mtype" id="m-type">{}</span><span class="mver mono" id="m-version">{}</span><span class="mmeta" id="m-meta">{} items &middot; {} &middot; loaded <span class="ts" data-ts="{}"></span></span></div><div class="win">rates over the <b id="win">{}</b> &middot; latency since start</div>
<div class="status"><span class="dot" id="live-dot"></span><span id="live-text">live</span><span class="clock mono" id="clock"></span></div></header>"##,
        esc(&m.model),
        esc(&m.model_version),
        m.n_items,
        esc(&m.mode),
        m.loaded_unix,
        win,
    );
    h.push_str(r#"<main><section class="left"><div class="kpis">"#);
    h.push_str(&tile(
        "s2 c-ctr",
        "CTR",
        "ctr",
        k.ctr,
        &fmt_pct(k.ctr),
        &format!("{} clicks &middot; {} shown", k.clicks, k.shown),
    ));
    h.push_str(&tile(
        "s2 c-bounce",
        "Bounce rate",
        "bounce_rate",
        k.bounce_rate,
        &fmt_pct(k.bounce_rate),
        &format!("{} of {} views", k.bounces, k.views),
    ));
    h.push_str(&tile(
        "s2 c-cache",
        "Cache hits",
        "cache_hit_ratio",
        k.cache_hit_ratio,
        &fmt_pct(k.cache_hit_ratio),
        &format!("{} of {} lookups", k.cache_hits, k.cache_lookups),
    ));
    h.push_str(&tile(
        "s2 c-cov",
        "Coverage",
        "coverage",
        k.coverage,
        &fmt_pct(k.coverage),
        &format!("{} of {} items served", k.served_items, m.n_items),
    ));
    h.push_str(&tile(
        "s2 c-div",
        "Diversity",
        "diversity",
        k.diversity,
        &format!("{:.2}", k.diversity),
        "normalised entropy, 0&ndash;1",
    ));
    h.push_str(&tile(
        "s2 c-rev",
        "Revenue / h",
        "revenue_per_hour",
        k.revenue_per_hour,
        &format!(
            "{}<small> {}</small>",
            fmt_money(k.revenue_per_hour),
            esc(&k.currency)
        ),
        &format!(
            "{} {} &middot; {} purchases",
            fmt_money(k.revenue),
            esc(&k.currency),
            k.purchases
        ),
    ));
    h.push_str(&tile(
        "s2 c-rev",
        "Revenue / 1,000 recs",
        "revenue_per_1000",
        k.revenue_per_1000_recommendations,
        &format!(
            "{}<small> {}</small>",
            fmt_money(k.revenue_per_1000_recommendations),
            esc(&k.currency)
        ),
        &format!("{} lists served", k.recommendations),
    ));
    h.push_str(&latency_tile(
        "Recommendation latency",
        "rec",
        k.rec_p50_seconds,
        k.rec_p99_seconds,
        "GET /v1/users/{id}/recommendations",
    ));
    h.push_str(&latency_tile(
        "API latency",
        "all",
        k.all_p50_seconds,
        k.all_p99_seconds,
        "every route but /metrics, the dashboard and health probes",
    ));
    h.push_str(&rate_tile(
        "Requests / s",
        "requests_per_sec",
        k.requests_per_sec,
    ));
    h.push_str(&rate_tile("Events / s", "events_per_sec", k.events_per_sec));
    let _ = write!(
        h,
        r##"</div><div class="charts">
<div class="panel chart"><div class="ph"><h2>CTR &amp; bounce rate</h2><div class="legend"><i class="c-ctr"></i>CTR<i class="c-bounce"></i>bounce</div></div><svg id="chart-ctr"></svg></div>
<div class="panel chart"><div class="ph"><h2>Traffic</h2><div class="legend"><i class="c-req"></i>requests<i class="c-ev"></i>events</div></div><svg id="chart-traffic"></svg></div>
<div class="panel chart"><div class="ph"><h2>Latency</h2><div class="legend">recommendations<i class="c-p50"></i>p50<i class="c-p99"></i>p99</div></div><svg id="chart-latency"></svg></div>
</div><div class="bottom"><div class="panel reg"><div class="ph"><h2>Model registry</h2><span class="hint" id="reg-hint">{}</span></div><div class="tablewrap"><table id="registry">{}</table></div></div>
<div class="panel exp"><div class="ph"><h2>Experiments</h2></div><div id="experiments"><div class="empty"><svg viewBox="0 0 48 48" width="44" height="44" aria-hidden="true"><path d="M18 6h12M20 6v12L9 38a3 3 0 0 0 3 4h24a3 3 0 0 0 3-4L28 18V6" fill="none" stroke="#475569" stroke-width="2.5" stroke-linejoin="round"/><path d="M14 31h20" stroke="#475569" stroke-width="2.5"/></svg><div class="big">No experiments running</div><div class="sub">online A/B tests will appear here</div></div></div></div></div></section>"##,
        s.registry_error.as_deref().map_or_else(
            || format!(
                "{} version{}",
                s.registry.len(),
                if s.registry.len() == 1 { "" } else { "s" }
            ),
            esc
        ),
        registry_html(s),
    );
    let _ = write!(
        h,
        r#"<aside class="panel try"><div class="ph"><h2>Try it</h2><span class="hint">live recommendations for one user</span></div>
<form id="try-form" autocomplete="off"><input id="user" name="user" placeholder="user id, e.g. u3" value="{}"><button type="submit">Recommend</button></form>
<div class="meta" id="try-meta"></div><h3>Recent activity</h3><ol id="history" class="history"><li class="muted">enter a user id</li></ol>
<h3>Recommended</h3><ol id="recs" class="recs"></ol></aside></main>"#,
        esc(user)
    );
    h.push_str(r#"<script type="application/json" id="summary-data">"#);
    h.push_str(&json);
    h.push_str("</script><script>");
    h.push_str(JS);
    h.push_str("</script>\n");
    Page::close(&mut h);
    h
}

const CSS: &str = r#"
:root{--bg:#0a0e16;--panel:#111827;--line:#1f2a3a;--text:#e8eef6;--muted:#8a99ad;--dim:#5b6b80;
--ctr:#2dd4bf;--bounce:#f472b6;--cache:#a78bfa;--cov:#60a5fa;--div:#fbbf24;--req:#38bdf8;--ev:#34d399;--p50:#fb923c;--p99:#f43f5e}
*{box-sizing:border-box}html,body{margin:0;height:100%}
body{background:radial-gradient(1200px 600px at 10% -10%,#13203a 0%,var(--bg) 60%);color:var(--text);
font-family:Inter,"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",Helvetica,Arial,sans-serif;font-size:15px;overflow:hidden}
.mono{font-family:"JetBrains Mono","DejaVu Sans Mono","Liberation Mono",Menlo,monospace}
header{display:flex;align-items:center;justify-content:space-between;gap:24px;height:72px;padding:0 26px;border-bottom:1px solid var(--line);background:rgba(10,14,22,.7)}
.brand{display:flex;align-items:center;gap:12px}.brand .name{font-size:22px;font-weight:700;letter-spacing:.3px}
.brand .tag{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:1.5px}
.model{display:flex;align-items:center;gap:12px;font-size:16px}
.mtype{background:#0f766e;color:#ccfbf1;font-weight:700;padding:4px 12px;border-radius:999px;text-transform:uppercase;letter-spacing:1px;font-size:14px}
.mver{font-size:17px;color:#e2e8f0}.mmeta{color:var(--muted)}
.win{color:var(--muted);font-size:14px}.win b{color:var(--text);font-weight:600}
.status{display:flex;align-items:center;gap:10px;color:var(--muted);font-size:15px}
.dot{width:11px;height:11px;border-radius:50%;background:#22c55e;box-shadow:0 0 0 0 rgba(34,197,94,.6);animation:pulse 2s infinite}
.dot.off{background:#ef4444;animation:none}.clock{color:var(--text);font-size:20px;margin-left:8px}
@keyframes pulse{0%{box-shadow:0 0 0 0 rgba(34,197,94,.55)}70%{box-shadow:0 0 0 10px rgba(34,197,94,0)}100%{box-shadow:0 0 0 0 rgba(34,197,94,0)}}
main{display:grid;grid-template-columns:minmax(0,1fr) 420px;gap:18px;padding:18px 22px;height:calc(100vh - 72px)}
.left{display:grid;grid-template-rows:auto minmax(0,1fr) auto;gap:18px;min-height:0}
.panel,.tile{background:linear-gradient(180deg,#131c2c,#0f1623);border:1px solid var(--line);border-radius:16px}
.kpis{display:grid;grid-template-columns:repeat(10,minmax(0,1fr));gap:14px}
.tile{padding:14px 18px 14px;position:relative;overflow:hidden;min-height:128px}
.tile.s2{grid-column:span 2}.tile.s3{grid-column:span 3}
.tile::before{content:"";position:absolute;left:0;top:0;bottom:0;width:4px;background:var(--accent,#334155)}
.c-rev{--accent:#facc15}.c-ctr{--accent:var(--ctr)}.c-bounce{--accent:var(--bounce)}.c-cache{--accent:var(--cache)}.c-cov{--accent:var(--cov)}.c-div{--accent:var(--div)}
.lat{--accent:var(--p50)}.rate{--accent:var(--req)}
.label{font-size:13.5px;text-transform:uppercase;letter-spacing:1.2px;color:var(--muted);font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.num{font-size:46px;font-weight:750;line-height:1.1;margin-top:8px;font-variant-numeric:tabular-nums;letter-spacing:-.5px}
.num small{font-size:22px;font-weight:600;color:var(--muted);margin-left:3px}
.sub{font-size:12.5px;color:var(--dim);margin-top:6px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}.pair>div{display:flex;flex-direction:column;min-width:0}
.q{font-size:12px;color:var(--dim);font-weight:700;letter-spacing:1px;margin-top:6px}.pair .num{margin-top:0;font-size:40px}.p99 .num{color:#fda4af}
.rate .num{display:inline-block}.spark{position:absolute;left:18px;right:18px;bottom:10px;height:30px;width:calc(100% - 36px)}
.charts{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:14px;min-height:0}
.chart{display:flex;flex-direction:column;padding:14px 16px 8px;min-height:0}.chart svg{flex:1;width:100%;min-height:0}
.ph{display:flex;align-items:baseline;justify-content:space-between;gap:10px;margin-bottom:6px}
h2{font-size:14.5px;text-transform:uppercase;letter-spacing:1.2px;color:#cbd5e1;margin:0;font-weight:650;white-space:nowrap}
h3{font-size:13px;text-transform:uppercase;letter-spacing:1.3px;color:var(--muted);margin:16px 0 8px;font-weight:650}
.legend{font-size:13px;color:var(--muted);display:flex;align-items:center;gap:6px;white-space:nowrap}
.legend i{display:inline-block;width:14px;height:4px;border-radius:2px;margin-left:10px;background:var(--accent)}
.legend i.c-req{--accent:var(--req)}.legend i.c-ev{--accent:var(--ev)}.legend i.c-p50{--accent:var(--p50)}.legend i.c-p99{--accent:var(--p99)}
.hint{font-size:13px;color:var(--dim)}
.bottom{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,1fr);gap:14px}
.reg,.exp{padding:14px 18px;min-height:230px}.tablewrap{max-height:190px;overflow:hidden}
.exp{overflow:hidden}.exp-one{margin-top:6px}.exp-head{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;margin-bottom:6px}
.exp-head .sub{display:block;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.xt{width:100%;table-layout:fixed;border-collapse:collapse;font-size:13px}.xt th{font-size:10px;letter-spacing:.08em;text-transform:uppercase;color:#64748b;text-align:left;padding:4px 4px;border-bottom:1px solid #1e293b}
.xt td{padding:6px 4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;border-bottom:1px solid #1e293b;color:#e2e8f0}
.xt td .sub{display:block;font-size:10px;line-height:1.2;color:#64748b}
table{width:100%;border-collapse:collapse;font-size:14.5px}
th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:1.1px;color:var(--dim);font-weight:600;padding:6px 10px;border-bottom:1px solid var(--line)}
td{padding:7px 10px;border-bottom:1px solid #172133;white-space:nowrap}.r{text-align:right}
.note{color:var(--dim);font-size:12.5px;max-width:250px;overflow:hidden;text-overflow:ellipsis;margin-top:2px}
tr.serving td{background:rgba(45,212,191,.07)}tr.serving td:first-child{box-shadow:inset 3px 0 0 var(--ctr)}
.pill{font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:1px;padding:3px 10px;border-radius:999px;background:#1e293b;color:#cbd5e1}
.st-current,.st-serving{background:#064e3b;color:#6ee7b7}.st-rejected{background:#4c0519;color:#fda4af}.st-retired{background:#1e293b;color:#94a3b8}
.empty{display:flex;flex-direction:column;align-items:center;justify-content:center;text-align:center;height:170px;gap:6px}
.empty .big{font-size:19px;font-weight:650;color:#cbd5e1}
.try{padding:16px 18px;display:flex;flex-direction:column;min-height:0;overflow:hidden}
form{display:flex;gap:10px}
input{flex:1;min-width:0;background:#0a101b;border:1px solid #263449;color:var(--text);border-radius:10px;padding:10px 14px;font-size:17px;outline:none}
input:focus{border-color:var(--ctr)}
button{background:var(--ctr);color:#042f2e;border:0;border-radius:10px;padding:0 18px;font-weight:750;font-size:15px;cursor:pointer}
.meta{font-size:13px;color:var(--muted);margin-top:10px;min-height:18px}
.history{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:6px}
.history li{background:#0b1220;border:1px solid #1c273a;border-radius:9px;padding:4px 9px;font-size:13.5px;display:flex;gap:6px;align-items:center;max-width:100%}
.history li.muted{border:0;background:none;color:var(--dim);padding:0}
.ev{font-size:11px;font-weight:750;text-transform:uppercase;letter-spacing:.8px;padding:1px 6px;border-radius:6px;background:#1e293b;color:#cbd5e1}
.ev-click{background:#134e4a;color:#5eead4}.ev-view{background:#1e3a8a;color:#bfdbfe}.ev-like,.ev-purchase,.ev-add_to_cart{background:#365314;color:#d9f99d}
.ev-dislike{background:#4c0519;color:#fda4af}.ev-impression{background:#1f2937;color:#94a3b8}.ev-rating{background:#713f12;color:#fde68a}
.recs{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:7px;overflow:hidden}
.recs li{display:grid;grid-template-columns:30px 1fr auto;gap:2px 10px;align-items:baseline;background:#0b1220;border:1px solid #1c273a;border-radius:11px;padding:8px 12px}
.rank{font-size:20px;font-weight:800;color:var(--ctr);grid-row:span 2;align-self:center;text-align:center}
.title{font-size:17px;font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.score{font-size:12.5px;color:var(--dim)}
.why{grid-column:2/4;font-size:13px;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.why b{color:#cbd5e1;font-weight:600}
.chip{display:inline-block;background:#172036;border-radius:6px;padding:0 6px;margin-left:4px;color:#c7d2fe}
.err{color:#fda4af}
svg text{font-family:inherit}
"#;

const JS: &str = r##"
(function(){
'use strict';
const $=s=>document.querySelector(s);
let S=JSON.parse($('#summary-data').textContent);
const esc=s=>String(s==null?'':s).replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const pct=v=>{const p=v*100;return (p!==0&&p<10?p.toFixed(2):p.toFixed(1))+'<small>%</small>';};
const ms=v=>{if(v==null)return '&mdash;';const m=v*1000;return (m<1?m.toFixed(2):m<10?m.toFixed(1):m.toFixed(0))+'<small>ms</small>';};
const rate=v=>v<10?v.toFixed(2):v<100?v.toFixed(1):v.toFixed(0);
const hhmm=t=>{const d=new Date(t*1000);return String(d.getHours()).padStart(2,'0')+':'+String(d.getMinutes()).padStart(2,'0');};
const ago=t=>{const s=Math.max(0,Math.round(Date.now()/1000-t));return s<90?s+' s ago':s<5400?Math.round(s/60)+' min ago':s<172800?Math.round(s/3600)+' h ago':Math.round(s/86400)+' d ago';};
const winLabel=s=>s%3600===0?'last '+s/3600+' h':s%60===0?'last '+s/60+' min':'last '+s+' s';
function setKpi(name,v,html){const el=document.querySelector('[data-kpi="'+name+'"]');if(!el)return;el.setAttribute('data-value',v==null?'':String(v));el.innerHTML=html;}
function setSub(name,html){const el=$('#sub-'+name);if(el)el.innerHTML=html;}
function ts(){document.querySelectorAll('.ts[data-ts]').forEach(e=>{e.textContent=ago(+e.getAttribute('data-ts'));});}
const NS='http://www.w3.org/2000/svg';
function nice(x){if(!(x>0))return 1;const e=Math.pow(10,Math.floor(Math.log10(x)));const f=x/e;return (f<=1?1:f<=2?2:f<=2.5?2.5:f<=5?5:10)*e;}
// A chart: bars and lines over the bucket labels. o={labels,series:[{values,color,kind,area}],fmt,min}
function chart(svg,o){
  const w=svg.clientWidth||400,h=svg.clientHeight||200;svg.setAttribute('viewBox','0 0 '+w+' '+h);
  const L=66,R=10,T=10,B=24,W=w-L-R,H=h-T-B,n=o.labels.length,bw=W/Math.max(1,n);
  let max=0;o.series.forEach(s=>s.values.forEach(v=>{if(v!=null&&v>max)max=v;}));
  const step=nice(Math.max(max*1.1,o.min||0)/4),top=step*4;const y=v=>T+H-(v/top)*H;const x=i=>L+bw*(i+.5);
  let g='<defs>'+o.series.map((s,k)=>'<linearGradient id="'+svg.id+'g'+k+'" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="'+s.color+'" stop-opacity=".35"/><stop offset="1" stop-color="'+s.color+'" stop-opacity="0"/></linearGradient>').join('')+'</defs>';
  for(let k=0;k<=4;k++){const v=top*k/4,yy=y(v);g+='<line x1="'+L+'" x2="'+(w-R)+'" y1="'+yy+'" y2="'+yy+'" stroke="#1d2838" stroke-width="1"/>';g+='<text x="'+(L-8)+'" y="'+(yy+4)+'" text-anchor="end" font-size="12" fill="#6b7a90">'+o.fmt(v,step)+'</text>';}
  o.labels.forEach((t,i)=>{if((n-1-i)%3===0)g+='<text x="'+x(i)+'" y="'+(h-6)+'" text-anchor="middle" font-size="12" fill="#6b7a90">'+esc(t)+'</text>';});
  const bars=o.series.filter(s=>s.kind==='bar');
  bars.forEach((s,k)=>{const gw=bw*.72/bars.length;s.values.forEach((v,i)=>{if(!v)return;const x0=x(i)-bw*.36+k*gw;g+='<rect x="'+(x0+1)+'" y="'+y(v)+'" width="'+Math.max(1,gw-2)+'" height="'+(T+H-y(v))+'" rx="3" fill="'+s.color+'" opacity=".9"/>';});});
  o.series.forEach((s,k)=>{if(s.kind==='bar')return;let d='',a='',run=[];const flush=()=>{if(!run.length)return;d+='M'+run.map(p=>p[0]+','+p[1]).join('L');if(s.area&&run.length>1)a+='M'+run[0][0]+','+(T+H)+'L'+run.map(p=>p[0]+','+p[1]).join('L')+'L'+run[run.length-1][0]+','+(T+H)+'Z';run=[];};
    s.values.forEach((v,i)=>{if(v==null){flush();}else run.push([x(i),y(v)]);});flush();
    if(a)g+='<path d="'+a+'" fill="url(#'+svg.id+'g'+k+')"/>';
    g+='<path d="'+d+'" fill="none" stroke="'+s.color+'" stroke-width="3" stroke-linejoin="round" stroke-linecap="round"/>';
    s.values.forEach((v,i)=>{if(v!=null)g+='<circle cx="'+x(i)+'" cy="'+y(v)+'" r="4" fill="#0f1623" stroke="'+s.color+'" stroke-width="2.5"/>';});
    let last=-1;s.values.forEach((v,i)=>{if(v!=null)last=i;});
    if(last>=0&&k===0){const v=s.values[last];g+='<text x="'+Math.min(x(last),w-R-4)+'" y="'+(y(v)-10)+'" text-anchor="end" font-size="14" font-weight="700" fill="'+s.color+'">'+o.fmt(v,0)+'</text>';}
  });
  if(max===0)g+='<text x="'+(L+W/2)+'" y="'+(T+H/2)+'" text-anchor="middle" font-size="15" fill="#5b6b80">waiting for traffic</text>';
  svg.innerHTML=g;
}
function spark(svg,vals,color){
  const w=svg.clientWidth||200,h=svg.clientHeight||30;svg.setAttribute('viewBox','0 0 '+w+' '+h);
  const max=Math.max(1,...vals),bw=w/vals.length;let g='';
  vals.forEach((v,i)=>{const bh=v?Math.max(2,v/max*h):1;g+='<rect x="'+(i*bw)+'" y="'+(h-bh)+'" width="'+Math.max(1,bw-1)+'" height="'+bh+'" rx="1" fill="'+color+'" opacity="'+(v?.85:.25)+'"/>';});
  svg.innerHTML=g;
}
const dec=(step,scale)=>{if(!step)return 1;const d=step*scale;return d>=1&&Math.abs(d-Math.round(d))<1e-9?0:d>=.1&&Math.abs(d*10-Math.round(d*10))<1e-9?1:2;};
const pctAxis=(v,step)=>(v*100).toFixed(dec(step,100))+'%';
const countAxis=v=>v>=1000?(v/1000).toFixed(1)+'k':String(Math.round(v));
const msAxis=(v,step)=>(v*1000).toFixed(dec(step,1000))+' ms';
function registry(rows,err){
  const keys=[...new Set(rows.flatMap(r=>Object.keys(r.metrics||{})))].sort();
  let t='<thead><tr><th>Version</th><th>Model</th><th>Status</th><th>Created</th>'+keys.map(k=>'<th class="r">'+esc(k)+'</th>').join('')+'</tr></thead><tbody>';
  rows.slice().reverse().forEach(r=>{t+='<tr class="'+(r.serving?'serving':'')+'"><td><div class="mono">'+esc(r.version)+'</div><div class="note">'+esc(r.note)+'</div></td><td>'+esc(r.model)+'</td><td><span class="pill st-'+esc(r.status)+'">'+esc(r.status)+'</span></td><td class="ts" data-ts="'+r.created_unix+'"></td>'+keys.map(k=>'<td class="r mono">'+(r.metrics[k]==null?'&mdash;':r.metrics[k].toFixed(4))+'</td>').join('')+'</tr>';});
  $('#registry').innerHTML=t+'</tbody>';
  $('#reg-hint').textContent=err||(rows.length+' version'+(rows.length===1?'':'s'));
}
function renderExperiments(list){
  if(!list||!list.length)return;
  const f=(x)=>x==null?'&ndash;':(100*x).toFixed(2)+'%';
  let h='';
  for(const r of list){
    h+='<div class="exp-one"><div class="exp-head"><b>'+esc(r.experiment)+'</b> <span class="sub">'+(r.days_running||0).toFixed(1)+' days &middot; '+esc(r.decision)+'</span></div>';
    h+='<table class="xt"><colgroup><col style="width:27%"><col style="width:13%"><col style="width:26%"><col style="width:18%"><col style="width:16%"></colgroup><thead><tr><th>arm</th><th>users</th><th>CTR</th><th>lift</th><th>p</th></tr></thead><tbody>';
    for(const a of r.arms){
      const lift=a.ctr_lift?(a.ctr_lift.lift>=0?'+':'')+(100*a.ctr_lift.lift).toFixed(1)+'%':'control';
      const p=a.ctr_p_value==null?'&ndash;':(a.ctr_p_value<1e-3?a.ctr_p_value.toExponential(1):a.ctr_p_value.toFixed(3));
      h+='<tr><td>'+esc(a.name)+'</td><td data-exp-users="'+esc(a.name)+'">'+a.users+'</td><td data-exp-ctr="'+esc(a.name)+'" data-value="'+a.ctr.value+'">'+f(a.ctr.value)+'<span class="sub">'+f(a.ctr.ci.low)+' &ndash; '+f(a.ctr.ci.high)+'</span></td><td>'+lift+'</td><td>'+p+'</td></tr>';
    }
    h+='</tbody></table></div>';
  }
  $('#experiments').innerHTML=h;
}
function render(s){
  S=s;const k=s.kpis,m=s.model,win=winLabel(k.window_secs);
  renderExperiments(s.experiments);
  setKpi('ctr',k.ctr,pct(k.ctr));setSub('ctr',k.clicks+' clicks &middot; '+k.shown+' shown');
  setKpi('bounce_rate',k.bounce_rate,pct(k.bounce_rate));setSub('bounce_rate',k.bounces+' of '+k.views+' views');
  setKpi('cache_hit_ratio',k.cache_hit_ratio,pct(k.cache_hit_ratio));setSub('cache_hit_ratio',k.cache_hits+' of '+k.cache_lookups+' lookups');
  setKpi('coverage',k.coverage,pct(k.coverage));setSub('coverage',k.served_items+' of '+m.n_items+' items served');$('#win').textContent=win;
  setKpi('diversity',k.diversity,k.diversity.toFixed(2));
  const money=v=>(v<1000?v.toFixed(2):v.toFixed(0))+'<small> '+esc(k.currency)+'</small>';
  setKpi('revenue_per_hour',k.revenue_per_hour,money(k.revenue_per_hour));setSub('revenue_per_hour',(k.revenue<1000?k.revenue.toFixed(2):k.revenue.toFixed(0))+' '+esc(k.currency)+' &middot; '+k.purchases+' purchases');
  setKpi('revenue_per_1000',k.revenue_per_1000_recommendations,money(k.revenue_per_1000_recommendations));setSub('revenue_per_1000',k.recommendations+' lists served');
  setKpi('rec_p50',k.rec_p50_seconds,ms(k.rec_p50_seconds));setKpi('rec_p99',k.rec_p99_seconds,ms(k.rec_p99_seconds));
  setKpi('all_p50',k.all_p50_seconds,ms(k.all_p50_seconds));setKpi('all_p99',k.all_p99_seconds,ms(k.all_p99_seconds));
  setKpi('requests_per_sec',k.requests_per_sec,rate(k.requests_per_sec));setKpi('events_per_sec',k.events_per_sec,rate(k.events_per_sec));
  $('#m-type').textContent=m.model;$('#m-version').textContent=m.model_version;
  $('#m-meta').innerHTML=m.n_items+' items &middot; '+esc(m.mode)+' &middot; loaded <span class="ts" data-ts="'+m.loaded_unix+'"></span>';
  const labels=s.series.map(p=>hhmm(p.start));
  chart($('#chart-ctr'),{labels,fmt:pctAxis,min:.01,series:[{values:s.series.map(p=>p.ctr),color:'#2dd4bf',area:true},{values:s.series.map(p=>p.bounce_rate),color:'#f472b6'}]});
  chart($('#chart-traffic'),{labels,fmt:countAxis,min:4,series:[{values:s.series.map(p=>p.requests),color:'#38bdf8',kind:'bar'},{values:s.series.map(p=>p.events),color:'#34d399',kind:'bar'}]});
  chart($('#chart-latency'),{labels,fmt:msAxis,min:.001,series:[{values:s.series.map(p=>p.rec_p99_seconds),color:'#f43f5e',area:true},{values:s.series.map(p=>p.rec_p50_seconds),color:'#fb923c'}]});
  spark($('#spark-requests_per_sec'),s.last_minute.map(p=>p.requests),'#38bdf8');
  spark($('#spark-events_per_sec'),s.last_minute.map(p=>p.events),'#34d399');
  registry(s.registry,s.registry_error);
  ts();
}
function live(ok,at){$('#live-dot').className='dot'+(ok?'':' off');$('#live-text').textContent=ok?'live · updated '+new Date(at*1000).toLocaleTimeString([], {hour12:false}):'offline, retrying';}
// A key for the user-data routes the try-it panel reads (a user's events): given once as `#key=...` (a
// fragment never reaches a server or its logs), kept for the tab's session only.
const KEY=(()=>{const m=location.hash.match(/key=([^&]+)/);if(m){sessionStorage.setItem('tastebud-key',decodeURIComponent(m[1]));history.replaceState(null,'',location.pathname+location.search);}return sessionStorage.getItem('tastebud-key')||'';})();
async function getJson(u){const r=await fetch(u,{cache:'no-store',headers:KEY?{'x-api-key':KEY}:{}});const b=await r.json().catch(()=>({}));if(!r.ok)throw new Error(b.message||b.error||('HTTP '+r.status));return b;}
async function refresh(){try{const s=await getJson('/v1/dashboard/summary');render(s);live(true,s.generated_unix);}catch(e){live(false);}}
function evLabel(e){let x=e.type;if(e.type==='view'&&e.dwell_ms!=null)x+=' '+Math.round(e.dwell_ms/1000)+'s';if(e.type==='rating'&&e.value!=null)x+=' '+e.value;return x;}
async function tryIt(user){
  user=(user||'').trim();if(!user)return;
  const u=encodeURIComponent(user);history.replaceState(null,'','?user='+u);
  $('#try-meta').textContent='loading…';
  try{
    const [ev,rec]=await Promise.all([getJson('/v1/users/'+u+'/events?limit=20').catch(e=>({events:[],error:e.message})),getJson('/v1/users/'+u+'/recommendations?k=10')]);
    const events=ev.events.map(x=>x.event).reverse();
    const ids=[...new Set(events.filter(e=>e.item).map(e=>e.item))];
    const titles={};rec.items.forEach(i=>{if(i.title)titles[i.item]=i.title;});
    await Promise.all(ids.filter(i=>!titles[i]).map(i=>getJson('/v1/items/'+encodeURIComponent(i)).then(r=>{if(r.title)titles[i]=r.title;}).catch(()=>{})));
    $('#history').innerHTML=ev.error?'<li class="muted">history: '+esc(ev.error)+' (open the page with #key=SERVICE_KEY)</li>':events.length?events.map(e=>'<li><span class="ev ev-'+esc(e.type)+'">'+esc(evLabel(e))+'</span>'+(e.item?esc(titles[e.item]||e.item):esc((e.items||[]).length+' items shown'))+'</li>').join(''):'<li class="muted">no events stored for this user'+(rec.cold_start?'':' (history from the training data)')+'</li>';
    $('#recs').innerHTML=rec.items.length?rec.items.map((it,i)=>{const because=(it.because||[]).slice(0,3).map(b=>'<span class="chip">'+esc(b.title||b.item)+'</span>').join('');
      return '<li><span class="rank">'+(i+1)+'</span><span class="title">'+esc(it.title||it.item)+'</span><span class="score mono">'+esc(it.item)+' &middot; '+it.score.toFixed(3)+'</span><span class="why">'+(it.reason?esc(it.reason):because?'<b>because</b>'+because:'')+'</span></li>';}).join(''):'<li class="muted">nothing to recommend</li>';
    $('#try-meta').innerHTML='<b>'+esc(user)+'</b> &middot; '+esc(rec.strategy)+(rec.fallback?' ('+esc(rec.fallback)+')':'')+' &middot; '+esc(rec.model_version)+(rec.cached?' &middot; cached':'');
  }catch(e){$('#try-meta').innerHTML='<span class="err">'+esc(e.message)+'</span>';}
}
function clock(){const d=new Date();$('#clock').textContent=d.toLocaleTimeString([], {hour12:false});}
$('#try-form').addEventListener('submit',e=>{e.preventDefault();tryIt($('#user').value).then(refresh);});
render(S);live(true,S.generated_unix);clock();setInterval(clock,1000);setInterval(ts,10000);
tryIt($('#user').value).finally(()=>{refresh();setInterval(refresh,Math.max(1,S.refresh_secs)*1000);});
})();
"##;
