//! `/metrics`: the numbers follow the traffic, the text passes `promtool check metrics`, no user id leaks
//! into a label, and every metric the Grafana dashboard queries exists.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::{Command, Stdio};

use common::{Server, event, items};
use serde_json::json;
use tastebud_server::Config;
use tastebud_server::metrics::METRIC_NAMES;

fn metrics_text(s: &Server) -> String {
    let r = ureq::get(&s.url("/metrics")).call().unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.into_body().read_to_string().unwrap()
}

use common::metric_samples as samples;

fn value(s: &HashMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample `{key}` in {:?}", s.keys().collect::<Vec<_>>()))
}

fn promtool(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed (Debian package `prometheus`; .ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_follow_the_traffic_and_pass_promtool() {
    let mut c = Config::default();
    c.monitoring.bounce_ms = 3000;
    c.monitoring.bounce_grace_secs = 0; // a short view is a bounce as soon as it is seen
    let s = Server::start(c, None);
    // Traffic: 3 recommendation requests (1 cached), an ad-hoc one, a 404.
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    s.get("/v1/users/u3/recommendations?k=5");
    s.get("/v1/users/nobody/recommendations?k=5");
    s.post_json("/v1/recommendations", &json!({"history": ["i21"], "k": 4}));
    s.get("/v1/nowhere");
    // 10 items shown, 2 clicks, 3 views of which one short (a bounce) and one short then clicked.
    let shown = items(&v);
    let mut imp = event("u3", "", "impression");
    imp.as_object_mut().unwrap().remove("item");
    imp["items"] = json!(shown);
    let mut imp2 = imp.clone();
    imp2["user"] = json!("u4");
    let mut views = Vec::new();
    for (user, item, dwell) in [("u3", "i1", 1000), ("u4", "i2", 60_000), ("u5", "i3", 500)] {
        let mut e = event(user, item, "view");
        e["dwell_ms"] = json!(dwell);
        views.push(e);
    }
    s.post_json("/v1/events", &json!([imp, imp2, views[0], views[1]]));
    s.post_json(
        "/v1/events",
        &json!([
            event("u3", &shown[0], "click"),
            event("u4", &shown[1], "click")
        ]),
    );
    // u5 views i3 briefly and does nothing else: a bounce.
    s.post_json("/v1/events", &views[2]);

    let text = metrics_text(&s);
    promtool(&text);
    let m = samples(&text);
    for name in METRIC_NAMES {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "metric {name} missing"
        );
    }
    let route = "/v1/users/{id}/recommendations";
    assert_eq!(
        value(
            &m,
            &format!(
                "tastebud_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}}"
            )
        ),
        3.0
    );
    assert_eq!(
        value(
            &m,
            "tastebud_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            &format!(
                "tastebud_http_request_duration_seconds_count{{arm=\"none\",model=\"ease\",route=\"{route}\"}}"
            )
        ),
        3.0
    );
    assert_eq!(
        value(&m, "tastebud_cache_requests_total{result=\"hit\"}"),
        1.0
    );
    assert_eq!(
        value(&m, "tastebud_cache_requests_total{result=\"miss\"}"),
        2.0
    );
    assert!((value(&m, "tastebud_cache_hit_ratio") - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        value(
            &m,
            "tastebud_recommendations_total{arm=\"none\",model=\"ease\",strategy=\"cold_start\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "tastebud_recommendations_total{arm=\"none\",model=\"ease\",strategy=\"realtime\"}"
        ),
        3.0
    );
    assert_eq!(value(&m, "tastebud_impressions_items_total"), 10.0);
    assert_eq!(value(&m, "tastebud_clicks_total"), 2.0);
    assert!((value(&m, "tastebud_ctr") - 0.2).abs() < 1e-9);
    assert_eq!(value(&m, "tastebud_events_total{type=\"view\"}"), 3.0);
    assert_eq!(value(&m, "tastebud_views_total"), 3.0);
    assert_eq!(value(&m, "tastebud_bounces_total"), 2.0);
    assert!((value(&m, "tastebud_bounce_rate") - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(value(&m, "tastebud_view_dwell_seconds_count"), 3.0);
    assert_eq!(value(&m, "tastebud_event_log_head_seq"), 7.0);
    assert_eq!(
        value(&m, "tastebud_event_log_lag_events{consumer=\"model\"}"),
        7.0
    );
    assert!(value(&m, "tastebud_served_catalog_coverage") > 0.0);
    assert!(value(&m, "tastebud_served_diversity") > 0.0);
    assert_eq!(value(&m, "tastebud_model_items"), 40.0);
    let version = s.state.serving().version.clone();
    assert_eq!(
        value(
            &m,
            &format!("tastebud_model_info{{model=\"ease\",version=\"{version}\"}}")
        ),
        1.0
    );
    // No user id is a label value.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !l.contains("\"u3\"") && !l.contains("nobody"),
            "user id in a label: {l}"
        );
    }
}

/// Every metric name a Grafana query mentions (histogram suffixes removed).
fn dashboard_metrics() -> BTreeSet<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/tastebud.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut names = BTreeSet::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("tastebud_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                names.insert(base.to_string());
                rest = &tail[end..];
            }
        }
    }
    names
}

#[test]
fn every_metric_the_grafana_dashboard_queries_exists() {
    let queried = dashboard_metrics();
    assert!(queried.len() >= 15, "dashboard queries only {queried:?}");
    let s = Server::start(Config::default(), None);
    s.get("/v1/users/u1/recommendations");
    let text = metrics_text(&s);
    for name in &queried {
        assert!(
            METRIC_NAMES.contains(&name.as_str()) && text.contains(&format!("# TYPE {name} ")),
            "the dashboard queries `{name}`, which the server does not export"
        );
    }
    // And the Prometheus config parses.
    let cfg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus.yml");
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(&cfg)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
