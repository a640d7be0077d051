//! The REST API end to end over HTTP: recommendations, real-time personalisation, cold start, events,
//! freshness rules, privacy deletion, admin, batch and hybrid modes, ANN, hot swap.

mod common;

use common::{Server, event, items, model_file};
use serde_json::json;
use tastebud_server::{Config, Mode};

fn history_items(user: u32) -> Vec<String> {
    let d = common::dataset();
    d.interactions
        .history(tastebud_core::UserIdx(user))
        .iter()
        .map(|(i, _)| format!("i{}", i.0))
        .collect()
}

#[test]
fn a_known_user_gets_unseen_items_of_their_block_with_titles_and_reasons() {
    let s = Server::start(Config::default(), None);
    let (st, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(st, 200, "{v}");
    let got = items(&v);
    assert_eq!(got.len(), 5);
    let seen = history_items(3);
    for i in &got {
        assert!(!seen.contains(i), "re-served consumed item {i}");
        let n: u32 = i[1..].parse().unwrap();
        assert!(n < 20, "u3 is a Comedy user, got {i}");
    }
    assert_eq!(v["strategy"], "realtime");
    assert_eq!(v["cold_start"], false);
    assert_eq!(v["model"], "ease");
    assert!(v["model_version"].as_str().unwrap().starts_with("ease-"));
    assert!(!v["request_id"].as_str().unwrap().is_empty());
    let first = &v["items"][0];
    assert!(first["title"].as_str().unwrap().starts_with("Film "));
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .starts_with("Because you liked Film "),
        "{first}"
    );
    assert!(!first["because"].as_array().unwrap().is_empty());
    // Scores are in descending order.
    let scores: Vec<f64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    // Request ids are unique.
    let (_, v2) = s.get("/v1/users/u3/recommendations?k=5");
    assert_ne!(v["request_id"], v2["request_id"]);
    assert_eq!(v2["cached"], true);
    assert_eq!(items(&v2), got);
}

#[test]
fn an_unknown_user_gets_the_cold_start_chain_and_is_told_so() {
    let s = Server::start(Config::default(), None);
    let (st, v) = s.get("/v1/users/stranger/recommendations?k=3");
    assert_eq!(st, 200);
    assert_eq!(v["strategy"], "cold_start");
    assert_eq!(v["cold_start"], true);
    assert_eq!(v["fallback"], "popularity");
    // The most popular items of the training data (i0, i20, i1 by construction come first among ties).
    let d = common::dataset();
    let mut counts: Vec<(usize, u32)> = (0..40)
        .map(|i| (d.interactions.item_len(tastebud_core::ItemIdx(i)), i))
        .collect();
    counts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let want: Vec<String> = counts[..3].iter().map(|(_, i)| format!("i{i}")).collect();
    assert_eq!(items(&v), want);
    assert_eq!(v["items"][0]["reason"], "Popular with everyone right now");
}

#[test]
fn every_acknowledged_event_shapes_the_next_recommendation() {
    let s = Server::start(Config::default(), None);
    let (_, before) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(before["cached"], false);
    // u3 (Comedy) starts watching Drama: a batch of clicks and a purchase.
    let batch = json!([
        event("u3", "i25", "click"),
        event("u3", "i27", "click"),
        event("u3", "i29", "purchase"),
        event("u3", "i31", "like"),
        event("u3", "i33", "add_to_cart"),
    ]);
    let (st, ack) = s.post_json("/v1/events", &batch);
    assert_eq!(st, 200, "{ack}");
    assert_eq!(ack["accepted"], 5);
    assert_eq!(ack["seqs"].as_array().unwrap().len(), 5);
    let (_, after) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(
        after["cached"], false,
        "new events must invalidate the cache"
    );
    let got = items(&after);
    for consumed in ["i25", "i27", "i29", "i31", "i33"] {
        assert!(!got.contains(&consumed.to_string()), "{consumed} re-served");
    }
    let drama = got
        .iter()
        .filter(|i| i[1..].parse::<u32>().unwrap() >= 20)
        .count();
    assert!(drama >= 1, "no Drama after Drama events: {got:?}");
    assert_ne!(items(&before), got);
    // The events are readable back, oldest first.
    let (st, ev) = s.get("/v1/users/u3/events");
    assert_eq!(st, 200);
    assert_eq!(ev["events"].as_array().unwrap().len(), 5);
    assert_eq!(ev["events"][0]["event"]["item"], "i25");
    // A brand-new visitor becomes personalised by their first events.
    s.post_json("/v1/events", &event("visitor-9", "i22", "click"));
    s.post_json("/v1/events", &event("visitor-9", "i24", "click"));
    let (_, v) = s.get("/v1/users/visitor-9/recommendations?k=3");
    assert_eq!(v["strategy"], "realtime");
    assert!(
        items(&v)
            .iter()
            .all(|i| i[1..].parse::<u32>().unwrap() >= 20),
        "{v}"
    );
}

#[test]
fn duplicate_event_ids_are_stored_once() {
    let s = Server::start(Config::default(), None);
    let mut e = event("u1", "i5", "click");
    e["event_id"] = json!("evt-1");
    let (_, a) = s.post_json("/v1/events", &e);
    assert_eq!(
        (a["accepted"].as_u64(), a["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    let (_, b) = s.post_json("/v1/events", &e);
    assert_eq!(
        (b["accepted"].as_u64(), b["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(a["seqs"], b["seqs"]);
    let (_, ev) = s.get("/v1/users/u1/events");
    assert_eq!(ev["events"].as_array().unwrap().len(), 1);
}

#[test]
fn ad_hoc_histories_are_recommended_in_real_time() {
    let s = Server::start(Config::default(), None);
    let (st, v) = s.post_json(
        "/v1/recommendations",
        &json!({"history": ["i21", {"item": "i23", "value": 2.0}, "i26"], "k": 4}),
    );
    assert_eq!(st, 200, "{v}");
    assert!(v.get("user").is_none());
    let got = items(&v);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|i| i[1..].parse::<u32>().unwrap() >= 20));
    assert!(!got.contains(&"i21".to_string()));
    // Unknown items are named (422), or skipped on request.
    let (st, e) = s.post_json("/v1/recommendations", &json!({"history": ["i21", "nope"]}));
    assert_eq!(st, 422);
    assert!(e["error"]["message"].as_str().unwrap().contains("nope"));
    let (st, _) = s.post_json(
        "/v1/recommendations",
        &json!({"history": ["i21", "nope"], "ignore_unknown": true}),
    );
    assert_eq!(st, 200);
    // A genre filter restricts the ranking.
    let (st, v) = s.post_json(
        "/v1/recommendations",
        &json!({"history": ["i21"], "filter": "genres:Comedy", "k": 3}),
    );
    assert_eq!(st, 200, "{v}");
    assert!(
        items(&v)
            .iter()
            .all(|i| i[1..].parse::<u32>().unwrap() < 20)
    );
    // Well-formed but naming a value the items lack: unprocessable.
    let (st, e) = s.get("/v1/users/u3/recommendations?filter=genres:Horror");
    assert_eq!(st, 422);
    assert!(e["error"]["message"].as_str().unwrap().contains("Horror"));
}

#[test]
fn knowledge_based_requests_meet_constraints_rank_by_preferences_and_explain_relaxations() {
    let s = Server::start(Config::default(), None);
    let year = |id: &str| 1980 + id[1..].parse::<u32>().unwrap();
    // A drama fan asks for comedies from 1995 on, the newer the better, by utility alone.
    let (st, v) = s.post_json(
        "/v1/recommendations",
        &json!({"history": ["i21", "i23"], "constraints": ["genre = Comedy", "year >= 1995"],
                "preferences": ["year high"], "blend": 0.0, "k": 10}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(items(&v), ["i19", "i18", "i17", "i16", "i15"], "{v}");
    assert_eq!(v["knowledge"]["satisfying"], 5, "{v}");
    assert!(v["knowledge"].get("relaxations").is_none());
    let why = v["items"][0]["reason"].as_str().unwrap();
    assert!(
        why.starts_with("Meets genre = Comedy and year >= 1995; preferences: year high (0.49)"),
        "{why}"
    );
    // By the model alone among the same films; the default blend mixes both, still only those five.
    for blend in [json!(1.0), json!(null)] {
        let (st, v) = s.post_json(
            "/v1/recommendations",
            &json!({"history": ["i21", "i23"], "constraints": ["genres = Comedy", "year in 1995..1999"],
                    "preferences": ["year low^2"], "blend": blend}),
        );
        assert_eq!(st, 200, "{v}");
        let mut got = items(&v);
        got.sort();
        assert_eq!(got, ["i15", "i16", "i17", "i18", "i19"], "{v}");
    }
    // A known user, an anonymous one without history (the cold-start chain): constraints hold for both.
    for body in [
        json!({"user": "u3", "constraints": ["year >= 2010"], "k": 4}),
        json!({"constraints": ["year >= 2010"], "k": 4}),
    ] {
        let (st, v) = s.post_json("/v1/recommendations", &body);
        assert_eq!(st, 200, "{v}");
        let got = items(&v);
        assert_eq!(got.len(), 4, "{v}");
        assert!(got.iter().all(|i| year(i) >= 2010), "{v}");
    }
    // No comedy after 2005: the conflict, both minimal relaxations (most items first), an empty list.
    let ask =
        json!({"history": ["i21", "i23"], "constraints": ["genres = Comedy", "year >= 2005"]});
    let (st, v) = s.post_json("/v1/recommendations", &ask);
    assert_eq!(st, 200, "{v}");
    assert!(items(&v).is_empty());
    let k = &v["knowledge"];
    assert_eq!(k["satisfying"], 0);
    assert_eq!(k["conflict"], json!(["genres = Comedy", "year >= 2005"]));
    assert_eq!(
        k["relaxations"],
        json!([{"drop": ["year >= 2005"], "items": 20}, {"drop": ["genres = Comedy"], "items": 15}])
    );
    assert_eq!(
        k["message"],
        "No item meets `genres = Comedy` and `year >= 2005` together; dropping `year >= 2005` gives \
         20 items; dropping `genres = Comedy` gives 15 items"
    );
    // Relaxing answers from the first relaxation and says which constraint it dropped.
    let mut relaxed = ask.clone();
    relaxed["relax"] = json!(true);
    let (st, v) = s.post_json("/v1/recommendations", &relaxed);
    assert_eq!(st, 200, "{v}");
    assert!(
        !items(&v).is_empty() && items(&v).iter().all(|i| year(i) < 2000),
        "{v}"
    );
    assert_eq!(v["knowledge"]["relaxed"], json!(["year >= 2005"]));
    let why = v["items"][0]["reason"].as_str().unwrap();
    assert!(why.starts_with("Meets genres = Comedy. "), "{why}");
    // Bad input: not parsing or naming what the items lack (422: the schema cannot state the grammar),
    // outside the schema (400, or 422 from the JSON decoder).
    for (body, status, needle) in [
        (
            json!({"constraints": ["genres Comedy"]}),
            422,
            "COLUMN OP VALUE",
        ),
        (
            json!({"constraints": ["colour = red"]}),
            422,
            "genres, title, year",
        ),
        (json!({"constraints": ["genres = Horror"]}), 422, "Horror"),
        (json!({"constraints": ["genres >= 3"]}), 422, "categorical"),
        (
            json!({"constraints": ["year >= soon"]}),
            422,
            "not a number",
        ),
        (
            json!({"preferences": ["title high"]}),
            422,
            "not a numeric column",
        ),
        (
            json!({"constraints": ["year > 1"], "blend": 2}),
            400,
            "blend",
        ),
        (json!({"history": ["i1"], "relax": true}), 422, "neither"),
        (
            json!({"constraints": ["x".repeat(300)]}),
            422,
            "256 characters",
        ),
        (json!({"constraints": [""]}), 422, "256 characters"),
        (
            json!({"constraints": vec!["year > 1"; 65]}),
            400,
            "at most 64",
        ),
    ] {
        let (st, e) = s.post_json("/v1/recommendations", &body);
        assert_eq!(st, status, "{body}: {e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{body}: {m}");
    }
}

#[test]
fn similar_items_and_unknown_items() {
    let s = Server::start(Config::default(), None);
    let (st, v) = s.get("/v1/items/i3/similar?k=4");
    assert_eq!(st, 200, "{v}");
    let got = items(&v);
    assert_eq!(got.len(), 4);
    assert!(!got.contains(&"i3".to_string()));
    assert!(got.iter().all(|i| i[1..].parse::<u32>().unwrap() < 20));
    let (st, e) = s.get("/v1/items/i999/similar");
    assert_eq!(st, 404);
    assert!(e["error"]["message"].as_str().unwrap().contains("i999"));
}

#[test]
fn items_shown_repeatedly_without_a_click_are_demoted() {
    let s = Server::start(Config::default(), None);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    let top = items(&v)[0].clone();
    let shown = |n: usize| {
        for _ in 0..n {
            let mut e = event("u3", "", "impression");
            e.as_object_mut().unwrap().remove("item");
            e["items"] = json!([top]);
            let (st, r) = s.post_json("/v1/events", &e);
            assert_eq!(st, 200, "{r}");
        }
    };
    shown(1);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(items(&v)[0], top, "one impression is below the threshold");
    shown(2);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    let pos = items(&v).iter().position(|i| *i == top);
    assert!(pos.is_none_or(|p| p >= 1), "not demoted: {v}");
    // A click on it... consumes it (never re-served).
    s.post_json("/v1/events", &event("u3", &top, "click"));
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert!(!items(&v).contains(&top));
}

#[test]
fn hidden_and_expired_items_leave_every_list_at_once() {
    let mut c = Config::default();
    c.admin.api_key = Some("k3y".into());
    let s = Server::start(c, None);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    let top = items(&v)[0].clone();
    let second = items(&v)[1].clone();
    let (_, cold) = s.get("/v1/users/nobody/recommendations?k=3");
    let cold_top = items(&cold)[0].clone();
    // No key, wrong key: refused.
    let path = format!("/v1/admin/items/{top}");
    assert_eq!(s.admin("PUT", &path, None, r#"{"hidden": true}"#).0, 401);
    assert_eq!(
        s.admin("PUT", &path, Some("nope"), r#"{"hidden": true}"#).0,
        401
    );
    let (st, r) = s.admin("PUT", &path, Some("k3y"), r#"{"hidden": true}"#);
    assert_eq!(st, 200, "{r}");
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert!(!items(&v).contains(&top), "hidden item served: {v}");
    let (_, sim) = s.get("/v1/items/i4/similar?k=39");
    assert!(!items(&sim).contains(&top));
    // Time to live: expired a second ago.
    let exp = json!({"expires_at": tastebud_server::now_unix() - 1}).to_string();
    let (st, _) = s.admin(
        "PUT",
        &format!("/v1/admin/items/{cold_top}"),
        Some("k3y"),
        &exp,
    );
    assert_eq!(st, 200);
    let (_, cold) = s.get("/v1/users/nobody/recommendations?k=3");
    assert!(!items(&cold).contains(&cold_top));
    // Un-hiding brings it back.
    let (st, _) = s.admin("PUT", &path, Some("k3y"), r#"{"hidden": false}"#);
    assert_eq!(st, 200);
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(items(&v)[0], top);
    assert_ne!(top, second);
    let (st, _) = s.admin(
        "PUT",
        "/v1/admin/items/i999",
        Some("k3y"),
        r#"{"hidden": true}"#,
    );
    assert_eq!(st, 404);
}

#[test]
fn admin_endpoints_are_off_without_a_key() {
    let s = Server::start(Config::default(), None);
    let (st, e) = s.admin("POST", "/v1/admin/reload", Some("x"), "{}");
    assert_eq!(st, 403);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TASTEBUD_ADMIN_KEY")
    );
}

#[test]
fn deleting_a_user_forgets_their_events_lists_and_history() {
    let s = Server::start(Config::default(), None);
    s.post_json(
        "/v1/events",
        &json!([
            event("u3", "i25", "click"),
            event("u3", "i26", "view"),
            event("u4", "i1", "click")
        ]),
    );
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "realtime");
    let (st, d) = s.delete("/v1/users/u3");
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["events"], 2);
    assert_eq!(d["training_history_suppressed"], true);
    assert!(d["cache_entries"].as_u64().unwrap() >= 1);
    assert!(d["removed"].as_u64().unwrap() >= 3);
    let (_, ev) = s.get("/v1/users/u3/events");
    assert!(ev["events"].as_array().unwrap().is_empty());
    let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
    assert_eq!(v["strategy"], "cold_start", "{v}");
    // Other users are untouched.
    let (_, ev) = s.get("/v1/users/u4/events");
    assert_eq!(ev["events"].as_array().unwrap().len(), 1);
}

#[test]
fn health_readiness_model_and_openapi() {
    let s = Server::start(Config::default(), None);
    assert_eq!(s.get("/healthz"), (200, json!({"status": "ok"})));
    let (st, r) = s.get("/readyz");
    assert_eq!(st, 200);
    assert_eq!(r["status"], "ready");
    let (st, m) = s.get("/v1/model");
    assert_eq!(st, 200);
    assert_eq!(m["n_items"], 40);
    let (st, o) = s.get("/openapi.json");
    assert_eq!(st, 200);
    assert!(o["paths"]["/v1/events"].is_object());
}

#[test]
fn batch_and_hybrid_modes_serve_precomputed_lists_until_the_user_acts() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), "ease", &[]);
    for mode in [Mode::Batch, Mode::Hybrid] {
        let c = Config {
            mode,
            ..Config::default()
        };
        let s = Server::start(c, Some(model.clone()));
        // Without a batch: batch mode falls back to cold start, hybrid computes.
        let (_, v) = s.get("/v1/users/u3/recommendations?k=5");
        let realtime = items(&v);
        match mode {
            Mode::Batch => assert_eq!(v["strategy"], "cold_start"),
            _ => assert_eq!(v["strategy"], "realtime"),
        }
        let serving = s.state.serving();
        let (lists, hwm) = tastebud_server::batch::compute_lists(
            &s.state.pipeline,
            &serving,
            Some(s.state.storage.users.as_ref()),
            20,
            &|_| {},
        )
        .unwrap();
        assert_eq!(lists.len(), 60);
        let u3: Vec<String> = lists.iter().find(|l| l.user == "u3").unwrap().items[..5]
            .iter()
            .map(|i| i.item.clone())
            .collect();
        if mode == Mode::Hybrid {
            assert_eq!(u3, realtime, "precomputed equals real time");
        }
        tastebud_server::batch::write_store(
            s.state.storage.lists.as_ref(),
            &serving,
            lists,
            hwm,
            20,
            std::time::Instant::now(),
        )
        .unwrap();
        let (_, v) = s.get("/v1/users/u3/recommendations?k=5&explain=false");
        assert_eq!(v["strategy"], "batch", "{mode:?}: {v}");
        assert_eq!(items(&v), u3);
        // After an event: hybrid switches to real time; batch keeps the list minus consumed items.
        s.post_json("/v1/events", &event("u3", &u3[0], "click"));
        let (_, v) = s.get("/v1/users/u3/recommendations?k=5&explain=false");
        assert!(!items(&v).contains(&u3[0]));
        match mode {
            Mode::Batch => assert_eq!(v["strategy"], "batch"),
            _ => assert_eq!(v["strategy"], "realtime"),
        }
        // Other users still get the batch.
        let (_, v) = s.get("/v1/users/u40/recommendations?k=5");
        assert_eq!(v["strategy"], "batch");
    }
}

#[test]
fn embedding_models_retrieve_through_the_ann_index_and_rescore_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let als = model_file(dir.path(), "als", &["factors=8", "iterations=10"]);
    let exact = Server::start(Config::default(), Some(als.clone()));
    let mut c = Config::default();
    c.ann.min_items = 10; // force the HNSW index on this small catalogue
    let ann = Server::start(c, Some(als));
    let (_, m) = ann.get("/v1/model");
    assert_eq!(m["ann"], true);
    let mut agree = 0;
    for u in 0..60 {
        let p = format!("/v1/users/u{u}/recommendations?k=5&explain=false");
        let (_, a) = ann.get(&p);
        let (_, e) = exact.get(&p);
        assert_eq!(a["ann"], true);
        assert_eq!(e["ann"], false);
        let (a, e) = (items(&a), items(&e));
        agree += a.iter().filter(|i| e.contains(i)).count();
    }
    // ALS explains in the same pass as it ranks (one factorisation): reasons name history items.
    let (_, e) = exact.get("/v1/users/u3/recommendations?k=5");
    let first = &e["items"][0];
    assert!(!first["because"].as_array().unwrap().is_empty(), "{first}");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .starts_with("Because you liked Film ")
    );
    let recall = agree as f64 / 300.0;
    assert!(recall >= 0.95, "ANN recall@5 vs exact: {recall}");
}

/// Constraints on a model whose dataset has no item features: unprocessable, not a 500.
#[test]
fn constraints_on_a_model_without_item_features_are_a_422() {
    use tastebud_models::registry::{ModelSpec, fit};
    let mut data = common::dataset();
    data.item_features = None;
    let (m, p) = fit(
        &ModelSpec::new("pop").unwrap(),
        &data,
        &tastebud_models::NoProgress,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pop.tbm");
    tastebud_models::file::ModelFile::new(m, p, &data, true)
        .save(&path)
        .unwrap();
    let s = Server::start(Config::default(), Some(path));
    let (st, e) = s.post_json(
        "/v1/recommendations",
        &json!({"history": ["i1"], "constraints": ["genres = Comedy"]}),
    );
    assert_eq!(st, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("item features"),
        "{e}"
    );
}

/// A Mult-DAE model file built from weights by hand (this build has no `deep` feature to train one): one
/// tanh unit per genre block, output weights favouring the block's low item numbers. The server scores it
/// in plain Rust, exactly and through the ANN index over its output layer, and folds fresh events in.
#[test]
fn a_deep_model_file_is_served_exactly_and_through_the_ann_index() {
    use tastebud_models::autoencoder::{Autoencoder, AutoencoderParams, Layer, MultDae};
    let data = common::dataset();
    let first = Layer {
        inputs: 40,
        outputs: 2,
        weights: (0..40)
            .flat_map(|i| if i < 20 { [3.0, 0.0] } else { [0.0, 3.0] })
            .collect(),
        bias: vec![0.0, 0.0],
        tanh: true,
    };
    let mut out_w = vec![0f32; 2 * 40];
    for i in 0..40 {
        let block = usize::from(i >= 20);
        out_w[block * 40 + i] = 4.0 - (i % 20) as f32 * 0.1;
    }
    let out = Layer {
        inputs: 2,
        outputs: 40,
        weights: out_w,
        bias: vec![0.0; 40],
        tanh: false,
    };
    let model = MultDae(Autoencoder::new(
        AutoencoderParams::dae(),
        40,
        vec![first],
        out,
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multdae.tbm");
    let params = serde_json::to_value(AutoencoderParams::dae()).unwrap();
    tastebud_models::file::ModelFile::new(model.into(), params, &data, true)
        .save(&path)
        .unwrap();
    let exact = Server::start(Config::default(), Some(path.clone()));
    let mut c = Config::default();
    c.ann.min_items = 10;
    let ann = Server::start(c, Some(path));
    assert_eq!(ann.get("/v1/model").1["ann"], true);
    for (s, is_ann) in [(&exact, false), (&ann, true)] {
        // A drama user (u40 uses i20..i39) gets unseen dramas, lowest numbers first.
        let (st, v) = s.get("/v1/users/u40/recommendations?k=3&explain=false");
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["model"], "multdae");
        assert_eq!(v["ann"], is_ann, "{v}");
        let got = items(&v);
        assert!(
            got.iter().all(|i| i[1..].parse::<u32>().unwrap() >= 20),
            "{v}"
        );
        // An anonymous comedy history gets comedies, the first one (i0) left out as seen.
        let (st, v) = s.post_json(
            "/v1/recommendations",
            &json!({"history": ["i0", "i5"], "k": 2, "explain": false}),
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!(items(&v), ["i1", "i2"], "{v}");
    }
}

/// A GRU4Rec model file built from weights by hand: the state after a sequence is (nearly) the one-hot of
/// its last item (update gate shut, candidate `tanh(±5)`), and each item's output row reads its
/// predecessor, so the best next item is the successor of the last one. Served exactly and through the
/// ANN index, every click changes the next list, in the order the events arrived.
#[test]
fn a_sequential_model_follows_each_click_in_order() {
    use tastebud_models::sequential::Linear;
    use tastebud_models::sequential::gru4rec::{Gru4Rec, Gru4RecParams};
    let data = common::dataset();
    let (n, h) = (40usize, 40usize);
    let p = Gru4RecParams {
        hidden: h,
        ..Gru4RecParams::default()
    };
    let mut inputs = vec![0f32; n * 3 * h];
    for i in 0..n {
        let row = &mut inputs[i * 3 * h..][..3 * h];
        row[h..2 * h].fill(-20.0); // update gate z = 0: the state is the candidate
        for j in 0..h {
            row[2 * h + j] = if j == i { 5.0 } else { -5.0 };
        }
    }
    let recurrent = Linear {
        inputs: h,
        outputs: 3 * h,
        weights: vec![0.0; h * 3 * h],
        bias: vec![0.0; 3 * h],
    };
    let mut out = vec![0f32; n * h];
    for k in 0..n {
        out[k * h + (k + n - 1) % n] = 1.0;
    }
    let model = Gru4Rec::new(p.clone(), n, inputs, recurrent, &out, &vec![0.0; n]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gru4rec.tbm");
    tastebud_models::file::ModelFile::new(
        model.into(),
        serde_json::to_value(p).unwrap(),
        &data,
        true,
    )
    .save(&path)
    .unwrap();
    let exact = Server::start(Config::default(), Some(path.clone()));
    let mut c = Config::default();
    c.ann.min_items = 10;
    let ann = Server::start(c, Some(path));
    for (s, is_ann) in [(&exact, false), (&ann, true)] {
        let top = |user: &str| {
            let (st, v) = s.get(&format!(
                "/v1/users/{user}/recommendations?k=3&explain=false"
            ));
            assert_eq!(st, 200, "{v}");
            assert_eq!(v["model"], "gru4rec");
            assert_eq!(v["ann"], is_ann, "{v}");
            items(&v)[0].clone()
        };
        // u3's training items (no timestamps: item order) end with i19, so i20 comes next.
        assert_eq!(top("u3"), "i20");
        // Each click moves the list on; a click on an item of the training history (i16) counts again.
        for (click, next) in [("i25", "i26"), ("i5", "i6"), ("i30", "i31"), ("i16", "i17")] {
            let (st, ack) = s.post_json("/v1/events", &event("u3", click, "click"));
            assert_eq!(st, 200, "{ack}");
            assert_eq!(top("u3"), next, "after a click on {click}");
        }
        // An anonymous history is read in the order given.
        for (history, want) in [(["i5", "i12"], "i13"), (["i12", "i5"], "i6")] {
            let (st, v) = s.post_json(
                "/v1/recommendations",
                &json!({"history": history, "k": 1, "explain": false}),
            );
            assert_eq!(st, 200, "{v}");
            assert_eq!(items(&v), [want], "{history:?}");
        }
    }
}

#[test]
fn a_model_swapped_under_load_fails_no_request() {
    let mut c = Config::default();
    c.admin.api_key = Some("k".into());
    c.cache.enabled = false;
    let dir = tempfile::tempdir().unwrap();
    let ease = model_file(dir.path(), "ease", &[]);
    let pop = model_file(dir.path(), "popularity", &[]);
    let s = std::sync::Arc::new(Server::start(c, Some(ease.clone())));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..4 {
        let (s, stop) = (s.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            let mut n = 0u64;
            let mut versions = std::collections::HashSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (st, v) = s.get(&format!("/v1/users/u{}/recommendations?k=5", (n + t) % 60));
                assert_eq!(st, 200, "request failed during a swap: {v}");
                assert_eq!(items(&v).len(), 5);
                versions.insert(v["model_version"].as_str().unwrap().to_string());
                n += 1;
            }
            (n, versions)
        }));
    }
    let mut swaps = 0;
    for i in 0..10 {
        let path = if i % 2 == 0 { &pop } else { &ease };
        let body = json!({"path": path}).to_string();
        let (st, r) = s.admin("POST", "/v1/admin/reload", Some("k"), &body);
        assert_eq!(st, 200, "{r}");
        swaps += 1;
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut versions = std::collections::HashSet::new();
    for h in handles {
        let (n, v) = h.join().unwrap();
        total += n;
        versions.extend(v);
    }
    assert_eq!(swaps, 10);
    assert!(total > 50, "too few requests to show anything: {total}");
    assert_eq!(versions.len(), 2, "both models served: {versions:?}");
    // A bad path is a 422 and the current model stays.
    let (st, e) = s.admin(
        "POST",
        "/v1/admin/reload",
        Some("k"),
        r#"{"path": "/nonexistent.tbm"}"#,
    );
    assert_eq!(st, 422, "{e}");
    let (st, _) = s.get("/v1/users/u1/recommendations");
    assert_eq!(st, 200);
}

#[test]
fn the_model_file_is_watched_and_reloaded_when_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.tbm");
    std::fs::copy(model_file(dir.path(), "ease", &[]), &live).unwrap();
    let mut c = Config::default();
    c.admin.watch_model = true;
    c.admin.watch_interval_ms = 50;
    let s = Server::start(c, Some(live.clone()));
    let (_, m) = s.get("/v1/model");
    assert_eq!(m["model"], "ease");
    std::thread::sleep(std::time::Duration::from_millis(1100)); // distinct mtime on coarse clocks
    let pop = model_file(dir.path(), "popularity", &[]);
    let tmp = dir.path().join("live.tmp");
    std::fs::copy(&pop, &tmp).unwrap();
    std::fs::rename(&tmp, &live).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, m) = s.get("/v1/model");
        if m["model"] == "popularity" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "model not reloaded");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_configured_reranker_diversifies_lists_and_requests_can_override_it() {
    let genre = |v: &serde_json::Value| -> Vec<bool> {
        items(v)
            .iter()
            .map(|i| i[1..].parse::<u32>().unwrap() >= 20) // true = Drama
            .collect()
    };
    let mut c = Config::default();
    c.rerank.method = tastebud_server::config::RerankMethod::Mmr;
    c.rerank.param = 0.0; // pure diversity
    let s = Server::start(c, None);
    // u3 is a Comedy user: the model's own list is all Comedy; MMR at λ=0 mixes in Drama.
    let (_, plain) = s.get("/v1/users/u3/recommendations?k=6&rerank=none");
    assert!(genre(&plain).iter().all(|d| !d), "{plain}");
    let (st, div) = s.get("/v1/users/u3/recommendations?k=6");
    assert_eq!(st, 200, "{div}");
    assert!(
        genre(&div).iter().any(|d| *d),
        "MMR did not diversify: {div}"
    );
    // Consumed items stay out after re-ranking; a per-request cap also works.
    let seen = history_items(3);
    assert!(items(&div).iter().all(|i| !seen.contains(i)));
    let (st, capped) = s.get("/v1/users/u3/recommendations?k=6&rerank=cap:2");
    assert_eq!(st, 200, "{capped}");
    let comedy = genre(&capped).iter().filter(|d| !**d).count();
    assert!(comedy <= 2, "cap of 2 per genre exceeded: {capped}");
    // Bad re-ranker specs are 400s naming the problem.
    for (q, needle) in [
        ("rerank=zigzag", "zigzag"),
        ("rerank=mmr:abc", "abc"),
        ("rerank=mmr:2", "mmr"),
    ] {
        let (st, e) = s.get(&format!("/v1/users/u3/recommendations?{q}"));
        assert_eq!(st, 400, "{q}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{q}: {e}"
        );
    }
}

/// Models without per-item attributions give their own kind of reason (issue #6): popularity says so.
#[test]
fn every_model_gives_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (model, starts) in [("popularity", "Popular"), ("ease", "Because you liked")] {
        let s = Server::start(Config::default(), Some(model_file(dir.path(), model, &[])));
        let (st, v) = s.get("/v1/users/u1/recommendations?k=3");
        assert_eq!(st, 200, "{v}");
        for it in v["items"].as_array().unwrap() {
            let r = it["reason"].as_str().unwrap();
            assert!(r.starts_with(starts), "{model}: {r}");
        }
    }
}
