//! The shared backends against real servers: a throwaway PostgreSQL and Redis each (started here,
//! on free ports; a test fails, never skips, when they cannot be started).

use std::sync::Arc;

use tastebud_store::pg::{MIGRATIONS, PgConfig, PgStore};
use tastebud_store::redis::{RedisConfig, RedisStore};
use tastebud_store::shared::SharedStore;
use tastebud_store::testkit::{Postgres, Redis, scan_bytes};
use tastebud_store::{
    BatchMeta, Consent, ConsentStore, Coordination, Documents, Event, EventLog, FlagStore,
    ForgottenUsers, ItemFlags, ListItem, ListStore, Shard, StoreError, UserData,
};

fn pg() -> Postgres {
    Postgres::start().unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e}"))
}

fn redis() -> Redis {
    Redis::start().unwrap_or_else(|e| panic!("cannot start a throwaway Redis: {e}"))
}

fn open(p: &Postgres) -> PgStore {
    PgStore::open(PgConfig::new(&p.url())).unwrap()
}

fn click(user: &str, item: &str, id: Option<&str>) -> Event {
    let mut v = serde_json::json!({"user": user, "item": item, "type": "click", "timestamp": 1_700_000_000});
    if let Some(id) = id {
        v["event_id"] = id.into();
    }
    serde_json::from_value(v).unwrap()
}

fn meta(users: u64, seq: u64) -> BatchMeta {
    BatchMeta {
        model_version: "m-1".into(),
        created_unix: 1_700_000_000,
        event_seq: seq,
        users,
        k: 2,
    }
}

fn list(items: &[&str]) -> Vec<ListItem> {
    items
        .iter()
        .enumerate()
        .map(|(i, it)| ListItem {
            item: it.to_string(),
            score: 1.0 - i as f32 * 0.1,
        })
        .collect()
}

#[test]
fn postgres_store_keeps_every_contract() {
    let p = pg();
    let s = open(&p);
    // Appends: seqs in order, idempotent by event_id (also within one call).
    let a = s
        .append(vec![
            click("u1", "i1", Some("e1")),
            click("u2", "i2", None),
            click("u1", "i3", Some("e1")),
        ])
        .unwrap();
    assert_eq!(
        a.iter().map(|x| (x.seq, x.duplicate)).collect::<Vec<_>>(),
        vec![(1, false), (2, false), (1, true)]
    );
    assert_eq!(
        s.append(vec![click("u9", "i9", Some("e1"))]).unwrap()[0].seq,
        1
    );
    assert_eq!(s.user_events("u1").unwrap().len(), 1);
    assert_eq!(s.user_last_seq("u2").unwrap(), Some(2));
    assert_eq!(s.user_last_seq("nobody").unwrap(), None);
    assert_eq!((s.last_seq().unwrap(), s.event_count().unwrap()), (2, 2));
    assert_eq!(s.scan(1, 10).unwrap()[0].event.user, "u2");
    // Lists: atomic replacement.
    assert_eq!(s.batch_meta().unwrap(), None);
    s.put_lists(&meta(1, 2), vec![("u1".into(), list(&["a", "b"]))])
        .unwrap();
    s.put_lists(&meta(1, 2), vec![("u2".into(), list(&["c"]))])
        .unwrap();
    assert_eq!(s.get_list("u1").unwrap(), None);
    assert_eq!(s.get_list("u2").unwrap().unwrap()[0].item, "c");
    assert_eq!(s.list_count().unwrap(), 1);
    assert!(matches!(
        s.put_lists(
            &meta(1, 2),
            vec![(
                "u".into(),
                list(&["x"])
                    .into_iter()
                    .map(|mut i| {
                        i.score = f32::NAN;
                        i
                    })
                    .collect()
            )]
        ),
        Err(StoreError::Invalid(_))
    ));
    // Flags, consent, forgotten users (pseudonyms), documents, and the generations they bump.
    let (g0, _) = s.sync(None).unwrap();
    s.set_item_flags(
        "i1",
        ItemFlags {
            hidden: true,
            expires_at: None,
        },
    )
    .unwrap();
    assert_eq!(s.item_flags().unwrap().len(), 1);
    s.set_item_flags("i1", ItemFlags::default()).unwrap();
    assert!(s.item_flags().unwrap().is_empty());
    let c = Consent {
        personalisation: false,
        training: true,
        updated_unix: 5,
    };
    s.set_consent("u1", &c).unwrap();
    assert_eq!(s.consent("u1").unwrap(), Some(c));
    s.forget_user("gone", 7).unwrap();
    assert_eq!(s.forgotten_at("gone").unwrap(), Some(7));
    assert!(s.forgotten().unwrap().contains("gone"));
    s.put_document("d.json", b"{}").unwrap();
    assert_eq!(
        s.get_document("d.json").unwrap().as_deref(),
        Some(&b"{}"[..])
    );
    let (g1, u1) = s.sync(Some("u1")).unwrap();
    assert_eq!((g1.flags, g1.documents), (g0.flags + 2, g0.documents + 1));
    assert_eq!(
        (u1.last_seq, u1.last_seq > 0, u1.consent_version > 0),
        (1, true, true)
    );
    // Erasure: events, list, consent; seqs are not reused.
    let d = s.erase_user("u2").unwrap();
    assert_eq!((d.events, d.lists), (1, 1));
    assert_eq!(s.sync(None).unwrap().0.erasures, g1.erasures + 1);
    assert_eq!(s.append(vec![click("u3", "i", None)]).unwrap()[0].seq, 3);
    // Migrations are applied once; a newer schema is refused.
    drop(s);
    let s = open(&p);
    assert_eq!(s.last_seq().unwrap(), 3);
    assert_eq!(
        s.get_document("d.json").unwrap().as_deref(),
        Some(&b"{}"[..])
    );
}

/// Two stores (two replicas) appending at once from several threads: every seq is distinct, and a
/// reader tailing the log with `scan` while they write sees every event exactly once, in order.
#[test]
fn replicas_appending_at_once_keep_one_log_order() {
    let p = pg();
    let a = open(&p);
    let b = open(&p);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let r = open(&p);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let page = r.scan(after, 1000).unwrap();
                for e in &page {
                    assert!(e.seq > after, "scan went back: {} after {after}", e.seq);
                    after = e.seq;
                    seen.push(e.seq);
                }
                if done && page.is_empty() {
                    return seen;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for (r, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for t in 0..4 {
            let store = store.clone();
            writers.push(std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..100 {
                    let id = format!("r{r}-t{t}-{i}");
                    let got = store
                        .append(vec![click(&format!("u{t}"), "i", Some(&id))])
                        .unwrap();
                    seqs.push(got[0].seq);
                }
                seqs
            }));
        }
    }
    let mut all: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 800, "every acknowledged event has its own seq");
    assert_eq!(
        seen, all,
        "the tailing reader saw every event once, in order"
    );
    assert!(
        a.commits() + b.commits() < 800,
        "concurrent appends share commits ({} + {})",
        a.commits(),
        b.commits()
    );
}

/// After an erasure, no byte of the user's id, event ids or items is left in the files of the
/// store's tables and indexes (VACUUM FULL rewrote them); other users' data is whole.
#[test]
fn erasure_leaves_no_bytes_in_the_table_files() {
    let p = pg();
    let s = open(&p);
    let secret = "erase-probe-5c1d";
    for round in 0..20 {
        let mut batch: Vec<Event> = (0..20)
            .map(|u| click(&format!("other-{u}"), "i", None))
            .collect();
        batch.push(click(
            secret,
            "secret-item-77q",
            Some(&format!("evt-{secret}-{round}")),
        ));
        s.append(batch).unwrap();
    }
    s.put_lists(
        &meta(2, 1),
        vec![
            (secret.into(), list(&["secret-item-77q"])),
            ("other-1".into(), list(&["i"])),
        ],
    )
    .unwrap();
    s.set_consent(
        secret,
        &Consent {
            personalisation: true,
            training: false,
            updated_unix: 1,
        },
    )
    .unwrap();
    let files = s.relation_files().unwrap();
    assert!(
        files.len() >= 10,
        "tables, indexes and TOAST files: {files:?}"
    );
    let leaks = |files: &[String]| -> Vec<String> {
        files
            .iter()
            .flat_map(|f| {
                let path = p.data_dir().join(f);
                [secret, "secret-item-77q"]
                    .into_iter()
                    .flat_map(move |n| {
                        scan_bytes(&path, n.as_bytes())
                            .into_iter()
                            .map(move |(f, c)| format!("{c} x {n} in {}", f.display()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // The probe can fail: before the erasure (after a checkpoint) the files hold the bytes.
    checkpoint(&p);
    assert!(
        !leaks(&files).is_empty(),
        "the scan finds the user before the erasure"
    );
    let d = s.erase_user(secret).unwrap();
    assert_eq!((d.events, d.lists), (20, 1));
    checkpoint(&p);
    let files = s.relation_files().unwrap();
    assert_eq!(leaks(&files), Vec::<String>::new());
    // Nor anywhere in the database's folder (the old, rewritten files included).
    let everywhere: Vec<String> = [secret, "secret-item-77q"]
        .into_iter()
        .flat_map(|n| scan_bytes(&p.data_dir().join("base"), n.as_bytes()))
        .map(|(f, c)| format!("{c} x in {}", f.display()))
        .collect();
    assert_eq!(everywhere, Vec::<String>::new());
    assert_eq!(s.event_count().unwrap(), 400);
    assert_eq!(s.get_list("other-1").unwrap().unwrap()[0].item, "i");
}

fn checkpoint(p: &Postgres) {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path().join("bin/psql"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| "psql".into());
    let ok = std::process::Command::new(bin)
        .args([&p.url(), "-q", "-c", "CHECKPOINT"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "psql CHECKPOINT");
}

#[test]
fn a_newer_schema_is_refused() {
    let p = pg();
    drop(open(&p));
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path().join("bin/psql"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| "psql".into());
    let v = MIGRATIONS.len() + 1;
    assert!(
        std::process::Command::new(bin)
            .args([
                &p.url(),
                "-q",
                "-c",
                &format!("INSERT INTO tastebud_schema VALUES ({v}, 0)")
            ])
            .status()
            .unwrap()
            .success()
    );
    let e = PgStore::open(PgConfig::new(&p.url()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("newer than this binary"), "{e}");
}

#[test]
fn postgres_down_is_unavailable_and_the_store_recovers() {
    let mut p = pg();
    let mut cfg = PgConfig::new(&p.url());
    cfg.timeout = std::time::Duration::from_secs(2);
    let s = PgStore::open(cfg).unwrap();
    s.append(vec![click("u", "i", Some("before"))]).unwrap();
    p.kill();
    let e = s.append(vec![click("u", "i", Some("during"))]).unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(matches!(
        s.user_events("u"),
        Err(StoreError::Unavailable(_))
    ));
    p.restart().unwrap();
    // The pool replaces its dead connections.
    let mut ok = None;
    for _ in 0..50 {
        if let Ok(a) = s.append(vec![click("u", "i", Some("after"))]) {
            ok = Some(a);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok.is_some(), "appends work again once PostgreSQL is back");
    let ids: Vec<String> = s
        .user_events("u")
        .unwrap()
        .into_iter()
        .filter_map(|e| e.event.event_id)
        .collect();
    assert!(ids.contains(&"before".to_string()) && ids.contains(&"after".to_string()));
}

#[test]
fn redis_lists_switch_atomically_expire_and_erase() {
    let p = pg();
    let r = redis();
    let mut rc = RedisConfig::new(&r.url());
    rc.prefix = "t1:".into();
    let redis = RedisStore::open(rc).unwrap();
    let s = SharedStore::new(open(&p), Some(redis.clone()));
    assert_eq!(s.batch_meta().unwrap(), None);
    s.put_lists(
        &meta(2, 0),
        vec![
            ("u1".into(), list(&["a", "b"])),
            ("u2".into(), list(&["c"])),
        ],
    )
    .unwrap();
    assert_eq!(s.get_list("u1").unwrap().unwrap().len(), 2);
    assert_eq!(s.list_count().unwrap(), 2);
    s.put_lists(&meta(1, 0), vec![("u3".into(), list(&["d"]))])
        .unwrap();
    assert_eq!(
        s.get_list("u1").unwrap(),
        None,
        "the new batch replaced the old one whole"
    );
    assert_eq!(s.list_count().unwrap(), 1);
    // Sharded: invisible until the last shard; published once, metadata merged.
    let sh = |i| Shard { index: i, count: 3 };
    assert!(
        !s.put_lists_shard(
            "run-1",
            sh(0),
            &meta(1, 5),
            vec![("a".into(), list(&["x"]))]
        )
        .unwrap()
    );
    assert!(
        !s.put_lists_shard(
            "run-1",
            sh(2),
            &meta(1, 4),
            vec![("c".into(), list(&["z"]))]
        )
        .unwrap()
    );
    assert_eq!(s.get_list("a").unwrap(), None);
    assert!(
        s.put_lists_shard(
            "run-1",
            sh(1),
            &meta(1, 6),
            vec![("b".into(), list(&["y"]))]
        )
        .unwrap()
    );
    assert_eq!(s.batch_meta().unwrap().unwrap().users, 3);
    assert_eq!(s.batch_meta().unwrap().unwrap().event_seq, 4);
    assert_eq!(s.get_list("b").unwrap().unwrap()[0].item, "y");
    assert_eq!(s.get_list("u3").unwrap(), None);
    // The cache, and erasure from every batch and the cache.
    redis.cache_put("a", "f1", b"list".to_vec()).unwrap();
    assert_eq!(
        redis.cache_get("a", "f1").unwrap().as_deref(),
        Some(&b"list"[..])
    );
    s.erase_user("a").unwrap();
    assert_eq!(s.get_list("a").unwrap(), None);
    assert_eq!(redis.cache_get("a", "f1").unwrap(), None);
    // Every key has a TTL.
    let keys = redis.keys_with_ttl().unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    assert!(
        keys.iter().all(|(_, t)| *t > 0),
        "a key without TTL: {keys:?}"
    );
}

#[test]
fn redis_down_degrades_reads_and_fails_writes() {
    let p = pg();
    let mut r = redis();
    let redis = RedisStore::open(RedisConfig::new(&r.url())).unwrap();
    let s = SharedStore::new(open(&p), Some(redis));
    s.put_lists(&meta(1, 0), vec![("u1".into(), list(&["a"]))])
        .unwrap();
    r.kill();
    assert_eq!(
        s.get_list("u1").unwrap(),
        None,
        "a read while Redis is down is a miss"
    );
    assert!(s.degraded());
    assert!(
        s.put_lists(&meta(1, 0), vec![]).is_err(),
        "a batch is not claimed stored"
    );
    assert!(matches!(
        s.erase_user("u1"),
        Err(StoreError::Unavailable(_))
    ));
    assert!(!s.check().unwrap());
    r.restart().unwrap();
    let mut back = false;
    for _ in 0..50 {
        if s.check().unwrap() {
            back = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(back && !s.degraded(), "Redis answers again");
}
