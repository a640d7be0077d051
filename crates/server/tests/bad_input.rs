//! Bad input gets a 4xx with a JSON error naming the problem: never a 5xx, never a panic.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::Server;
use proptest::prelude::*;
use serde_json::json;
use tastebud_server::{App, Config};
use tower::ServiceExt;

fn now() -> i64 {
    tastebud_server::now_unix()
}

#[test]
fn each_kind_of_bad_input_is_a_named_4xx() {
    let mut c = Config::default();
    c.limits.max_body_bytes = 4096;
    let s = Server::start(c, None);
    let long_path = format!("/v1/users/{}/recommendations", "x".repeat(300));
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("GET", "/v1/users/u1/recommendations?k=0", String::new(), 400, "k must be"),
        ("GET", "/v1/users/u1/recommendations?k=1000000000", String::new(), 400, "k must be"),
        ("GET", "/v1/users/u1/recommendations?k=ten", String::new(), 400, "k"),
        ("GET", "/v1/users/u1/recommendations?k=-3", String::new(), 400, "k"),
        ("GET", "/v1/users/u1/recommendations?bogus=1", String::new(), 400, "bogus"),
        ("GET", "/v1/users/u1/recommendations?exclude_seen=maybe", String::new(), 400, "exclude_seen"),
        ("GET", "/v1/users/u1/recommendations?filter=genres", String::new(), 400, "column:value"),
        ("GET", &long_path, String::new(), 400, "user id"),
        ("GET", "/v1/items/nope/similar", String::new(), 404, "nope"),
        ("GET", "/v1/nowhere", String::new(), 404, "no route"),
        ("DELETE", "/v1/events", String::new(), 405, "method"),
        ("POST", "/v1/events", "{not json".into(), 400, "malformed JSON"),
        ("POST", "/v1/events", "42".into(), 400, "expected an event"),
        ("POST", "/v1/events", "[]".into(), 400, "empty"),
        ("POST", "/v1/events",
            json!({"user": "u1", "item": "i1", "type": "clik", "timestamp": now()}).to_string(),
            422, "clik"),
        ("POST", "/v1/events",
            json!({"user": "u1", "item": "i1", "type": "click", "timestamp": now() + 864000}).to_string(),
            422, "future"),
        ("POST", "/v1/events",
            json!({"user": "u1", "item": "i1", "type": "click", "timestamp": "yesterday"}).to_string(),
            422, "timestamp"),
        ("POST", "/v1/events",
            json!({"user": "u1", "type": "click", "timestamp": now()}).to_string(),
            422, "item"),
        ("POST", "/v1/events",
            json!({"user": 7, "item": "i1", "type": "click", "timestamp": now()}).to_string(),
            422, "user"),
        ("POST", "/v1/events",
            json!([{"user": "u1", "item": "i1", "type": "click", "timestamp": now()},
                   {"user": "u1", "item": "i1", "type": "rating", "timestamp": now()}]).to_string(),
            422, "events[1]"),
        ("POST", "/v1/events",
            json!({"user": "u1", "item": "i1", "type": "click", "timestamp": now(), "colour": "red"}).to_string(),
            422, "colour"),
        ("POST", "/v1/events", "x".repeat(5000), 413, ""),
        ("POST", "/v1/recommendations", json!({"history": "i1"}).to_string(), 422, "history"),
        ("POST", "/v1/recommendations", json!({"history": ["i1"], "k": 0}).to_string(), 400, "k must be"),
        ("POST", "/v1/recommendations", "[".into(), 400, "JSON"),
    ];
    for (method, path, body, want, needle) in cases {
        let (st, v) = match method {
            "GET" => s.get(path),
            "DELETE" => s.delete(path),
            _ => s.post(path, &body),
        };
        assert_eq!(st, want, "{method} {path} {body:.80}: {v}");
        let msg = v["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error body: {v}"));
        assert!(v["error"]["code"].is_string());
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "{method} {path}: message `{msg}` does not name `{needle}`"
        );
    }
    // Nothing bad was stored.
    assert_eq!(s.state.storage.events.event_count().unwrap(), 0);
}

fn method() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("PUT"),
        Just("DELETE"),
        Just("PATCH")
    ]
}

fn path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("u1".to_string()),
        Just("i3".to_string()),
        Just("%00".to_string()),
        Just("%FF%FE".to_string()),
        "[a-z0-9%._~-]{0,12}",
    ];
    let q = prop_oneof![
        Just(String::new()),
        "[a-z_]{1,12}=[a-zA-Z0-9:|,%-]{0,12}".prop_map(|s| format!("?{s}")),
        (any::<i64>()).prop_map(|k| format!("?k={k}")),
        Just("?k=5&filter=genres:Comedy&exclude=i1,i2&explain=true".to_string()),
    ];
    (
        prop_oneof![
            Just("/v1/users/{}/recommendations"),
            Just("/v1/items/{}/similar"),
            Just("/v1/users/{}/events"),
            Just("/v1/users/{}"),
            Just("/v1/recommendations"),
            Just("/v1/events"),
            Just("/v1/admin/items/{}"),
            Just("/v1/admin/reload"),
            Just("/v1/{}"),
            Just("/{}"),
        ],
        seg,
        q,
    )
        .prop_map(|(p, s, q)| format!("{}{q}", p.replace("{}", &s)))
}

fn body() -> impl Strategy<Value = String> {
    let ev = (
        "[a-z0-9]{0,5}",
        "[a-z0-9]{0,5}",
        prop_oneof![Just("click"), Just("impression"), Just("rating"), Just("x")],
        any::<i64>(),
        proptest::option::of(any::<f64>()),
    )
        .prop_map(|(u, i, t, ts, v)| {
            let mut e = json!({"user": u, "item": i, "type": t, "timestamp": ts});
            if let Some(v) = v {
                e["value"] = json!(v);
            }
            e.to_string()
        });
    prop_oneof![
        Just(String::new()),
        ".{0,64}",
        ev.clone(),
        proptest::collection::vec(ev, 0..4).prop_map(|v| format!("[{}]", v.join(","))),
        Just(r#"{"history": ["i1", {"item": "i2", "value": 1e39}], "k": 3}"#.to_string()),
        Just(r#"{"history": [{"item": null}], "k": 18446744073709551615}"#.to_string()),
        Just(r#"{"hidden": "yes"}"#.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Random requests thrown at the router: every answer is a 2xx, 4xx (with a JSON error body) —
    /// never a 5xx.
    #[test]
    fn random_requests_never_get_a_5xx((m, p, b) in (method(), path(), body())) {
        use std::sync::OnceLock;
        static APP: OnceLock<(std::sync::Arc<tastebud_server::AppState>, tempfile::TempDir)> = OnceLock::new();
        let (state, _) = APP.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let model = common::model_file(dir.path(), "ease", &[]);
            let mut c = Config {
                data_dir: dir.path().join("store"),
                ..Config::default()
            };
            c.admin.api_key = Some("k".into());
            let app = App::open(c, &model).unwrap();
            (app.state, dir)
        });
        static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        let rt = RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());
        let Ok(req) = Request::builder()
            .method(m)
            .uri(&p)
            .header("content-type", "application/json")
            .header("x-api-key", "k")
            .body(Body::from(b.clone())) else {
            return Ok(()); // not a valid HTTP request at all: a client library would refuse it
        };
        let resp = rt.block_on(tastebud_server::router(state.clone()).oneshot(req)).unwrap();
        let status = resp.status();
        let bytes = rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 24)).unwrap();
        prop_assert!(!status.is_server_error(), "{m} {p} {b:.100} -> {status}: {}", String::from_utf8_lossy(&bytes));
        if status.is_client_error() {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| TestCaseError::fail(format!("{m} {p}: error body not JSON: {e}")))?;
            prop_assert!(v["error"]["message"].is_string());
        }
        prop_assert!(status.is_success() || status.is_client_error() || status == StatusCode::OK);
    }
}
