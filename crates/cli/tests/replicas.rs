//! Two `tastebud serve` processes over one PostgreSQL and one Redis (throwaway servers on free ports,
//! started here; the tests fail, not skip, when they cannot start): what one replica is told, the
//! other acts on at its next request; faults (a replica killed under load, Redis down, PostgreSQL
//! down) lose no acknowledged event and never acknowledge an event that is not stored.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tastebud_store::testkit::{Postgres, Redis};

const BIN: &str = env!("CARGO_BIN_EXE_tastebud");
const ADMIN: &str = "replica-admin-key";
const SERVICE: &str = "replica-service-key";

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tastebud {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn services() -> (Postgres, Redis) {
    let pg =
        Postgres::start().unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e}"));
    let redis = Redis::start().unwrap_or_else(|e| panic!("cannot start a throwaway Redis: {e}"));
    (pg, redis)
}

/// A synthetic dataset, and a registry whose first version (popularity) `tastebud retrain` promoted
/// from the shared store; returns the dataset, the retrain.toml and `registry/current.tbm`.
fn registry(dir: &Path, pg: &Postgres) -> (PathBuf, PathBuf, PathBuf) {
    let data = dir.join("data");
    run(&[
        "datasets",
        "synth",
        "--users",
        "60",
        "--items",
        "80",
        "--interactions",
        "1500",
        "--out",
        data.to_str().unwrap(),
    ]);
    let toml = dir.join("retrain.toml");
    std::fs::write(
        &toml,
        format!(
            "base_data = {:?}\nregistry = {:?}\nmodel = \"popularity\"\n[gate]\nmargin = 1.0\n",
            data,
            dir.join("registry")
        ),
    )
    .unwrap();
    let r: Value = serde_json::from_str(&run(&[
        "retrain",
        "--config",
        toml.to_str().unwrap(),
        "--store-url",
        &pg.url(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(r["promoted"], true, "{r}");
    (data, toml, dir.join("registry").join("current.tbm"))
}

struct Replica {
    child: Child,
    addr: String,
}

impl Replica {
    fn start(model: &Path, pg: &Postgres, redis: Option<&Redis>, dir: &Path) -> Replica {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--model"])
            .arg(model)
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("unused-local-store"))
            .args(["--store-url", &pg.url()])
            .env("RUST_LOG", "warn")
            .env("TASTEBUD_ADMIN_KEY", ADMIN)
            .env("TASTEBUD_SERVICE_KEY", SERVICE)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(r) = redis {
            cmd.args(["--redis-url", &r.url()]);
        }
        let mut child = cmd.spawn().unwrap();
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
        Replica { child, addr }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let url = format!("http://{}{path}", self.addr);
        let key = if path.starts_with("/v1/admin") || path.starts_with("/v1/experiments") {
            ADMIN
        } else {
            SERVICE
        };
        let r = match (method, body) {
            ("GET", _) => agent.get(&url).header("x-api-key", key).call(),
            ("DELETE", _) => agent.delete(&url).header("x-api-key", key).call(),
            ("PUT", b) => agent
                .put(&url)
                .header("x-api-key", key)
                .header("content-type", "application/json")
                .send(b.unwrap_or(Value::Null).to_string()),
            (_, b) => agent
                .post(&url)
                .header("x-api-key", key)
                .header("content-type", "application/json")
                .send(b.unwrap_or(Value::Null).to_string()),
        };
        match r {
            Ok(mut r) => {
                let st = r.status().as_u16();
                let text = r.body_mut().read_to_string().unwrap_or_default();
                (
                    st,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(e) => (0, Value::String(e.to_string())),
        }
    }

    fn items(&self, user: &str) -> Vec<String> {
        let (st, v) = self.call(
            "GET",
            &format!("/v1/users/{user}/recommendations?k=10&explain=false"),
            None,
        );
        assert_eq!(st, 200, "{v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item"].as_str().unwrap().to_string())
            .collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn click(user: &str, item: &str, id: &str) -> Value {
    json!({"user": user, "item": item, "type": "click", "timestamp": tastebud_server::now_unix(), "event_id": id})
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {secs} s");
}

#[test]
fn two_replicas_agree_on_events_erasure_flags_experiments_and_models() {
    let (pg, redis) = services();
    let dir = tempfile::tempdir().unwrap();
    let (_, toml, current) = registry(dir.path(), &pg);
    let a = Replica::start(&current, &pg, Some(&redis), dir.path());
    let b = Replica::start(&current, &pg, Some(&redis), dir.path());

    // 1. An event acknowledged by A changes B's next list: the clicked item is not served again,
    //    although B (and the shared Redis cache) held the list before.
    let before = b.items("new-user-1");
    assert_eq!(before, a.items("new-user-1"), "both replicas answer alike");
    let top = before[0].clone();
    let (st, v) = a.call(
        "POST",
        "/v1/events",
        Some(click("new-user-1", &top, "ev-1")),
    );
    assert_eq!(st, 200, "{v}");
    let after = b.items("new-user-1");
    assert!(
        !after.contains(&top),
        "B served the item clicked through A: {after:?}"
    );

    // 2. An item hidden through A is not served by B at its next request.
    let second = after[0].clone();
    let (st, v) = a.call(
        "PUT",
        &format!("/v1/admin/items/{second}"),
        Some(json!({"hidden": true})),
    );
    assert_eq!(st, 200, "{v}");
    assert!(
        !b.items("new-user-1").contains(&second),
        "B served the item hidden through A"
    );
    assert!(!b.items("someone-else").contains(&second));

    // 3. A privacy delete through A is in force on B at once: no events, and B's lists no longer use
    //    them (the clicked item is back).
    let (st, v) = b.call("GET", "/v1/users/new-user-1/events", None);
    assert_eq!(
        (st, v["events"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{v}"
    );
    let (st, v) = a.call("DELETE", "/v1/users/new-user-1", None);
    assert!(st == 200 || st == 204, "{st} {v}");
    let (st, v) = b.call("GET", "/v1/users/new-user-1/events", None);
    assert_eq!(
        (st, v["events"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
    assert!(
        b.items("new-user-1").contains(&top),
        "B still used the erased history"
    );

    // 4. An experiment created through A assigns on B at its next request; assignment and reports
    //    are the same whichever replica answers.
    let def = json!({"id": "replicas", "arms": [{"name": "control", "weight": 1.0}, {"name": "treatment", "weight": 1.0}]});
    let (st, v) = a.call("POST", "/v1/experiments", Some(def));
    assert_eq!(st, 201, "{v}");
    let mut arms = HashMap::new();
    for u in 0..30 {
        let user = format!("x{u}");
        let (_, vb) = b.call(
            "GET",
            &format!("/v1/users/{user}/recommendations?k=5"),
            None,
        );
        let (_, va) = a.call(
            "GET",
            &format!("/v1/users/{user}/recommendations?k=5"),
            None,
        );
        assert_eq!(
            vb["experiment"], "replicas",
            "B does not know the experiment yet: {vb}"
        );
        assert_eq!(va["arm"], vb["arm"], "{user}: arms differ");
        arms.insert(user.clone(), vb["arm"].as_str().unwrap().to_string());
        let items: Vec<Value> = vb["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item"].clone())
            .collect();
        let imp = json!({"user": user, "type": "impression", "items": items, "timestamp": tastebud_server::now_unix(),
            "experiment": "replicas", "arm": arms[&user], "event_id": format!("imp-{u}")});
        let via = if u % 2 == 0 { &a } else { &b };
        assert_eq!(via.call("POST", "/v1/events", Some(imp)).0, 200);
        if u % 3 == 0 {
            let c = json!({"user": user, "type": "click", "item": items[0], "timestamp": tastebud_server::now_unix(),
                "experiment": "replicas", "arm": arms[&user], "event_id": format!("clk-{u}")});
            assert_eq!(via.call("POST", "/v1/events", Some(c)).0, 200);
        }
    }
    let (_, ra) = a.call("GET", "/v1/experiments/replicas/report", None);
    let (_, rb) = b.call("GET", "/v1/experiments/replicas/report", None);
    assert_eq!(ra["arms"], rb["arms"], "reports differ between replicas");
    assert_eq!(
        ra["arms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["users"].as_f64().unwrap())
            .sum::<f64>(),
        30.0,
        "{ra}"
    );

    // 5. A model promoted by `tastebud retrain` is swapped in by both within a few seconds: clicks on
    //    one item make it the most popular, the new popularity model is a new version.
    let (_, m) = a.call("GET", "/v1/model", None);
    let v1 = m["model_version"].as_str().unwrap().to_string();
    let events: Vec<Value> = (0..300)
        .map(|i| click(&format!("fan{i}"), "i79", &format!("fan-{i}")))
        .collect();
    assert_eq!(
        b.call("POST", "/v1/events", Some(Value::Array(events))).0,
        200
    );
    let r: Value = serde_json::from_str(&run(&[
        "retrain",
        "--config",
        toml.to_str().unwrap(),
        "--store-url",
        &pg.url(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(r["promoted"], true, "{r}");
    let v2 = r["candidate_version"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);
    let started = Instant::now();
    for rep in [&a, &b] {
        wait_until("the promoted model is served", 10, || {
            rep.call("GET", "/v1/model", None).1["model_version"] == v2.as_str()
        });
    }
    eprintln!(
        "both replicas swapped to {v2} within {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // A rollback through the shared index swaps both back.
    let reg = dir.path().join("registry");
    run(&[
        "registry",
        "rollback",
        "--dir",
        reg.to_str().unwrap(),
        "--store-url",
        &pg.url(),
        &v1,
    ]);
    for rep in [&a, &b] {
        wait_until("the rolled-back model is served", 10, || {
            rep.call("GET", "/v1/model", None).1["model_version"] == v1.as_str()
        });
    }
    let listed: Value = serde_json::from_str(&run(&[
        "registry",
        "list",
        "--dir",
        reg.to_str().unwrap(),
        "--store-url",
        &pg.url(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
}

/// Shards of one batch run (two processes) together store exactly the lists one whole run stores.
#[test]
fn sharded_batch_equals_one_run() {
    let (pg, redis) = services();
    let dir = tempfile::tempdir().unwrap();
    let (_, _, current) = registry(dir.path(), &pg);
    let model = current.to_str().unwrap();
    let url = pg.url();
    let lists = |out: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(out).unwrap();
        let mut v: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.sort_by_key(|l| l["user"].as_str().unwrap().to_string());
        v
    };
    let whole = dir.path().join("whole.jsonl");
    run(&[
        "batch",
        "--model",
        model,
        "--out",
        whole.to_str().unwrap(),
        "-k",
        "7",
        "--store-url",
        &url,
    ]);
    for i in 0..2 {
        let out = run(&[
            "batch",
            "--model",
            model,
            "--out",
            "store",
            "-k",
            "7",
            "--store-url",
            &url,
            "--redis-url",
            &redis.url(),
            "--shard",
            &format!("{i}/2"),
            "--batch-name",
            "nightly-1",
            "--json",
        ]);
        let s: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(s["published"], i == 1, "{s}");
    }
    // What the shards stored, read back through a replica in batch mode.
    let r = Command::new(BIN)
        .args([
            "serve",
            "--model",
            model,
            "--bind",
            "127.0.0.1:0",
            "--mode",
            "batch",
            "--store-url",
            &url,
            "--redis-url",
            &redis.url(),
        ])
        .env("TASTEBUD_SERVICE_KEY", SERVICE)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rep = Replica {
        child: r,
        addr: String::new(),
    };
    let mut line = String::new();
    BufReader::new(rep.child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    rep.addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let whole = lists(whole.to_str().unwrap());
    assert_eq!(whole.len(), 60);
    for l in &whole {
        let user = l["user"].as_str().unwrap();
        let (st, v) = rep.call(
            "GET",
            &format!("/v1/users/{user}/recommendations?k=7&explain=false"),
            None,
        );
        assert_eq!(st, 200);
        assert_eq!(v["strategy"], "batch", "{v}");
        let got: Vec<&Value> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["item"])
            .collect();
        let want: Vec<&Value> = l["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["item"])
            .collect();
        assert_eq!(got, want, "user {user}");
    }
    // Without a shared store, or a name, --shard is refused with a reason.
    let out = Command::new(BIN)
        .args([
            "batch",
            "--model",
            model,
            "--out",
            "store",
            "--shard",
            "0/2",
            "--batch-name",
            "x",
            "--data-dir",
        ])
        .arg(dir.path().join("local"))
        .env_remove("TASTEBUD_STORE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shared store"));
}

/// A replica killed with SIGKILL while clients post events, ten times: every acknowledged event is in
/// PostgreSQL exactly once (clients retry unacknowledged ones on the other replica with the same id).
#[test]
fn replicas_killed_under_load_lose_no_acknowledged_event() {
    let (pg, _redis) = services();
    let dir = tempfile::tempdir().unwrap();
    let (_, _, current) = registry(dir.path(), &pg);
    let survivor = Replica::start(&current, &pg, None, dir.path());
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut kills = 0;
    for round in 0..10 {
        let victim = Replica::start(&current, &pg, None, dir.path());
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..4 {
            let (acked, stop) = (acked.clone(), stop.clone());
            let (va, sa) = (victim.addr.clone(), survivor.addr.clone());
            threads.push(std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("k{round}-t{t}-{n}");
                    let body = click(&format!("load{t}"), "i1", &id).to_string();
                    // To the victim first; anything not acknowledged is retried on the survivor.
                    let mut ok = false;
                    for addr in [&va, &sa] {
                        let r = agent
                            .post(&format!("http://{addr}/v1/events"))
                            .header("content-type", "application/json")
                            .send(body.clone());
                        if r.is_ok_and(|r| r.status() == 200) {
                            ok = true;
                            break;
                        }
                    }
                    if ok {
                        acked.lock().unwrap().insert(id);
                    }
                    n += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(400));
        let mut victim = victim;
        victim.kill();
        kills += 1;
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    // What PostgreSQL holds, read through the survivor.
    let mut stored: HashMap<String, usize> = HashMap::new();
    for t in 0..4 {
        let (st, v) = survivor.call(
            "GET",
            &format!("/v1/users/load{t}/events?limit=100000"),
            None,
        );
        assert_eq!(st, 200, "{v}");
        for e in v["events"].as_array().unwrap() {
            *stored
                .entry(e["event"]["event_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let dup: Vec<(&String, &usize)> = stored.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "kills: {kills}, acknowledged: {}, stored: {}, lost: {}, duplicated: {}",
        acked.len(),
        stored.len(),
        lost.len(),
        dup.len()
    );
    assert!(acked.len() > 100, "the load ran: {}", acked.len());
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(dup.is_empty(), "stored twice: {dup:?}");
}

/// Redis down: recommendations are still answered (computed in process) and /readyz says degraded;
/// PostgreSQL down: events get a 503 (never a 2xx), and the replica recovers when it is back.
#[test]
fn redis_down_degrades_and_postgres_down_refuses_events_until_it_is_back() {
    let (mut pg, mut redis) = services();
    let dir = tempfile::tempdir().unwrap();
    let (_, _, current) = registry(dir.path(), &pg);
    let a = Replica::start(&current, &pg, Some(&redis), dir.path());
    let (st, v) = a.call("GET", "/readyz", None);
    assert_eq!((st, v["status"].as_str()), (200, Some("ready")), "{v}");
    redis.kill();
    assert_eq!(a.items("u-redis-down").len(), 10, "answered without Redis");
    let (st, v) = a.call("GET", "/readyz", None);
    assert_eq!((st, v["status"].as_str()), (200, Some("degraded")), "{v}");
    redis.restart().unwrap();
    wait_until("ready again after Redis is back", 10, || {
        a.call("GET", "/readyz", None).1["status"] == "ready"
    });

    pg.kill();
    let mut refused = 0;
    for i in 0..5 {
        let (st, v) = a.call(
            "POST",
            "/v1/events",
            Some(click("u-pg", "i1", &format!("pg-down-{i}"))),
        );
        assert_eq!(st, 503, "an event while PostgreSQL is down: {st} {v}");
        refused += 1;
    }
    assert_eq!(a.call("GET", "/readyz", None).0, 503);
    pg.restart().unwrap();
    wait_until("events accepted again after PostgreSQL is back", 20, || {
        a.call("POST", "/v1/events", Some(click("u-pg", "i1", "pg-back")))
            .0
            == 200
    });
    let (_, v) = a.call("GET", "/v1/users/u-pg/events", None);
    let ids: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"]["event_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["pg-back"],
        "only the acknowledged event is stored ({refused} refused)"
    );
    assert_eq!(a.call("GET", "/readyz", None).0, 200);
}
