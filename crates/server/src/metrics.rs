//! `/metrics` in the Prometheus text exposition format (the `prometheus` crate without its protobuf
//! feature; one registry per server, so tests can run many servers in one process).
//!
//! Labels are bounded: route *templates* (never raw paths or user ids), model types, experiment arms, event
//! types, cache results. Rates (CTR, bounce rate, cache hit ratio, coverage and diversity of what was
//! served) are also published as gauges over a sliding window (`monitoring.window_secs`), so a wall screen
//! needs no PromQL; the counters behind them are there for Prometheus to compute any other window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
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
    "tastebud_event_log_head_seq",
    "tastebud_event_log_lag_events",
    "tastebud_event_delay_seconds",
    "tastebud_uptime_seconds",
];

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
    served: HashMap<ItemIdx, u32>,
}

const BUCKETS: i64 = 12;

struct Window {
    buckets: VecDeque<Bucket>,
    /// Short views waiting for their grace period: (user, item) -> deadline.
    pending: HashMap<(String, String), i64>,
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
    log_head: IntGauge,
    log_lag: IntGaugeVec,
    event_delay: Histogram,
    uptime: Gauge,
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
        let latency_buckets = vec![
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
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
            registry: r,
            settings,
            started: std::time::Instant::now(),
            window: Mutex::new(Window {
                buckets: VecDeque::new(),
                pending: HashMap::new(),
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

    fn with_bucket(&self, now: i64, f: impl FnOnce(&mut Bucket)) {
        let width = (self.settings.window_secs as i64 / BUCKETS).max(1);
        let start = now - now.rem_euclid(width);
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
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
        drop(w);
        self.shown.inc_by(shown);
        self.clicks.inc_by(clicks);
        self.views.inc_by(views);
        self.bounces.inc_by(bounces);
        self.with_bucket(now, |b| {
            b.shown += shown;
            b.clicks += clicks;
            b.views += views;
            b.bounces += bounces;
        });
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
        }
    }
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
}
