//! Experiments in the server: deterministic arms on responses, each arm served by its model, events
//! attributed through the experiment and arm they carry, the report and the arm label in /metrics.

mod common;

use common::{Server, event, items, model_file};
use serde_json::json;
use tastebud_experiment::assign::{ArmDef, ExperimentDef};
use tastebud_server::Config;

fn arm(name: &str, model: Option<String>) -> ArmDef {
    serde_json::from_value(json!({"name": name, "weight": 1.0, "model": model})).unwrap()
}

#[test]
fn arms_are_stable_served_by_their_model_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pop = model_file(dir.path(), "popularity", &[]);
    let mut c = Config::default();
    let mut def = ExperimentDef::new(
        "home",
        vec![
            arm("control", None),
            arm("treatment", Some(pop.display().to_string())),
        ],
        tastebud_server::now_unix() - 86_400,
    );
    def.salt = "home-v1".into();
    c.experiments = vec![def];
    let s = Server::start(c, None);
    let mut by_arm = std::collections::HashMap::<String, Vec<String>>::new();
    for u in 0..60 {
        let user = format!("u{u}");
        let (st, v) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=5&explain=false"
        ));
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["experiment"], "home");
        let a = v["arm"].as_str().unwrap().to_string();
        let want_model = if a == "treatment" {
            "popularity"
        } else {
            "ease"
        };
        assert_eq!(v["model"], want_model, "{v}");
        // The same user stays in the same arm (also from the cache).
        let (_, again) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=5&explain=false"
        ));
        assert_eq!(again["arm"], v["arm"]);
        // The client echoes experiment and arm on its events: 5 items shown; control users click twice,
        // treatment users once.
        let mut imp = event(&user, "", "impression");
        imp.as_object_mut().unwrap().remove("item");
        imp["items"] = json!(items(&v));
        let clicks = if a == "control" { 2 } else { 1 };
        let mut batch = vec![imp];
        for i in items(&v).iter().take(clicks) {
            batch.push(event(&user, i, "click"));
        }
        for e in &mut batch {
            e["experiment"] = json!("home");
            e["arm"] = json!(a);
        }
        let (st, r) = s.post_json("/v1/events", &json!(batch));
        assert_eq!(st, 200, "{r}");
        by_arm.entry(a).or_default().push(user);
    }
    assert_eq!(by_arm.len(), 2, "both arms get users: {by_arm:?}");
    let (st, r) = s.get("/v1/experiments/home/report");
    assert_eq!(st, 200, "{r}");
    for a in r["arms"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap();
        let n = by_arm[name].len() as f64;
        assert_eq!(a["users"].as_f64().unwrap(), n, "{a}");
        let want_ctr = if name == "control" { 0.4 } else { 0.2 };
        assert!(
            (a["ctr"]["value"].as_f64().unwrap() - want_ctr).abs() < 1e-12,
            "{a}"
        );
    }
    assert!(r["srm"]["p_value"].is_number());
    assert!(!r["decision"].as_str().unwrap().is_empty());
    let table = ureq::get(&s.url("/v1/experiments/home/report?format=table"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        table.contains("treatment") && table.contains("control"),
        "{table}"
    );
    let (st, _) = s.get("/v1/experiments/nope/report");
    assert_eq!(st, 404);
    let (_, list) = s.get("/v1/experiments");
    assert_eq!(list[0]["id"], "home");
    // The arm is a metrics label.
    let m = ureq::get(&s.url("/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        m.contains("arm=\"treatment\"") && m.contains("arm=\"control\""),
        "arms missing from /metrics"
    );
}

fn admin_config() -> Config {
    let mut c = Config::default();
    c.admin.api_key = Some("k3y".into());
    c
}

#[test]
fn experiments_are_created_listed_stopped_and_survive_a_restart() {
    let store = tempfile::tempdir().unwrap();
    let mut c = admin_config();
    c.data_dir = store.path().join("store");
    let s = Server::start(c.clone(), None);
    let def = json!({"id": "rank-v2", "arms": [
        {"name": "control", "weight": 1.0}, {"name": "treatment", "weight": 3.0}]});
    // Admin only.
    let (st, v) = s.post_json("/v1/experiments", &def);
    assert!(st == 401 || st == 403, "{st} {v}");
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), &def.to_string());
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "running");
    assert!(
        v["start_unix"].as_i64().unwrap() > 0,
        "start defaults to now"
    );
    // Duplicate id, invalid definition, malformed JSON.
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), &def.to_string());
    assert_eq!(st, 409, "{v}");
    let one_arm = json!({"id": "x", "arms": [{"name": "a", "weight": 1.0}]});
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), &one_arm.to_string());
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("two arms"),
        "{v}"
    );
    let bad_eps = json!({"id": "y", "arms": [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 1.0}],
        "allocation": {"kind": "epsilon_greedy", "epsilon": 2.0}});
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), &bad_eps.to_string());
    assert_eq!(st, 422, "{v}");
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), "{not json");
    assert_eq!(st, 400, "{v}");
    let missing_model = json!({"id": "z", "arms": [{"name": "a", "weight": 1.0},
        {"name": "b", "weight": 1.0, "model": "/nonexistent/model.tbm"}]});
    let (st, v) = s.admin(
        "POST",
        "/v1/experiments",
        Some("k3y"),
        &missing_model.to_string(),
    );
    assert_eq!(st, 422, "{v}");
    let (_, list) = s.get("/v1/experiments");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // Responses carry the arm and its propensity (the weight share).
    let mut treatment = 0;
    for u in 0..200 {
        let (st, v) = s.get(&format!("/v1/users/u{u}/recommendations?k=3&explain=false"));
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["experiment"], "rank-v2");
        let p = v["propensity"].as_f64().unwrap();
        if v["arm"] == "treatment" {
            treatment += 1;
            assert!((p - 0.75).abs() < 1e-12);
        } else {
            assert!((p - 0.25).abs() < 1e-12);
        }
    }
    assert!(
        (120..=180).contains(&treatment),
        "3:1 weights gave {treatment}/200"
    );
    // Stop: nobody is assigned any more; the report stays.
    let (st, v) = s.admin("POST", "/v1/experiments/rank-v2/stop", Some("k3y"), "");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "stopped");
    let (_, v) = s.get("/v1/users/u1/recommendations?k=3");
    assert!(v.get("experiment").is_none(), "{v}");
    let (st, _) = s.admin("POST", "/v1/experiments/nope/stop", Some("k3y"), "");
    assert_eq!(st, 404);
    drop(s);
    // A restart on the same store keeps the experiment, stopped.
    let s = Server::start(c, None);
    let (_, list) = s.get("/v1/experiments");
    assert_eq!(list[0]["id"], "rank-v2", "{list}");
    assert_eq!(list[0]["status"], "stopped", "{list}");
    let (_, v) = s.get("/v1/users/u1/recommendations?k=3");
    assert!(v.get("experiment").is_none(), "{v}");
}

/// A bandit allocates traffic among two arms whose click rates differ: the better arm gets most of the
/// later traffic, the propensities are logged, the counts survive a restart (rebuilt from the log).
#[test]
fn thompson_allocation_moves_traffic_to_the_better_arm() {
    let store = tempfile::tempdir().unwrap();
    let mut c = admin_config();
    c.data_dir = store.path().join("store");
    c.cache.enabled = false;
    let s = Server::start(c.clone(), None);
    let def = json!({"id": "bandit", "allocation": {"kind": "thompson"}, "arms": [
        {"name": "weak", "weight": 1.0}, {"name": "strong", "weight": 1.0}]});
    let (st, v) = s.admin("POST", "/v1/experiments", Some("k3y"), &def.to_string());
    assert_eq!(st, 201, "{v}");
    // True CTR per item shown: weak 2%, strong 20%; clicks drawn by a fixed LCG.
    let mut seed: u64 = 42;
    let mut draw = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut late_strong = 0;
    for r in 0..400 {
        let user = format!("u{}", r % 60);
        let (st, v) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=5&explain=false"
        ));
        assert_eq!(st, 200, "{v}");
        let arm = v["arm"].as_str().unwrap().to_string();
        let p = v["propensity"].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0, "{v}");
        if r >= 300 && arm == "strong" {
            late_strong += 1;
        }
        let shown = items(&v);
        let mut batch = vec![json!({"user": user, "items": shown, "type": "impression",
            "timestamp": tastebud_server::now_unix(), "experiment": "bandit", "arm": arm, "propensity": p})];
        let ctr = if arm == "strong" { 0.2 } else { 0.02 };
        for i in &shown {
            if draw() < ctr {
                let mut e = event(&user, i, "click");
                e["experiment"] = json!("bandit");
                e["arm"] = json!(arm);
                batch.push(e);
            }
        }
        let (st, r) = s.post_json("/v1/events", &json!(batch));
        assert_eq!(st, 200, "{r}");
    }
    assert!(
        late_strong >= 85,
        "the strong arm got {late_strong}/100 of the last requests"
    );
    let (st, r) = s.get("/v1/experiments/bandit/report");
    assert_eq!(st, 200, "{r}");
    assert!(r["srm"].is_null(), "no SRM under bandit allocation: {r}");
    let probs = r["bandit_probabilities"].as_array().unwrap();
    let strong = probs[1].as_f64().unwrap();
    assert!(strong > 0.95, "{probs:?}");
    drop(s);
    let s = Server::start(c, None);
    let (_, r2) = s.get("/v1/experiments/bandit/report");
    let again = r2["bandit_probabilities"][1].as_f64().unwrap();
    assert!(
        (again - strong).abs() < 1e-9,
        "counts rebuilt from the log: {again} vs {strong}"
    );
}

#[test]
fn report_has_segments_a_timeline_and_an_html_page() {
    let mut c = Config::default();
    let start = tastebud_server::now_unix() - 3 * 86_400 - 600;
    c.experiments = vec![ExperimentDef::new(
        "feed",
        vec![arm("control", None), arm("treatment", None)],
        start,
    )];
    let s = Server::start(c, None);
    // Returning users (in training, u0..u59) and new ones (n0..), over three days; events dated.
    let mut batch = Vec::new();
    for (u, user) in (0..40)
        .map(|u| format!("u{u}"))
        .chain((0..40).map(|u| format!("n{u}")))
        .enumerate()
    {
        let (_, v) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=4&explain=false"
        ));
        let a = v["arm"].as_str().unwrap().to_string();
        let day = (u % 3) as i64;
        let ts = start + day * 86_400 + 3_600;
        let mut imp =
            json!({"user": user, "items": items(&v), "type": "impression", "timestamp": ts});
        imp["experiment"] = json!("feed");
        imp["arm"] = json!(a);
        // Half the users say they are in NL (the client echoes the request's attributes).
        if u % 2 == 0 {
            imp["attrs"] = json!({"country": "NL"});
        }
        batch.push(imp);
        // Returning users' clicks vary with a trait their pre-period clicks reveal.
        let extra = if user.starts_with('u') {
            2 * (u % 2)
        } else {
            0
        };
        let clicks = if a == "treatment" { 2 } else { 1 } + extra;
        // Before the start, returning users clicked about as much as they will (CUPED's covariate).
        if user.starts_with('u') {
            for i in items(&v).iter().take(1 + extra) {
                let mut e = event(&user, i, "click");
                e["timestamp"] = json!(start - 86_400);
                batch.push(e);
            }
        }
        for i in items(&v).iter().take(clicks) {
            let mut e = event(&user, i, "click");
            e["timestamp"] = json!(ts + 60);
            e["experiment"] = json!("feed");
            e["arm"] = json!(a);
            if u % 2 == 0 {
                e["attrs"] = json!({"country": "NL"});
            }
            batch.push(e);
        }
    }
    let (st, r) = s.post_json("/v1/events", &json!(batch));
    assert_eq!(st, 200, "{r}");
    let (st, r) = s.get("/v1/experiments/feed/report");
    assert_eq!(st, 200, "{r}");
    // Segments: u* are in the training data (returning), n* are new.
    let seg_users = |name: &str| r["segments"][name]["users"].as_u64().unwrap();
    assert_eq!(seg_users("new"), 40, "{}", r["segments"]);
    assert_eq!(seg_users("returning"), 40, "{}", r["segments"]);
    assert!(
        r["segments"]["new"]["report"]["arms"].is_array(),
        "{}",
        r["segments"]["new"]
    );
    // The timeline: four days (3 full + today), cumulative, the last equal to the totals.
    let tl = r["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 4, "{tl:?}");
    let last = &tl[3]["arms"];
    for (i, a) in r["arms"].as_array().unwrap().iter().enumerate() {
        assert_eq!(last[i]["impressions"], a["impressions"]);
        assert_eq!(last[i]["users"], a["users"]);
    }
    let day1 = tl[0]["arms"][0]["impressions"].as_u64().unwrap();
    assert!(day1 > 0 && day1 < r["arms"][0]["impressions"].as_u64().unwrap());
    assert!(tl[3]["arms"][1]["sequential_p"].is_number(), "{}", tl[3]);
    let seq_p = r["arms"][1]["ctr_sequential_p"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&seq_p), "{r}");
    // Breakdown by an attribute the events carry.
    let (st, by) = s.get("/v1/experiments/feed/report?segment_by=country");
    assert_eq!(st, 200, "{by}");
    assert_eq!(
        by["segments"]["country=NL"]["users"], 40,
        "{}",
        by["segments"]
    );
    assert_eq!(
        by["segments"]["country=(none)"]["users"], 40,
        "{}",
        by["segments"]
    );
    assert!(
        by["segments"]["country=NL"]["report"]["arms"].is_array(),
        "{}",
        by["segments"]
    );
    let cu = &r["cuped"];
    assert!(cu["variance_reduction"].as_f64().unwrap() > 0.1, "{cu}");
    let se = |t: &str| cu["arms"][1][t]["std_error"].as_f64().unwrap();
    assert!(se("adjusted_test") < se("test"), "{cu}");
    // HTML: the charts and the table.
    let html = ureq::get(&s.url("/v1/experiments/feed/report?format=html"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    if let Ok(p) = std::env::var("TASTEBUD_SAVE_REPORT") {
        std::fs::write(p, &html).unwrap(); // to look at it
    }
    for needle in [
        "<svg",
        "Cumulative CTR",
        "CUPED",
        "always-valid",
        "treatment",
        "control",
        "new users",
        "returning users",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let (st, _) = s.get("/v1/experiments/feed/report?format=pdf");
    assert_eq!(st, 400);
}

/// `a` and `b` are the same JSON, numbers equal to 1e-9 (relative): per-user sums run over hash maps, in
/// an order that differs between two aggregates of the same events.
fn assert_same(a: &serde_json::Value, b: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                "{path}: {x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{path}: keys");
            for (k, v) in x {
                assert_same(v, &y[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// A report keeps its aggregate between requests and reads only the events logged since: after every
/// batch, after a user's data is deleted and after a model swap it equals a report that reads the whole
/// log (`segment_by` always does), less the attribute segments and the clock.
#[test]
fn a_report_reads_only_new_events_and_equals_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let pop = model_file(dir.path(), "popularity", &[]);
    let mut c = admin_config();
    let start = tastebud_server::now_unix() - 3 * 86_400 - 600;
    let mut def = ExperimentDef::new(
        "feed",
        vec![arm("control", None), arm("treatment", None)],
        start,
    );
    def.end_unix = Some(start + 2 * 86_400 + 600);
    c.experiments = vec![def];
    let s = Server::start(c, None);
    let report = |query: &str| {
        let (st, mut r) = s.get(&format!("/v1/experiments/feed/report{query}"));
        assert_eq!(st, 200, "{r}");
        r["segments"]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| !k.contains('='));
        r.as_object_mut().unwrap().remove("days_running");
        r
    };
    let check = |when: &str| {
        let (cached, full) = (report(""), report("?segment_by=country"));
        assert_same(&cached, &full, when);
        cached
    };
    let total_users = |r: &serde_json::Value| -> u64 {
        r["arms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["users"].as_u64().unwrap())
            .sum()
    };
    let mut users_before = 0;
    for round in 0..3i64 {
        let mut batch = Vec::new();
        for u in 0..30 {
            let user = if u % 3 == 0 {
                format!("n{}", u + 30 * round)
            } else {
                format!("u{u}")
            };
            let (_, v) = s.get(&format!(
                "/v1/users/{user}/recommendations?k=4&explain=false"
            ));
            let a = ["control", "treatment"][(u % 2) as usize];
            // Days 0..3 since the start, some before it. The experiment ended during day 2: what is
            // logged later (clients still echoing the arm) counts on its last day.
            let ts = match (u + round) % 5 {
                4 => start - 3_600,
                d => start + d * 86_400 + 60 * u,
            };
            let mut imp =
                json!({"user": user, "items": items(&v), "type": "impression", "timestamp": ts});
            imp["experiment"] = json!("feed");
            imp["arm"] = json!(a);
            batch.push(imp);
            for i in items(&v).iter().take(1 + (u % 3) as usize) {
                let mut e = event(&user, i, "click");
                e["timestamp"] = json!(ts + 30);
                e["experiment"] = json!("feed");
                e["arm"] = json!(a);
                batch.push(e);
            }
            let mut view = event(&user, &items(&v)[0], "view");
            view["dwell_ms"] = json!(1000 * (u % 7));
            view["experiment"] = json!("feed");
            view["arm"] = json!(a);
            batch.push(view);
        }
        let (st, r) = s.post_json("/v1/events", &json!(batch));
        assert_eq!(st, 200, "{r}");
        let r = check(&format!("round {round}"));
        let users = total_users(&r);
        assert!(users > users_before, "round {round}: {users} users");
        // The timeline is cumulative: its last day is the totals.
        let tl = r["timeline"].as_array().unwrap();
        assert_eq!(tl.len(), 3);
        for (i, a) in r["arms"].as_array().unwrap().iter().enumerate() {
            let day = &tl[2]["arms"][i];
            for field in ["impressions", "users"] {
                assert_eq!(day[field], a[field], "{field}: {day} vs {a}");
            }
            assert_eq!(day["ctr"], a["ctr"]["value"], "{day} vs {a}");
            assert!(tl[1]["arms"][i]["impressions"].as_u64() < a["impressions"].as_u64());
        }
        users_before = users;
    }
    // A deleted user leaves the running aggregate too.
    let (st, d) = s.delete("/v1/users/u1");
    assert_eq!(st, 200, "{d}");
    let r = check("after a deletion");
    assert_eq!(total_users(&r), users_before - 1);
    let body = json!({"path": pop}).to_string();
    let (st, r) = s.admin("POST", "/v1/admin/reload", Some("k3y"), &body);
    assert_eq!(st, 200, "{r}");
    check("after a model swap");
}

fn shadow_server(shadow_model: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::default();
    c.cache.enabled = false;
    c.shadow = Some(tastebud_server::shadow::ShadowConfig {
        model: model_file(dir.path(), shadow_model, &[]),
        ..Default::default()
    });
    (Server::start(c, None), dir)
}

fn wait_compared(s: &Server, n: u64) -> serde_json::Value {
    for _ in 0..200 {
        let (_, r) = s.get("/v1/shadow/report");
        if r["compared"].as_u64().unwrap_or(0) >= n {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the shadow did not compare {n} requests");
}

/// `shadow.sample` below 1 mirrors that fraction of requests: the compared count is binomial, and every
/// response is production's.
#[test]
fn shadow_sample_mirrors_a_fraction_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::default();
    c.cache.enabled = false;
    c.shadow = Some(tastebud_server::shadow::ShadowConfig {
        model: model_file(dir.path(), "popularity", &[]),
        sample: 0.25,
        ..Default::default()
    });
    let s = Server::start(c, None);
    let n = 400u64;
    for r in 0..n {
        let (st, v) = s.get(&format!(
            "/v1/users/u{}/recommendations?k=5&explain=false",
            r % 40
        ));
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["model"], "ease", "the response is production's");
    }
    // Mirrored requests finish in the background: wait until the count stops moving.
    let mut last = u64::MAX;
    let mut report = serde_json::Value::Null;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let (_, r) = s.get("/v1/shadow/report");
        let seen = r["compared"].as_u64().unwrap() + r["errors"].as_u64().unwrap_or(0);
        report = r;
        if seen == last {
            break;
        }
        last = seen;
    }
    // Binomial(400, 0.25): mean 100, sd 8.7; the bounds are more than 5 sd away.
    assert_eq!(report["errors"].as_u64().unwrap_or(0), 0, "{report}");
    assert!(
        (55..=145).contains(&last),
        "{last} of {n} mirrored at sample 0.25: {report}"
    );
}

/// The shadow answers mirrored requests without changing responses; identical models overlap fully,
/// a different one less; clicks arriving later are scored against both lists.
#[test]
fn shadow_model_is_compared_without_changing_responses() {
    let (s, _d) = shadow_server("ease");
    for u in 0..20 {
        let (st, v) = s.get(&format!("/v1/users/u{u}/recommendations?k=5&explain=false"));
        assert_eq!(st, 200);
        assert_eq!(v["model"], "ease");
    }
    let r = wait_compared(&s, 20);
    assert_eq!(r["jaccard"].as_f64().unwrap(), 1.0, "{r}");
    assert!((r["rbo"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{r}");
    assert!(r["shadow_latency"]["p50_ms"].is_number(), "{r}");

    let (s, _d) = shadow_server("popularity");
    let mut clicked = Vec::new();
    for u in 0..30 {
        let user = format!("u{u}");
        let (_, v) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=5&explain=false"
        ));
        assert_eq!(v["model"], "ease", "the response is production's");
        clicked.push((user, items(&v)[0].clone()));
    }
    let r = wait_compared(&s, 30);
    let j = r["jaccard"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&j), "{r}");
    let rbo = r["rbo"].as_f64().unwrap();
    assert!(rbo < 1.0, "{r}");
    // Click each user's first production item: production's hit rate and MRR are exactly 1.
    let batch: Vec<_> = clicked.iter().map(|(u, i)| event(u, i, "click")).collect();
    let (st, _) = s.post_json("/v1/events", &json!(batch));
    assert_eq!(st, 200);
    let (_, r) = s.get("/v1/shadow/report");
    assert_eq!(r["clicks"], 30, "{r}");
    assert_eq!(r["production_clicks"]["hit_rate"], 1.0, "{r}");
    assert_eq!(r["production_clicks"]["mrr"], 1.0, "{r}");
    let sh = r["shadow_clicks"]["hit_rate"].as_f64().unwrap();
    assert!(sh < 1.0, "{r}");
    let d = r["hit_rate_diff"].as_array().unwrap();
    assert!((d[0].as_f64().unwrap() - (sh - 1.0)).abs() < 1e-9, "{r}");
    let table = ureq::get(&s.url("/v1/shadow/report?format=table"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(
        table.contains("Jaccard") && table.contains("shadow"),
        "{table}"
    );
    // No shadow configured: 404 with a JSON error.
    let plain = Server::start(Config::default(), None);
    let (st, v) = plain.get("/v1/shadow/report");
    assert_eq!(st, 404, "{v}");
}

/// Explored slates carry exact per-slot propensities; the log of top-slot propensities and clicks lets
/// `POST /v1/admin/ope` estimate the greedy policy's top-slot CTR, which the test knows.
#[test]
fn explored_slates_log_propensities_and_ope_recovers_the_greedy_ctr() {
    let mut c = admin_config();
    c.explore = tastebud_server::config::ExploreConfig {
        epsilon: 0.3,
        pool: 8,
    };
    let s = Server::start(c, None);
    let (st, v) = s.get("/v1/users/u1/recommendations?k=4&explore=2");
    assert_eq!(st, 400, "{v}");
    // Not explored: no propensities.
    let (_, v) = s.get("/v1/users/u1/recommendations?k=4&explore=0&explain=false");
    assert!(v["items"][0].get("propensity").is_none(), "{v}");
    // The true click rate of an item in the top slot: even ids 60%, odd 10%.
    let ctr = |item: &str| {
        let n: u32 = item.trim_start_matches('i').parse().unwrap();
        if n.is_multiple_of(2) { 0.6 } else { 0.1 }
    };
    let mut seed: u64 = 7;
    let mut draw = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let (eps, pool) = (0.3, 8.0);
    let mut truth = 0.0;
    let mut explored = 0;
    let n = 480;
    for r in 0..n {
        let user = format!("u{}", r % 60);
        // The greedy slate at this moment (what the target policy would show), then the explored one.
        let (_, greedy) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=4&explore=0&explain=false"
        ));
        truth += ctr(&items(&greedy)[0]);
        let (st, v) = s.get(&format!(
            "/v1/users/{user}/recommendations?k=4&explain=false"
        ));
        assert_eq!(st, 200, "{v}");
        let shown = items(&v);
        let p: Vec<f64> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["propensity"].as_f64().unwrap())
            .collect();
        // Slot 1: the greedy item with 1 - eps + eps/R, another with eps/R.
        let greedy_p = 1.0 - eps + eps / pool;
        if shown[0] == items(&greedy)[0] {
            assert!((p[0] - greedy_p).abs() < 1e-12, "{p:?}");
        } else {
            assert!((p[0] - eps / pool).abs() < 1e-12, "{p:?}");
            explored += 1;
        }
        assert!(p.iter().all(|&x| x > 0.0 && x <= 1.0));
        let request_id = v["request_id"].as_str().unwrap();
        let mut batch = vec![json!({"user": user, "items": shown, "type": "impression",
            "timestamp": tastebud_server::now_unix(), "request_id": request_id, "propensity": p[0]})];
        if draw() < ctr(&shown[0]) {
            let mut e = event(&user, &shown[0], "click");
            e["request_id"] = json!(request_id);
            batch.push(e);
        }
        let (st, r) = s.post_json("/v1/events", &json!(batch));
        assert_eq!(st, 200, "{r}");
    }
    // About eps * (1 - 1/R) of top slots are explored.
    let share = explored as f64 / n as f64;
    assert!((0.18..=0.35).contains(&share), "{share}");
    let truth = truth / n as f64;
    let (st, r) = s.admin("POST", "/v1/admin/ope", Some("k3y"), "{}");
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["impressions"], n, "{r}");
    for est in ["ips", "snips", "doubly_robust"] {
        let v = r[est]["value"].as_f64().unwrap();
        let se = r[est]["std_error"].as_f64().unwrap();
        assert!(
            (v - truth).abs() < 4.0 * se + 1e-9,
            "{est}: {v} ± {se} vs the true greedy CTR {truth}: {r}"
        );
    }
    let (st, _) = s.admin("POST", "/v1/admin/ope", None, "{}");
    assert!(st == 401 || st == 403);
    let (st, v) = s.admin(
        "POST",
        "/v1/admin/ope",
        Some("k3y"),
        r#"{"model": "/nope.tbm"}"#,
    );
    assert_eq!(st, 422, "{v}");
}

/// Targeting: an experiment for one attribute value and for new users only.
#[test]
fn targeting_by_attribute_and_segment() {
    let mut c = Config::default();
    let now = tastebud_server::now_unix() - 60;
    let mut nl = ExperimentDef::new("nl-only", vec![arm("a", None), arm("b", None)], now);
    nl.target.attributes.insert("country".into(), "NL".into());
    nl.layer = "geo".into();
    let mut fresh = ExperimentDef::new("new-only", vec![arm("a", None), arm("b", None)], now);
    fresh.target.segment = Some(tastebud_experiment::assign::Segment::New);
    c.experiments = vec![nl, fresh];
    let s = Server::start(c, None);
    // u1 is in the training data (returning); "stranger" is new.
    let (_, v) = s.get("/v1/users/u1/recommendations?k=2&attrs=country:NL");
    assert_eq!(v["experiment"], "nl-only", "{v}");
    let (_, v) = s.get("/v1/users/u1/recommendations?k=2&attrs=country:BE");
    assert!(v.get("experiment").is_none(), "{v}");
    let (_, v) = s.get("/v1/users/u1/recommendations?k=2");
    assert!(v.get("experiment").is_none(), "{v}");
    let (_, v) = s.get("/v1/users/stranger/recommendations?k=2");
    assert_eq!(v["experiment"], "new-only", "{v}");
    let (st, v) = s.get("/v1/users/u1/recommendations?k=2&attrs=country");
    assert_eq!(st, 400, "{v}");
}
