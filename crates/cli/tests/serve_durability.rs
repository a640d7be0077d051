//! The server as a child process: events posted concurrently, the server killed with SIGKILL mid-stream,
//! restarted on the same store: every acknowledged event is there exactly once, and retried events are
//! not duplicated.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tastebud");
/// The service key the servers get: reading a user's events needs it.
const SERVICE_KEY: &str = "durability-key";

fn run(args: &[&str]) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tastebud {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A synthetic dataset and a popularity model trained on it in `dir`; returns the model file and a store
/// directory.
fn popularity_model(
    dir: &Path,
    users: u32,
    items: u32,
    interactions: u32,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("data");
    let model = dir.join("m.tbm");
    let (users, items, interactions) = (
        users.to_string(),
        items.to_string(),
        interactions.to_string(),
    );
    run(&[
        "datasets",
        "synth",
        "--users",
        &users,
        "--items",
        &items,
        "--interactions",
        &interactions,
        "--out",
        data.to_str().unwrap(),
    ]);
    run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--model",
        "popularity",
        "--out",
        model.to_str().unwrap(),
    ]);
    (model, dir.join("store"))
}

/// Starts `tastebud serve` on a free port; returns the child and its address.
fn start(model: &Path, data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--model"])
        .arg(model)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env("TASTEBUD_SERVICE_KEY", SERVICE_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .to_string();
    (child, addr)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (model, store) = popularity_model(dir.path(), 50, 80, 2000);
    let (mut child, addr) = start(&model, &store);
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default(); // event_id -> user
    let sent: Arc<Mutex<Vec<(String, String)>>> = Arc::default(); // every (event_id, user) sent
    let stop = Arc::new(AtomicBool::new(false));
    let now = tastebud_server_now();
    let mut threads = Vec::new();
    for t in 0..8 {
        let (acked, sent, stop, addr) = (acked.clone(), sent.clone(), stop.clone(), addr.clone());
        threads.push(std::thread::spawn(move || {
            let agent = agent();
            let user = format!("w{t}");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                // Alternate single events and batches of 5.
                let batch = if n % 2 == 0 { 1 } else { 5 };
                let ids: Vec<String> = (0..batch).map(|j| format!("{user}-{n}-{j}")).collect();
                let events: Vec<serde_json::Value> = ids
                    .iter()
                    .map(|id| {
                        serde_json::json!({"user": user, "item": format!("{}", 1 + n % 80),
                                           "type": "click", "timestamp": now, "event_id": id})
                    })
                    .collect();
                sent.lock()
                    .unwrap()
                    .extend(ids.iter().map(|i| (i.clone(), user.clone())));
                let body = if batch == 1 {
                    events[0].to_string()
                } else {
                    serde_json::Value::Array(events).to_string()
                };
                let r = agent
                    .post(&format!("http://{addr}/v1/events"))
                    .header("content-type", "application/json")
                    .send(&body);
                match r {
                    Ok(resp) if resp.status() == 200 => {
                        let mut a = acked.lock().unwrap();
                        for id in ids {
                            a.insert(id, user.clone());
                        }
                    }
                    Ok(resp) => panic!("status {}", resp.status()),
                    Err(_) => break, // the server is gone
                }
                n += 1;
            }
        }));
    }
    // Let events flow, then kill the server without warning.
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 400 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 400,
        "only {} events acknowledged",
        acked.len()
    );
    let sent_n = sent.lock().unwrap().len();
    eprintln!(
        "{} events acknowledged of {sent_n} sent before SIGKILL",
        acked.len()
    );

    // Restart on the same store.
    let (mut child, addr) = start(&model, &store);
    let agent = agent();
    let stored_ids = |user: &str| -> Vec<String> {
        let mut r = agent
            .get(&format!("http://{addr}/v1/users/{user}/events"))
            .header("x-api-key", SERVICE_KEY)
            .call()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"]["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut lost = 0;
    for t in 0..8 {
        let user = format!("w{t}");
        let ids = stored_ids(&user);
        let set: HashSet<&String> = ids.iter().collect();
        assert_eq!(
            set.len(),
            ids.len(),
            "{user}: duplicated events after restart"
        );
        lost += acked
            .iter()
            .filter(|(id, u)| **u == user && !set.contains(id))
            .count();
    }
    assert_eq!(lost, 0, "{lost} acknowledged events lost by SIGKILL");

    // Clients retry what was not acknowledged (and some that were): nothing is duplicated.
    let sent = sent.lock().unwrap().clone();
    for chunk in sent.chunks(50) {
        let events: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(id, user)| {
                serde_json::json!({"user": user, "item": "1", "type": "click", "timestamp": now, "event_id": id})
            })
            .collect();
        let r = agent
            .post(&format!("http://{addr}/v1/events"))
            .header("content-type", "application/json")
            .send(&serde_json::Value::Array(events).to_string())
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut total = 0;
    for t in 0..8 {
        let ids = stored_ids(&format!("w{t}"));
        let set: HashSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len(), "retries duplicated events");
        total += ids.len();
    }
    let distinct: HashSet<&String> = sent.iter().map(|(id, _)| id).collect();
    assert_eq!(total, distinct.len());
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGTERM, and the exit status once the server has shut down (at most 10 s).
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Occurrences of each needle in any file under `dir`, as `N x needle in FILE` lines.
fn leaks(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(leaks(&path, needles));
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue; // removed while we looked (a rewrite's temporary file)
        };
        for n in needles {
            let c = bytes
                .windows(n.len())
                .filter(|w| *w == n.as_bytes())
                .count();
            if c > 0 {
                found.push(format!("{c} x `{n}` in {}", path.display()));
            }
        }
    }
    found
}

#[test]
fn an_erased_user_leaves_no_byte_on_disk_after_delete_sigkill_restart_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let (model, store) = popularity_model(dir.path(), 20, 30, 300);
    let (mut child, addr) = start(&model, &store);
    let now = tastebud_server_now();
    let probe = "privacy-probe-7f3b";
    let needles = [probe, "probe-payload-item", "probe-evt-"];
    // Others write all along, so the store commits many transactions around the probe's events.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, addr) = (stop.clone(), addr.clone());
        std::thread::spawn(move || {
            let agent = agent();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let e = serde_json::json!({"user": format!("other-{}", n % 7), "item": "1",
                                           "type": "click", "timestamp": now});
                let _ = agent
                    .post(&format!("http://{addr}/v1/events"))
                    .header("content-type", "application/json")
                    .send(&e.to_string());
                n += 1;
            }
        })
    };
    let agent = agent();
    for n in 0..30 {
        let e = serde_json::json!({"user": probe, "item": "probe-payload-item", "type": "rating",
                                   "value": 4, "timestamp": now, "event_id": format!("probe-evt-{n}")});
        let r = agent
            .post(&format!("http://{addr}/v1/events"))
            .header("content-type", "application/json")
            .send(&e.to_string())
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(!leaks(&store, &needles).is_empty(), "the probe is on disk");
    let mut r = agent
        .delete(&format!("http://{addr}/v1/users/{probe}"))
        .header("x-api-key", SERVICE_KEY)
        .call()
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 200, "{body}");
    assert!(body.contains("\"events\":30"), "{body}");
    assert_eq!(
        leaks(&store, &needles),
        Vec::<String>::new(),
        "after delete"
    );
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL, with other users' writes in flight
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(
        leaks(&store, &needles),
        Vec::<String>::new(),
        "after SIGKILL"
    );
    let (mut child, addr) = start(&model, &store);
    assert_eq!(
        leaks(&store, &needles),
        Vec::<String>::new(),
        "after restart"
    );
    for n in 0..200 {
        let e = serde_json::json!({"user": format!("later-{n}"), "item": "2", "type": "click",
                                   "timestamp": now});
        agent
            .post(&format!("http://{addr}/v1/events"))
            .header("content-type", "application/json")
            .send(&e.to_string())
            .unwrap();
    }
    assert!(terminate(&mut child).success());
    assert_eq!(
        leaks(&store, &needles),
        Vec::<String>::new(),
        "after a clean shutdown"
    );
}

fn tastebud_server_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn sigterm_shuts_down_gracefully_and_keeps_events() {
    let dir = tempfile::tempdir().unwrap();
    let (model, store) = popularity_model(dir.path(), 20, 30, 300);
    let (mut child, addr) = start(&model, &store);
    let agent = agent();
    let body = serde_json::json!({"user": "a", "item": "1", "type": "click",
                                  "timestamp": tastebud_server_now(), "event_id": "only"});
    let r = agent
        .post(&format!("http://{addr}/v1/events"))
        .header("content-type", "application/json")
        .send(&body.to_string())
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = terminate(&mut child);
    assert!(status.success(), "exit after SIGTERM: {status}");
    // The store was closed cleanly: it reopens at once with the event.
    let (mut child, addr) = start(&model, &store);
    let mut r = agent
        .get(&format!("http://{addr}/v1/users/a/events"))
        .header("x-api-key", SERVICE_KEY)
        .call()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["events"][0]["event"]["event_id"], "only");
    child.kill().unwrap();
    child.wait().unwrap();
}
