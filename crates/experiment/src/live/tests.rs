//! Tests of the live experiments on [`MemoryStore`] (and [`DirDocuments`] for the file).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tastebud_store::{DirDocuments, Documents, Event, EventLog, EventType, MemoryStore};

use super::*;
use crate::assign::{ExperimentDef, Status, UserContext};
use crate::report::ReportOptions;

const T0: i64 = 1_700_000_000;

/// Arm models are their file's path.
fn paths() -> ModelLoader<String> {
    Arc::new(|p: &Path| Ok(Arc::new(p.display().to_string())))
}

fn def(json: &str) -> ExperimentDef {
    serde_json::from_str(json).unwrap()
}

fn ab(id: &str) -> ExperimentDef {
    def(&format!(
        r#"{{"id": "{id}", "layer": "{id}", "start_unix": {T0},
            "arms": [{{"name": "control", "weight": 1}}, {{"name": "treatment", "weight": 3, "model": "t.bin"}}]}}"#
    ))
}

fn open(docs: &MemoryStore, initial: &[ExperimentDef]) -> Result<Experiments<String>, LiveError> {
    Experiments::open(initial, 0.0, Arc::new(docs.clone()), paths())
}

fn ev(user: &str, kind: EventType, ts: i64, arm: Option<&str>, items: usize) -> Event {
    Event {
        user: user.to_owned(),
        item: (kind != EventType::Impression).then(|| "i1".to_owned()),
        items: (0..items).map(|i| format!("i{i}")).collect(),
        kind,
        timestamp: ts,
        value: None,
        amount: None,
        currency: None,
        dwell_ms: (kind == EventType::View).then_some(2_000),
        request_id: None,
        event_id: None,
        experiment: arm.map(|_| "x".to_owned()),
        arm: arm.map(str::to_owned),
        propensity: None,
        position: None,
        attrs: BTreeMap::from([("country".to_owned(), user[..1].to_owned())]),
    }
}

/// A damaged `experiments.json` stops the server from starting, naming the document and the parse
/// error, rather than starting with the experiments silently gone (a stop would be undone).
#[test]
fn a_corrupt_experiments_document_is_a_clear_startup_error() {
    let docs = MemoryStore::new();
    assert!(open(&docs, &[]).unwrap().defs().is_empty());
    docs.put_document(DOCUMENT, b"[{\"id\": \"x\", \"arms\": [")
        .unwrap();
    let err = open(&docs, &[]).err().expect("corrupt document refused");
    assert!(matches!(err, LiveError::Invalid(_)), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("experiments.json"), "{err}");
    assert!(err.contains("EOF"), "{err}");
    docs.put_document(DOCUMENT, b"{}").unwrap();
    let err = open(&docs, &[])
        .err()
        .expect("wrong shape refused")
        .to_string();
    assert!(
        err.contains("experiments.json") && err.contains("expected a sequence"),
        "{err}"
    );
}

/// With documents as files, the definitions are the file `experiments.json` of the folder, and a
/// corrupt file's error names it.
#[test]
fn definitions_live_in_the_file_experiments_json() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Arc<dyn Documents> = Arc::new(DirDocuments::new(dir.path()));
    let x = Experiments::open(&[], 0.0, docs.clone(), paths()).unwrap();
    x.create(ab("a")).unwrap();
    let file = dir.path().join("experiments.json");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes, serde_json::to_vec_pretty(&x.defs()).unwrap());
    std::fs::write(&file, b"[{").unwrap();
    let err = Experiments::open(&[], 0.0, docs, paths())
        .err()
        .expect("corrupt file refused")
        .to_string();
    assert!(err.contains("experiments.json"), "{err}");
}

/// The document wins over the configuration for an id in both (a stop survives a restart); the
/// configuration's other experiments are added.
#[test]
fn create_and_stop_persist_and_the_document_wins_over_the_configuration() {
    let docs = MemoryStore::new();
    let x = open(&docs, &[ab("a")]).unwrap();
    assert_eq!(x.create(ab("b")).unwrap().id, "b");
    let stopped = x.stop("a", T0 + 100).unwrap();
    assert_eq!(
        (stopped.status, stopped.end_unix),
        (Status::Stopped, Some(T0 + 100))
    );
    // Stopping again changes nothing.
    assert_eq!(x.stop("a", T0 + 500).unwrap().end_unix, Some(T0 + 100));
    let stored = docs.get_document(DOCUMENT).unwrap().unwrap();
    assert_eq!(stored, serde_json::to_vec_pretty(&x.defs()).unwrap());

    let y = open(&docs, &[ab("a"), ab("c")]).unwrap();
    let ids: Vec<_> = y.defs().into_iter().map(|d| (d.id, d.status)).collect();
    assert_eq!(
        ids,
        [
            ("a".to_owned(), Status::Stopped),
            ("b".to_owned(), Status::Running),
            ("c".to_owned(), Status::Running)
        ]
    );
}

#[test]
fn errors_say_what_went_wrong() {
    let docs = MemoryStore::new();
    let x = open(&docs, &[ab("a")]).unwrap();
    assert!(matches!(x.create(ab("a")), Err(LiveError::Conflict(m)) if m.contains("`a` exists")));
    assert!(matches!(x.stop("zz", T0), Err(LiveError::NotFound(m)) if m.contains("zz")));
    let bad = def(&format!(r#"{{"id": "b", "start_unix": {T0}, "arms": []}}"#));
    assert!(matches!(x.create(bad), Err(LiveError::Invalid(m)) if m.starts_with("experiments: ")));
    // Nothing of a refused create is kept.
    assert_eq!(x.defs().len(), 1);

    let failing: ModelLoader<String> =
        Arc::new(|p: &Path| Err(format!("{}: no such file", p.display())));
    let err = Experiments::open(&[ab("a")], 0.0, Arc::new(MemoryStore::new()), failing)
        .err()
        .expect("arm model refused");
    assert!(
        matches!(&err, LiveError::Invalid(m) if m == "experiment a arm treatment: t.bin: no such file"),
        "{err:?}"
    );
}

/// Arm models are loaded once and kept across creates and stops.
#[test]
fn arm_models_are_loaded_once_and_served_with_their_arm() {
    let loads = Arc::new(AtomicUsize::new(0));
    let l = loads.clone();
    let loader: ModelLoader<String> = Arc::new(move |p: &Path| {
        l.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(p.display().to_string()))
    });
    let x = Experiments::open(&[ab("a")], 0.0, Arc::new(MemoryStore::new()), loader).unwrap();
    assert!(!x.is_empty());
    let mut b = ab("b");
    b.layer = "other".into();
    x.create(b).unwrap();
    x.stop("b", T0 + 10).unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert_eq!(x.live().arm_models.len(), 2);

    let ctx = UserContext::default();
    let mut arms = BTreeMap::new();
    for u in 0..400 {
        let s = x
            .serve(&format!("u{u}"), &ctx, T0 + 5)
            .expect("everyone is in `a`");
        assert_eq!(s.assignment.experiment, "a");
        let (p, model) = match s.assignment.arm.as_str() {
            "control" => (0.25, None),
            _ => (0.75, Some("t.bin".to_owned())),
        };
        assert_eq!(s.propensity, p);
        assert_eq!(s.model.as_deref().cloned(), model);
        *arms.entry(s.assignment.arm).or_insert(0) += 1;
    }
    assert!(arms["treatment"] > 2 * arms["control"], "{arms:?}");
    // Before the start nobody is assigned.
    assert!(x.serve("u1", &ctx, T0 - 5).is_none());
}

/// The bandit's counts come from the events carrying its experiment and arm, live or replayed from
/// the log, and clicks never exceed items shown.
#[test]
fn bandit_counts_are_observed_and_replayed() {
    let mut d = ab("x");
    d.allocation = crate::assign::Allocation::Thompson;
    d.arms[1].model = None;
    let log = MemoryStore::new();
    let events = vec![
        ev("u1", EventType::Impression, T0 + 1, Some("control"), 3),
        ev("u1", EventType::Click, T0 + 2, Some("control"), 0),
        ev("u2", EventType::Click, T0 + 2, Some("treatment"), 0),
        ev("u2", EventType::Impression, T0 + 3, Some("treatment"), 2),
        ev("u2", EventType::Click, T0 + 4, Some("treatment"), 0),
        ev("u3", EventType::Click, T0 + 4, None, 0),
    ];
    log.append(events.clone()).unwrap();
    let live = open(&MemoryStore::new(), std::slice::from_ref(&d)).unwrap();
    live.observe(&events);
    let expected = Some((vec![3, 2], vec![1, 1]));
    assert_eq!(live.bandit_counts("x"), expected);
    let replayed = open(&MemoryStore::new(), &[d]).unwrap();
    assert_eq!(replayed.bandit_counts("x"), None);
    replayed.replay(&log).unwrap();
    assert_eq!(replayed.bandit_counts("x"), expected);
    let s = replayed
        .serve("u9", &UserContext::default(), T0 + 10)
        .unwrap();
    assert!(s.propensity > 0.0 && s.propensity <= 1.0);
}

fn events_day(day: i64) -> Vec<Event> {
    let t = T0 + day * 86_400 + 60;
    let mut v = Vec::new();
    for (u, arm) in [
        ("a1", "control"),
        ("b2", "control"),
        ("a3", "treatment"),
        ("b4", "treatment"),
    ] {
        v.push(ev(u, EventType::Impression, t, Some(arm), 4));
        v.push(ev(u, EventType::Click, t + 1, Some(arm), 0));
        v.push(ev(u, EventType::View, t + 2, Some(arm), 0));
        if arm == "treatment" || day == 1 {
            v.push(ev(u, EventType::Click, t + 3, Some(arm), 0));
        }
        if day == 0 {
            v.push(ev(u, EventType::Purchase, t + 4, Some(arm), 0));
        }
    }
    // Clicks before the start (CUPED's covariate) and of another experiment.
    v.push(ev("a1", EventType::Click, T0 - 100, None, 0));
    v.push(ev("a3", EventType::Click, T0 - 100, None, 0));
    v
}

/// A report made from the running aggregate (fed in two parts) equals one made from a fresh pass, and
/// the running aggregate starts over when the served model changes or the reports are forgotten.
#[test]
fn the_running_aggregate_equals_a_fresh_pass() {
    let d = ab("x");
    let knows_a = |u: &str| u.starts_with('a');
    let model = ModelView {
        version: "v1",
        knows_user: &knows_a,
    };
    let opts = ReportOptions {
        now_unix: T0 + 3 * 86_400,
        alpha: 0.05,
        mde: 0.1,
        power: 0.8,
        ..ReportOptions::default()
    };
    let log = MemoryStore::new();
    let running = open(&MemoryStore::new(), std::slice::from_ref(&d)).unwrap();
    log.append(events_day(0)).unwrap();
    let first = full_report(&running, &log, &d, model, 1_000.0, &opts, None).unwrap();
    assert_eq!(first.report.as_ref().unwrap().arms[0].users, 2);
    log.append(events_day(1)).unwrap();
    log.append(events_day(2)).unwrap();
    let again = full_report(&running, &log, &d, model, 1_000.0, &opts, None).unwrap();
    let fresh = open(&MemoryStore::new(), std::slice::from_ref(&d)).unwrap();
    let once = full_report(&fresh, &log, &d, model, 1_000.0, &opts, None).unwrap();
    let json = |r: &FullReport| serde_json::to_value(r).unwrap();
    assert_eq!(json(&again), json(&once));

    let r = &once;
    assert_eq!(r.timeline.len(), 3);
    assert_eq!(r.timeline[0].arms[1].impressions, 8);
    assert_eq!(r.timeline[2].arms[1].impressions, 24);
    assert_eq!(r.status, Status::Running);
    assert!(r.bandit_probabilities.is_none());
    // `a*` users are known to the model: returning; `b*` are new.
    assert_eq!(r.segments["new"].users, 2);
    assert_eq!(r.segments["returning"].users, 2);
    let cuped = r.cuped.as_ref().expect("two users per arm");
    assert_eq!(cuped.arms.len(), 2);
    let arms = arm_data(&fresh, &log, &d, model, 1_000.0).unwrap();
    assert_eq!((arms[0].clicks, arms[1].clicks), (8, 12));
    assert_eq!((arms[0].conversions, arms[0].converted_users), (2, 2));
    // Views of 2 s are not bounces at 1 s, and are at 5 s.
    assert_eq!(arms[0].bounces, 0);
    let agg = aggregate(
        &fresh,
        &log,
        &d,
        model,
        5_000.0,
        opts.now_unix,
        Some("country"),
    )
    .unwrap();
    assert_eq!(agg.arms[0].bounces, 6);
    assert_eq!(agg.segments["country=a"][0].users, 1);
    assert_eq!(agg.per_user[0].len(), 2);

    // Another model version: everyone is new to a model that knows nobody.
    let knows_nobody = |_: &str| false;
    let v2 = ModelView {
        version: "v2",
        knows_user: &knows_nobody,
    };
    let r2 = full_report(&running, &log, &d, v2, 1_000.0, &opts, None).unwrap();
    assert_eq!(r2.segments["new"].users, 4);
    // The same version with another notion of known users is only picked up after forgetting.
    let same_version = ModelView {
        version: "v2",
        knows_user: &knows_a,
    };
    let stale = full_report(&running, &log, &d, same_version, 1_000.0, &opts, None).unwrap();
    assert_eq!(stale.segments["new"].users, 4);
    running.forget_reports();
    let r3 = full_report(&running, &log, &d, same_version, 1_000.0, &opts, None).unwrap();
    assert_eq!(r3.segments["new"].users, 2);
}

/// Options the analysis rejects are `Invalid`.
#[test]
fn rejected_options_are_invalid() {
    let d = ab("x");
    let log = MemoryStore::new();
    log.append(events_day(0)).unwrap();
    let x = open(&MemoryStore::new(), std::slice::from_ref(&d)).unwrap();
    let none = |_: &str| false;
    let model = ModelView {
        version: "v1",
        knows_user: &none,
    };
    let opts = ReportOptions {
        now_unix: T0 + 86_400,
        alpha: 2.0,
        mde: 0.1,
        power: 0.8,
        ..ReportOptions::default()
    };
    let err = full_report(&x, &log, &d, model, 1_000.0, &opts, None).unwrap_err();
    assert!(matches!(err, LiveError::Invalid(_)), "{err:?}");
}

/// A server shares the experiments between request threads.
#[test]
fn experiments_are_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Experiments<String>>();
    shared::<Served<String>>();
    shared::<LiveError>();
}

/// Purchases with amounts make a revenue section: revenue per user and per impression per arm, the
/// winsorised Welch test, CUPED on the purchases logged before the start, and the planned users.
#[test]
fn purchases_with_amounts_make_a_revenue_section() {
    let d = ab("x");
    let nobody = |_: &str| false;
    let model = ModelView {
        version: "v1",
        knows_user: &nobody,
    };
    let opts = ReportOptions {
        now_unix: T0 + 86_400,
        ..ReportOptions::default()
    };
    let buy = |user: &str, ts: i64, arm: Option<&str>, amount: f64| Event {
        amount: Some(amount),
        ..ev(user, EventType::Purchase, ts, arm, 0)
    };
    let log = MemoryStore::new();
    let x = open(&MemoryStore::new(), std::slice::from_ref(&d)).unwrap();
    let mut events = Vec::new();
    for u in 0..40 {
        let arm = if u % 2 == 0 { "control" } else { "treatment" };
        let user = format!("u{u}");
        let spend = f64::from(u % 7) * 3.0;
        events.push(ev(&user, EventType::Impression, T0 + 10, Some(arm), 5));
        // Before the start: what predicts the spend (CUPED's covariate); not counted as revenue.
        events.push(buy(&user, T0 - 1_000, None, spend + 1.0));
        if u % 3 != 0 {
            events.push(buy(&user, T0 + 20, Some(arm), spend + 0.5));
        }
    }
    // A purchase without an amount is a conversion but no revenue.
    events.push(ev("u1", EventType::Purchase, T0 + 30, Some("treatment"), 0));
    log.append(events).unwrap();
    let r = full_report(&x, &log, &d, model, 1_000.0, &opts, None).unwrap();
    let rev = r
        .report
        .as_ref()
        .unwrap()
        .revenue
        .as_ref()
        .expect("revenue section");
    let expected = |parity: u32| -> f64 {
        (0..40u32)
            .filter(|u| u % 2 == parity && u % 3 != 0)
            .map(|u| f64::from(u % 7) * 3.0 + 0.5)
            .sum()
    };
    assert_eq!(rev.arms[0].name, "control");
    assert!((rev.arms[0].revenue - expected(0)).abs() < 1e-9);
    assert!((rev.arms[1].revenue - expected(1)).abs() < 1e-9);
    assert_eq!(rev.arms[0].users, 20);
    assert_eq!(
        rev.arms[1].purchases,
        (0..40).filter(|u| u % 2 == 1 && u % 3 != 0).count() as u64
    );
    let per_user = rev.arms[0].per_user.unwrap();
    assert!((per_user.value - expected(0) / 20.0).abs() < 1e-9);
    assert!(per_user.ci.contains(per_user.value));
    let per_impression = rev.arms[0].per_impression.unwrap();
    assert!((per_impression.value - expected(0) / 100.0).abs() < 1e-9);
    assert!(rev.arms[1].test.is_some() && rev.arms[1].lift.is_some());
    let cuped = rev.cuped.expect("pre-period purchases give CUPED");
    assert!(cuped.variance_reduction > 0.3, "{cuped:?}");
    assert!(rev.required_users_per_arm.is_some());
    let table = r.report.as_ref().unwrap().to_table();
    assert!(
        table.contains("revenue test: Welch t-test per user"),
        "{table}"
    );
    // Without amounts there is no revenue section.
    let plain = MemoryStore::new();
    plain.append(events_day(0)).unwrap();
    let y = open(&MemoryStore::new(), std::slice::from_ref(&d)).unwrap();
    let r = full_report(&y, &plain, &d, model, 1_000.0, &opts, None).unwrap();
    assert!(r.report.unwrap().revenue.is_none());
}
