//! Erasure reaches the disk: after `delete_user`, no byte of the user's id, event ids, items or
//! attributes is left in any file of the store's folder, after the call, after reopening, and while
//! other users' data stays whole.

mod common;

use std::path::Path;

use common::{click, temp_store};
use tastebud_store::{BatchMeta, Consent, ListItem, Store};

const USER: &str = "privacy-probe-7f3b";
const SECRETS: [&str; 4] = [USER, "secret-item-91x", "evt-probe-", "probe-attr-value"];

/// Every occurrence of a secret in any file under `dir`.
fn leaks(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(leaks(&path));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for s in SECRETS {
            let n = bytes
                .windows(s.len())
                .filter(|w| *w == s.as_bytes())
                .count();
            if n > 0 {
                found.push(format!("{n} x `{s}` in {}", path.display()));
            }
        }
    }
    found
}

/// A store with the probe user's events interleaved with other users', a batch list, consent and a
/// forget request, committed over many transactions so old page versions pile up in free pages.
fn fill(store: &Store) {
    for round in 0..40 {
        let mut batch = Vec::new();
        for u in 0..50 {
            batch.push(click(
                &format!("other-{u}"),
                &format!("i{}", round % 7),
                None,
            ));
        }
        let mut e = click(USER, "secret-item-91x", Some(&format!("evt-probe-{round}")));
        e.attrs.insert("note".into(), "probe-attr-value".into());
        batch.push(e);
        store.append(batch).unwrap();
    }
    let meta = BatchMeta {
        model_version: "v1".into(),
        created_unix: 1,
        event_seq: 1,
        users: 2,
        k: 1,
    };
    let list = vec![ListItem {
        item: "secret-item-91x".into(),
        score: 1.0,
    }];
    store
        .put_lists(
            &meta,
            vec![
                (USER.to_string(), list),
                (
                    "other-1".into(),
                    vec![ListItem {
                        item: "i3".into(),
                        score: 1.0,
                    }],
                ),
            ],
        )
        .unwrap();
    store
        .set_consent(
            USER,
            &Consent {
                personalisation: false,
                training: true,
                updated_unix: 5,
            },
        )
        .unwrap();
}

#[test]
fn erased_user_leaves_no_byte_in_the_store_folder() {
    let (dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    fill(&store);
    assert!(!leaks(dir.path()).is_empty(), "the probe is written first");
    let deleted = store.delete_user(USER).unwrap();
    store.forget_user(USER, 9).unwrap();
    assert_eq!((deleted.events, deleted.lists), (40, 1));
    assert_eq!(store.purges(), 1);
    assert_eq!(leaks(dir.path()), Vec::<String>::new(), "after delete");
    // The rest is whole and the store keeps working.
    assert_eq!(store.event_count().unwrap(), 40 * 50);
    assert_eq!(store.user_events("other-3").unwrap().len(), 40);
    assert_eq!(store.get_list("other-1").unwrap().unwrap().len(), 1);
    assert!(store.get_list(USER).unwrap().is_none());
    assert_eq!(store.consent(USER).unwrap(), None);
    assert!(store.is_forgotten(USER).unwrap());
    assert!(!store.is_forgotten("other-1").unwrap());
    assert!(store.forgotten().unwrap().contains(USER));
    store
        .append(vec![click("late", "i1", Some("late-1"))])
        .unwrap();
    assert_eq!(store.last_seq().unwrap(), 40 * 51 + 1);
    drop(store);
    assert_eq!(leaks(dir.path()), Vec::<String>::new(), "after close");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), 40 * 50 + 1);
    assert!(store.is_forgotten(USER).unwrap());
    assert_eq!(leaks(dir.path()), Vec::<String>::new(), "after reopen");
}

#[test]
fn erasing_a_user_without_data_does_not_rewrite() {
    let (_dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    store.append(vec![click("a", "i", None)]).unwrap();
    store.delete_user("nobody").unwrap();
    assert_eq!(store.purges(), 0);
}

#[test]
fn concurrent_erasures_share_rewrites_and_appends_go_on() {
    let (dir, path) = temp_store();
    let store = Store::open(&path).unwrap();
    for u in 0..16 {
        store
            .append(vec![click(&format!("gone-{u}"), "secret-item-91x", None)])
            .unwrap();
    }
    std::thread::scope(|s| {
        for u in 0..16 {
            let (a, b) = (store.clone(), store.clone());
            s.spawn(move || a.delete_user(&format!("gone-{u}")).unwrap());
            s.spawn(move || {
                b.append(vec![click(&format!("stay-{u}"), "i", None)])
                    .unwrap()
            });
        }
    });
    assert!(store.purges() >= 1 && store.purges() <= 16);
    assert_eq!(store.event_count().unwrap(), 16);
    assert_eq!(leaks(dir.path()), Vec::<String>::new());
}

#[test]
fn a_file_of_format_1_is_upgraded_and_its_clear_forgotten_ids_purged() {
    let (dir, path) = temp_store();
    {
        let db = redb::Database::create(&path).unwrap();
        let t = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, i64> = redb::TableDefinition::new("forgotten");
            t.open_table(def).unwrap().insert(USER, 7).unwrap();
            let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            t.open_table(meta)
                .unwrap()
                .insert("format_version", b"1".as_slice())
                .unwrap();
        }
        t.commit().unwrap();
    }
    assert!(!leaks(dir.path()).is_empty());
    let store = Store::open(&path).unwrap();
    assert_eq!(store.forgotten_at(USER).unwrap(), Some(7));
    assert_eq!(leaks(dir.path()), Vec::<String>::new());
}
