//! Measures durable append throughput of the store.
//!
//! `cargo run --release -p tastebud-bench --bin bench-store [-- --json] [--dir DIR] [--events N]`
//!
//! Cases: batches of 100 and 1000 events from one thread; single-event appends from 1, 8 and 64
//! threads (group commit); JSON encode/decode cost per event; `put_lists` and reads. Every case
//! uses a fresh store file under `--dir` (default: the system temp dir), removed afterwards.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use tastebud_bench::{Align, Table, percentile};
use tastebud_store::{BatchMeta, Event, EventType, ListItem, Store, Stored};

/// Durable append throughput of the store (batches, single events from 1, 8 and 64 threads), JSON
/// cost per event, `put_lists` and reads.
#[derive(Parser, Debug)]
#[command(name = "bench-store")]
struct Args {
    /// Print JSON instead of the table
    #[arg(long)]
    json: bool,
    /// Where the fresh store files go [default: the system temp dir]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Events per batch case
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    events: u64,
}

struct Row {
    case: String,
    events: u64,
    secs: f64,
    commits: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    note: String,
}

impl Row {
    fn per_sec(&self) -> f64 {
        self.events as f64 / self.secs
    }
}

fn event(i: u64) -> Event {
    Event {
        user: format!("user-{}", i % 10_000),
        item: Some(format!("item-{}", (i * 7919) % 50_000)),
        items: Vec::new(),
        kind: EventType::Click,
        timestamp: 1_700_000_000 + i as i64,
        value: None,
        amount: None,
        currency: None,
        dwell_ms: None,
        request_id: Some(format!("req-{:016x}", i / 3)),
        event_id: Some(format!("evt-{i:016x}")),
        experiment: None,
        arm: None,
        propensity: None,
        position: Some((i % 10) as u32),
        attrs: Default::default(),
    }
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.redb"));
    let _ = std::fs::remove_file(&path);
    path
}

fn batches(dir: &Path, n: u64, size: u64) -> Row {
    let path = fresh(dir, &format!("batch{size}"));
    let store = Store::open(&path).expect("open");
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<Event> = (i..(i + size).min(n)).map(event).collect();
        i += batch.len() as u64;
        store.append(batch).expect("append");
    }
    let secs = start.elapsed().as_secs_f64();
    let commits = store.commits();
    drop(store);
    let _ = std::fs::remove_file(&path);
    Row {
        case: format!("batches of {size}, 1 thread"),
        events: n,
        secs,
        commits,
        p50_ms: None,
        p99_ms: None,
        note: String::new(),
    }
}

fn singles(dir: &Path, threads: u64, per_thread: u64) -> Row {
    let path = fresh(dir, &format!("single{threads}"));
    let store = Store::open(&path).expect("open");
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per_thread as usize);
                for j in 0..per_thread {
                    let e = event(t * per_thread + j);
                    let s = Instant::now();
                    store.append(vec![e]).expect("append");
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let secs = start.elapsed().as_secs_f64();
    let commits = store.commits();
    drop(store);
    let _ = std::fs::remove_file(&path);
    lat.sort();
    let q = |p: f64| percentile(&lat, p).as_secs_f64() * 1e3;
    Row {
        case: format!("single events, {threads} threads"),
        events: threads * per_thread,
        secs,
        commits,
        p50_ms: Some(q(0.5)),
        p99_ms: Some(q(0.99)),
        note: String::new(),
    }
}

fn json_cost(n: u64) -> Row {
    let stored: Vec<Stored> = (0..n)
        .map(|i| Stored {
            seq: i + 1,
            received_ms: 1_700_000_000_000,
            event: event(i),
        })
        .collect();
    let start = Instant::now();
    let encoded: Vec<Vec<u8>> = stored
        .iter()
        .map(|s| serde_json::to_vec(s).expect("encode"))
        .collect();
    let enc = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for bytes in &encoded {
        let s: Stored = serde_json::from_slice(bytes).expect("decode");
        std::hint::black_box(s);
    }
    let dec = start.elapsed().as_secs_f64();
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    Row {
        case: "JSON encode + decode (no I/O)".to_string(),
        events: n,
        secs: enc + dec,
        commits: 0,
        p50_ms: None,
        p99_ms: None,
        note: format!(
            "{:.2} us encode, {:.2} us decode, {} bytes per event",
            enc / n as f64 * 1e6,
            dec / n as f64 * 1e6,
            bytes / n as usize
        ),
    }
}

fn lists_and_reads(dir: &Path, users: u64, k: usize) -> Vec<Row> {
    let path = fresh(dir, "lists");
    let store = Store::open(&path).expect("open");
    // Some events to read back: 20 per user for 1000 users.
    let events: Vec<Event> = (0..20_000)
        .map(|i| Event {
            user: format!("user-{}", i % 1000),
            ..event(i)
        })
        .collect();
    store.append(events).expect("append");
    let meta = BatchMeta {
        model_version: "bench".to_string(),
        created_unix: 1_700_000_000,
        event_seq: store.last_seq().expect("last_seq"),
        users,
        k: k as u32,
    };
    let lists = (0..users).map(|u| {
        let list = (0..k)
            .map(|r| ListItem {
                item: format!("item-{}", (u * 31 + r as u64 * 7) % 50_000),
                score: 1.0 / (r as f32 + 1.0),
            })
            .collect();
        (format!("user-{u}"), list)
    });
    let start = Instant::now();
    store.put_lists(&meta, lists).expect("put_lists");
    let put = start.elapsed().as_secs_f64();

    let reads = 100_000u64;
    let start = Instant::now();
    for i in 0..reads {
        let list = store
            .get_list(&format!("user-{}", (i * 7919) % users))
            .expect("get_list");
        std::hint::black_box(list);
    }
    let get = start.elapsed().as_secs_f64();

    let history_reads = 10_000u64;
    let start = Instant::now();
    for i in 0..history_reads {
        let h = store
            .user_events(&format!("user-{}", i % 1000))
            .expect("user_events");
        assert_eq!(h.len(), 20);
    }
    let hist = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    drop(store);
    let _ = std::fs::remove_file(&path);
    vec![
        Row {
            case: format!("put_lists {users} users x {k} items"),
            events: users,
            secs: put,
            commits: 1,
            p50_ms: None,
            p99_ms: None,
            note: format!(
                "lists/s; appends wait meanwhile; file {:.0} MiB",
                size as f64 / 1048576.0
            ),
        },
        Row {
            case: "get_list (1 thread)".to_string(),
            events: reads,
            secs: get,
            commits: 0,
            p50_ms: None,
            p99_ms: None,
            note: "reads/s".to_string(),
        },
        Row {
            case: "user_events, 20 events (1 thread)".to_string(),
            events: history_reads,
            secs: hist,
            commits: 0,
            p50_ms: None,
            p99_ms: None,
            note: "reads/s".to_string(),
        },
    ]
}

/// Erasure cost: a store of `n` events (10,000 users), then one user erased alone (the delete plus the
/// rewrite of the file that takes their bytes off the disk), then 8 users erased by 8 threads at once
/// (they share rewrites).
fn erasure(dir: &Path, n: u64) -> Vec<Row> {
    let path = fresh(dir, "erase");
    let store = Store::open(&path).expect("open");
    let mut i = 0;
    while i < n {
        let batch: Vec<Event> = (i..(i + 10_000).min(n)).map(event).collect();
        i += batch.len() as u64;
        store.append(batch).expect("append");
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let start = Instant::now();
    let d = store.delete_user("user-17").expect("delete");
    let one = start.elapsed().as_secs_f64();
    let after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let purges = store.purges();
    let start = Instant::now();
    let handles: Vec<_> = (0..8)
        .map(|u| {
            let store = store.clone();
            std::thread::spawn(move || store.delete_user(&format!("user-{}", 100 + u)))
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("delete");
    }
    let eight = start.elapsed().as_secs_f64();
    let shared = store.purges() - purges;
    drop(store);
    let _ = std::fs::remove_file(&path);
    let mib = |b: u64| b as f64 / 1048576.0;
    vec![
        Row {
            case: format!("erase 1 user ({} events) in a store of {n}", d.events),
            events: 1,
            secs: one,
            commits: 1,
            p50_ms: None,
            p99_ms: None,
            note: format!(
                "erasures/s; rewrites {:.0} MiB to {:.0} MiB",
                mib(size),
                mib(after)
            ),
        },
        Row {
            case: format!("erase 8 users, 8 threads, store of {n}"),
            events: 8,
            secs: eight,
            commits: shared,
            p50_ms: None,
            p99_ms: None,
            note: format!("erasures/s; {shared} rewrites shared by 8 erasures"),
        },
    ]
}

fn main() {
    let Args {
        json,
        dir,
        events: n,
    } = Args::parse();
    let dir = dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("tastebud-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create bench dir");

    let mut rows = vec![
        batches(&dir, n, 100),
        batches(&dir, n, 1000),
        singles(&dir, 1, 1000),
        singles(&dir, 8, 500),
        singles(&dir, 64, 200),
        json_cost(n),
    ];
    rows.extend(lists_and_reads(&dir, 100_000, 20));
    rows.extend(erasure(&dir, n));
    rows.extend(erasure(&dir, n * 10));
    let _ = std::fs::remove_dir_all(&dir);

    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "case": r.case, "n": r.events, "seconds": r.secs, "per_second": r.per_sec(),
                    "commits": r.commits, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "note": r.note,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        return;
    }
    let right = |c| (c, Align::Right);
    let mut t = Table::aligned(&[
        ("case", Align::Left),
        right("n"),
        right("seconds"),
        right("per second"),
        right("commits"),
        right("per commit"),
        right("p50 ms"),
        right("p99 ms"),
        ("note", Align::Left),
    ]);
    let ms = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
    for r in &rows {
        let per_commit = if r.commits > 0 {
            format!("{:.1}", r.events as f64 / r.commits as f64)
        } else {
            String::new()
        };
        t.row([
            r.case.clone(),
            r.events.to_string(),
            format!("{:.3}", r.secs),
            format!("{:.0}", r.per_sec()),
            if r.commits > 0 {
                r.commits.to_string()
            } else {
                String::new()
            },
            per_commit,
            ms(r.p50_ms),
            ms(r.p99_ms),
            r.note.clone(),
        ]);
    }
    print!("{t}");
}
