//! `bench-ann`: build time, recall@k, throughput and latency of the HNSW index against exact search on
//! a synthetic clustered catalogue.
//!
//! ```text
//! cargo run --release -p tastebud-index --bin bench-ann -- [--items 1000000] [--dim 64] [--queries 2000]
//!     [--clusters 256] [--item-noise 1.0] [--query-noise 0.5] [--norm-spread 0.5] [--k 10] [--m 16] [--ef-construction 128] [--ef 32,64,128,256] [--exclude 0.2]
//!     [--metric ip|cosine] [--seed 42] [--threads N] [--exact-latency-queries 200] [--save-data DIR] [--json]
//! ```
//!
//! Recall is measured over all queries against [`ExactIndex`]; "QPS, N threads" is one parallel batch
//! over all queries; latency p50/p99 and "QPS, 1 thread" come from the same queries run one after another
//! on one thread. `--save-data DIR` writes `items.npy` and `queries.npy` (float32) for peer libraries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tastebud_index::synth::Clustered;
use tastebud_index::{ExactIndex, Hit, HnswIndex, HnswParams, Metric, VectorIndex, recall_at_k};

struct Args {
    items: usize,
    dim: usize,
    queries: usize,
    clusters: usize,
    item_noise: f32,
    query_noise: f32,
    norm_spread: f32,
    k: usize,
    m: usize,
    ef_construction: usize,
    efs: Vec<usize>,
    exclude: f64,
    metric: Metric,
    seed: u64,
    threads: Option<usize>,
    exact_latency_queries: usize,
    save_data: Option<PathBuf>,
    json: bool,
}

const USAGE: &str = "usage: bench-ann [--items N] [--dim D] [--queries Q] [--clusters C] [--item-noise X] [--query-noise X] [--norm-spread X] [--k K] [--m M] \
[--ef-construction EF] [--ef 32,64,128,256] [--exclude FRACTION] [--metric ip|cosine] [--seed S] \
[--threads T] [--exact-latency-queries N] [--save-data DIR] [--json]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        items: 1_000_000,
        dim: 64,
        queries: 2000,
        clusters: 256,
        item_noise: 1.0,
        query_noise: 0.5,
        norm_spread: 0.5,
        k: 10,
        m: 16,
        ef_construction: 128,
        efs: vec![32, 64, 128, 256],
        exclude: 0.2,
        metric: Metric::InnerProduct,
        seed: 42,
        threads: None,
        exact_latency_queries: 200,
        save_data: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--items" => a.items = num(&value)?,
            "--dim" => a.dim = num(&value)?,
            "--queries" => a.queries = num(&value)?,
            "--clusters" => a.clusters = num(&value)?,
            "--k" => a.k = num(&value)?,
            "--m" => a.m = num(&value)?,
            "--ef-construction" => a.ef_construction = num(&value)?,
            "--ef" => a.efs = value.split(',').map(num).collect::<Result<_, _>>()?,
            "--item-noise" | "--query-noise" | "--norm-spread" => {
                let x: f32 = value.parse().map_err(|e| format!("{flag} {value}: {e}"))?;
                if !(x.is_finite() && x >= 0.0) {
                    return Err(format!("{flag} must be a non-negative number"));
                }
                match flag.as_str() {
                    "--item-noise" => a.item_noise = x,
                    "--query-noise" => a.query_noise = x,
                    _ => a.norm_spread = x,
                }
            }
            "--exclude" => {
                a.exclude = value
                    .parse()
                    .map_err(|e| format!("--exclude {value}: {e}"))?;
                if !(0.0..1.0).contains(&a.exclude) {
                    return Err("--exclude must be in [0, 1)".into());
                }
            }
            "--metric" => {
                a.metric = match value.as_str() {
                    "ip" | "inner_product" => Metric::InnerProduct,
                    "cos" | "cosine" => Metric::Cosine,
                    other => return Err(format!("--metric {other}: expected ip or cosine")),
                }
            }
            "--seed" => a.seed = num(&value)? as u64,
            "--threads" => a.threads = Some(num(&value)?),
            "--exact-latency-queries" => a.exact_latency_queries = num(&value)?,
            "--save-data" => a.save_data = Some(value.into()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if a.items == 0 || a.dim == 0 || a.queries == 0 || a.k == 0 || a.efs.is_empty() {
        return Err("--items, --dim, --queries, --k and --ef must be positive".into());
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
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    Latency {
        qps_1: lat.len() as f64 / total,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

fn write_npy(path: &Path, data: &[f32], rows: usize, cols: usize) -> std::io::Result<()> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for x in data {
        w.write_all(&x.to_le_bytes())?;
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
    for &ef in &a.efs {
        hnsw.set_expansion_search(ef).map_err(err)?;
        let t = Instant::now();
        let approx = hnsw.search_batch(&queries, a.k, None).map_err(err)?;
        let batch = t.elapsed();
        let approx_f = hnsw
            .search_batch(&queries, a.k, Some(&allow))
            .map_err(err)?;
        let lat = summarise(sequential(&hnsw, &queries, a.queries, a.k)?);
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
    println!(
        "| index | ef | recall@{k} | recall@{k}, {pct}% excluded | QPS, {threads} threads | QPS, 1 thread | p50 ms | p99 ms |",
        k = a.k
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.4} | {:.4} | {:.0} | {:.0} | {:.3} | {:.3} |",
            r.label,
            r.ef.map_or("–".to_string(), |e| e.to_string()),
            r.recall,
            r.recall_filtered,
            r.qps_all,
            r.lat.qps_1,
            r.lat.p50_ms,
            r.lat.p99_ms
        );
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
