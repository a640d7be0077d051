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
