//! Retraining triggers and errors: a simulated CTR decay fires the trigger while a stable CTR does not,
//! retraining only when triggered skips, a missing base dataset is a data error. (Rejecting a worse
//! candidate, promotion with lineage and rollback, with a server watching `current.tbm` that swaps back,
//! and the server's retraining endpoint and loop, are tested in tastebud-server's `tests/retrain.rs`.)

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tastebud_core::{Dataset, Feedback, Interactions};
use tastebud_lifecycle::registry::Registry;
use tastebud_lifecycle::retrain::{self, Gate, RetrainConfig};
use tastebud_lifecycle::triggers::{self, CtrDrop, TriggerConfig};
use tastebud_models::NoProgress;
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_serve::now_unix;
use tastebud_store::{Event, EventLog, EventType, MemoryStore, Store};

fn ml100k() -> PathBuf {
    let root = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = root.join("ml-100k");
    assert!(
        dir.join("u.data").is_file(),
        "ML-100K not found at {} (set TASTEBUD_DATA)",
        dir.display()
    );
    dir
}

fn config(dir: &Path, model: &str) -> RetrainConfig {
    RetrainConfig {
        base_data: ml100k(),
        registry: dir.join("registry"),
        model: model.into(),
        params: Vec::new(),
        events: Default::default(),
        gate: Gate {
            min_holdout_users: 20,
            ..Gate::default()
        },
        triggers: TriggerConfig::default(),
        privacy: Default::default(),
    }
}

fn click(user: &str, item: &str, ts: i64) -> Event {
    serde_json::from_value(serde_json::json!(
        {"user": user, "item": item, "type": "click", "timestamp": ts}))
    .unwrap()
}

fn ctr_log(log: &dyn EventLog, recent_ctr: f64, now: i64) {
    // 8 days of traffic: 200 impressions of 5 items a day; CTR 10% for 7 days, `recent_ctr` on the last.
    let mut events = Vec::new();
    for day in 0..8 {
        let ts = now - (8 - day) * 86_400 + 3600;
        let ctr = if day == 7 { recent_ctr } else { 0.10 };
        let clicks = (1000.0 * ctr) as usize;
        for n in 0..200 {
            let mut e = click(&format!("v{n}"), "50", ts);
            e.kind = EventType::Impression;
            e.item = None;
            e.items = ["50", "172", "181", "1", "2"].map(String::from).to_vec();
            events.push(e);
        }
        for n in 0..clicks {
            events.push(click(&format!("v{}", n % 200), "50", ts + 60));
        }
    }
    log.append(events).unwrap();
}

/// A popularity model trained now on a small dataset.
fn small_model() -> ModelFile {
    let t: Vec<(u32, u32, f32)> = (0..20u32)
        .flat_map(|u| (0..5u32).map(move |i| (u, (u + i) % 10, 1.0)))
        .collect();
    let x = Interactions::from_triplets(20, 10, &t, Feedback::Implicit).unwrap();
    let data = Dataset::from_parts(
        "small",
        x,
        (0..20).map(|u| format!("u{u}")),
        (0..10).map(|i| format!("i{i}")),
    )
    .unwrap();
    let (m, p) = fit(&ModelSpec::new("popularity").unwrap(), &data, &NoProgress).unwrap();
    ModelFile::new(m, p, &data, true)
}

#[test]
fn a_simulated_ctr_decay_fires_the_trigger_and_a_stable_ctr_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let model = small_model();
    let cfg = TriggerConfig {
        ctr_drop: Some(CtrDrop::default()), // 20% drop, last day vs the 7 before, >= 1000 shown
        every_hours: Some(24.0),
        ..TriggerConfig::default()
    };
    let now = now_unix();
    for (recent, fires) in [(0.05, true), (0.095, false), (0.12, false)] {
        let store = Store::open(&dir.path().join(format!("e{recent}.redb"))).unwrap();
        ctr_log(&store, recent, now);
        let (events, _) = retrain::read_log(&store).unwrap();
        let v = triggers::check(&cfg, &events, &model, &HashSet::new(), now);
        let ctr = v.iter().find(|v| v.name == "ctr_drop").unwrap();
        assert_eq!(ctr.fired, fires, "recent CTR {recent}: {ctr:?}");
        assert!((ctr.value - (1.0 - recent / 0.10)).abs() < 1e-9, "{ctr:?}");
        let sched = v.iter().find(|v| v.name == "schedule").unwrap();
        assert!(!sched.fired, "a fresh model is not due: {sched:?}");
    }
    // Too little traffic is not evidence.
    let store = Store::open(&dir.path().join("few.redb")).unwrap();
    store.append(vec![click("a", "50", now - 3600)]).unwrap();
    let v = triggers::check(
        &cfg,
        &store.scan(0, 10).unwrap(),
        &model,
        &HashSet::new(),
        now,
    );
    assert!(!v[0].fired && v[0].value.is_nan());
}

#[test]
fn retraining_only_when_triggered_skips_when_nothing_fired() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("events.redb")).unwrap();
    let now = now_unix();
    let mut cfg = config(dir.path(), "popularity");
    retrain::run(&cfg, &store, &store, false, now, &NoProgress).unwrap();
    cfg.triggers.ctr_drop = Some(CtrDrop::default());
    let r = retrain::run(&cfg, &store, &store, true, now, &NoProgress).unwrap();
    assert!(r.skipped, "{r:?}");
    assert_eq!(
        Registry::open(&dir.path().join("registry"))
            .unwrap()
            .entries()
            .len(),
        1
    );
    // A schedule that is due fires.
    cfg.triggers.every_hours = Some(0.0);
    let r = retrain::run(&cfg, &store, &store, true, now + 10, &NoProgress).unwrap();
    assert!(!r.skipped);
    assert!(r.triggers.iter().any(|v| v.name == "schedule" && v.fired));
}

#[test]
fn a_missing_base_dataset_is_a_data_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "popularity");
    cfg.base_data = dir.path().join("nowhere");
    let store = MemoryStore::new();
    let e = retrain::run(&cfg, &store, &store, false, now_unix(), &NoProgress).unwrap_err();
    assert!(
        matches!(e, tastebud_lifecycle::LifecycleError::Data { .. }),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("base data "), "{e}");
}
