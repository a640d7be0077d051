//! `bench-report`: what an experiment report costs as the event log grows: reading the whole log (what
//! every report did before the running aggregate, and what `segment_by` still does) against reading only
//! the events logged since the previous report.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-report -- \
//!     [--data DIR] [--sizes 100000,1000000] [--new 1000] [--reps 5] [--json]
//! ```
//!
//! It fits a popularity model on ML-100K (the served model decides who is a new user), opens a store in a
//! temporary folder and, for each log size, appends synthetic traffic of one two-arm experiment (visits of
//! ML-100K users and of new users over 14 days: an impression of 10 items, a click on a third of them, a
//! view with a dwell time on half) straight through the store, then times `full_report` (the JSON report
//! of `GET /v1/experiments/{id}/report`) in three states, the median of `--reps`:
//!
//! - *whole log*: the running aggregate dropped first, so the report reads every event;
//! - *+N new*: `--new` events appended since the previous report;
//! - *nothing new*: a second report at once (only the per-user and per-day summaries are rebuilt).
//!
//! Prints a Markdown table (or JSON with `--json`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;
use serde_json::json;
use tastebud_bench::args::{DataArg, List};
use tastebud_bench::{Table, median};
use tastebud_experiment::assign::{ArmDef, ExperimentDef};
use tastebud_experiment::report::ReportOptions;
use tastebud_models::NoProgress;
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_server::Serving;
use tastebud_server::{AppState, Config};
use tastebud_store::{Event, EventLog, Store};

/// Experiment report cost, whole-log read vs events since the last report.
#[derive(Parser, Debug)]
#[command(name = "bench-report")]
struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Event-log sizes to measure at, increasing
    #[arg(long, value_name = "LIST", default_value = "100000,1000000")]
    sizes: List<u64>,
    /// Events appended between two reports
    #[arg(long, value_name = "N", default_value_t = 1000)]
    new: u64,
    /// Reports timed per state (the median is shown)
    #[arg(long, value_name = "N", default_value_t = 5)]
    reps: usize,
    /// Print JSON on stdout (the table goes to stderr)
    #[arg(long)]
    json: bool,
}

/// One log size's timings (milliseconds, medians).
#[derive(Debug, Serialize)]
struct Row {
    events: u64,
    whole_log_ms: f64,
    new_events: u64,
    since_last_ms: f64,
    nothing_new_ms: f64,
    speed_up: f64,
}

/// Synthetic traffic: visit `v` of the experiment `home`.
struct Traffic {
    users: Vec<String>,
    items: Vec<String>,
    start: i64,
    next_visit: u64,
}

impl Traffic {
    /// The events of the next visits, at least `n` of them.
    fn events(&mut self, n: u64) -> Vec<Event> {
        let mut out = Vec::with_capacity(n as usize + 3);
        while (out.len() as u64) < n {
            let v = self.next_visit;
            self.next_visit += 1;
            let h = splitmix(v);
            // A third of the visits are by users the model never saw.
            let user = if h.is_multiple_of(3) {
                format!("new-{}", (h >> 8) % 200_000)
            } else {
                self.users[(h >> 8) as usize % self.users.len()].clone()
            };
            let arm = if splitmix(h).is_multiple_of(2) {
                "control"
            } else {
                "treatment"
            };
            let ts = self.start + ((h >> 20) % (14 * 86_400)) as i64;
            let shown: Vec<String> = (0..10)
                .map(|k| self.items[(splitmix(h + k) as usize) % self.items.len()].clone())
                .collect();
            let event = |kind: &str, extra: serde_json::Value| -> Event {
                let mut e = json!({"user": user, "type": kind, "timestamp": ts,
                    "experiment": "home", "arm": arm});
                for (k, val) in extra.as_object().unwrap() {
                    e[k] = val.clone();
                }
                serde_json::from_value(e).expect("a valid event")
            };
            out.push(event("impression", json!({ "items": shown })));
            if h % 3 == 1 {
                out.push(event("click", json!({ "item": shown[0] })));
            }
            if h.is_multiple_of(2) {
                out.push(event(
                    "view",
                    json!({"item": shown[1], "dwell_ms": 500 + (h >> 40) % 60_000}),
                ));
            }
        }
        out
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn append(store: &dyn EventLog, events: Vec<Event>) -> Result<(), String> {
    for chunk in events.chunks(20_000) {
        store.append(chunk.to_vec()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn run(args: &Args) -> Result<Vec<Row>, String> {
    let data_dir = args.data.root().join("ml-100k");
    let (sizes, new, reps) = (&args.sizes.0, args.new, args.reps);
    if reps == 0 || new == 0 {
        return Err("--reps and --new must be at least 1".into());
    }

    let data = tastebud_data::load(&data_dir, &Default::default())
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let work = tempfile_dir()?;
    let model_path = work.join("popularity.tbm");
    let spec = ModelSpec::new("popularity").map_err(|e| e.to_string())?;
    let (m, p) = fit(&spec, &data, &NoProgress).map_err(|e| e.to_string())?;
    ModelFile::new(m, p, &data, true)
        .save(&model_path)
        .map_err(|e| e.to_string())?;
    let serving = Serving::load(&model_path, &Default::default()).map_err(|e| e.to_string())?;
    let store = Store::open(&work.join("events.redb")).map_err(|e| e.to_string())?;
    let now = tastebud_server::now_unix();
    let start = now - 14 * 86_400;
    let def = ExperimentDef::new(
        "home",
        ["control", "treatment"]
            .iter()
            .map(|n| ArmDef {
                name: (*n).to_owned(),
                weight: 1.0,
                model: None,
            })
            .collect(),
        start,
    );
    let config = Config {
        data_dir: work.join("data"),
        experiments: vec![def.clone()],
        ..Config::default()
    };
    let documents = Arc::new(tastebud_store::DirDocuments::new(&work));
    let storage = tastebud_store::Storage::embedded(store, documents);
    let state = Arc::new(AppState::new(config, serving, storage)?);
    let mut traffic = Traffic {
        users: (0..data.n_users() as u32)
            .filter_map(|u| data.users.id(tastebud_core::UserIdx(u)).map(str::to_owned))
            .collect(),
        items: (0..data.n_items() as u32)
            .filter_map(|i| data.items.id(tastebud_core::ItemIdx(i)).map(str::to_owned))
            .collect(),
        start,
        next_visit: 0,
    };
    let opts = ReportOptions {
        now_unix: now,
        alpha: 0.05,
        mde: 0.1,
        power: 0.8,
        ..ReportOptions::default()
    };
    let report = || -> Result<f64, String> {
        let t = Instant::now();
        let r = state
            .full_report(&def, &opts, None)
            .map_err(|e| e.to_string())?;
        std::hint::black_box(r);
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let mut rows = Vec::new();
    for &size in sizes {
        let have = state
            .storage
            .events
            .event_count()
            .map_err(|e| e.to_string())?;
        if size > have {
            eprintln!("appending {} events (log: {have})", size - have);
            append(state.storage.events.as_ref(), traffic.events(size - have))?;
        }
        let events = state
            .storage
            .events
            .event_count()
            .map_err(|e| e.to_string())?;
        let mut whole = Vec::new();
        for _ in 0..reps {
            state.experiments.forget_reports();
            whole.push(report()?);
        }
        let (mut since, mut nothing) = (Vec::new(), Vec::new());
        let mut appended = 0;
        for _ in 0..reps {
            let batch = traffic.events(new);
            appended += batch.len() as u64;
            append(state.storage.events.as_ref(), batch)?;
            since.push(report()?);
            nothing.push(report()?);
        }
        let (whole_log_ms, since_last_ms) = (median(whole), median(since));
        let row = Row {
            events,
            whole_log_ms,
            new_events: appended / reps as u64,
            since_last_ms,
            nothing_new_ms: median(nothing),
            speed_up: whole_log_ms / since_last_ms,
        };
        eprintln!("{row:?}");
        rows.push(row);
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(rows)
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(rows) => {
            let mut t = Table::new(&[
                "events in the log",
                "report reading the whole log",
                "report after N new events",
                "report, nothing new",
                "speed-up",
            ]);
            for r in &rows {
                t.row([
                    r.events.to_string(),
                    format!("{:.1} ms", r.whole_log_ms),
                    format!("{:.2} ms (N = {})", r.since_last_ms, r.new_events),
                    format!("{:.2} ms", r.nothing_new_ms),
                    format!("{:.0}x", r.speed_up),
                ]);
            }
            if args.json {
                eprint!("{t}");
                println!("{}", serde_json::to_string_pretty(&rows).unwrap());
            } else {
                print!("{t}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
