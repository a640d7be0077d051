//! Load-speed benchmark: Tastebud's reader against pandas.read_csv on the same ratings file, same run.
//!
//! ```text
//! cargo run --release -p tastebud-data --bin bench-load -- PATH [--python PY] [--repeat N]
//! ```
//! `PATH` is a dataset folder (e.g. one made by `tastebud datasets synth`) whose ratings file pandas reads.
//! Each load runs in a fresh child process so peak resident memory (VmHWM) is measured per load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn child(path: &Path) {
    let t = Instant::now();
    let d = tastebud_data::load(path, &Default::default()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"secs\": {secs}, \"rss_kb\": {}, \"rows\": {}, \"users\": {}, \"items\": {}, \"heap_bytes\": {}}}",
        peak_rss_kb(),
        d.interactions.nnz(),
        d.n_users(),
        d.n_items(),
        d.interactions.heap_bytes()
    );
}

const PANDAS: &str = r#"
import json, resource, sys, time
import pandas as pd
engine = sys.argv[2]
build = engine.endswith("+csr")
engine = engine.removesuffix("+csr")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
df = pd.read_csv(sys.argv[1], engine=engine,
                 dtype={"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"})
if build:
    # The same work as Tastebud's loader: dense ids and CSR + CSC matrices (what implicit users do).
    import scipy.sparse as sp
    u, _ = pd.factorize(df["userId"])
    i, _ = pd.factorize(df["movieId"])
    csr = sp.csr_matrix((df["rating"].to_numpy(), (u, i)))
    csc = csr.tocsc()
secs = time.perf_counter() - t
print(json.dumps({"secs": secs, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "baseline_rss_kb": base, "rows": len(df), "pandas": pd.__version__}))
"#;

fn run(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("spawn");
    if !out.status.success() {
        panic!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).expect("child prints JSON")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(Path::new(&args[2]));
        return;
    }
    let path = PathBuf::from(
        args.get(1)
            .expect("usage: bench-load PATH [--python PY] [--repeat N]"),
    );
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|k| args.get(k + 1))
            .cloned()
    };
    let python = flag("--python").unwrap_or_else(|| "python3".into());
    let repeat: usize = flag("--repeat").and_then(|r| r.parse().ok()).unwrap_or(3);
    let ratings = if path.is_dir() {
        path.join("ratings.csv")
    } else {
        path.clone()
    };
    let bytes = std::fs::metadata(&ratings).map(|m| m.len()).unwrap_or(0);
    // Warm the page cache so both readers start from the same state. Stream it: holding the file would
    // raise this process's peak RSS, which Linux children inherit in ru_maxrss across fork + exec.
    if let Ok(mut f) = std::fs::File::open(&ratings) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
    let me = std::env::current_exe().expect("current exe");
    let mut rows = Vec::new();
    let mut ours = Vec::new();
    let mut ours_rss = 0.0;
    let mut ours_info = serde_json::Value::Null;
    for _ in 0..repeat {
        let v = run(Command::new(&me).arg("--child").arg(&path));
        ours.push(v["secs"].as_f64().unwrap());
        ours_rss = v["rss_kb"].as_f64().unwrap();
        ours_info = v;
    }
    rows.push((
        "tastebud (full Dataset: ids, CSR+CSC, movies.csv)".to_string(),
        median(ours.clone()),
        ours_rss,
    ));
    let mut peers = Vec::new();
    for engine in ["c", "pyarrow", "c+csr"] {
        let mut secs = Vec::new();
        let mut rss = 0.0;
        let mut ok = true;
        for _ in 0..repeat {
            let out = Command::new(&python)
                .args(["-c", PANDAS, ratings.to_str().unwrap(), engine])
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                    secs.push(v["secs"].as_f64().unwrap());
                    rss = v["rss_kb"].as_f64().unwrap();
                    peers.push(v);
                }
                Ok(o) => {
                    eprintln!(
                        "pandas ({engine}) failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                    ok = false;
                    break;
                }
                Err(e) => {
                    eprintln!("cannot run {python}: {e}");
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            let what = match engine.strip_suffix("+csr") {
                Some(e) => format!(
                    "pandas.read_csv(engine=\"{e}\") + factorize + scipy CSR/CSC (same work)"
                ),
                None => format!("pandas.read_csv(engine=\"{engine}\") (DataFrame only)"),
            };
            rows.push((what, median(secs), rss));
        }
    }
    let base = rows[0].1;
    println!(
        "file: {} ({:.1} MB), {} rows, {} repeats (median)",
        ratings.display(),
        bytes as f64 / 1e6,
        ours_info["rows"],
        repeat
    );
    println!("| reader | seconds | peak RSS (MB) | time vs tastebud |");
    println!("|---|---|---|---|");
    for (name, secs, rss) in &rows {
        println!(
            "| {name} | {secs:.2} | {:.0} | {:.2}x |",
            rss / 1024.0,
            secs / base
        );
    }
    println!(
        "{}",
        serde_json::json!({"tastebud": ours_info, "tastebud_secs": ours, "pandas": peers})
    );
}
