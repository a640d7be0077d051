//! Durability across a crash: a child process appends in a loop and prints every acknowledged
//! event; the test kills it with SIGKILL mid-stream, reopens the store and checks that every
//! acknowledged event is there exactly once.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{click, temp_store};
use tastebud_store::Store;

const CHILD_ENV: &str = "TASTEBUD_STORE_CRASH_CHILD";
const THREADS: usize = 4;

/// The child's body. A no-op (and a passing test) unless the parent set `CHILD_ENV`.
#[test]
fn crash_child_helper() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&PathBuf::from(path)).unwrap();
    // Ids unique across rounds, so no acknowledgement is a duplicate of an earlier round's.
    let pid = std::process::id();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let id = format!("p{pid}-t{t}-{i}");
                    // Half single events, half small batches, to crash in both kinds of group.
                    let events = if i % 2 == 0 {
                        vec![click(&format!("u{t}"), "item", Some(&id))]
                    } else {
                        vec![
                            click(&format!("u{t}"), "item", Some(&id)),
                            click(&format!("u{t}"), "item", Some(&format!("{id}-b"))),
                        ]
                    };
                    let out = store.append(events.clone()).unwrap();
                    for (a, e) in out.iter().zip(&events) {
                        // One line per acknowledged event; stdout is line-buffered.
                        println!("ACK {} {}", a.seq, e.event_id.as_deref().unwrap());
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let (_dir, path) = temp_store();
    let mut acked: HashMap<String, u64> = HashMap::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let before = acked.len();
        // Kill it mid-stream, after a varying number of acknowledgements.
        let kill_after = 200 + round * 150;
        while acked.len() - before < kill_after {
            let line = lines
                .next()
                .expect("the child stopped before being killed")
                .unwrap();
            record(&mut acked, &line);
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Acknowledgements already in the pipe count too.
        for line in lines {
            record(&mut acked, &line.unwrap());
        }

        let store = Store::open(&path).unwrap();
        let all = store.scan(0, usize::MAX).unwrap();
        let ids: Vec<String> = all
            .iter()
            .map(|s| s.event.event_id.clone().unwrap())
            .collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "an event id is stored twice");
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        for (id, seq) in &acked {
            let found = store
                .find_event(id)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged {id} (seq {seq}) is lost"));
            assert_eq!(found.seq, *seq, "{id}");
        }
        // The indexes agree with the log.
        let mut per_user = 0;
        for t in 0..THREADS {
            let user = format!("u{t}");
            let events = store.user_events(&user).unwrap();
            per_user += events.len();
            assert_eq!(
                store.user_last_seq(&user).unwrap(),
                events.last().map(|s| s.seq)
            );
        }
        assert_eq!(per_user, all.len());
        assert_eq!(store.event_count().unwrap(), all.len() as u64);
        assert_eq!(store.last_seq().unwrap(), all.last().map_or(0, |s| s.seq));
        eprintln!(
            "round {round}: {} acknowledged, {} stored (some committed but not yet acknowledged when killed)",
            acked.len(),
            all.len()
        );
    }
}

fn record(acked: &mut HashMap<String, u64>, line: &str) {
    let mut parts = line.split(' ');
    if parts.next() != Some("ACK") {
        return; // test-harness chatter
    }
    let seq: u64 = parts.next().unwrap().parse().unwrap();
    let id = parts.next().unwrap().to_string();
    assert!(acked.insert(id, seq).is_none(), "acknowledged twice");
}
