//! `/metrics` in the Prometheus text exposition format (the `prometheus` crate without its protobuf
//! feature; one registry per server, so tests can run many servers in one process).
//!
//! Labels are bounded: route *templates* (never raw paths or user ids), model types, experiment arms, event
//! types, cache results. Rates (CTR, bounce rate, cache hit ratio, coverage and diversity of what was
//! served) are also published as gauges over a sliding window (`monitoring.window_secs`), so a wall screen
//! needs no PromQL; the counters behind them are there for Prometheus to compute any other window.
//!
//! Revenue: purchase events with an `amount` (in the deployment's currency, `[revenue] currency`; other
//! currencies are converted at ingestion or refused, see [`RevenueConfig`]) add to
//! `tastebud_revenue_total`; the window gives the revenue rate (`tastebud_revenue_per_hour`) and the
//! revenue per 1,000 recommendation lists served (`tastebud_revenue_per_1000_recommendations`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use prometheus::{
    Counter, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tastebud_core::ItemIdx;
use tastebud_store::{Event, EventType};

/// Every metric the server exports (names are part of the API: the Grafana dashboard queries them).
pub const METRIC_NAMES: &[&str] = &[
    "tastebud_http_requests_total",
    "tastebud_http_request_duration_seconds",
    "tastebud_recommendations_total",
    "tastebud_recommended_items_total",
    "tastebud_cache_requests_total",
    "tastebud_cache_hit_ratio",
    "tastebud_events_total",
    "tastebud_impressions_items_total",
    "tastebud_clicks_total",
    "tastebud_ctr",
    "tastebud_view_dwell_seconds",
    "tastebud_views_total",
    "tastebud_bounces_total",
    "tastebud_bounce_rate",
    "tastebud_served_catalog_coverage",
    "tastebud_served_diversity",
    "tastebud_model_info",
    "tastebud_model_items",
    "tastebud_model_load_failures_total",
    "tastebud_event_log_head_seq",
    "tastebud_event_log_lag_events",
    "tastebud_event_delay_seconds",
    "tastebud_uptime_seconds",
    "tastebud_revenue_total",
    "tastebud_purchases_with_amount_total",
    "tastebud_cart_amount_total",
    "tastebud_revenue_per_hour",
    "tastebud_revenue_per_1000_recommendations",
];

/// Money (`[revenue]`): the deployment's currency, conversion rates into it, and how experiment reports
/// test revenue.
///
/// ```
/// let r: tastebud_server::metrics::RevenueConfig = toml::from_str(r#"
///     currency = "EUR"
///     rates = { USD = 0.5 }
/// "#).unwrap();
/// r.validate().unwrap();
/// assert_eq!(r.convert(10.0, Some("USD")).unwrap(), (5.0, "EUR".to_string()));
/// assert_eq!(r.convert(10.0, None).unwrap(), (10.0, "EUR".to_string()));
/// assert!(r.convert(10.0, Some("GBP")).unwrap_err().contains("GBP"));
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevenueConfig {
    /// The deployment's currency (ISO 4217, e.g. `"EUR"`): amounts without a `currency` are in it, and
    /// every reported amount is. By default, `"USD"`.
    pub currency: String,
    /// Conversion rates into `currency`: `{ EUR = 1.08 }` reads "one EUR is 1.08 of `currency`". An
    /// event's amount in a listed currency is converted when it is received (and stored converted, with
    /// `currency` set to the deployment's); an amount in any other currency is refused (422). By default,
    /// none.
    pub rates: BTreeMap<String, f64>,
    /// Experiment reports winsorise per-user revenue at this quantile of the buyers' revenue before the
    /// test, in `(0, 1]` (`1`: no cap). By default, 0.99.
    pub winsor_quantile: f64,
    /// Planned minimum detectable effect on revenue per user, relative, for the reports' sample size.
    /// By default, 0.05.
    pub mde: f64,
}

impl Default for RevenueConfig {
    fn default() -> Self {
        RevenueConfig {
            currency: "USD".into(),
            rates: BTreeMap::new(),
            winsor_quantile: tastebud_experiment::report::DEFAULT_WINSOR_QUANTILE,
            mde: tastebud_experiment::report::DEFAULT_REVENUE_MDE,
        }
    }
}

impl RevenueConfig {
    /// Checks the codes, the rates (finite, positive) and the test settings.
    ///
    /// # Errors
    ///
    /// A message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if !tastebud_store::is_currency_code(&self.currency) {
            return Err(format!(
                "revenue.currency: `{}` is not an ISO 4217 code (three capital letters, like EUR)",
                self.currency
            ));
        }
        for (code, &rate) in &self.rates {
            if !tastebud_store::is_currency_code(code) {
                return Err(format!(
                    "revenue.rates: `{code}` is not an ISO 4217 code (three capital letters)"
                ));
            }
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "revenue.rates.{code}: must be a finite number above 0, got {rate}"
                ));
            }
        }
        if !(self.winsor_quantile > 0.0 && self.winsor_quantile <= 1.0) {
            return Err(format!(
                "revenue.winsor_quantile: must be in (0, 1], got {}",
                self.winsor_quantile
            ));
        }
        if !(self.mde.is_finite() && self.mde != 0.0) {
            return Err(format!(
                "revenue.mde: must be finite and non-zero, got {}",
                self.mde
            ));
        }
        Ok(())
    }

    /// An amount in `currency` (`None`: the deployment's) as `(amount, code)` in the deployment's
    /// currency.
    ///
    /// # Errors
    ///
    /// A message for a currency that is neither the deployment's nor in `rates`.
    pub fn convert(&self, amount: f64, currency: Option<&str>) -> Result<(f64, String), String> {
        match currency {
            None => Ok((amount, self.currency.clone())),
            Some(c) if c == self.currency => Ok((amount, self.currency.clone())),
            Some(c) => match self.rates.get(c) {
                Some(rate) => Ok((amount * rate, self.currency.clone())),
                None => Err(format!(
                    "currency: this deployment takes {}{}; `{c}` has no conversion rate ([revenue] rates)",
                    self.currency,
                    if self.rates.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (or {})",
                            self.rates.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    }
                )),
            },
        }
    }
}

/// Settings of the monitoring window and the bounce rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Monitoring {
    /// Sliding window of the rate gauges (CTR, bounce rate, coverage, diversity, hit ratio), seconds.
    pub window_secs: u64,
    /// A view shorter than this is a bounce, unless the user acts on the item within `bounce_grace_secs`.
    pub bounce_ms: u64,
    /// Grace period for a short view to be followed by a click, like, add-to-cart or purchase.
    pub bounce_grace_secs: u64,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            window_secs: 3600,
            bounce_ms: 5000,
            bounce_grace_secs: 30,
        }
    }
}

/// The route template of personalised recommendations (the dashboard's "recommendation latency").
pub const RECOMMENDATION_ROUTE: &str = "/v1/users/{id}/recommendations";

/// Route templates that watch the server rather than serve its clients: Prometheus scrapes, the
/// dashboard and its polling, health probes. They are counted in `tastebud_http_request_duration_seconds`
/// like every route, but left out of the dashboard's "API latency" ([`Metrics::latency_quantile`] with
/// `None`), which would otherwise drift with how often somebody looks: at low traffic a dashboard
/// polling every few seconds and a probe every ten are most of the requests.
pub const MONITORING_ROUTES: &[&str] = &[
    "/metrics",
    "/dashboard",
    "/v1/dashboard/summary",
    "/healthz",
    "/readyz",
];

/// Whether `route` is one of the [`MONITORING_ROUTES`].
///
/// ```
/// use tastebud_server::metrics::is_monitoring_route;
/// assert!(is_monitoring_route("/metrics"));
/// assert!(!is_monitoring_route("/v1/users/{id}/recommendations"));
/// ```
pub fn is_monitoring_route(route: &str) -> bool {
    MONITORING_ROUTES.contains(&route)
}

/// Upper bounds of the `tastebud_http_request_duration_seconds` buckets (`+Inf` implied).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// One bucket of the sliding window (one per `window / BUCKETS` seconds).
#[derive(Default)]
struct Bucket {
    start: i64,
    shown: u64,
    clicks: u64,
    views: u64,
    bounces: u64,
    hits: u64,
    misses: u64,
    requests: u64,
    events: u64,
    /// Revenue of purchases with an amount.
    revenue: f64,
    /// Purchases with an amount.
    purchases: u64,
    /// Recommendation lists served.
    lists: u64,
    /// Requests to [`RECOMMENDATION_ROUTE`] per latency bucket (not cumulative; the last is `+Inf`).
    latency_rec: Vec<u64>,
    /// Requests to every route but the [`MONITORING_ROUTES`] per latency bucket.
    latency_all: Vec<u64>,
    served: HashMap<ItemIdx, u32>,
}

/// Buckets in the sliding window.
pub const BUCKETS: i64 = 12;

/// Seconds kept by the per-second ring behind requests/s and events/s.
pub const RATE_SECS: i64 = 60;

/// One second of the per-second ring: (unix second, requests, events).
#[derive(Clone, Copy, Default)]
struct Second {
    at: i64,
    requests: u64,
    events: u64,
}

struct Window {
    buckets: VecDeque<Bucket>,
    /// Short views waiting for their grace period: (user, item) -> deadline.
    pending: HashMap<(String, String), i64>,
    /// Requests and events of the last [`RATE_SECS`] seconds, indexed by `second % RATE_SECS`.
    seconds: [Second; RATE_SECS as usize],
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    settings: Monitoring,
    started: std::time::Instant,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    recommendations: IntCounterVec,
    recommended_items: IntCounterVec,
    cache: IntCounterVec,
    cache_hit_ratio: Gauge,
    events: IntCounterVec,
    shown: IntCounter,
    clicks: IntCounter,
    ctr: Gauge,
    dwell: Histogram,
    views: IntCounter,
    bounces: IntCounter,
    bounce_rate: Gauge,
    coverage: Gauge,
    diversity: Gauge,
    model_info: IntGaugeVec,
    model_items: IntGauge,
    model_load_failures: IntCounterVec,
    log_head: IntGauge,
    log_lag: IntGaugeVec,
    event_delay: Histogram,
    uptime: Gauge,
    revenue: Counter,
    purchases_with_amount: IntCounter,
    cart_amount: Counter,
    revenue_per_hour: Gauge,
    revenue_per_1000: Gauge,
    window: Mutex<Window>,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    r.register(Box::new(m.clone()))
        .expect("metric names are unique constants");
    m
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new(settings: Monitoring) -> Metrics {
        let r = Registry::new();
        let latency_buckets = LATENCY_BUCKETS.to_vec();
        let m = Metrics {
            http_requests: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "tastebud_http_requests_total",
                        "HTTP requests by route template, method and status code.",
                    ),
                    &["route", "method", "status"],
                )
                .expect("valid"),
            ),
            http_duration: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "tastebud_http_request_duration_seconds",
                        "HTTP request latency by route template, model and experiment arm.",
                    )
                    .buckets(latency_buckets),
                    &["route", "model", "arm"],
                )
                .expect("valid"),
            ),
            recommendations: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "tastebud_recommendations_total",
                        "Recommendation lists served, by model, strategy (realtime, batch, cold_start) and arm.",
                    ),
                    &["model", "strategy", "arm"],
                )
                .expect("valid"),
            ),
            recommended_items: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "tastebud_recommended_items_total",
                        "Items in the recommendation lists served, by model.",
                    ),
                    &["model"],
                )
                .expect("valid"),
            ),
            cache: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "tastebud_cache_requests_total",
                        "Lookups of the recommendation cache by result (hit, miss).",
                    ),
                    &["result"],
                )
                .expect("valid"),
            ),
            cache_hit_ratio: reg(
                &r,
                Gauge::new(
                    "tastebud_cache_hit_ratio",
                    "Share of cache lookups that hit, over the monitoring window.",
                )
                .expect("valid"),
            ),
            events: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "tastebud_events_total",
                        "Events durably written, by type.",
                    ),
                    &["type"],
                )
                .expect("valid"),
            ),
            shown: reg(
                &r,
                IntCounter::new(
                    "tastebud_impressions_items_total",
                    "Items shown to users, from impression events.",
                )
                .expect("valid"),
            ),
            clicks: reg(
                &r,
                IntCounter::new("tastebud_clicks_total", "Click events.").expect("valid"),
            ),
            ctr: reg(
                &r,
                Gauge::new(
                    "tastebud_ctr",
                    "Click-through rate over the monitoring window: clicks / items shown.",
                )
                .expect("valid"),
            ),
            dwell: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "tastebud_view_dwell_seconds",
                        "Dwell time of view events.",
                    )
                    .buckets(vec![1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]),
                )
                .expect("valid"),
            ),
            views: reg(
                &r,
                IntCounter::new("tastebud_views_total", "View events.").expect("valid"),
            ),
            bounces: reg(
                &r,
                IntCounter::new(
                    "tastebud_bounces_total",
                    "Views shorter than monitoring.bounce_ms not followed by an action on the item within the grace period.",
                )
                .expect("valid"),
            ),
            model_load_failures: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "tastebud_model_load_failures_total",
                        "Model files refused at reload or file watch (the previous model kept serving), by reason: io, format, checksum, validation, index.",
                    ),
                    &["reason"],
                )
                .expect("valid"),
            ),
            bounce_rate: reg(
                &r,
                Gauge::new(
                    "tastebud_bounce_rate",
                    "Bounces / views over the monitoring window.",
                )
                .expect("valid"),
            ),
            coverage: reg(
                &r,
                Gauge::new(
                    "tastebud_served_catalog_coverage",
                    "Share of the catalogue recommended at least once over the monitoring window.",
                )
                .expect("valid"),
            ),
            diversity: reg(
                &r,
                Gauge::new(
                    "tastebud_served_diversity",
                    "Normalised entropy (0..1) of how often each item was recommended over the monitoring window.",
                )
                .expect("valid"),
            ),
            model_info: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("tastebud_model_info", "The model being served (value 1)."),
                    &["model", "version"],
                )
                .expect("valid"),
            ),
            model_items: reg(
                &r,
                IntGauge::new("tastebud_model_items", "Items in the served model's catalogue.")
                    .expect("valid"),
            ),
            log_head: reg(
                &r,
                IntGauge::new(
                    "tastebud_event_log_head_seq",
                    "Sequence number of the newest event in the log.",
                )
                .expect("valid"),
            ),
            log_lag: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "tastebud_event_log_lag_events",
                        "Events in the log not yet reflected by a consumer (model: its training data; batch: the precomputed lists).",
                    ),
                    &["consumer"],
                )
                .expect("valid"),
            ),
            event_delay: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "tastebud_event_delay_seconds",
                        "Delay between an event's timestamp and its durable write.",
                    )
                    .buckets(vec![0.1, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86400.0]),
                )
                .expect("valid"),
            ),
            uptime: reg(
                &r,
                Gauge::new("tastebud_uptime_seconds", "Seconds since the server started.")
                    .expect("valid"),
            ),
            revenue: reg(
                &r,
                Counter::new(
                    "tastebud_revenue_total",
                    "Sum of the amounts of purchase events, in the deployment's currency ([revenue] currency).",
                )
                .expect("valid"),
            ),
            purchases_with_amount: reg(
                &r,
                IntCounter::new(
                    "tastebud_purchases_with_amount_total",
                    "Purchase events that carried an amount.",
                )
                .expect("valid"),
            ),
            cart_amount: reg(
                &r,
                Counter::new(
                    "tastebud_cart_amount_total",
                    "Sum of the amounts of add-to-cart events, in the deployment's currency (cart value, not revenue).",
                )
                .expect("valid"),
            ),
            revenue_per_hour: reg(
                &r,
                Gauge::new(
                    "tastebud_revenue_per_hour",
                    "Revenue rate over the monitoring window: revenue / window length, per hour.",
                )
                .expect("valid"),
            ),
            revenue_per_1000: reg(
                &r,
                Gauge::new(
                    "tastebud_revenue_per_1000_recommendations",
                    "Revenue per 1,000 recommendation lists served, over the monitoring window.",
                )
                .expect("valid"),
            ),
            registry: r,
            settings,
            started: std::time::Instant::now(),
            window: Mutex::new(Window {
                buckets: VecDeque::new(),
                pending: HashMap::new(),
                seconds: [Second::default(); RATE_SECS as usize],
            }),
        };
        m.cache.with_label_values(&["hit"]);
        m.cache.with_label_values(&["miss"]);
        m.log_lag.with_label_values(&["model"]);
        m.log_lag.with_label_values(&["batch"]);
        for t in EventType::ALL {
            m.events.with_label_values(&[t.as_str()]);
        }
        m
    }

    /// Width of one bucket of the sliding window, seconds.
    pub fn bucket_secs(&self) -> i64 {
        (self.settings.window_secs as i64 / BUCKETS).max(1)
    }

    fn with_bucket(&self, now: i64, f: impl FnOnce(&mut Bucket)) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        self.bucket_in(&mut w, now, f);
    }

    fn bucket_in(&self, w: &mut Window, now: i64, f: impl FnOnce(&mut Bucket)) {
        let width = self.bucket_secs();
        let start = now - now.rem_euclid(width);
        if w.buckets.back().is_none_or(|b| b.start != start) {
            w.buckets.push_back(Bucket {
                start,
                ..Bucket::default()
            });
        }
        let horizon = now - self.settings.window_secs as i64;
        while w
            .buckets
            .front()
            .is_some_and(|b| b.start + width <= horizon)
        {
            w.buckets.pop_front();
        }
        if let Some(b) = w.buckets.back_mut() {
            f(b);
        }
    }

    /// Records one HTTP request.
    pub fn http(&self, route: &str, method: &str, status: u16, model: &str, arm: &str, secs: f64) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route, model, arm])
            .observe(secs);
        // The same bucket the histogram counts it in (upper bounds are inclusive).
        let le = LATENCY_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        let now = crate::now_unix();
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        second_in(&mut w, now).requests += 1;
        self.bucket_in(&mut w, now, |b| {
            b.requests += 1;
            if !is_monitoring_route(route) {
                b.latency_all.resize(LATENCY_BUCKETS.len() + 1, 0);
                b.latency_all[le] += 1;
            }
            if route == RECOMMENDATION_ROUTE {
                b.latency_rec.resize(LATENCY_BUCKETS.len() + 1, 0);
                b.latency_rec[le] += 1;
            }
        });
    }

    /// Records a served recommendation list.
    pub fn served(&self, model: &str, strategy: &str, arm: &str, items: &[ItemIdx], now: i64) {
        self.recommendations
            .with_label_values(&[model, strategy, arm])
            .inc();
        self.recommended_items
            .with_label_values(&[model])
            .inc_by(items.len() as u64);
        self.with_bucket(now, |b| {
            b.lists += 1;
            for &i in items {
                *b.served.entry(i).or_insert(0) += 1;
            }
        });
    }

    /// Records a cache lookup.
    pub fn cache_lookup(&self, hit: bool, now: i64) {
        self.cache
            .with_label_values(&[if hit { "hit" } else { "miss" }])
            .inc();
        self.with_bucket(now, |b| {
            if hit {
                b.hits += 1;
            } else {
                b.misses += 1;
            }
        });
    }

    /// Records durably written events (not duplicates).
    pub fn events(&self, events: &[Event], now: i64) {
        let mut shown = 0u64;
        let (mut clicks, mut views, mut bounces) = (0u64, 0u64, 0u64);
        let (mut revenue, mut purchases, mut cart) = (0.0f64, 0u64, 0.0f64);
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        for e in events {
            self.events.with_label_values(&[e.kind.as_str()]).inc();
            self.event_delay.observe((now - e.timestamp).max(0) as f64);
            match e.kind {
                EventType::Impression => shown += e.items.len() as u64,
                EventType::Click => clicks += 1,
                EventType::View => {
                    views += 1;
                    if let Some(d) = e.dwell_ms {
                        self.dwell.observe(d as f64 / 1000.0);
                        if d < self.settings.bounce_ms
                            && let Some(item) = &e.item
                        {
                            w.pending.insert(
                                (e.user.clone(), item.clone()),
                                now + self.settings.bounce_grace_secs as i64,
                            );
                        }
                    }
                }
                EventType::Purchase => {
                    if let Some(a) = e.amount {
                        revenue += a;
                        purchases += 1;
                    }
                }
                EventType::AddToCart => cart += e.amount.unwrap_or(0.0),
                _ => {}
            }
            if matches!(
                e.kind,
                EventType::Click | EventType::Like | EventType::AddToCart | EventType::Purchase
            ) && let Some(item) = &e.item
            {
                w.pending.remove(&(e.user.clone(), item.clone()));
            }
        }
        // Short views whose grace period is over are bounces.
        let before = w.pending.len();
        w.pending.retain(|_, deadline| *deadline > now);
        bounces += (before - w.pending.len()) as u64;
        if !events.is_empty() {
            second_in(&mut w, now).events += events.len() as u64;
        }
        drop(w);
        self.shown.inc_by(shown);
        self.clicks.inc_by(clicks);
        self.views.inc_by(views);
        self.bounces.inc_by(bounces);
        self.revenue.inc_by(revenue);
        self.purchases_with_amount.inc_by(purchases);
        self.cart_amount.inc_by(cart);
        self.with_bucket(now, |b| {
            b.revenue += revenue;
            b.purchases += purchases;
            b.shown += shown;
            b.clicks += clicks;
            b.views += views;
            b.bounces += bounces;
            b.events += events.len() as u64;
        });
    }

    /// Counts a model file refused at reload or file watch (`reason`: see
    /// [`tastebud_serve::LoadFailure`]).
    pub fn model_load_failed(&self, reason: &str) {
        self.model_load_failures.with_label_values(&[reason]).inc();
    }

    /// Publishes the model being served (the previous one's info series is removed).
    pub fn model(&self, model: &str, version: &str, n_items: usize) {
        self.model_info.reset();
        self.model_info.with_label_values(&[model, version]).set(1);
        // Series exist from the start (at 0), so dashboards and alerts see them before traffic.
        for strategy in ["realtime", "batch", "cold_start"] {
            self.recommendations
                .with_label_values(&[model, strategy, "none"]);
        }
        self.recommended_items.with_label_values(&[model]);
        self.model_items.set(n_items as i64);
        for reason in tastebud_serve::LoadFailure::ALL {
            self.model_load_failures
                .with_label_values(&[reason.as_str()]);
        }
    }

    /// Renders the exposition text; `head` is the log's newest seq, `model_seq` / `batch_seq` the newest
    /// seq each consumer reflects.
    pub fn render(
        &self,
        now: i64,
        n_items: usize,
        head: u64,
        model_seq: u64,
        batch_seq: Option<u64>,
    ) -> String {
        self.events(&[], now); // expire pending bounces
        self.uptime.set(self.started.elapsed().as_secs_f64());
        self.log_head.set(head as i64);
        self.log_lag
            .with_label_values(&["model"])
            .set(head.saturating_sub(model_seq) as i64);
        self.log_lag
            .with_label_values(&["batch"])
            .set(batch_seq.map_or(0, |s| head.saturating_sub(s)) as i64);
        let s = self.window_stats(now, n_items);
        self.ctr.set(s.ctr);
        self.bounce_rate.set(s.bounce_rate);
        self.cache_hit_ratio.set(s.hit_ratio);
        self.coverage.set(s.coverage);
        self.diversity.set(s.diversity);
        self.revenue_per_hour.set(s.revenue_per_hour);
        self.revenue_per_1000
            .set(s.revenue_per_1000_recommendations);
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The rates over the monitoring window.
    pub fn window_stats(&self, now: i64, n_items: usize) -> WindowStats {
        let horizon = now - self.settings.window_secs as i64;
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let mut t = Bucket::default();
        let mut served: HashMap<ItemIdx, u64> = HashMap::new();
        for b in w
            .buckets
            .iter()
            .filter(|b| b.start >= horizon - self.settings.window_secs as i64 / BUCKETS)
        {
            t.shown += b.shown;
            t.clicks += b.clicks;
            t.views += b.views;
            t.bounces += b.bounces;
            t.hits += b.hits;
            t.misses += b.misses;
            t.revenue += b.revenue;
            t.purchases += b.purchases;
            t.lists += b.lists;
            for (&i, &c) in &b.served {
                *served.entry(i).or_insert(0) += c as u64;
            }
        }
        drop(w);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let total: u64 = served.values().sum();
        let diversity = if served.len() > 1 && n_items > 1 {
            let h: f64 = served
                .values()
                .map(|&c| {
                    let p = c as f64 / total as f64;
                    -p * p.ln()
                })
                .sum();
            h / (n_items as f64).ln()
        } else {
            0.0
        };
        WindowStats {
            ctr: ratio(t.clicks, t.shown),
            bounce_rate: ratio(t.bounces, t.views),
            hit_ratio: ratio(t.hits, t.hits + t.misses),
            coverage: if n_items == 0 {
                0.0
            } else {
                served.len() as f64 / n_items as f64
            },
            diversity,
            shown: t.shown,
            clicks: t.clicks,
            views: t.views,
            bounces: t.bounces,
            hits: t.hits,
            lookups: t.hits + t.misses,
            served_items: served.len() as u64,
            revenue: t.revenue,
            purchases: t.purchases,
            recommendations: t.lists,
            revenue_per_hour: t.revenue * 3600.0 / self.settings.window_secs.max(1) as f64,
            revenue_per_1000_recommendations: if t.lists == 0 {
                0.0
            } else {
                1000.0 * t.revenue / t.lists as f64
            },
        }
    }

    /// A quantile of `tastebud_http_request_duration_seconds` since the server started, over the series
    /// of one route template (`None`: every route but the [`MONITORING_ROUTES`]), computed like
    /// Prometheus' `histogram_quantile(q, sum by (le) (tastebud_http_request_duration_seconds_bucket{route="..."}))`
    /// (with `None`: `{route!~"/metrics|/dashboard|..."}`; [`histogram_quantile`]). `None` when no
    /// request was observed.
    pub fn latency_quantile(&self, q: f64, route: Option<&str>) -> Option<f64> {
        use prometheus::core::Collector;
        let mut cumulative = vec![0u64; LATENCY_BUCKETS.len()];
        let mut count = 0u64;
        for family in self.http_duration.collect() {
            for m in family.get_metric() {
                let series_route = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "route")
                    .map_or("", |l| l.value());
                let matches = match route {
                    Some(r) => series_route == r,
                    None => !is_monitoring_route(series_route),
                };
                if !matches {
                    continue;
                }
                let h = m.get_histogram();
                count += h.get_sample_count();
                for (c, b) in cumulative.iter_mut().zip(h.get_bucket()) {
                    *c += b.cumulative_count();
                }
            }
        }
        let mut buckets: Vec<(f64, f64)> = LATENCY_BUCKETS
            .iter()
            .zip(&cumulative)
            .map(|(&le, &c)| (le, c as f64))
            .collect();
        buckets.push((f64::INFINITY, count as f64));
        histogram_quantile(q, &buckets)
    }

    /// Requests per second and events per second over the last [`RATE_SECS`] seconds, from a per-second
    /// ring (divided by the server's age while it is younger than that).
    pub fn rates(&self, now: i64) -> (f64, f64) {
        let (requests, events) = self
            .last_minute(now)
            .iter()
            .fold((0, 0), |(r, e), s| (r + s.requests, e + s.events));
        let span = (self.started.elapsed().as_secs_f64().ceil() as i64).clamp(1, RATE_SECS) as f64;
        (requests as f64 / span, events as f64 / span)
    }

    /// The per-second ring: one point per second of the last [`RATE_SECS`] seconds, oldest first.
    pub fn last_minute(&self, now: i64) -> Vec<SecondPoint> {
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        (now - RATE_SECS + 1..=now)
            .map(|t| {
                let s = w.seconds[t.rem_euclid(RATE_SECS) as usize];
                let (requests, events) = if s.at == t {
                    (s.requests, s.events)
                } else {
                    (0, 0)
                };
                SecondPoint {
                    t,
                    requests,
                    events,
                }
            })
            .collect()
    }

    /// The sliding window bucket by bucket, oldest first: [`BUCKETS`] points ending with the current
    /// bucket (buckets without traffic are zeros, their rates `None`).
    pub fn window_series(&self, now: i64) -> Vec<SeriesPoint> {
        let width = self.bucket_secs();
        let current = now - now.rem_euclid(width);
        let w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        (0..BUCKETS)
            .rev()
            .map(|k| {
                let start = current - k * width;
                let empty = Bucket::default();
                let b = w
                    .buckets
                    .iter()
                    .find(|b| b.start == start)
                    .unwrap_or(&empty);
                let ratio = |a: u64, n: u64| (n > 0).then(|| a as f64 / n as f64);
                let quantile = |counts: &[u64], q: f64| {
                    let mut acc = 0u64;
                    let mut buckets: Vec<(f64, f64)> = Vec::with_capacity(counts.len());
                    for (i, c) in counts.iter().enumerate() {
                        acc += c;
                        buckets.push((
                            *LATENCY_BUCKETS.get(i).unwrap_or(&f64::INFINITY),
                            acc as f64,
                        ));
                    }
                    histogram_quantile(q, &buckets)
                };
                SeriesPoint {
                    start,
                    shown: b.shown,
                    clicks: b.clicks,
                    ctr: ratio(b.clicks, b.shown),
                    views: b.views,
                    bounces: b.bounces,
                    bounce_rate: ratio(b.bounces, b.views),
                    hits: b.hits,
                    misses: b.misses,
                    hit_ratio: ratio(b.hits, b.hits + b.misses),
                    requests: b.requests,
                    events: b.events,
                    served_items: b.served.len() as u64,
                    revenue: b.revenue,
                    recommendations: b.lists,
                    rec_p50_seconds: quantile(&b.latency_rec, 0.5),
                    rec_p99_seconds: quantile(&b.latency_rec, 0.99),
                    all_p50_seconds: quantile(&b.latency_all, 0.5),
                    all_p99_seconds: quantile(&b.latency_all, 0.99),
                }
            })
            .collect()
    }

    /// Seconds since the server started.
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Expires short views whose grace period is over (they become bounces), as a scrape does.
    pub fn tick(&self, now: i64) {
        self.events(&[], now);
    }
}

fn second_in(w: &mut Window, now: i64) -> &mut Second {
    let s = &mut w.seconds[now.rem_euclid(RATE_SECS) as usize];
    if s.at != now {
        *s = Second {
            at: now,
            ..Second::default()
        };
    }
    s
}

/// The `q`-quantile of a histogram given as `(upper bound, cumulative count)` pairs sorted by upper bound
/// and ending with `+Inf`, exactly as Prometheus' `histogram_quantile` computes it: the bucket holding the
/// rank `q * count` is found and the value interpolated linearly inside it (from 0 for the first bucket);
/// a rank in the `+Inf` bucket answers the highest finite bound. `None` where Prometheus answers NaN (no
/// observations, no `+Inf` bucket, fewer than two buckets); `q` outside 0..=1 gives -Inf or +Inf.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    let n = buckets.len();
    if n < 2 || buckets[n - 1].0 != f64::INFINITY {
        return None;
    }
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return None;
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1]
        .iter()
        .position(|&(_, c)| c >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return Some(buckets[n - 2].0);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return Some(buckets[0].0);
    }
    let (bucket_end, mut count) = buckets[b];
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    Some(bucket_start + (bucket_end - bucket_start) * (rank / count))
}

/// One second of traffic.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SecondPoint {
    /// Unix second.
    pub t: i64,
    /// HTTP requests answered in that second.
    pub requests: u64,
    /// Events durably written in that second.
    pub events: u64,
}

/// One bucket of the sliding window.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    /// Unix time the bucket starts.
    pub start: i64,
    /// Items shown (impressions).
    pub shown: u64,
    /// Clicks.
    pub clicks: u64,
    /// Clicks / items shown; `None` when nothing was shown.
    pub ctr: Option<f64>,
    /// Views.
    pub views: u64,
    /// Bounces.
    pub bounces: u64,
    /// Bounces / views; `None` without views.
    pub bounce_rate: Option<f64>,
    /// Cache hits.
    pub hits: u64,
    /// Cache misses.
    pub misses: u64,
    /// Hits / lookups; `None` without lookups.
    pub hit_ratio: Option<f64>,
    /// HTTP requests (every route).
    pub requests: u64,
    /// Events durably written.
    pub events: u64,
    /// Distinct items recommended.
    pub served_items: u64,
    /// Revenue of the purchases with an amount, in the deployment's currency.
    pub revenue: f64,
    /// Recommendation lists served.
    pub recommendations: u64,
    /// Median latency of the recommendation route in this bucket, seconds (Prometheus' interpolation).
    pub rec_p50_seconds: Option<f64>,
    /// 99th percentile latency of the recommendation route in this bucket, seconds.
    pub rec_p99_seconds: Option<f64>,
    /// Median latency of every route but the monitoring ones (`/metrics`, `/dashboard`,
    /// `/v1/dashboard/summary`, `/healthz`, `/readyz`) in this bucket, seconds.
    pub all_p50_seconds: Option<f64>,
    /// 99th percentile latency of the same routes in this bucket, seconds.
    pub all_p99_seconds: Option<f64>,
}

/// Rates over the monitoring window.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct WindowStats {
    /// Clicks / items shown.
    pub ctr: f64,
    /// Bounces / views.
    pub bounce_rate: f64,
    /// Cache hits / lookups.
    pub hit_ratio: f64,
    /// Distinct items served / catalogue size.
    pub coverage: f64,
    /// Normalised entropy of the served-item distribution.
    pub diversity: f64,
    /// Items shown.
    pub shown: u64,
    /// Clicks.
    pub clicks: u64,
    /// Views.
    pub views: u64,
    /// Bounces.
    pub bounces: u64,
    /// Cache hits.
    pub hits: u64,
    /// Cache lookups.
    pub lookups: u64,
    /// Distinct items recommended.
    pub served_items: u64,
    /// Revenue of purchases with an amount, in the deployment's currency.
    pub revenue: f64,
    /// Purchases with an amount.
    pub purchases: u64,
    /// Recommendation lists served.
    pub recommendations: u64,
    /// Revenue per hour (revenue / window length).
    pub revenue_per_hour: f64,
    /// Revenue per 1,000 recommendation lists served (0 when none was served).
    pub revenue_per_1000_recommendations: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        let inf = f64::INFINITY;
        let h = [(0.1, 50.0), (0.5, 80.0), (1.0, 100.0), (inf, 100.0)];
        assert_eq!(histogram_quantile(0.5, &h), Some(0.1));
        assert!((histogram_quantile(0.9, &h).unwrap() - 0.75).abs() < 1e-12);
        assert!((histogram_quantile(0.25, &h).unwrap() - 0.05).abs() < 1e-12);
        // A rank in the +Inf bucket answers the highest finite bound.
        let h = [(0.1, 50.0), (1.0, 100.0), (inf, 120.0)];
        assert_eq!(histogram_quantile(0.99, &h), Some(1.0));
        assert_eq!(histogram_quantile(0.5, &[(0.1, 0.0), (inf, 0.0)]), None);
        assert_eq!(histogram_quantile(0.5, &[(0.1, 3.0)]), None);
        assert_eq!(histogram_quantile(1.5, &h), Some(inf));
    }

    #[test]
    fn revenue_counts_purchase_amounts_over_the_window() {
        let m = Metrics::new(Monitoring::default());
        let now = crate::now_unix();
        let ev = |kind: &str, amount: Option<f64>| -> Event {
            let mut v =
                serde_json::json!({"user": "u", "item": "i", "type": kind, "timestamp": now});
            if let Some(a) = amount {
                v["amount"] = a.into();
            }
            serde_json::from_value(v).unwrap()
        };
        for _ in 0..4 {
            m.served("ease", "realtime", "none", &[ItemIdx(0), ItemIdx(1)], now);
        }
        m.events(
            &[
                ev("purchase", Some(10.0)),
                ev("purchase", Some(2.5)),
                ev("purchase", None),
                ev("add_to_cart", Some(7.0)),
                ev("click", None),
            ],
            now,
        );
        let w = m.window_stats(now, 10);
        assert_eq!((w.revenue, w.purchases, w.recommendations), (12.5, 2, 4));
        assert!((w.revenue_per_1000_recommendations - 12.5 * 1000.0 / 4.0).abs() < 1e-9);
        assert!(
            (w.revenue_per_hour - 12.5).abs() < 1e-9,
            "the window is one hour"
        );
        let text = m.render(now, 10, 0, 0, None);
        assert!(text.contains("tastebud_revenue_total 12.5"), "{text}");
        assert!(text.contains("tastebud_purchases_with_amount_total 2"));
        assert!(text.contains("tastebud_cart_amount_total 7"));
        assert!(text.contains("tastebud_revenue_per_1000_recommendations 3125"));
        for name in METRIC_NAMES
            .iter()
            .filter(|n| n.contains("revenue") || n.contains("purchases") || n.contains("cart"))
        {
            assert!(text.contains(name), "{name} missing");
        }
        assert_eq!(m.window_series(now).last().unwrap().revenue, 12.5);
    }

    #[test]
    fn revenue_config_is_checked() {
        let ok = RevenueConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let bad = |f: fn(&mut RevenueConfig)| {
            let mut c = RevenueConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.currency = "usd".into()).starts_with("revenue.currency"));
        assert!(
            bad(|c| {
                c.rates.insert("EUR".into(), 0.0);
            })
            .starts_with("revenue.rates.EUR")
        );
        assert!(
            bad(|c| {
                c.rates.insert("euro".into(), 1.0);
            })
            .starts_with("revenue.rates")
        );
        assert!(bad(|c| c.winsor_quantile = 0.0).starts_with("revenue.winsor_quantile"));
        assert!(bad(|c| c.mde = f64::NAN).starts_with("revenue.mde"));
    }

    #[test]
    fn latency_quantile_reads_the_histogram_and_the_window_agrees() {
        let m = Metrics::new(Monitoring::default());
        for _ in 0..90 {
            m.http(RECOMMENDATION_ROUTE, "GET", 200, "ease", "none", 0.0015);
        }
        for _ in 0..10 {
            m.http(RECOMMENDATION_ROUTE, "GET", 200, "ease", "none", 0.03);
        }
        m.http("/metrics", "GET", 200, "ease", "none", 0.3);
        m.http("/v1/dashboard/summary", "GET", 200, "ease", "none", 0.3);
        // 90 in (0.001, 0.002], 10 in (0.02, 0.05]: the median is 0.001 + 0.001 * 50/90.
        let p50 = m.latency_quantile(0.5, Some(RECOMMENDATION_ROUTE)).unwrap();
        assert!((p50 - (0.001 + 0.001 * 50.0 / 90.0)).abs() < 1e-12);
        let p99 = m
            .latency_quantile(0.99, Some(RECOMMENDATION_ROUTE))
            .unwrap();
        assert!((p99 - (0.02 + 0.03 * 9.0 / 10.0)).abs() < 1e-12);
        // The API latency leaves the scrape and the dashboard's poll out: its maximum is the top of
        // (0.02, 0.05], not of the monitoring requests' (0.25, 0.5].
        let all = m.latency_quantile(1.0, None).unwrap();
        assert!((all - 0.05).abs() < 1e-12, "{all}");
        let scrape = m.latency_quantile(1.0, Some("/metrics")).unwrap();
        assert!((scrape - 0.5).abs() < 1e-12, "{scrape}");
        assert_eq!(m.latency_quantile(0.5, Some("/nowhere")), None);
        let now = crate::now_unix();
        let series = m.window_series(now);
        assert_eq!(series.len(), BUCKETS as usize);
        let last = series.last().unwrap();
        assert_eq!(last.requests, 102);
        assert_eq!(last.rec_p50_seconds, Some(p50));
        assert_eq!(last.all_p99_seconds, m.latency_quantile(0.99, None));
        let (rps, _) = m.rates(now);
        assert!(rps > 0.0);
        assert_eq!(
            m.last_minute(now).iter().map(|s| s.requests).sum::<u64>(),
            102
        );
    }
}
