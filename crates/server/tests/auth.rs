//! Roles and keys (issue "Trust", item 2): every route that needs a key checks it from the request's head,
//! before any body is read or validated; user data needs the service (or admin) key; admin routes only
//! the admin key; with no key configured both fail closed; experiment salts only for admins.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};
use tastebud_server::Config;

const ADMIN: &str = "adm-k3y";
const SERVICE: &str = "svc-k3y";

/// A raw HTTP/1.1 request that announces a `content_length` body but sends only `sent` of it, then
/// reads the answer. A server that waited for the body before answering would time out here.
fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_length: usize,
    sent: &[u8],
) -> (u16, String, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {content_length}\r\nconnection: close\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(sent).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (status, header_text, body) = loop {
        match s.read(&mut chunk) {
            Ok(0) => panic!("{method} {path}: connection closed before an answer"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "{method} {path}: no answer while the body was still owed ({e}): the key must be checked first"
            ),
        }
        let text = String::from_utf8_lossy(&buf).to_string();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let header_text = text[..end].to_lowercase();
        let len: usize = header_text
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            let status: u16 = text[9..12].parse().unwrap();
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            break (status, header_text, body);
        }
    };
    let v = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: {status} body is not JSON ({e}): {body}"));
    (status, header_text, v)
}

/// A keyed operation: method, path with `{id}` filled in, the security schemes it accepts.
type Keyed = (String, String, Vec<String>);

/// Every keyed operation of the OpenAPI document whose security requirement is not optional, and the
/// (method, path) of those whose requirement is optional (the `[auth]` switches).
fn secured_operations() -> (Vec<Keyed>, Vec<(String, String)>) {
    let doc: Value = serde_json::from_str(&tastebud_server::openapi_json()).unwrap();
    let mut required = Vec::new();
    let mut optional = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(sec) = op["security"].as_array() else {
                continue;
            };
            let schemes: Vec<String> = sec
                .iter()
                .flat_map(|r| r.as_object().unwrap().keys().cloned())
                .collect();
            let concrete = path.replace("{id}", "u1");
            if sec.iter().any(|r| r.as_object().unwrap().is_empty()) {
                optional.push((method.to_uppercase(), concrete));
            } else {
                required.push((method.to_uppercase(), concrete, schemes));
            }
        }
    }
    (required, optional)
}

fn keyed_config(admin: Option<&str>, service: Option<&str>, switches: bool) -> Config {
    let mut c = Config::default();
    c.admin.api_key = admin.map(Into::into);
    c.auth.service_key = service.map(Into::into);
    c.auth.require_key_for_events = switches;
    c.auth.require_key_for_recommendations = switches;
    c
}

/// Every keyed route, sent no key (or a wrong one), a wrong content type and a body larger than the
/// limit of which only a little arrives: 401 with `WWW-Authenticate` and a JSON error, at once.
#[test]
fn every_keyed_route_checks_the_key_before_the_body() {
    let s = Server::start_bare(keyed_config(Some(ADMIN), Some(SERVICE), true), None);
    let (required, optional) = secured_operations();
    assert!(
        required.len() >= 9,
        "the document names too few keyed routes: {required:?}"
    );
    assert!(
        optional.len() >= 4,
        "the switch routes are not in the document: {optional:?}"
    );
    let oversized = s.state.config.limits.max_body_bytes + 1;
    let all = required
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .chain(optional.iter().cloned());
    let mut checked = 0;
    for (method, path) in all {
        for key in [None, Some("wrong"), Some("adm-k3")] {
            let mut headers = vec![("content-type", "text/plain")];
            if let Some(k) = key {
                headers.push(("x-api-key", k));
            }
            let (st, head, v) = raw(s.addr, &method, &path, &headers, oversized, b"{not json");
            assert_eq!(st, 401, "{method} {path} key {key:?}: {v}");
            assert!(
                head.contains("www-authenticate: bearer"),
                "{method} {path}: {head}"
            );
            assert_eq!(v["error"]["code"], "unauthorized", "{method} {path}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * (required.len() + optional.len()));
    // Nothing was written by any of them.
    assert_eq!(s.state.storage.events.event_count().unwrap(), 0);
}

/// The service key opens user data (and the switched routes), never an admin route; the admin key
/// opens both; `Authorization: Bearer` works like `X-Api-Key`.
#[test]
fn roles_service_key_is_not_admin() {
    let s = Server::start_bare(keyed_config(Some(ADMIN), Some(SERVICE), true), None);
    let (required, optional) = secured_operations();
    for (method, path, schemes) in &required {
        if schemes.iter().all(|x| x == "admin_key") {
            let (st, _, v) = raw(
                s.addr,
                method,
                path,
                &[("x-api-key", SERVICE), ("content-type", "text/plain")],
                1 << 30,
                b"junk",
            );
            assert_eq!(st, 403, "service key on {method} {path}: {v}");
        } else {
            assert!(schemes.contains(&"service_key".to_string()), "{path}");
        }
    }
    for (key, header) in [
        (SERVICE, "x-api-key".to_string()),
        (ADMIN, "x-api-key".to_string()),
        (SERVICE, "authorization".to_string()),
    ] {
        let value = if header == "authorization" {
            format!("Bearer {key}")
        } else {
            key.to_string()
        };
        let h = [(header.as_str(), value.as_str())];
        let (st, _, v) = raw(s.addr, "GET", "/v1/users/u1/events", &h, 0, b"");
        assert_eq!(st, 200, "{key} via {header}: {v}");
        let (st, _, v) = raw(s.addr, "GET", "/v1/users/u1/recommendations", &h, 0, b"");
        assert_eq!(st, 200, "{key}: {v}");
    }
    // The service key on the switched routes.
    let event = json!({"user": "u1", "item": "i1", "type": "click", "timestamp": tastebud_server::now_unix()})
        .to_string();
    let (st, _, v) = raw(
        s.addr,
        "POST",
        "/v1/events",
        &[("x-api-key", SERVICE), ("content-type", "application/json")],
        event.len(),
        event.as_bytes(),
    );
    assert_eq!((st, v["accepted"].as_u64()), (200, Some(1)), "{v}");
    let (st, _, v) = raw(
        s.addr,
        "DELETE",
        "/v1/users/u1",
        &[("x-api-key", ADMIN)],
        0,
        b"",
    );
    assert_eq!(st, 200, "admin key erases: {v}");
    assert!(optional.iter().any(|(_, p)| p == "/v1/events"));
}

/// With neither key configured, user data and admin routes answer 403 (fail closed); without the
/// switches, events and recommendations need no key.
#[test]
fn no_keys_configured_fails_closed() {
    let s = Server::start_bare(keyed_config(None, None, false), None);
    let (required, _) = secured_operations();
    for (method, path, _) in &required {
        let (st, _, v) = raw(s.addr, method, path, &[("x-api-key", "anything")], 0, b"");
        assert_eq!(st, 403, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], "forbidden");
    }
    let (st, _, _) = raw(s.addr, "GET", "/v1/users/u1/recommendations", &[], 0, b"");
    assert_eq!(st, 200);
    // Only the admin key configured: it opens user data; no service role is needed.
    let s = Server::start_bare(keyed_config(Some(ADMIN), None, false), None);
    let (st, _, _) = raw(s.addr, "GET", "/v1/users/u1/events", &[], 0, b"");
    assert_eq!(st, 401);
    let (st, _, _) = raw(
        s.addr,
        "GET",
        "/v1/users/u1/events",
        &[("x-api-key", ADMIN)],
        0,
        b"",
    );
    assert_eq!(st, 200);
    // A switch with no key to check is a configuration error, not an open door.
    let c = keyed_config(None, None, true);
    assert!(c.validate().unwrap_err().contains("need a key"));
}

/// Issue "Trust", item 2: users could compute their own arm from the listed salt.
#[test]
fn experiment_salts_only_for_admins() {
    let mut c = keyed_config(Some(ADMIN), Some(SERVICE), false);
    c.experiments = serde_json::from_value(json!([{
        "id": "home", "salt": "s3cret-salt", "start_unix": 1_700_000_000,
        "arms": [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 1.0}]
    }]))
    .unwrap();
    let s = Server::start_bare(c, None);
    let list = |h: &[(&str, &str)]| {
        let (st, _, v) = raw(s.addr, "GET", "/v1/experiments", h, 0, b"");
        assert_eq!(st, 200, "{v}");
        v
    };
    let public = list(&[]);
    assert_eq!(public[0]["id"], "home");
    assert!(public[0].get("salt").is_none(), "{public}");
    assert!(!public.to_string().contains("s3cret-salt"));
    assert!(list(&[("x-api-key", SERVICE)])[0].get("salt").is_none());
    assert!(list(&[("x-api-key", "wrong")])[0].get("salt").is_none());
    assert_eq!(list(&[("x-api-key", ADMIN)])[0]["salt"], "s3cret-salt");
}

/// The configuration route redacts both keys.
#[test]
fn admin_config_redacts_both_keys() {
    let s = Server::start_bare(keyed_config(Some(ADMIN), Some(SERVICE), false), None);
    let (st, _, v) = raw(
        s.addr,
        "GET",
        "/v1/admin/config",
        &[("x-api-key", ADMIN)],
        0,
        b"",
    );
    assert_eq!(st, 200, "{v}");
    let text = v.to_string();
    assert!(!text.contains(ADMIN) && !text.contains(SERVICE), "{text}");
}
