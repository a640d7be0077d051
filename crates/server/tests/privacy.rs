//! Consent and erasure over HTTP: `GET /v1/users/{id}`, `PUT /v1/users/{id}/consent`, a user without
//! consent to personalisation served as a new user, and erasure that leaves no byte of the user in
//! the data directory.

mod common;

use std::path::Path;

use common::{Server, event, items};
use serde_json::{Value, json};
use tastebud_server::Config;

const KEY: &str = "privacy-test-key";

fn config() -> Config {
    let mut c = Config::default();
    c.admin.api_key = Some(KEY.into());
    c
}

/// A request carrying the key (user-data routes need it).
fn call(s: &Server, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = s.url(path);
    let mut r = match (method, body) {
        ("PUT", Some(b)) => agent
            .put(&url)
            .header("x-api-key", KEY)
            .header("content-type", "application/json")
            .send(b),
        ("DELETE", _) => agent.delete(&url).header("x-api-key", KEY).call(),
        _ => agent.get(&url).header("x-api-key", KEY).call(),
    }
    .unwrap();
    let st = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn withdrawn_consent_to_personalisation_serves_a_new_users_list_at_once() {
    let s = Server::start(config(), None);
    let (st, u) = call(&s, "GET", "/v1/users/u3", None);
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["consent"]["source"], "implied");
    assert_eq!(u["consent"]["personalisation"], true);
    assert_eq!(u["in_model"], true);
    let (_, personal) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(personal["strategy"], "realtime");
    let (_, stranger) = s.get("/v1/users/stranger/recommendations?k=5");

    let (st, c) = call(
        &s,
        "PUT",
        "/v1/users/u3/consent",
        Some(r#"{"personalisation": false}"#),
    );
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["personalisation"], false);
    assert_eq!(c["training"], true, "a field left out keeps its value");
    assert_eq!(c["source"], "recorded");
    assert!(c["updated_unix"].as_i64().unwrap() > 1_700_000_000);
    // The cached personal list is gone: the next answer is the cold-start chain, like a stranger's.
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "cold_start", "{v}");
    assert_eq!(items(&v), items(&stranger));
    // Their events are still recorded, but do not personalise.
    let drama: Vec<Value> = [25, 27, 29, 31, 33]
        .iter()
        .map(|i| event("u3", &format!("i{i}"), "purchase"))
        .collect();
    let (st, _) = s.post_json("/v1/events", &json!(drama));
    assert_eq!(st, 200);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "cold_start");
    let (_, u) = call(&s, "GET", "/v1/users/u3", None);
    assert_eq!(u["events"], 5);
    assert_eq!(u["consent"]["personalisation"], false);
    assert_eq!(u["consent"]["updated_unix"], c["updated_unix"]);

    // Given back: personal again.
    let (st, _) = call(
        &s,
        "PUT",
        "/v1/users/u3/consent",
        Some(r#"{"personalisation": true}"#),
    );
    assert_eq!(st, 200);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "realtime", "{v}");
    assert_ne!(items(&v), items(&personal), "the new events count now");
}

#[test]
fn with_consent_required_only_users_who_gave_it_are_personalised() {
    let mut c = config();
    c.privacy.consent_required = true;
    let s = Server::start(c, None);
    let (_, u) = call(&s, "GET", "/v1/users/u3", None);
    assert_eq!(u["consent"]["source"], "implied");
    assert_eq!(u["consent"]["personalisation"], false);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "cold_start");
    let (st, _) = call(
        &s,
        "PUT",
        "/v1/users/u3/consent",
        Some(r#"{"personalisation": true, "training": true}"#),
    );
    assert_eq!(st, 200);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "realtime");
}

#[test]
fn bad_consent_requests_are_4xx_with_json() {
    let s = Server::start(config(), None);
    for body in [
        r#"{"personalisation": "yes"}"#,
        r#"{"personalization": false}"#,
        r#"[true]"#,
        r#"[null, null]"#,
        r#"[true, false]"#,
        "{",
    ] {
        let (st, v) = call(&s, "PUT", "/v1/users/u3/consent", Some(body));
        assert!((400..500).contains(&st), "{body}: {st}");
        assert!(
            v["error"].is_object() || v["error"].is_string(),
            "{body}: {v}"
        );
    }
    let long = "u".repeat(300);
    let (st, _) = call(&s, "GET", &format!("/v1/users/{long}"), None);
    assert_eq!(st, 400);
}

/// Every occurrence of `needle` in any file under `dir`.
fn occurrences(dir: &Path, needle: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += occurrences(&path, needle);
        } else {
            let b = std::fs::read(&path).unwrap();
            n += b
                .windows(needle.len())
                .filter(|w| *w == needle.as_bytes())
                .count();
        }
    }
    n
}

#[test]
fn erasure_leaves_no_byte_of_the_user_in_the_data_directory() {
    let s = Server::start(config(), None);
    let data_dir = s.state.config.data_dir.clone();
    let probe = "privacy-probe-7f3b";
    for n in 0..20 {
        let mut e = event(probe, "i7", "rating");
        e["value"] = json!(4);
        e["event_id"] = json!(format!("probe-event-{n}"));
        s.post_json("/v1/events", &json!([e, event("bystander", "i2", "click")]));
    }
    call(
        &s,
        "PUT",
        &format!("/v1/users/{probe}/consent"),
        Some(r#"{"training": false}"#),
    );
    assert!(occurrences(&data_dir, probe) > 0);
    let (st, d) = call(&s, "DELETE", &format!("/v1/users/{probe}"), None);
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["events"], 20);
    assert_eq!(occurrences(&data_dir, probe), 0, "the user's id");
    assert_eq!(occurrences(&data_dir, "probe-event-"), 0, "their event ids");
    let (_, u) = call(&s, "GET", &format!("/v1/users/{probe}"), None);
    assert_eq!(u["events"], 0);
    assert_eq!(u["consent"]["source"], "implied");
    // Others' events stay.
    let (_, u) = call(&s, "GET", "/v1/users/bystander", None);
    assert_eq!(u["events"], 20);
}
