//! The pipeline alone: a model trained in memory, an in-memory store, no HTTP and no files.

use tastebud_core::{Dataset, FeatureTable, Feedback, Interactions, ItemIdx};
use tastebud_models::NoProgress;
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_serve::batch::compute_lists;
use tastebud_serve::config::{Ann, PipelineConfig, RerankMethod};
use tastebud_serve::{Input, Pipeline, Request, Serving, Strategy, UserView};
use tastebud_store::{Event, EventLog, MemoryStore};

const NOW: i64 = 1_700_000_000;

/// 60 users, 40 items in two genre blocks (u0..u29 use i0..i19 "Comedy", u30..u59 use i20..i39
/// "Drama"); low item numbers are more popular within a block.
fn dataset() -> Dataset {
    let mut t = Vec::new();
    for u in 0..60u32 {
        let base = if u < 30 { 0 } else { 20 };
        let mut items: Vec<u32> = (0..8).map(|j| base + (u * 7 + j * 3) % 20).collect();
        items.extend([base, base + 1, base + 2].iter().take(1 + (u % 3) as usize));
        items.sort_unstable();
        items.dedup();
        for i in items {
            t.push((u, i, 1.0));
        }
    }
    let x = Interactions::from_triplets(60, 40, &t, Feedback::Implicit).unwrap();
    let mut d = Dataset::from_parts(
        "two-blocks",
        x,
        (0..60).map(|u| format!("u{u}")),
        (0..40).map(|i| format!("i{i}")),
    )
    .unwrap();
    let mut f = FeatureTable::new(40);
    let mut g = f.categorical_builder();
    for i in 0..40 {
        g.push(i, if i < 20 { "Comedy" } else { "Drama" }, 1.0);
    }
    f.add("genres", g.finish()).unwrap();
    d.item_features = Some(f);
    d
}

fn serving(model: &str) -> Serving {
    let data = dataset();
    let (m, p) = fit(&ModelSpec::new(model).unwrap(), &data, &NoProgress).unwrap();
    let file = ModelFile::new(m, p, &data, true);
    Serving::new(file, format!("{model}-test"), &Ann::default()).unwrap()
}

fn event(user: &str, item: &str, kind: &str) -> Event {
    serde_json::from_value(serde_json::json!(
        {"user": user, "item": item, "type": kind, "timestamp": NOW - 60}))
    .unwrap()
}

fn impression(user: &str, items: &[&str]) -> Event {
    serde_json::from_value(serde_json::json!(
        {"user": user, "items": items, "type": "impression", "timestamp": NOW - 60}))
    .unwrap()
}

fn ids(r: &tastebud_serve::Recommended) -> Vec<String> {
    r.items.iter().map(|i| i.item.clone()).collect()
}

#[test]
fn one_pipeline_in_memory_folds_events_blocks_demotes_and_falls_back() {
    let s = serving("ease");
    let p = Pipeline::new(PipelineConfig::default()).unwrap();
    let store = MemoryStore::new();
    let mut req = p.request(5);
    req.explain = true;
    let user = |id| Input::User { id, adhoc: None };

    // A known user: real time, nothing from the training history, explained.
    let first = p.recommend(&s, &store, &[], user("u1"), &req, NOW).unwrap();
    assert_eq!(first.strategy, Strategy::Realtime);
    assert_eq!(first.items.len(), 5);
    let history: Vec<ItemIdx> = s
        .train_history(s.user("u1").unwrap())
        .iter()
        .map(|h| h.0)
        .collect();
    assert!(first.idx.iter().all(|i| !history.contains(i)));
    assert!(first.items.iter().all(|i| i.reason.is_some()));

    // A click consumes the top item: never served again, and the list moves.
    let top = first.items[0].item.clone();
    store.append(vec![event("u1", &top, "click")]).unwrap();
    let after = p.recommend(&s, &store, &[], user("u1"), &req, NOW).unwrap();
    assert!(!ids(&after).contains(&top), "{:?}", ids(&after));

    // Hidden items are blocked.
    let hidden = s.item(&after.items[0].item).unwrap();
    let blocked = p
        .recommend(&s, &store, &[hidden], user("u1"), &req, NOW)
        .unwrap();
    assert!(!blocked.idx.contains(&hidden));

    // Unclicked impressions demote: three impressions of the top item push it down.
    let top2 = after.items[0].item.clone();
    let shown = vec![impression("u1", &[&top2]); 3];
    store.append(shown).unwrap();
    let demoted = p.recommend(&s, &store, &[], user("u1"), &req, NOW).unwrap();
    let at = ids(&demoted).iter().position(|i| *i == top2);
    assert!(at.is_none_or(|r| r > 0), "{:?}", ids(&demoted));

    // A user nobody knows: the cold-start chain (popularity first).
    let cold = p
        .recommend(&s, &store, &[], user("nobody"), &req, NOW)
        .unwrap();
    assert_eq!(cold.strategy, Strategy::ColdStart);
    assert_eq!(cold.fallback, Some("popularity"));

    // An ad-hoc history of Drama items gets Drama items.
    let drama: Vec<(ItemIdx, f32)> = (20..25).map(|i| (ItemIdx(i), 1.0)).collect();
    let adhoc = p
        .recommend(&s, &store, &[], Input::History(&drama), &req, NOW)
        .unwrap();
    assert!(adhoc.idx.iter().all(|i| i.get() >= 20), "{:?}", adhoc.idx);

    // A request's own re-ranker is checked: an unknown one is the caller's error.
    let e = p.config().rerank.with_override("nope").unwrap_err();
    assert!(e.contains("unknown re-ranker `nope`"), "{e}");
}

/// The configuration whose rules the batch must apply: likes count for nothing, and MMR re-ranking.
fn custom() -> PipelineConfig {
    let mut c = likes_count_nothing();
    c.rerank.method = RerankMethod::Mmr;
    c.rerank.param = 0.3;
    c
}

fn likes_count_nothing() -> PipelineConfig {
    let mut c = PipelineConfig::default();
    c.events
        .weights
        .insert(tastebud_store::EventType::Like, 0.0);
    c
}

#[test]
fn batch_lists_apply_the_configured_event_weights_freshness_and_reranker() {
    let s = serving("ease");
    let store = MemoryStore::new();
    // Comedy users like Drama items: by default (like = 3) that moves their lists; here likes count 0.
    let mut events = Vec::new();
    for u in 0..10 {
        for i in 20..24 {
            events.push(event(&format!("u{u}"), &format!("i{i}"), "like"));
        }
    }
    store.append(events).unwrap();
    let pipeline = Pipeline::new(custom()).unwrap();
    let (lists, hwm) = compute_lists(&pipeline, &s, Some(&store), 10, &|_| {}).unwrap();
    assert_eq!(hwm, 40);
    let default = Pipeline::new(PipelineConfig::default()).unwrap();
    let mut differ = 0;
    for l in &lists {
        let batch: Vec<&str> = l.items.iter().map(|i| i.item.as_str()).collect();
        let input = Input::User {
            id: &l.user,
            adhoc: None,
        };
        let req = Request {
            k: 10,
            exclude_seen: true,
            ..Request::default()
        };
        let live = pipeline
            .recommend(&s, &store, &[], input, &req, tastebud_serve::now_unix())
            .unwrap();
        assert_eq!(
            batch,
            ids(&live),
            "user {}: batch differs from real time",
            l.user
        );
        let plain = default
            .recommend(&s, &store, &[], input, &req, tastebud_serve::now_unix())
            .unwrap();
        differ += usize::from(ids(&plain) != ids(&live));
        // Consumed items (the likes) are never in a list, whatever their weight.
        if l.user == "u0" {
            assert!(
                batch
                    .iter()
                    .all(|i| !["i20", "i21", "i22", "i23"].contains(i))
            );
        }
    }
    // The configuration really changes the lists (so the equality above can fail).
    assert!(
        differ >= 10,
        "only {differ} users differ from the default rules"
    );
    // The view folds events by the configured weights: likes at weight 0 leave u0's history alone.
    let view = pipeline
        .user_view(&s, &store, "u0", tastebud_serve::now_unix())
        .unwrap()
        .0;
    let trained = UserView::build(&s, pipeline.config(), s.user("u0"), &[], u64::MAX, NOW);
    assert_eq!(view.history, trained.history);
}

#[test]
fn consent_decides_whether_a_user_is_personalised_in_real_time_and_in_the_batch() {
    use tastebud_store::{Consent, ConsentStore};
    let s = serving("ease");
    let store = MemoryStore::new();
    store.append(vec![event("u1", "i22", "click")]).unwrap();
    let req = Request {
        k: 5,
        exclude_seen: true,
        ..Request::default()
    };
    let user = |id| Input::User { id, adhoc: None };
    let opt_out = Pipeline::new(PipelineConfig::default()).unwrap();
    let mut required = PipelineConfig::default();
    required.privacy.consent_required = true;
    let opt_in = Pipeline::new(required).unwrap();
    let cold = opt_out
        .recommend(&s, &store, &[], user("nobody"), &req, NOW)
        .unwrap();

    // Implied consent: personal; withdrawn: exactly what a new user gets, in both deployments.
    let personal = opt_out
        .recommend(&s, &store, &[], user("u1"), &req, NOW)
        .unwrap();
    assert_eq!(personal.strategy, Strategy::Realtime);
    let implied_no = opt_in
        .recommend(&s, &store, &[], user("u1"), &req, NOW)
        .unwrap();
    assert_eq!(implied_no.strategy, Strategy::ColdStart);
    assert_eq!(ids(&implied_no), ids(&cold));
    let withdrawn = Consent {
        personalisation: false,
        training: true,
        updated_unix: NOW,
    };
    store.set_consent("u1", &withdrawn).unwrap();
    for p in [&opt_out, &opt_in] {
        let r = p.recommend(&s, &store, &[], user("u1"), &req, NOW).unwrap();
        assert_eq!(r.strategy, Strategy::ColdStart);
        assert_eq!(ids(&r), ids(&cold));
    }
    // The batch leaves them to the cold-start chain too; others keep their lists.
    let (lists, _) = compute_lists(&opt_out, &s, Some(&store), 5, &|_| {}).unwrap();
    assert!(lists.iter().all(|l| l.user != "u1"));
    assert!(lists.iter().any(|l| l.user == "u2"));
    // Given: personal again, also under opt-in.
    let given = Consent {
        personalisation: true,
        ..withdrawn
    };
    store.set_consent("u1", &given).unwrap();
    let r = opt_in
        .recommend(&s, &store, &[], user("u1"), &req, NOW)
        .unwrap();
    assert_eq!(r.strategy, Strategy::Realtime);
    assert_eq!(ids(&r), ids(&personal));
}
