//! Issue "Trust" #4: a corrupted model file offered for reload, or dropped in place under the file watch,
//! is refused (422, logged), counted in `tastebud_model_load_failures_total`, and the model in use keeps
//! serving: no request fails meanwhile and `/readyz` stays ready.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Server, metric_samples, model_file};
use serde_json::json;
use tastebud_server::Config;

/// Flips 50 bytes of a model file's bodies (as the issue did), deterministically by `seed`.
fn corrupt_copy(src: &Path, dst: &Path, seed: u64) {
    let mut b = std::fs::read(src).unwrap();
    let start = b.len() / 4; // well past the magic and header lines of these files
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for _ in 0..50 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let p = start + (x >> 33) as usize % (b.len() - start);
        b[p] ^= 0x5a;
    }
    std::fs::write(dst, b).unwrap();
}

fn failures(s: &Server, reason: &str) -> f64 {
    let text = ureq::get(&s.url("/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    metric_samples(&text)
        .get(&format!(
            "tastebud_model_load_failures_total{{reason=\"{reason}\"}}"
        ))
        .copied()
        .unwrap_or_else(|| panic!("no failure series for {reason}"))
}

#[test]
fn a_corrupted_model_is_refused_at_reload_and_no_request_fails() {
    let mut c = Config::default();
    c.admin.api_key = Some("k".into());
    c.cache.enabled = false;
    let dir = tempfile::tempdir().unwrap();
    let als = model_file(dir.path(), "als", &["factors=8"]);
    let s = Arc::new(Server::start(c, Some(als.clone())));
    let (_, m) = s.get("/v1/model");
    let version = m["version"].clone();
    assert_eq!(failures(&s, "checksum"), 0.0);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4u64)
        .map(|t| {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (st, v) =
                        s.get(&format!("/v1/users/u{}/recommendations?k=5", (n + t) % 60));
                    assert_eq!(
                        st, 200,
                        "request failed while a corrupt model was offered: {v}"
                    );
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..10 {
        let bad = dir.path().join(format!("bad-{i}.tbm"));
        corrupt_copy(&als, &bad, i);
        let body = json!({ "path": bad }).to_string();
        let (st, e) = s.admin("POST", "/v1/admin/reload", Some("k"), &body);
        assert_eq!(st, 422, "{e}");
        let msg = e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
            + e["message"].as_str().unwrap_or_default()
            + &e.to_string();
        assert!(msg.contains("checksum mismatch"), "{e}");
        assert!(msg.contains(&format!("bad-{i}.tbm")), "names the file: {e}");
        let (st, _) = s.get("/readyz");
        assert_eq!(st, 200);
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = clients.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(total > 20, "too few requests to show anything: {total}");
    let (_, m) = s.get("/v1/model");
    assert_eq!(m["version"], version, "the previous model keeps serving");
    assert_eq!(failures(&s, "checksum"), 10.0);

    // A good file still reloads afterwards.
    let (st, r) = s.admin("POST", "/v1/admin/reload", Some("k"), "");
    assert_eq!(st, 200, "{r}");
}

#[test]
fn a_corrupted_model_dropped_in_place_is_not_swapped_by_the_watch() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.tbm");
    let ease = model_file(dir.path(), "ease", &[]);
    std::fs::copy(&ease, &live).unwrap();
    let mut c = Config::default();
    c.admin.watch_model = true;
    c.admin.watch_interval_ms = 50;
    c.cache.enabled = false;
    let s = Server::start(c, Some(live.clone()));
    let (_, m) = s.get("/v1/model");
    let version = m["version"].clone();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // distinct mtime on coarse clocks
    let tmp = dir.path().join("live.tmp");
    corrupt_copy(&ease, &tmp, 7);
    std::fs::rename(&tmp, &live).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while failures(&s, "checksum") < 1.0 {
        let (st, v) = s.get("/v1/users/u3/recommendations?k=5");
        assert_eq!(st, 200, "{v}");
        assert!(
            std::time::Instant::now() < deadline,
            "the watch never saw the file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Refused once, not retried every interval, and the old model serves.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(failures(&s, "checksum"), 1.0);
    let (_, m) = s.get("/v1/model");
    assert_eq!(m["version"], version);
    let (st, _) = s.get("/readyz");
    assert_eq!(st, 200);
    for u in 0..60 {
        let (st, v) = s.get(&format!("/v1/users/u{u}/recommendations?k=5"));
        assert_eq!(st, 200, "{v}");
    }
    // A good file replacing the bad one is picked up.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let pop = model_file(dir.path(), "popularity", &[]);
    std::fs::copy(&pop, &tmp).unwrap();
    std::fs::rename(&tmp, &live).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, m) = s.get("/v1/model");
        if m["model"] == "popularity" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "good model not reloaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
