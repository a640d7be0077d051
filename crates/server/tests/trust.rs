//! Issue "Trust", items 6, 7 and 9: a report before any data, `event_id` rules, JSON-only events, and a
//! JSON body on every error status (414 included).

mod common;

use common::Server;
use serde_json::json;
use tastebud_server::{Config, now_unix};

fn server() -> Server {
    let mut c = Config::default();
    c.admin.api_key = Some("k3y".into());
    Server::start(c, None)
}

/// Item 6: a new experiment's report answered 422 ("0 of 0 is not a valid proportion") until every arm
/// had impressions; now 200 with `data = "no_data"`, in JSON, as a table and as a page.
#[test]
fn a_report_without_data_says_so() {
    let s = server();
    let def = json!({"id": "fresh", "arms": [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 1.0}]});
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), &def.to_string());
    assert_eq!(st, 201, "{v}");
    let (st, r) = s.get("/v1/experiments/fresh/report");
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["data"], "no_data");
    assert_eq!(r["no_data"]["experiment"], "fresh");
    assert!(
        r["no_data"]["message"]
            .as_str()
            .unwrap()
            .contains("no data yet")
    );
    assert_eq!(r["no_data"]["arms"].as_array().unwrap().len(), 2);
    assert!(r.get("decision").is_none(), "no analysis without data: {r}");
    assert!(!r.to_string().contains("not a valid proportion"), "{r}");
    // A bad option is still the caller's error.
    let (st, _) = s.get("/v1/experiments/fresh/report?alpha=2");
    assert_eq!(st, 422);
    let agent = ureq::agent();
    for (format, needle) in [("html", "No data yet"), ("table", "no data yet")] {
        let mut resp = agent
            .get(&s.url(&format!("/v1/experiments/fresh/report?format={format}")))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{format}");
        let text = resp.body_mut().read_to_string().unwrap();
        assert!(text.contains(needle), "{format}: {text}");
    }
    // Impressions in one arm only: still no data, naming the arm that waits.
    let now = now_unix();
    let arm_of = |u: &str| {
        let (_, r) = s.get(&format!("/v1/users/{u}/recommendations"));
        r["arm"].as_str().unwrap().to_string()
    };
    let user = (0..60)
        .map(|i| format!("u{i}"))
        .find(|u| arm_of(u) == "a")
        .unwrap();
    let ev = json!({"user": user, "items": ["i1", "i2"], "type": "impression", "timestamp": now,
                    "experiment": "fresh", "arm": "a"});
    let (st, v) = s.post_json("/v1/events", &ev);
    assert_eq!(st, 200, "{v}");
    let (st, r) = s.get("/v1/experiments/fresh/report");
    assert_eq!((st, r["data"].as_str()), (200, Some("no_data")), "{r}");
    assert!(
        r["no_data"]["message"].as_str().unwrap().contains("`b`"),
        "{r}"
    );
}

/// Item 7: `""` was a global idempotency key and `\u0000` passed.
#[test]
fn event_id_is_an_id() {
    let s = server();
    let now = now_unix();
    for bad in ["", "a\u{0}b"] {
        let ev =
            json!({"user": "u1", "item": "i1", "type": "click", "timestamp": now, "event_id": bad});
        let (st, v) = s.post_json("/v1/events", &ev);
        assert_eq!(st, 422, "{bad:?}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("event_id"),
            "{v}"
        );
    }
    assert_eq!(s.state.storage.events.event_count().unwrap(), 0);
}

/// Item 9: `POST /v1/events` took `text/plain`; a 414 had an empty body.
#[test]
fn events_need_json_and_every_error_is_json() {
    let s = server();
    let ev = json!({"user": "u1", "item": "i1", "type": "click", "timestamp": now_unix()});
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(&s.url("/v1/events"))
        .header("content-type", "text/plain")
        .send(ev.to_string())
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"]["code"], "unsupported_media_type");
    assert_eq!(s.state.storage.events.event_count().unwrap(), 0);

    let long = format!("/v1/items/{}", "x".repeat(tastebud_server::MAX_URI_BYTES));
    let mut r = agent.get(&s.url(&long)).call().unwrap();
    assert_eq!(r.status().as_u16(), 414);
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["error"]["code"], "uri_too_long");
    let (st, v) = s.post("/healthz", "");
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[test]
fn object_bodies_are_not_read_from_arrays() {
    // serde reads a struct from an array of its fields in order; the API takes objects only.
    let s = server();
    let (st, v) = s.post("/v1/recommendations", r#"[["i1", "i2"]]"#);
    assert_eq!(st, 422, "{v}");
    let (st, _) = s.post("/v1/recommendations", r#"{"history": ["i1", "i2"]}"#);
    assert_eq!(st, 200);
}
