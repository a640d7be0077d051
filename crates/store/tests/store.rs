//! Behaviour of the store: appends, reads, idempotency, group commit, deletes, lists, flags.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{click, temp_store};
use tastebud_store::{BatchMeta, Deleted, ItemFlags, ListItem, Store, StoreError};

#[test]
fn append_and_read_back() {
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.last_seq().unwrap(), 0);
    assert_eq!(store.event_count().unwrap(), 0);
    assert!(store.user_events("a").unwrap().is_empty());
    assert_eq!(store.user_last_seq("a").unwrap(), None);

    let mut all = Vec::new();
    for round in 0..5 {
        let batch = vec![
            click("a", &format!("i{round}"), None),
            click("b", &format!("j{round}"), None),
            click("a", &format!("k{round}"), None),
        ];
        let out = store.append(batch.clone()).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|a| !a.duplicate));
        all.extend(out.iter().map(|a| a.seq).zip(batch));
    }
    let seqs: Vec<u64> = all.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>(), "seqs are 1, 2, 3, ...");
    assert_eq!(store.last_seq().unwrap(), 15);
    assert_eq!(store.event_count().unwrap(), 15);

    let a = store.user_events("a").unwrap();
    let expected_a: Vec<_> = all.iter().filter(|(_, e)| e.user == "a").collect();
    assert_eq!(a.len(), expected_a.len());
    for (stored, (seq, event)) in a.iter().zip(&expected_a) {
        assert_eq!(stored.seq, *seq);
        assert_eq!(&stored.event, event);
        assert!(stored.received_ms > 1_600_000_000_000);
    }
    assert!(a.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.user_last_seq("a").unwrap(), Some(15));
    assert_eq!(store.user_last_seq("b").unwrap(), Some(14));

    let since = store.user_events_since("a", 7).unwrap();
    assert_eq!(
        since.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![9, 10, 12, 13, 15]
    );
    assert!(store.user_events_since("a", 15).unwrap().is_empty());
    assert!(store.user_events_since("a", u64::MAX).unwrap().is_empty());
    // A user whose id is a prefix of another's sees only their own events.
    store.append(vec![click("ab", "x", None)]).unwrap();
    assert_eq!(store.user_events("a").unwrap().len(), 10);
    assert_eq!(store.user_events("ab").unwrap().len(), 1);
}

#[test]
fn scan_pages_through_the_log() {
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    let events: Vec<_> = (0..103)
        .map(|i| click(&format!("u{}", i % 7), &format!("i{i}"), None))
        .collect();
    store.append(events.clone()).unwrap();

    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.scan(after, 10).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().unwrap().seq;
        seen.extend(page);
    }
    assert_eq!(seen.len(), 103);
    assert!(seen.iter().enumerate().all(|(i, s)| s.seq == i as u64 + 1));
    assert_eq!(
        seen.into_iter().map(|s| s.event).collect::<Vec<_>>(),
        events
    );
    assert_eq!(store.scan(100, 1000).unwrap().len(), 3);
    assert!(store.scan(103, 10).unwrap().is_empty());
    assert!(store.scan(0, 0).unwrap().is_empty());
    assert!(store.scan(u64::MAX, 10).unwrap().is_empty());
}

#[test]
fn same_event_id_is_stored_once() {
    let (_dir, path) = temp_store();
    {
        let store = Store::open(&path).unwrap();
        // Within one batch.
        let out = store
            .append(vec![
                click("a", "i1", Some("e1")),
                click("a", "i2", Some("e2")),
                click("a", "i1-again", Some("e1")),
                click("a", "no-id", None),
                click("a", "no-id", None),
            ])
            .unwrap();
        let got: Vec<_> = out.iter().map(|a| (a.seq, a.duplicate)).collect();
        assert_eq!(
            got,
            vec![(1, false), (2, false), (1, true), (3, false), (4, false)]
        );
        // Across batches, even under another user (ids are global).
        let out = store
            .append(vec![
                click("b", "i9", Some("e2")),
                click("b", "i9", Some("e3")),
            ])
            .unwrap();
        assert_eq!(
            out.iter().map(|a| (a.seq, a.duplicate)).collect::<Vec<_>>(),
            vec![(2, true), (5, false)]
        );
        // A call of only duplicates commits nothing.
        let commits = store.commits();
        let out = store.append(vec![click("a", "i1", Some("e1"))]).unwrap();
        assert_eq!((out[0].seq, out[0].duplicate), (1, true));
        assert_eq!(store.commits(), commits);
        assert_eq!(store.event_count().unwrap(), 5);
        assert_eq!(
            store
                .find_event("e1")
                .unwrap()
                .unwrap()
                .event
                .item
                .as_deref(),
            Some("i1")
        );
        assert_eq!(store.find_event("nope").unwrap(), None);
    }
    // After reopening.
    let store = Store::open(&path).unwrap();
    let out = store
        .append(vec![
            click("a", "i1", Some("e1")),
            click("c", "i1", Some("e4")),
        ])
        .unwrap();
    assert_eq!(
        out.iter().map(|a| (a.seq, a.duplicate)).collect::<Vec<_>>(),
        vec![(1, true), (6, false)]
    );
    assert_eq!(store.event_count().unwrap(), 6);
    let ids: Vec<_> = store
        .scan(0, 100)
        .unwrap()
        .into_iter()
        .filter_map(|s| s.event.event_id)
        .collect();
    assert_eq!(ids, vec!["e1", "e2", "e3", "e4"]);
}

#[test]
fn concurrent_appends_are_group_committed() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 500;
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        let id = format!("t{t}-{i}");
                        let out = store
                            .append(vec![click(&format!("user{t}"), "item", Some(&id))])
                            .unwrap();
                        assert_eq!(out.len(), 1);
                        assert!(!out[0].duplicate);
                        (out[0].seq, id)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acked: Vec<(u64, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let appends = (THREADS * PER_THREAD) as u64;
    assert_eq!(acked.len() as u64, appends);
    let seqs: HashSet<u64> = acked.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs.len() as u64, appends, "seqs are unique");
    assert_eq!(seqs.iter().max(), Some(&appends));
    assert_eq!(store.event_count().unwrap(), appends);
    for (seq, id) in &acked {
        assert_eq!(store.find_event(id).unwrap().unwrap().seq, *seq);
    }
    for t in 0..THREADS {
        let events = store.user_events(&format!("user{t}")).unwrap();
        assert_eq!(events.len(), PER_THREAD);
        // Each thread's appends are sequential, so its events are in its own order.
        let ids: Vec<_> = events
            .iter()
            .map(|s| s.event.event_id.clone().unwrap())
            .collect();
        let expected: Vec<_> = (0..PER_THREAD).map(|i| format!("t{t}-{i}")).collect();
        assert_eq!(ids, expected);
    }
    let commits = store.commits();
    eprintln!("{appends} appends in {commits} commits");
    assert!(
        commits < appends,
        "group commit: {commits} commits for {appends} appends"
    );
}

#[test]
fn reopen_keeps_everything() {
    let (_dir, path) = temp_store();
    let meta = BatchMeta {
        model_version: "ease-3".to_string(),
        created_unix: 1_700_000_000,
        event_seq: 2,
        users: 1,
        k: 2,
    };
    let list = vec![
        ListItem {
            item: "x".to_string(),
            score: 0.5,
        },
        ListItem {
            item: "y".to_string(),
            score: -1.25,
        },
    ];
    let before;
    {
        let store = Store::open(&path).unwrap();
        store
            .append(vec![click("a", "i1", Some("e1")), click("b", "i2", None)])
            .unwrap();
        store
            .put_lists(&meta, [("a".to_string(), list.clone())])
            .unwrap();
        store
            .set_item_flags(
                "x",
                ItemFlags {
                    hidden: true,
                    expires_at: None,
                },
            )
            .unwrap();
        before = store.scan(0, 100).unwrap();
        // A second clone alive at drop time is fine; the last one closes the store.
        let clone = store.clone();
        drop(store);
        clone.append(vec![click("c", "i3", None)]).unwrap();
    }
    let store = Store::open(&path).unwrap();
    let after = store.scan(0, 100).unwrap();
    assert_eq!(&after[..2], &before[..]);
    assert_eq!(after.len(), 3);
    assert_eq!(store.last_seq().unwrap(), 3);
    assert_eq!(store.user_last_seq("c").unwrap(), Some(3));
    assert_eq!(store.get_list("a").unwrap(), Some(list));
    assert_eq!(store.batch_meta().unwrap(), Some(meta));
    assert_eq!(
        store.item_flags().unwrap(),
        vec![(
            "x".to_string(),
            ItemFlags {
                hidden: true,
                expires_at: None
            }
        )]
    );
    // Seqs continue after the reopen.
    assert_eq!(
        store.append(vec![click("a", "i4", None)]).unwrap()[0].seq,
        4
    );
}

#[test]
fn drop_flushes_pending_appends() {
    let (_dir, path) = temp_store();
    let acked: Vec<u64> = {
        let store = Store::open(&path).unwrap();
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            store
                                .append(vec![click(&format!("u{t}"), &format!("i{i}"), None)])
                                .unwrap()[0]
                                .seq
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // Dropping our handle while the threads still append: their clones keep it open.
        drop(store);
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), acked.len() as u64);
    let stored: HashSet<u64> = store
        .scan(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|s| s.seq)
        .collect();
    assert!(acked.iter().all(|s| stored.contains(s)));
}

#[test]
fn delete_user_removes_exactly_that_user() {
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    store
        .append(vec![
            click("a", "i1", Some("a1")),
            click("b", "i1", Some("b1")),
            click("a", "i2", Some("a2")),
            click("a", "i3", None),
            click("ab", "i3", Some("ab1")),
        ])
        .unwrap();
    let list = vec![ListItem {
        item: "z".to_string(),
        score: 1.0,
    }];
    let meta = BatchMeta {
        model_version: "m".to_string(),
        created_unix: 1,
        event_seq: 5,
        users: 2,
        k: 1,
    };
    store
        .put_lists(
            &meta,
            [
                ("a".to_string(), list.clone()),
                ("b".to_string(), list.clone()),
            ],
        )
        .unwrap();

    assert_eq!(
        store.delete_user("a").unwrap(),
        Deleted {
            events: 3,
            lists: 1
        }
    );
    assert!(store.user_events("a").unwrap().is_empty());
    assert_eq!(store.user_last_seq("a").unwrap(), None);
    assert_eq!(store.get_list("a").unwrap(), None);
    assert_eq!(store.find_event("a1").unwrap(), None);
    assert_eq!(store.find_event("a2").unwrap(), None);
    // Others intact.
    assert_eq!(store.user_events("b").unwrap().len(), 1);
    assert_eq!(store.user_events("ab").unwrap().len(), 1);
    assert_eq!(store.find_event("b1").unwrap().unwrap().seq, 2);
    assert_eq!(store.find_event("ab1").unwrap().unwrap().seq, 5);
    assert_eq!(store.get_list("b").unwrap(), Some(list));
    assert_eq!(store.list_count().unwrap(), 1);
    assert_eq!(store.event_count().unwrap(), 2);
    assert_eq!(
        store
            .scan(0, 10)
            .unwrap()
            .iter()
            .map(|s| s.seq)
            .collect::<Vec<_>>(),
        vec![2, 5]
    );
    // Deleting again, or an unknown user, removes nothing.
    assert_eq!(store.delete_user("a").unwrap(), Deleted::default());
    assert_eq!(store.delete_user("nobody").unwrap(), Deleted::default());
    // The high-water mark stays, seqs are not reused, and the forgotten event id is free again.
    assert_eq!(store.last_seq().unwrap(), 5);
    let out = store.append(vec![click("a", "i9", Some("a1"))]).unwrap();
    assert_eq!((out[0].seq, out[0].duplicate), (6, false));
    assert_eq!(store.user_events("a").unwrap().len(), 1);
    assert_eq!(store.user_last_seq("a").unwrap(), Some(6));
    // Deleting the user with the newest event does not lower the high-water mark.
    store.delete_user("a").unwrap();
    assert_eq!(store.last_seq().unwrap(), 6);
    assert_eq!(store.append(vec![click("c", "i", None)]).unwrap()[0].seq, 7);
}

#[test]
fn put_lists_replaces_the_previous_batch() {
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.batch_meta().unwrap(), None);
    assert_eq!(store.list_count().unwrap(), 0);
    let item = |s: &str, score: f32| ListItem {
        item: s.to_string(),
        score,
    };
    let meta1 = BatchMeta {
        model_version: "v1".to_string(),
        created_unix: 100,
        event_seq: 0,
        users: 1000,
        k: 2,
    };
    // A streamed iterator, not a collection.
    let lists = (0..1000).map(|u| (format!("u{u}"), vec![item("a", u as f32), item("b", 0.5)]));
    store.put_lists(&meta1, lists).unwrap();
    assert_eq!(store.list_count().unwrap(), 1000);
    assert_eq!(
        store.get_list("u7").unwrap(),
        Some(vec![item("a", 7.0), item("b", 0.5)])
    );
    assert_eq!(store.batch_meta().unwrap(), Some(meta1.clone()));

    let meta2 = BatchMeta {
        model_version: "v2".to_string(),
        created_unix: 200,
        event_seq: 9,
        users: 2,
        k: 1,
    };
    store
        .put_lists(
            &meta2,
            vec![
                ("u7".to_string(), vec![item("c", 0.1)]),
                ("new".to_string(), vec![item("d", f32::MIN_POSITIVE)]),
            ],
        )
        .unwrap();
    assert_eq!(store.list_count().unwrap(), 2);
    assert_eq!(store.get_list("u7").unwrap(), Some(vec![item("c", 0.1)]));
    assert_eq!(
        store.get_list("new").unwrap(),
        Some(vec![item("d", f32::MIN_POSITIVE)])
    );
    assert_eq!(store.get_list("u8").unwrap(), None, "old lists are gone");
    assert_eq!(store.batch_meta().unwrap(), Some(meta2.clone()));

    // A non-finite score fails the whole batch and keeps the old one.
    let err = store
        .put_lists(
            &meta1,
            vec![
                ("x".to_string(), vec![item("a", 1.0)]),
                ("y".to_string(), vec![item("b", f32::NAN)]),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert_eq!(store.list_count().unwrap(), 2);
    assert_eq!(store.get_list("x").unwrap(), None);
    assert_eq!(store.batch_meta().unwrap(), Some(meta2));

    // An empty batch empties the lists.
    let empty = BatchMeta { users: 0, ..meta1 };
    store.put_lists(&empty, std::iter::empty()).unwrap();
    assert_eq!(store.list_count().unwrap(), 0);
    assert_eq!(store.batch_meta().unwrap(), Some(empty));
}

#[test]
fn item_flags_set_and_clear() {
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    assert!(store.item_flags().unwrap().is_empty());
    let hidden = ItemFlags {
        hidden: true,
        expires_at: None,
    };
    let expiring = ItemFlags {
        hidden: false,
        expires_at: Some(1_800_000_000),
    };
    store.set_item_flags("b", hidden).unwrap();
    store.set_item_flags("a", expiring).unwrap();
    assert_eq!(
        store.item_flags().unwrap(),
        vec![("a".to_string(), expiring), ("b".to_string(), hidden)]
    );
    store.set_item_flags("a", hidden).unwrap();
    assert_eq!(store.item_flags().unwrap()[0], ("a".to_string(), hidden));
    store.set_item_flags("b", ItemFlags::default()).unwrap();
    store
        .set_item_flags("never-set", ItemFlags::default())
        .unwrap();
    assert_eq!(store.item_flags().unwrap(), vec![("a".to_string(), hidden)]);
}

#[test]
fn open_errors_name_the_path() {
    let (dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    // Locked: a second open of the same file.
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("already open"),
        "{msg}"
    );
    drop(store);
    Store::open(&path).unwrap();

    // Not a redb file.
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 64 * 1024]).unwrap();
    let err = Store::open(&garbage).unwrap_err();
    assert!(err.to_string().contains("garbage.redb"), "{err}");

    // A directory that does not exist.
    let missing = dir.path().join("no/such/dir/store.redb");
    let err = Store::open(&missing).unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn newer_format_version_is_refused() {
    let (_dir, path) = temp_store();
    drop(Store::open(&path).unwrap());
    {
        // Write a future version directly with redb.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
                .unwrap();
            meta.insert("format_version", b"999".as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
}

#[test]
fn store_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Store>();
    check::<Arc<Store>>();
}
