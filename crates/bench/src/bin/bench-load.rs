//! Load-speed benchmark: Tastebud's reader against pandas.read_csv on the same ratings file, same run.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-load -- PATH [--python PY] [--repeat N]
//! ```
//! `PATH` is a dataset folder (e.g. one made by `tastebud datasets synth`) whose ratings file pandas reads.
//! Each load runs in a fresh child process so peak resident memory (VmHWM) is measured per load.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use tastebud_bench::{Table, median, peak_rss_kb};

/// Load speed: Tastebud's reader against pandas.read_csv on the same ratings file, each load in a fresh
/// child process (peak resident memory per load).
#[derive(Parser, Debug)]
#[command(name = "bench-load")]
struct Args {
    /// A dataset folder (e.g. one made by `tastebud datasets synth`) or its ratings file
    path: PathBuf,
    /// The Python with pandas (and pyarrow, scipy)
    #[arg(long, value_name = "PY", default_value = "python3")]
    python: String,
    /// Loads per reader (the median is shown)
    #[arg(long, value_name = "N", default_value_t = 3)]
    repeat: usize,
    /// Internal: load PATH once and print the measurement as JSON
    #[arg(long, hide = true)]
    child: bool,
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

fn main() {
    let Args {
        path,
        python,
        repeat,
        child: is_child,
    } = Args::parse();
    if is_child {
        child(&path);
        return;
    }
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
    let mut t = Table::new(&["reader", "seconds", "peak RSS (MB)", "time vs tastebud"]);
    for (name, secs, rss) in &rows {
        t.row([
            name.clone(),
            format!("{secs:.2}"),
            format!("{:.0}", rss / 1024.0),
            format!("{:.2}x", secs / base),
        ]);
    }
    print!("{t}");
    println!(
        "{}",
        serde_json::json!({"tastebud": ours_info, "tastebud_secs": ours, "pandas": peers})
    );
}
