//! `bench-ann`: build time, recall@k, throughput and latency of the HNSW index against exact search on
//! a synthetic clustered catalogue.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-ann -- [--items 1000000] [--dim 64] [--queries 2000]
//!     [--clusters 256] [--item-noise 1.0] [--query-noise 0.5] [--norm-spread 0.5] [--k 10] [--m 16] [--ef-construction 128] [--ef 32,64,128,256] [--exclude 0.2]
//!     [--metric ip|cosine] [--seed 42] [--threads N] [--exact-latency-queries 200] [--save-data DIR]
//!     [--python PY] [--json]
//! ```
//!
//! Recall is measured over all queries against [`ExactIndex`]; "QPS, N threads" is one parallel batch
//! over all queries; latency p50/p99 and "QPS, 1 thread" come from the same queries run one after another
//! on one thread. `--save-data DIR` writes `items.npy` and `queries.npy` (float32) for peer libraries.
//! `--python PY` runs FAISS's `IndexHNSWFlat` on the same vectors with the same parameters and thread count
//! in that Python (`scripts/bench_ann_peer.py`, faiss-cpu and numpy) and prints its rows and the ratios,
//! at equal ef and at equal recall (FAISS's QPS interpolated at our recall between its two bracketing rows).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tastebud_bench::args::{List, count, non_negative};
use tastebud_bench::synth::Clustered;
use tastebud_bench::{Align, Table, percentile};
use tastebud_index::{ExactIndex, Hit, HnswIndex, HnswParams, Metric, VectorIndex, recall_at_k};

/// Build time, recall@k, throughput and latency of the HNSW index against exact search on a synthetic
/// clustered catalogue. Counts may be written with `_` (1_000_000).
#[derive(Parser, Debug)]
#[command(name = "bench-ann")]
struct Args {
    /// Items in the catalogue
    #[arg(long, value_name = "N", value_parser = count, default_value = "1000000")]
    items: usize,
    /// Vector dimension
    #[arg(long, value_name = "D", value_parser = count, default_value = "64")]
    dim: usize,
    /// Queries
    #[arg(long, value_name = "Q", value_parser = count, default_value = "2000")]
    queries: usize,
    /// Cluster centres
    #[arg(long, value_name = "C", value_parser = count, default_value = "256")]
    clusters: usize,
    /// Spread of items around their centre
    #[arg(long, value_name = "X", value_parser = non_negative, default_value = "1.0")]
    item_noise: f32,
    /// Spread of queries around their centre
    #[arg(long, value_name = "X", value_parser = non_negative, default_value = "0.5")]
    query_noise: f32,
    /// Standard deviation of the log of the items' lengths
    #[arg(long, value_name = "X", value_parser = non_negative, default_value = "0.5")]
    norm_spread: f32,
    /// Results per query
    #[arg(long, value_name = "K", value_parser = count, default_value = "10")]
    k: usize,
    /// HNSW connectivity (M)
    #[arg(long, value_name = "M", value_parser = count, default_value = "16")]
    m: usize,
    /// HNSW expansion at build time
    #[arg(long, value_name = "EF", value_parser = count, default_value = "128")]
    ef_construction: usize,
    /// HNSW expansions at search time, one row each
    #[arg(long = "ef", value_name = "LIST", default_value = "32,64,128,256")]
    efs: List<usize>,
    /// Fraction of ids the filtered searches exclude, in [0, 1)
    #[arg(long, value_name = "FRACTION", value_parser = fraction, default_value = "0.2")]
    exclude: f64,
    /// Similarity: ip (inner product) or cosine
    #[arg(long, value_name = "ip|cosine", value_parser = metric, default_value = "ip")]
    metric: Metric,
    /// Random seed of the catalogue
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,
    /// Threads [default: all cores]
    #[arg(long, value_name = "T", value_parser = count)]
    threads: Option<usize>,
    /// Queries timed one by one against exact search
    #[arg(long, value_name = "N", value_parser = count, default_value = "200")]
    exact_latency_queries: usize,
    /// Also write items.npy and queries.npy (float32) to DIR for peer libraries
    #[arg(long, value_name = "DIR")]
    save_data: Option<PathBuf>,
    /// Repetitions of each timed batch and sequential pass (the fastest counts; the same for FAISS)
    #[arg(long, value_name = "R", value_parser = count, default_value = "3")]
    reps: usize,
    /// Also run FAISS's IndexHNSWFlat (same vectors, M, ef_construction, ef list and thread count) with
    /// this Python (faiss-cpu and numpy installed), and print its rows and the ratios beside ours
    #[arg(long, value_name = "PY")]
    python: Option<String>,
    /// Print JSON instead of the table
    #[arg(long)]
    json: bool,
}

fn fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|e| format!("`{s}`: {e}"))?;
    if (0.0..1.0).contains(&x) {
        Ok(x)
    } else {
        Err("must be in [0, 1)".into())
    }
}

fn metric(s: &str) -> Result<Metric, String> {
    match s {
        "ip" | "inner_product" => Ok(Metric::InnerProduct),
        "cos" | "cosine" => Ok(Metric::Cosine),
        other => Err(format!("`{other}`: expected ip or cosine")),
    }
}

fn parse_args() -> Result<Args, String> {
    let a = Args::parse();
    if a.items == 0 || a.dim == 0 || a.queries == 0 || a.k == 0 || a.efs.0.is_empty() {
        return Err("--items, --dim, --queries, --k and --ef must be positive".into());
    }
    if a.python.is_some() && a.metric != Metric::InnerProduct {
        return Err("--python runs FAISS with inner product: leave --metric at ip".into());
    }
    Ok(a)
}

/// Latencies of running each query alone, one after another, on this thread.
fn sequential(
    index: &dyn VectorIndex,
    queries: &[f32],
    n: usize,
    k: usize,
) -> Result<Vec<Duration>, String> {
    queries
        .chunks_exact(index.dim())
        .take(n)
        .map(|q| {
            let t = Instant::now();
            let hits = index.search(q, k, None).map_err(|e| e.to_string())?;
            std::hint::black_box(hits);
            Ok(t.elapsed())
        })
        .collect()
}

struct Latency {
    qps_1: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn summarise(mut lat: Vec<Duration>) -> Latency {
    lat.sort_unstable();
    let total: f64 = lat.iter().map(Duration::as_secs_f64).sum();
    let pct = |p: f64| percentile(&lat, p).as_secs_f64() * 1e3;
    Latency {
        qps_1: lat.len() as f64 / total,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

fn write_npy(path: &Path, data: &[f32], rows: usize, cols: usize) -> std::io::Result<()> {
    let values = data.iter().map(|x| x.to_le_bytes());
    write_npy_raw(path, "<f4", &format!("({rows}, {cols})"), values)
}

/// Exact top-k ids as an `n x k` int32 array (-1 where a query has fewer than `k`).
fn write_ids_npy(path: &Path, hits: &[Vec<Hit>], k: usize) -> std::io::Result<()> {
    let ids = hits
        .iter()
        .flat_map(|h| (0..k).map(move |j| h.get(j).map_or(-1, |h| h.id as i32).to_le_bytes()));
    write_npy_raw(path, "<i4", &format!("({}, {k})", hits.len()), ids)
}

/// A NumPy `.npy` file (format 1.0) of little-endian `descr` values in C order, written as they come.
fn write_npy_raw<const N: usize>(
    path: &Path,
    descr: &str,
    shape: &str,
    values: impl Iterator<Item = [u8; N]>,
) -> std::io::Result<()> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for v in values {
        w.write_all(&v)?;
    }
    w.flush()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// FAISS's numbers on the same vectors, from `scripts/bench_ann_peer.py`.
struct Peer {
    version: String,
    build_s: f64,
    rows: Vec<Row>,
}

/// Writes the vectors, the exact answers and the filter for the peer script, runs it and reads its rows.
#[allow(clippy::too_many_arguments)]
fn run_faiss(
    a: &Args,
    python: &str,
    items: &[f32],
    queries: &[f32],
    truth: &[Vec<Hit>],
    truth_f: &[Vec<Hit>],
    allow: &dyn Fn(u32) -> bool,
    threads: usize,
) -> Result<Peer, String> {
    let dir = std::env::temp_dir().join(format!("bench-ann-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let io = |p: &Path, r: std::io::Result<()>| r.map_err(|e| format!("{}: {e}", p.display()));
    let p = dir.join("items.npy");
    io(&p, write_npy(&p, items, a.items, a.dim))?;
    let p = dir.join("queries.npy");
    io(&p, write_npy(&p, queries, a.queries, a.dim))?;
    let p = dir.join("truth.npy");
    io(&p, write_ids_npy(&p, truth, a.k))?;
    let p = dir.join("truth_filtered.npy");
    io(&p, write_ids_npy(&p, truth_f, a.k))?;
    let p = dir.join("allowed.npy");
    io(
        &p,
        write_npy_raw(
            &p,
            "|u1",
            &format!("({},)", a.items),
            (0..a.items as u32).map(|i| [allow(i) as u8]),
        ),
    )?;
    if !a.json {
        eprintln!("running FAISS IndexHNSWFlat ({threads} threads) ...");
    }
    let efs: Vec<String> = a.efs.0.iter().map(|e| e.to_string()).collect();
    let out = std::process::Command::new(python)
        .arg(tastebud_bench::script("bench_ann_peer.py"))
        .arg("--data")
        .arg(&dir)
        .args(["--m", &a.m.to_string()])
        .args(["--ef-construction", &a.ef_construction.to_string()])
        .args(["--ef", &efs.join(",")])
        .args(["--k", &a.k.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--reps", &a.reps.to_string()])
        .output()
        .map_err(|e| format!("{python}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    if !out.status.success() {
        return Err(format!(
            "the FAISS script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the FAISS script's output is not JSON: {e}"))?;
    let num = |r: &serde_json::Value, key: &str| r[key].as_f64().unwrap_or(f64::NAN);
    let rows = v["rows"]
        .as_array()
        .ok_or("the FAISS script printed no rows")?
        .iter()
        .map(|r| Row {
            label: "faiss hnsw".into(),
            ef: r["ef"].as_u64().map(|e| e as usize),
            recall: num(r, "recall"),
            recall_filtered: num(r, "recall_filtered"),
            qps_all: num(r, "qps_threads"),
            lat: Latency {
                qps_1: num(r, "qps_1_thread"),
                p50_ms: num(r, "p50_ms"),
                p99_ms: num(r, "p99_ms"),
            },
        })
        .collect();
    Ok(Peer {
        version: v["faiss"].as_str().unwrap_or("?").to_string(),
        build_s: num(&v, "build_s"),
        rows,
    })
}

/// The peer's QPS at `recall`, interpolated between the two of its rows whose recall brackets it
/// (log-linear in QPS, as QPS falls about geometrically with ef); `None` outside the peer's range.
fn at_recall(rows: &[Row], recall: f64, qps: impl Fn(&Row) -> f64) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.recall, qps(r))).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts.windows(2).find_map(|w| {
        let ((r0, q0), (r1, q1)) = (w[0], w[1]);
        if !(r0..=r1).contains(&recall) {
            return None;
        }
        let f = if r1 > r0 {
            (recall - r0) / (r1 - r0)
        } else {
            0.0
        };
        Some(q0 * (q1 / q0).powf(f))
    })
}

struct Row {
    label: String,
    ef: Option<usize>,
    recall: f64,
    recall_filtered: f64,
    qps_all: f64,
    lat: Latency,
}

fn run(a: &Args) -> Result<(), String> {
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let threads = rayon::current_num_threads();
    let say = |msg: String| {
        if !a.json {
            eprintln!("{msg}");
        }
    };
    let err = |e: tastebud_index::IndexError| e.to_string();

    let t = Instant::now();
    let (items, queries) = Clustered::new(a.items, a.dim)
        .clusters(a.clusters)
        .item_noise(a.item_noise)
        .query_noise(a.query_noise)
        .norm_spread(a.norm_spread)
        .seed(a.seed)
        .generate(a.queries);
    say(format!(
        "generated {} x {} ({} clusters) and {} queries in {:.1?}",
        a.items,
        a.dim,
        a.clusters,
        a.queries,
        t.elapsed()
    ));
    if let Some(dir) = &a.save_data {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (name, data, rows) in [
            ("items.npy", &items, a.items),
            ("queries.npy", &queries, a.queries),
        ] {
            let p = dir.join(name);
            write_npy(&p, data, rows, a.dim).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        say(format!(
            "wrote items.npy and queries.npy to {}",
            dir.display()
        ));
    }

    // Ground truth.
    let exact = ExactIndex::new(items.clone(), a.dim, a.metric).map_err(err)?;
    let allow = |id: u32| ((id.wrapping_mul(2_654_435_761) as f64) / 4_294_967_296.0) >= a.exclude;
    let t = Instant::now();
    let truth = exact.search_batch(&queries, a.k, None).map_err(err)?;
    let exact_batch = t.elapsed();
    let truth_f = exact
        .search_batch(&queries, a.k, Some(&allow))
        .map_err(err)?;
    let exact_lat = sequential(&exact, &queries, a.exact_latency_queries.max(1), a.k)?;
    say(format!(
        "exact ground truth in {exact_batch:.1?} ({threads} threads)"
    ));
    let peer = match &a.python {
        Some(py) => Some(run_faiss(
            a, py, &items, &queries, &truth, &truth_f, &allow, threads,
        )?),
        None => None,
    };
    let mut rows = vec![Row {
        label: "exact".into(),
        ef: None,
        recall: 1.0,
        recall_filtered: 1.0,
        qps_all: a.queries as f64 / exact_batch.as_secs_f64(),
        lat: summarise(exact_lat),
    }];

    // Build.
    let params = HnswParams::new()
        .connectivity(a.m)
        .expansion_add(a.ef_construction);
    let bar = if a.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(a.items as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "building HNSW {bar:40} {pos}/{len} items, {per_sec}, eta {eta}",
        )
        .expect("valid template"),
    );
    let t = Instant::now();
    let mut hnsw =
        HnswIndex::build_with_progress(&items, a.dim, a.metric, &params, &|n| bar.set_position(n))
            .map_err(err)?;
    let build_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let memory_mb = hnsw.memory_usage() as f64 / 1e6;
    say(format!(
        "built in {build_s:.1} s (M={}, ef_construction={}, {threads} threads), {memory_mb:.0} MB",
        a.m, a.ef_construction
    ));

    let mut last = Vec::new();
    for &ef in &a.efs.0 {
        hnsw.set_expansion_search(ef).map_err(err)?;
        let mut batch = Duration::MAX;
        let mut approx = Vec::new();
        for _ in 0..a.reps {
            let t = Instant::now();
            approx = hnsw.search_batch(&queries, a.k, None).map_err(err)?;
            batch = batch.min(t.elapsed());
        }
        let approx_f = hnsw
            .search_batch(&queries, a.k, Some(&allow))
            .map_err(err)?;
        let lat = (0..a.reps)
            .map(|_| sequential(&hnsw, &queries, a.queries, a.k).map(summarise))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max_by(|x, y| x.qps_1.total_cmp(&y.qps_1))
            .expect("at least one repetition");
        let row = Row {
            label: "hnsw".into(),
            ef: Some(ef),
            recall: recall_at_k(&approx, &truth, a.k),
            recall_filtered: recall_at_k(&approx_f, &truth_f, a.k),
            qps_all: a.queries as f64 / batch.as_secs_f64(),
            lat,
        };
        say(format!(
            "ef {ef}: recall@{} {:.4}, p99 {:.3} ms",
            a.k, row.recall, row.lat.p99_ms
        ));
        rows.push(row);
        last = approx;
    }

    // Save and load.
    let dir = std::env::temp_dir().join(format!("bench-ann-{}", std::process::id()));
    let t = Instant::now();
    hnsw.save(&dir).map_err(err)?;
    let save_s = t.elapsed().as_secs_f64();
    let size_mb = dir_bytes(&dir) as f64 / 1e6;
    let t = Instant::now();
    let loaded = HnswIndex::load(&dir).map_err(err)?;
    let load_s = t.elapsed().as_secs_f64();
    let same: Vec<Vec<Hit>> = loaded.search_batch(&queries, a.k, None).map_err(err)?;
    let identical = same == last;
    let _ = std::fs::remove_dir_all(&dir);

    if a.json {
        let out = json!({
            "bench": "ann",
            "items": a.items, "dim": a.dim, "clusters": a.clusters,
            "item_noise": a.item_noise, "query_noise": a.query_noise, "norm_spread": a.norm_spread, "queries": a.queries, "k": a.k,
            "metric": a.metric.name(), "seed": a.seed, "threads": threads, "exclude": a.exclude,
            "params": {"connectivity": a.m, "expansion_add": a.ef_construction},
            "build_s": build_s, "memory_mb": memory_mb,
            "save_s": save_s, "load_s": load_s, "file_mb": size_mb, "identical_after_load": identical,
            "rows": rows.iter().map(|r| json!({
                "index": r.label, "ef": r.ef, "recall": r.recall, "recall_filtered": r.recall_filtered,
                "qps_threads": r.qps_all, "qps_1_thread": r.lat.qps_1,
                "p50_ms": r.lat.p50_ms, "p99_ms": r.lat.p99_ms,
            })).collect::<Vec<_>>(),
            "faiss": peer.as_ref().map(|p| json!({
                "version": p.version, "build_s": p.build_s,
                "rows": p.rows.iter().map(|r| json!({
                    "ef": r.ef, "recall": r.recall, "recall_filtered": r.recall_filtered,
                    "qps_threads": r.qps_all, "qps_1_thread": r.lat.qps_1,
                    "p50_ms": r.lat.p50_ms, "p99_ms": r.lat.p99_ms,
                })).collect::<Vec<_>>(),
            })),
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        return Ok(());
    }
    println!(
        "{} items x {} dims, {} clusters (item noise {}, query noise {}, norm spread {}), {}, {} queries, \
         k = {}, {threads} threads",
        a.items,
        a.dim,
        a.clusters,
        a.item_noise,
        a.query_noise,
        a.norm_spread,
        a.metric.name(),
        a.queries,
        a.k
    );
    println!(
        "HNSW M = {}, ef_construction = {}: build {build_s:.1} s, memory {memory_mb:.0} MB; \
         save {save_s:.2} s ({size_mb:.0} MB), load {load_s:.2} s, identical after load: {identical}",
        a.m, a.ef_construction
    );
    println!();
    let pct = (a.exclude * 100.0).round();
    let (recall, recall_f) = (
        format!("recall@{}", a.k),
        format!("recall@{}, {pct}% excluded", a.k),
    );
    let qps = format!("QPS, {threads} threads");
    let right = |c| (c, Align::Right);
    let mut t = Table::aligned(&[
        ("index", Align::Left),
        right("ef"),
        right(&recall),
        right(&recall_f),
        right(&qps),
        right("QPS, 1 thread"),
        right("p50 ms"),
        right("p99 ms"),
    ]);
    let peer_rows = peer.as_ref().map_or(&[][..], |p| &p.rows[..]);
    for r in rows.iter().chain(peer_rows) {
        t.row([
            r.label.clone(),
            r.ef.map_or("–".to_string(), |e| e.to_string()),
            format!("{:.4}", r.recall),
            format!("{:.4}", r.recall_filtered),
            format!("{:.0}", r.qps_all),
            format!("{:.0}", r.lat.qps_1),
            format!("{:.3}", r.lat.p50_ms),
            format!("{:.3}", r.lat.p99_ms),
        ]);
    }
    print!("{t}");
    if let Some(p) = &peer {
        println!();
        println!(
            "FAISS {} IndexHNSWFlat (M = {}, efConstruction = {}, {threads} threads): build {:.1} s; \
             Tastebud / FAISS: build time {:.2}x (below 1 is faster)",
            p.version,
            a.m,
            a.ef_construction,
            p.build_s,
            build_s / p.build_s
        );
        println!();
        let mut t = Table::aligned(&[
            right("ef"),
            right("recall@k Tastebud"),
            right("recall@k FAISS"),
            right(&format!("QPS ratio, {threads} threads")),
            right("QPS ratio, 1 thread"),
            right("p99 Tastebud / FAISS"),
            right(&format!("QPS ratio at equal recall, {threads} threads")),
            right("at equal recall, 1 thread"),
        ]);
        for (ours, theirs) in rows.iter().filter(|r| r.ef.is_some()).zip(&p.rows) {
            t.row([
                ours.ef.map_or("–".to_string(), |e| e.to_string()),
                format!("{:.4}", ours.recall),
                format!("{:.4}", theirs.recall),
                format!("{:.2}x", ours.qps_all / theirs.qps_all),
                format!("{:.2}x", ours.lat.qps_1 / theirs.lat.qps_1),
                format!("{:.2}", ours.lat.p99_ms / theirs.lat.p99_ms),
                at_recall(&p.rows, ours.recall, |r| r.qps_all)
                    .map_or("–".into(), |q| format!("{:.2}x", ours.qps_all / q)),
                at_recall(&p.rows, ours.recall, |r| r.lat.qps_1)
                    .map_or("–".into(), |q| format!("{:.2}x", ours.lat.qps_1 / q)),
            ]);
        }
        print!("{t}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ann: {e}");
            ExitCode::FAILURE
        }
    }
}
