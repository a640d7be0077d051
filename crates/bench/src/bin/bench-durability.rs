//! `bench-durability`: acknowledged events and erasures against SIGKILL under concurrent load.
//!
//! ```text
//! cargo build --release -p tastebud-cli -p tastebud-bench --bin tastebud --bin bench-durability
//! target/release/bench-durability [--rounds 10] [--clients 8] [--min-ms 500] [--max-ms 2000] \
//!     [--seed 42] [--keep] [--json]
//! ```
//!
//! It makes a small synthetic dataset and trains a popularity model with the release `tastebud` binary
//! (`--tastebud`, else `$TASTEBUD_BIN`, else `tastebud` next to this program), starts `tastebud serve` on a
//! free loopback port with a store directory and a service key, and runs `--rounds` rounds:
//!
//! 1. `--clients` threads post events (single events and batches alternately, unique `event_id`s, each
//!    thread for several users) and note which were acknowledged (HTTP 200);
//! 2. meanwhile a probe thread posts a few events for a fresh user `erase-probe-RRR-NNNNNN` and erases it
//!    (`DELETE /v1/users/{id}`), user after user, and notes which erasures were acknowledged;
//! 3. after a random 0.5-2 s (`--min-ms`, `--max-ms`) the server gets SIGKILL;
//! 4. it is restarted on the same store (the restart time is until its `listening on` line), and then:
//!    every event acknowledged so far (in any round) is stored exactly once
//!    (`GET /v1/users/{u}/events`); no event is stored twice; for every probe user whose erasure was
//!    acknowledged (in any round), no byte of their id is in any file under the store directory (looked
//!    at both after the kill and after the restart) and their events read back empty.
//!
//! The table goes to stdout (JSON with `--json`); the exit status is non-zero if an acknowledged event was
//! lost, an event was stored twice, or an erased user's id was found. The server is killed when the
//! program ends, also on error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tastebud_bench::{ChildGuard, Table, fmt_secs, start_server, synth_model, tastebud_binary};

/// The service key the benchmark's server is configured with (reading events and erasing need it).
const SERVICE_KEY: &str = "bench-durability-key";
/// What every probe user's id starts with; the rest has a fixed width (`RRR-NNNNNN`), so no probe id is
/// a prefix of another.
const PROBE_PREFIX: &str = "erase-probe-";
/// The number of each round's control probe user, whose events are posted first and never erased.
const CONTROL: usize = 999_999;
/// Length of a probe user's id: the prefix, a 3-digit round, `-`, a 6-digit number.
const PROBE_LEN: usize = PROBE_PREFIX.len() + 3 + 1 + 6;

/// Acknowledged events and erasures of Tastebud's server against SIGKILL under concurrent load.
#[derive(Parser, Debug)]
#[command(name = "bench-durability")]
struct Cli {
    /// Rounds of load, SIGKILL, restart and checks
    #[arg(long, value_name = "N", default_value_t = 10)]
    rounds: u32,
    /// Client threads posting events
    #[arg(long, value_name = "N", default_value_t = 8)]
    clients: usize,
    /// Users each client thread posts events for
    #[arg(long, value_name = "N", default_value_t = 4)]
    users_per_client: usize,
    /// Events in a batch (clients alternate single events and batches)
    #[arg(long, value_name = "N", default_value_t = 5)]
    batch: usize,
    /// Events posted for each probe user before it is erased
    #[arg(long, value_name = "N", default_value_t = 5)]
    probe_events: usize,
    /// Shortest load before the SIGKILL, ms
    #[arg(long, value_name = "MS", default_value_t = 500)]
    min_ms: u64,
    /// Longest load before the SIGKILL, ms
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    max_ms: u64,
    /// Seed of the kill times
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Items of the synthetic dataset (events name items 1..=N)
    #[arg(long, value_name = "N", default_value_t = 300)]
    items: u32,
    /// The tastebud binary [default: $TASTEBUD_BIN, else next to this program]
    #[arg(long, value_name = "PATH")]
    tastebud: Option<PathBuf>,
    /// Keep the work directory (model, store, server log)
    #[arg(long)]
    keep: bool,
    /// Print the results as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// One round: load, SIGKILL, restart, checks (the checks cover every round so far).
#[derive(Clone, Debug, Default, Serialize)]
struct Round {
    round: u32,
    /// Load before the SIGKILL, ms.
    kill_after_ms: u64,
    /// Events in the requests sent (answered or not).
    sent: u64,
    /// Events answered 200.
    acked: u64,
    /// Events answered with another status (not acknowledged, not expected to be stored).
    rejected: u64,
    /// Requests that got no answer (cut by the kill).
    cut_requests: u64,
    /// Events sent but not acknowledged that were stored all the same (in flight at the kill).
    unacked_stored: u64,
    /// Events acknowledged in this round or before that are not stored after the restart (the total
    /// counts distinct events).
    lost: u64,
    /// Extra copies of events stored more than once (all rounds; the total is the largest).
    duplicated: u64,
    /// Probe users whose events were posted.
    probe_users: u64,
    /// Erasures sent.
    deletes_sent: u64,
    /// Erasures answered 200 before the kill.
    deletes_acked: u64,
    /// Erasures that got no answer (cut by the kill).
    deletes_cut: u64,
    /// Occurrences of acknowledged-erased users' ids in the store's files, after the kill and after the
    /// restart (all erasures so far).
    erased_bytes_found: u64,
    /// Acknowledged-erased users whose events do not read back empty after the restart.
    erased_events_found: u64,
    /// Control probe users (one a round, never erased) whose id the scan saw in the store after the
    /// restart (all rounds so far): the check that the scan finds what the server writes.
    controls_seen: u64,
    /// From spawning the server to its `listening on` line, seconds.
    restart_secs: f64,
    /// Size of the store directory after the restart, bytes.
    store_bytes: u64,
}

/// Everything measured.
#[derive(Debug, Serialize)]
struct Report {
    rounds: Vec<Round>,
    total: Round,
    /// Distinct events acknowledged over all rounds (all checked after the last restart).
    acked_total: u64,
    /// Acknowledged erasures over all rounds (all checked after the last restart).
    erased_total: u64,
    /// Where each found id of an erased user was (file, id), empty when none was.
    leaks: Vec<String>,
    /// The first few acknowledged events not found after a restart (`round: user/event_id`).
    lost_examples: Vec<String>,
    ok: bool,
}

/// The temporary work directory; removed at the end unless kept.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("work directory kept: {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Starts `tastebud serve` on the store and waits for its `listening on http://ADDR` line; the server,
/// its address and the seconds that took.
fn start(
    tastebud: &Path,
    model: &Path,
    store: &Path,
    log: &Path,
) -> Result<(ChildGuard, String, f64), String> {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let t = Instant::now();
    let mut cmd = Command::new(tastebud);
    cmd.arg("serve")
        .arg("--model")
        .arg(model)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(store)
        .env("RUST_LOG", "warn")
        .env("TASTEBUD_SERVICE_KEY", SERVICE_KEY)
        .stderr(err);
    let (proc, addr) = start_server(cmd, log)?;
    let secs = t.elapsed().as_secs_f64();
    Ok((proc, addr, secs))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What one client thread saw: events sent, acknowledged `(event_id, user)`, rejected, cut requests.
#[derive(Default)]
struct ClientOutcome {
    sent: u64,
    acked: Vec<(String, String)>,
    rejected: u64,
    cut: u64,
    first_rejection: Option<String>,
}

/// Posts events until `stop` (or the server is gone): single events and batches alternately, for
/// `users` in turn.
fn client(
    addr: &str,
    round: u32,
    t: usize,
    users: &[String],
    batch: usize,
    items: u32,
    stop: &AtomicBool,
) -> ClientOutcome {
    let agent = agent();
    let now = now_unix();
    let mut o = ClientOutcome::default();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let user = &users[n % users.len()];
        let size = if n.is_multiple_of(2) { 1 } else { batch };
        let ids: Vec<String> = (0..size)
            .map(|j| format!("r{round:03}-c{t}-{n}-{j}"))
            .collect();
        let events: Vec<serde_json::Value> = ids
            .iter()
            .enumerate()
            .map(|(j, id)| {
                let item = 1 + (n * 7 + j * 13) % items as usize;
                serde_json::json!({"user": user, "item": item.to_string(), "type": "click",
                                   "timestamp": now, "event_id": id})
            })
            .collect();
        let body = if size == 1 {
            events[0].to_string()
        } else {
            serde_json::Value::Array(events).to_string()
        };
        o.sent += size as u64;
        let r = agent
            .post(&format!("http://{addr}/v1/events"))
            .header("content-type", "application/json")
            .send(&body);
        match r {
            Ok(resp) if resp.status() == 200 => {
                o.acked.extend(ids.into_iter().map(|id| (id, user.clone())));
            }
            Ok(mut resp) => {
                o.rejected += size as u64;
                if o.first_rejection.is_none() {
                    let status = resp.status();
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    o.first_rejection = Some(format!("{status}: {body:.200}"));
                }
            }
            Err(_) => {
                // The server is gone (killed): this request may or may not have been stored.
                o.cut += 1;
                break;
            }
        }
        n += 1;
    }
    o
}

/// What the probe thread saw.
#[derive(Default)]
struct ProbeOutcome {
    users: u64,
    deletes_sent: u64,
    deletes_cut: u64,
    /// Probe users whose erasure was answered 200.
    erased: Vec<String>,
    /// Erasures answered with another status.
    delete_errors: Vec<String>,
}

/// Posts `events` events for a fresh probe user, then erases it; again until `stop` or the server is
/// gone.
fn probe(addr: &str, round: u32, events: usize, items: u32, stop: &AtomicBool) -> ProbeOutcome {
    let agent = agent();
    let now = now_unix();
    let mut o = ProbeOutcome::default();
    // First the control user, never erased: the scan must see its id.
    let mut n = CONTROL;
    'users: while !stop.load(Ordering::Relaxed) {
        let user = format!("{PROBE_PREFIX}{round:03}-{n:06}");
        debug_assert_eq!(user.len(), PROBE_LEN);
        o.users += u64::from(n != CONTROL);
        for j in 0..events {
            let e = serde_json::json!({"user": user, "item": (1 + j % items as usize).to_string(),
                                       "type": "rating", "value": 4, "timestamp": now,
                                       "event_id": format!("{user}-e{j}")});
            match agent
                .post(&format!("http://{addr}/v1/events"))
                .header("content-type", "application/json")
                .send(&e.to_string())
            {
                Ok(r) if r.status() == 200 => {}
                Ok(_) => {
                    // Not stored: the next user.
                    n = if n == CONTROL { 0 } else { n + 1 };
                    continue 'users;
                }
                Err(_) => break 'users,
            }
        }
        if n == CONTROL {
            n = 0;
            continue;
        }
        o.deletes_sent += 1;
        match agent
            .delete(&format!("http://{addr}/v1/users/{user}"))
            .header("x-api-key", SERVICE_KEY)
            .call()
        {
            Ok(r) if r.status() == 200 => o.erased.push(user),
            Ok(mut r) => {
                let status = r.status();
                let body = r.body_mut().read_to_string().unwrap_or_default();
                o.delete_errors
                    .push(format!("{user}: {status}: {body:.200}"));
            }
            Err(_) => {
                o.deletes_cut += 1;
                break;
            }
        }
        n += 1;
    }
    o
}

/// The `event_id`s stored for `user`, in order.
fn stored_ids(agent: &ureq::Agent, addr: &str, user: &str) -> Result<Vec<String>, String> {
    let mut r = agent
        .get(&format!("http://{addr}/v1/users/{user}/events"))
        .header("x-api-key", SERVICE_KEY)
        .call()
        .map_err(|e| format!("GET /v1/users/{user}/events: {e}"))?;
    let status = r.status();
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .map_err(|e| format!("GET /v1/users/{user}/events: {e}"))?;
    if status != 200 {
        return Err(format!(
            "GET /v1/users/{user}/events: {status}: {body:.200}"
        ));
    }
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| format!("GET /v1/users/{user}/events: not JSON ({e})"))?;
    let events = v["events"]
        .as_array()
        .ok_or_else(|| format!("GET /v1/users/{user}/events: no `events` array"))?;
    Ok(events
        .iter()
        .map(|e| e["event"]["event_id"].as_str().unwrap_or("").to_string())
        .collect())
}

/// Every file under `dir` (recursively), with its bytes; files removed while we look are skipped.
fn files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    Ok(())
}

/// What a look at the store's files found.
struct Scan {
    /// Occurrences of erased users' ids, as `FILE: ID at byte N` lines.
    found: Vec<String>,
    /// Every probe id seen (erased or not): the control that the scan sees what the server writes.
    seen: HashSet<String>,
    /// Bytes looked at.
    size: u64,
}

/// Occurrences of the erased users' ids in the files under `dir`. Each occurrence of the probe prefix
/// is read with its fixed-width suffix.
fn leaks(dir: &Path, erased: &HashSet<String>) -> Result<Scan, String> {
    let mut all = Vec::new();
    files(dir, &mut all)?;
    let prefix = PROBE_PREFIX.as_bytes();
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut size = 0u64;
    for (path, bytes) in &all {
        size += bytes.len() as u64;
        let mut i = 0;
        while i + prefix.len() <= bytes.len() {
            if bytes[i] == prefix[0] && bytes[i..].starts_with(prefix) {
                let end = (i + PROBE_LEN).min(bytes.len());
                let id = String::from_utf8_lossy(&bytes[i..end]);
                if erased.contains(id.as_ref()) {
                    found.push(format!("{}: {id} at byte {i}", path.display()));
                }
                seen.insert(id.into_owned());
                i += prefix.len();
            } else {
                i += 1;
            }
        }
    }
    Ok(Scan { found, seen, size })
}

fn run(cli: Cli) -> Result<Report, String> {
    if cli.min_ms > cli.max_ms || cli.clients == 0 || cli.users_per_client == 0 || cli.batch == 0 {
        return Err("need --min-ms <= --max-ms and positive counts".into());
    }
    let tastebud = tastebud_binary(cli.tastebud.clone());
    let path = std::env::temp_dir().join(format!("bench-durability-{}", std::process::id()));
    std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let work = WorkDir {
        path,
        keep: cli.keep,
    };
    let (store, log) = (work.path.join("store"), work.path.join("serve.log"));
    let model = synth_model(
        &tastebud,
        &work.path,
        (200, u64::from(cli.items), 5000),
        "popularity",
    )?;
    let (mut server, mut addr, _) = start(&tastebud, &model, &store, &log)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cli.seed);
    let users: Vec<Vec<String>> = (0..cli.clients)
        .map(|t| {
            (0..cli.users_per_client)
                .map(|k| format!("load-{t}-{k}"))
                .collect()
        })
        .collect();
    let all_users: Vec<String> = users.iter().flatten().cloned().collect();
    // Every event acknowledged so far: event_id -> (user, round); every one sent: event_id -> user.
    let mut acked: HashMap<String, (String, u32)> = HashMap::new();
    let mut erased: HashSet<String> = HashSet::new();
    let mut rounds = Vec::new();
    let mut all_leaks = Vec::new();
    let mut lost_examples = Vec::new();
    let mut lost_ids: HashSet<String> = HashSet::new();
    for round in 1..=cli.rounds {
        let kill_after = rng.random_range(cli.min_ms..=cli.max_ms);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(t, us)| {
                let (stop, addr, us) = (stop.clone(), addr.clone(), us.clone());
                let (batch, items) = (cli.batch, cli.items);
                std::thread::spawn(move || client(&addr, round, t, &us, batch, items, &stop))
            })
            .collect();
        let prober = {
            let (stop, addr) = (stop.clone(), addr.clone());
            let (events, items) = (cli.probe_events, cli.items);
            std::thread::spawn(move || probe(&addr, round, events, items, &stop))
        };
        std::thread::sleep(Duration::from_millis(kill_after));
        server.kill(); // SIGKILL, and reaped
        stop.store(true, Ordering::Relaxed);
        let mut r = Round {
            round,
            kill_after_ms: kill_after,
            ..Round::default()
        };
        let mut sent_now: HashSet<String> = HashSet::new();
        for (t, c) in clients.into_iter().enumerate() {
            let o = c
                .join()
                .map_err(|_| format!("client thread {t} panicked"))?;
            r.sent += o.sent;
            r.acked += o.acked.len() as u64;
            r.rejected += o.rejected;
            r.cut_requests += o.cut;
            if let Some(f) = o.first_rejection {
                eprintln!("round {round}: client {t}: first rejection {f}");
            }
            for (id, user) in o.acked {
                sent_now.insert(id.clone());
                acked.insert(id, (user, round));
            }
        }
        let p = prober.join().map_err(|_| "the probe thread panicked")?;
        r.probe_users = p.users;
        r.deletes_sent = p.deletes_sent;
        r.deletes_acked = p.erased.len() as u64;
        r.deletes_cut = p.deletes_cut;
        for e in &p.delete_errors {
            eprintln!("round {round}: erasure not acknowledged: {e}");
        }
        erased.extend(p.erased);

        // The store as the kill left it.
        let scan = leaks(&store, &erased)?;
        r.erased_bytes_found += scan.found.len() as u64;
        all_leaks.extend(
            scan.found
                .into_iter()
                .map(|f| format!("round {round}, after kill: {f}")),
        );

        let (s, a, secs) = start(&tastebud, &model, &store, &log)?;
        (server, addr) = (s, a);
        r.restart_secs = secs;
        let scan = leaks(&store, &erased)?;
        r.erased_bytes_found += scan.found.len() as u64;
        r.store_bytes = scan.size;
        r.controls_seen = scan
            .seen
            .iter()
            .filter(|p| p.ends_with(&format!("-{CONTROL}")))
            .count() as u64;
        all_leaks.extend(
            scan.found
                .into_iter()
                .map(|f| format!("round {round}, after restart: {f}")),
        );

        let agent = agent();
        let mut stored: HashSet<String> = HashSet::new();
        for user in &all_users {
            let ids = stored_ids(&agent, &addr, user)?;
            let mut counts: HashMap<&str, u64> = HashMap::new();
            for id in &ids {
                *counts.entry(id.as_str()).or_default() += 1;
            }
            r.duplicated += counts.values().map(|c| c - 1).sum::<u64>();
            stored.extend(ids.iter().cloned());
        }
        r.unacked_stored = stored
            .iter()
            .filter(|id| id.starts_with(&format!("r{round:03}-")) && !sent_now.contains(*id))
            .count() as u64;
        for (id, (user, at)) in &acked {
            if !stored.contains(id) {
                r.lost += 1;
                lost_ids.insert(id.clone());
                if lost_examples.len() < 20 {
                    lost_examples.push(format!(
                        "round {at} (checked in round {round}): {user}/{id}"
                    ));
                }
            }
        }
        let mut sorted: Vec<&String> = erased.iter().collect();
        sorted.sort();
        for user in sorted {
            let ids = stored_ids(&agent, &addr, user)?;
            if !ids.is_empty() {
                r.erased_events_found += 1;
                all_leaks.push(format!(
                    "round {round}: {user} erased, yet {} events read back",
                    ids.len()
                ));
            }
        }
        eprintln!(
            "round {round}: killed after {kill_after} ms; {} of {} events acknowledged, {} lost, {} \
             duplicated; {} of {} erasures acknowledged, {} ids found; restart {}",
            r.acked,
            r.sent,
            r.lost,
            r.duplicated,
            r.deletes_acked,
            r.deletes_sent,
            r.erased_bytes_found + r.erased_events_found,
            fmt_secs(r.restart_secs)
        );
        rounds.push(r);
    }
    server.stop();
    let last = rounds.last().cloned().unwrap_or_default();
    let sum = |f: fn(&Round) -> u64| rounds.iter().map(f).sum::<u64>();
    let total = Round {
        round: cli.rounds,
        kill_after_ms: sum(|r| r.kill_after_ms),
        sent: sum(|r| r.sent),
        acked: sum(|r| r.acked),
        rejected: sum(|r| r.rejected),
        cut_requests: sum(|r| r.cut_requests),
        unacked_stored: sum(|r| r.unacked_stored),
        // Each round's check covers all rounds so far: distinct events lost, the last state's duplicates.
        lost: lost_ids.len() as u64,
        duplicated: rounds.iter().map(|r| r.duplicated).max().unwrap_or(0),
        probe_users: sum(|r| r.probe_users),
        deletes_sent: sum(|r| r.deletes_sent),
        deletes_acked: sum(|r| r.deletes_acked),
        deletes_cut: sum(|r| r.deletes_cut),
        erased_bytes_found: sum(|r| r.erased_bytes_found),
        erased_events_found: sum(|r| r.erased_events_found),
        controls_seen: last.controls_seen,
        restart_secs: rounds.iter().map(|r| r.restart_secs).sum(),
        store_bytes: last.store_bytes,
    };
    let ok = total.lost == 0
        && total.duplicated == 0
        && total.erased_bytes_found == 0
        && total.erased_events_found == 0
        && total.controls_seen == u64::from(cli.rounds);
    Ok(Report {
        rounds,
        acked_total: acked.len() as u64,
        erased_total: erased.len() as u64,
        total,
        leaks: all_leaks,
        lost_examples,
        ok,
    })
}

fn markdown(r: &Report) -> String {
    let mut t = Table::new(&[
        "round",
        "killed after",
        "events sent",
        "acked",
        "lost",
        "duplicated",
        "unacked, stored",
        "probe users",
        "deletes acked / sent",
        "deletes cut",
        "erased ids found",
        "control ids seen",
        "restart",
        "store MiB",
    ]);
    let row = |name: String, killed: String, x: &Round, restart: String| {
        [
            name,
            killed,
            x.sent.to_string(),
            x.acked.to_string(),
            x.lost.to_string(),
            x.duplicated.to_string(),
            x.unacked_stored.to_string(),
            x.probe_users.to_string(),
            format!("{} / {}", x.deletes_acked, x.deletes_sent),
            x.deletes_cut.to_string(),
            (x.erased_bytes_found + x.erased_events_found).to_string(),
            x.controls_seen.to_string(),
            restart,
            format!("{:.1}", x.store_bytes as f64 / (1 << 20) as f64),
        ]
    };
    for x in &r.rounds {
        t.row(row(
            x.round.to_string(),
            format!("{} ms", x.kill_after_ms),
            x,
            fmt_secs(x.restart_secs),
        ));
    }
    let n = r.rounds.len().max(1) as f64;
    t.row(row(
        format!("total ({} SIGKILLs)", r.rounds.len()),
        format!("{:.1} s", r.total.kill_after_ms as f64 / 1e3),
        &r.total,
        format!("mean {}", fmt_secs(r.total.restart_secs / n)),
    ));
    let mut s = t.to_string();
    s.push_str(&format!(
        "\n{} distinct events and {} erasures acknowledged over all rounds, all checked again after the \
         last restart: {}.\n",
        r.acked_total,
        r.erased_total,
        if r.ok {
            "0 lost, 0 duplicated, no byte of an erased user's id in the store"
        } else {
            "FAILED (see below)"
        }
    ));
    for l in &r.lost_examples {
        s.push_str(&format!("lost: {l}\n"));
    }
    if r.total.controls_seen < r.rounds.len() as u64 {
        s.push_str(&format!(
            "the scan saw only {} of {} control probe ids (never erased) in the store: it is blind\n",
            r.total.controls_seen,
            r.rounds.len()
        ));
    }
    for l in &r.leaks {
        s.push_str(&format!("erased user found: {l}\n"));
    }
    s
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).unwrap_or_else(|e| e.to_string())
                );
            } else {
                print!("{}", markdown(&r));
            }
            if r.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench-durability: {e}");
            ExitCode::FAILURE
        }
    }
}
