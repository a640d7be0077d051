//! The shared backends beside the embedded ones, in one run: durable events/s into PostgreSQL vs redb
//! at 1 and 64 concurrent clients; recommendation latency from the Redis cache vs the in-process
//! cache; one replica vs two on loopback; `tastebud batch` as one run vs two shards.
//!
//! ```text
//! cargo build --release -p tastebud-cli -p tastebud-bench --bin tastebud --bin bench-shared
//! target/release/bench-shared [--json] [--requests N] [--users N]
//! ```
//!
//! It starts a throwaway PostgreSQL and Redis (Debian packages `postgresql`, `redis-server`) on free
//! ports, makes a synthetic dataset and a popularity model with the release `tastebud` binary
//! (`--tastebud`, else `$TASTEBUD_BIN`, else next to this program), and removes everything after.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tastebud_bench::{
    ChildGuard, Table, percentile, start_server, synth_model, tastebud_binary, tastebud_run,
};
use tastebud_store::pg::{PgConfig, PgStore};
use tastebud_store::testkit::{Postgres, Redis};
use tastebud_store::{Event, EventLog, Store};

/// PostgreSQL + Redis vs the embedded store and cache, same run.
#[derive(Parser, Debug)]
#[command(name = "bench-shared")]
struct Args {
    /// Print JSON instead of tables
    #[arg(long)]
    json: bool,
    /// Requests per serving case
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Users of the synthetic dataset (the batch cases score them all)
    #[arg(long, default_value_t = 5000)]
    users: u32,
    /// Single-event appends per client thread
    #[arg(long, default_value_t = 40)]
    per_thread: u64,
    /// The tastebud binary [default: $TASTEBUD_BIN, else next to this program]
    #[arg(long)]
    tastebud: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Row {
    group: &'static str,
    case: String,
    rate: f64,
    unit: &'static str,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    note: String,
}

fn event(i: u64) -> Event {
    serde_json::from_value(serde_json::json!({
        "user": format!("user-{}", i % 5000), "item": format!("item-{}", (i * 7919) % 5000),
        "type": "click", "timestamp": 1_700_000_000 + i as i64, "event_id": format!("evt-{i:016x}"),
    }))
    .expect("event")
}

/// Single-event appends from `threads` clients at once: events/s and latency.
fn appends(log: Arc<dyn EventLog>, threads: u64, per_thread: u64, offset: u64) -> (f64, f64, f64) {
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|j| {
                        let e = event(offset + th * per_thread + j);
                        let s = Instant::now();
                        log.append(vec![e]).expect("append");
                        s.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    let q = |p| percentile(&lat, p).as_secs_f64() * 1e3;
    ((threads * per_thread) as f64 / secs, q(0.5), q(0.99))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GETs `users` recommendations spread over `addrs` from `clients` threads: req/s and latency.
fn load(addrs: &[String], users: &[String], clients: usize) -> (f64, f64, f64) {
    let next = Arc::new(AtomicU64::new(0));
    let users = Arc::new(users.to_vec());
    let t = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (next, users, addrs) = (next.clone(), users.clone(), addrs.to_vec());
            std::thread::spawn(move || {
                let agent = agent();
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= users.len() {
                        return lat;
                    }
                    let url = format!(
                        "http://{}/v1/users/{}/recommendations?k=10&explain=false",
                        addrs[i % addrs.len()],
                        users[i]
                    );
                    let s = Instant::now();
                    let r = agent.get(&url).call().expect("request");
                    assert_eq!(r.status(), 200, "{url}");
                    lat.push(s.elapsed());
                }
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    let q = |p| percentile(&lat, p).as_secs_f64() * 1e3;
    (users.len() as f64 / secs, q(0.5), q(0.99))
}

fn serve(
    tastebud: &Path,
    model: &Path,
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> Result<(ChildGuard, String), String> {
    let log = dir.join(format!("{name}.log"));
    let err = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(tastebud);
    cmd.args(["serve", "--model"])
        .arg(model)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join(format!("{name}-store")))
        .args(extra)
        .env("RUST_LOG", "warn")
        .stderr(err);
    start_server(cmd, &log)
}

/// The work folder, removed at the end.
struct Work(PathBuf);

impl Work {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let tastebud = tastebud_binary(args.tastebud.clone());
    let dir = Work(std::env::temp_dir().join(format!("bench-shared-{}", std::process::id())));
    std::fs::create_dir_all(dir.path()).map_err(|e| e.to_string())?;
    let pg = Postgres::start()?;
    let redis = Redis::start()?;
    let mut rows: Vec<Row> = Vec::new();

    // 1. Durable appends.
    for threads in [1u64, 64] {
        let per = if threads == 1 {
            args.per_thread * 8
        } else {
            args.per_thread
        };
        let redb: Arc<dyn EventLog> = Arc::new(
            Store::open(&dir.path().join(format!("b{threads}.redb"))).map_err(|e| e.to_string())?,
        );
        let (r, p50, p99) = appends(redb, threads, per, 0);
        rows.push(Row {
            group: "events",
            case: format!("redb, {threads} clients"),
            rate: r,
            unit: "events/s",
            p50_ms: Some(p50),
            p99_ms: Some(p99),
            note: String::new(),
        });
        let store = PgStore::open(PgConfig::new(&pg.url())).map_err(|e| e.to_string())?;
        let (r2, p50, p99) = appends(Arc::new(store.clone()), threads, per, threads * 1_000_000);
        rows.push(Row {
            group: "events",
            case: format!("PostgreSQL, {threads} clients"),
            rate: r2,
            unit: "events/s",
            p50_ms: Some(p50),
            p99_ms: Some(p99),
            note: format!(
                "{:.2}x redb; {} commits for {} events",
                r2 / r,
                store.commits(),
                threads * per
            ),
        });
    }

    // A dataset and a model for the serving and batch cases.
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let model = synth_model(
        &tastebud,
        dir.path(),
        (u64::from(args.users), 2000, u64::from(args.users) * 20),
        "itemknn",
    )?;
    let users: Vec<String> = (0..args.requests)
        .map(|i| format!("u{}", i % args.users as usize))
        .collect();

    // 2. Cached recommendations: in-process hits (embedded), Redis hits (a replica whose own cache is
    //    empty, after another replica computed them), and computed lists.
    let (_embedded, e_addr) = serve(&tastebud, &model, dir.path(), "embedded", &[])?;
    let (_, _, _) = load(std::slice::from_ref(&e_addr), &users, 4);
    let (r, p50, p99) = load(std::slice::from_ref(&e_addr), &users, 4);
    rows.push(Row {
        group: "cache",
        case: "in-process cache hits (embedded)".into(),
        rate: r,
        unit: "req/s",
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        note: String::new(),
    });
    let shared = ["--store-url", &pg.url(), "--redis-url", &redis.url()];
    let (_a, a_addr) = serve(&tastebud, &model, dir.path(), "a", &shared)?;
    let (r0, p50, p99) = load(std::slice::from_ref(&a_addr), &users, 4);
    rows.push(Row {
        group: "cache",
        case: "computed (replica, cold caches)".into(),
        rate: r0,
        unit: "req/s",
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        note: "PostgreSQL reads + scoring + Redis write".into(),
    });
    let (_b, b_addr) = serve(&tastebud, &model, dir.path(), "b", &shared)?;
    let (r1, p50, p99) = load(std::slice::from_ref(&b_addr), &users, 4);
    rows.push(Row {
        group: "cache",
        case: "Redis cache hits (second replica)".into(),
        rate: r1,
        unit: "req/s",
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        note: format!("{:.2}x in-process", r1 / r),
    });
    let (r2, p50, p99) = load(std::slice::from_ref(&b_addr), &users, 4);
    rows.push(Row {
        group: "cache",
        case: "in-process hits (replica)".into(),
        rate: r2,
        unit: "req/s",
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        note: "after the Redis hits filled it; each request still syncs with PostgreSQL".into(),
    });

    // 3. One replica vs two: fresh users (computed lists), 8 clients.
    let fresh = |tag: &str| -> Vec<String> {
        (0..args.requests)
            .map(|i| format!("{tag}{}", i % args.users as usize))
            .collect()
    };
    let (_c, c_addr) = serve(
        &tastebud,
        &model,
        dir.path(),
        "c",
        &["--store-url", &pg.url()],
    )?;
    let (_d, d_addr) = serve(
        &tastebud,
        &model,
        dir.path(),
        "d",
        &["--store-url", &pg.url()],
    )?;
    let (r1, p50, p99) = load(std::slice::from_ref(&c_addr), &fresh("u"), 8);
    rows.push(Row {
        group: "replicas",
        case: "1 replica (PostgreSQL, no Redis)".into(),
        rate: r1,
        unit: "req/s",
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        note: String::new(),
    });
    let (r2, p50, p99) = load(&[c_addr.clone(), d_addr.clone()], &fresh("u"), 8);
    rows.push(Row {
        group: "replicas",
        case: "2 replicas, round robin".into(),
        rate: r2,
        unit: "req/s",
        p50_ms: Some(p50),
        p99_ms: Some(p99),
        note: format!(
            "{:.2}x one replica (2 cores shared by the replicas, PostgreSQL and the clients)",
            r2 / r1
        ),
    });

    // 4. Batch: one run vs two shards in parallel, into the shared store.
    let url = pg.url();
    let t = Instant::now();
    tastebud_run(
        &tastebud,
        &[
            "batch",
            "--model",
            &s(&model),
            "--out",
            "store",
            "-k",
            "20",
            "--store-url",
            &url,
        ],
    )?;
    let whole = t.elapsed().as_secs_f64();
    rows.push(Row {
        group: "batch",
        case: "1 process".into(),
        rate: f64::from(args.users) / whole,
        unit: "users/s",
        p50_ms: None,
        p99_ms: None,
        note: format!("{whole:.2} s"),
    });
    let t = Instant::now();
    let kids: Vec<std::process::Child> = (0..2)
        .map(|i| {
            Command::new(&tastebud)
                .args([
                    "batch",
                    "--model",
                    &s(&model),
                    "--out",
                    "store",
                    "-k",
                    "20",
                    "--store-url",
                    &url,
                    "--shard",
                    &format!("{i}/2"),
                    "--batch-name",
                    "bench",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("batch shard")
        })
        .collect();
    for mut k in kids {
        let st = k.wait().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("a batch shard failed".into());
        }
    }
    let sharded = t.elapsed().as_secs_f64();
    rows.push(Row {
        group: "batch",
        case: "2 shards in parallel".into(),
        rate: f64::from(args.users) / sharded,
        unit: "users/s",
        p50_ms: None,
        p99_ms: None,
        note: format!(
            "{sharded:.2} s, {:.2}x one process (rayon already uses both cores in one)",
            whole / sharded
        ),
    });

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let mut t = Table::new(&["group", "case", "rate", "p50 ms", "p99 ms", "note"]);
    for r in &rows {
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
        t.row([
            r.group.to_string(),
            r.case.clone(),
            format!("{:.0} {}", r.rate, r.unit),
            ms(r.p50_ms),
            ms(r.p99_ms),
            r.note.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}
