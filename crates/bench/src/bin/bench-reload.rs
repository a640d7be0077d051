//! `bench-reload`: corrupted model files offered for reload under load (issue "Trust" #4), and what the
//! model file checksum costs at load.
//!
//! ```text
//! cargo run --release -p tastebud-bench --bin bench-reload -- [--data DIR] [--model als] \
//!     [--corrupt 10] [--good 3] [--clients 4] [--json]
//! ```
//!
//! It trains `--model` on ML-100K, saves it, starts the server in process on a loopback port, and runs
//! `--clients` threads of `GET /v1/users/{id}/recommendations?k=10` (uncached, one connection per request)
//! while the main thread offers `--corrupt` copies of the model file with 50 flipped bytes each and
//! `--good` intact ones to `POST /v1/admin/reload`, alternately. It reports the requests sent and failed,
//! the reload answers, and the served version before and after. Then it times loading the saved file:
//! the whole `ModelFile::from_bytes` against the SHA-256 of its bodies alone, for ALS and EASE.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tastebud_models::NoProgress;
use tastebud_models::file::{ModelFile, checksum};
use tastebud_models::registry::{ModelSpec, fit};

/// Corrupted model files offered for reload under load; checksum cost at load.
#[derive(Parser, Debug)]
#[command(name = "bench-reload")]
struct Cli {
    /// ML-100K folder [default: ml-100k in $TASTEBUD_DATA, else in ../shared/data]
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Model served and corrupted
    #[arg(long, default_value = "als")]
    model: String,
    /// Corrupted files offered (50 flipped bytes each)
    #[arg(long, default_value_t = 10)]
    corrupt: u32,
    /// Intact files offered (interleaved with the corrupted ones)
    #[arg(long, default_value_t = 3)]
    good: u32,
    /// Client threads sending requests
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// Pause between reload offers, milliseconds
    #[arg(long, default_value_t = 200)]
    pause_ms: u64,
    /// Print JSON instead of Markdown
    #[arg(long)]
    json: bool,
}

fn data_dir(cli: &Cli) -> PathBuf {
    cli.data.clone().unwrap_or_else(|| {
        std::env::var_os("TASTEBUD_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| tastebud_bench::workspace_root().join("../shared/data"))
            .join("ml-100k")
    })
}

/// One HTTP/1.1 request on its own connection: `(status, body)`.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Api-Key: bench\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    Ok((status, body))
}

fn corrupt_copy(src: &Path, dst: &Path, seed: u64) -> std::io::Result<()> {
    let mut b = std::fs::read(src)?;
    let start = b.len() / 4;
    let mut x = seed.wrapping_add(1);
    for _ in 0..50 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let p = start + (x >> 33) as usize % (b.len() - start);
        b[p] ^= 0x5a;
    }
    std::fs::write(dst, b)
}

fn version(addr: SocketAddr) -> Result<String, String> {
    let (_, b) = http(addr, "GET", "/v1/model", "").map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&b).map_err(|e| e.to_string())?;
    Ok(v["version"].as_str().unwrap_or("?").to_string())
}

/// Median of 5 timings of `f`, milliseconds.
fn time_ms(mut f: impl FnMut()) -> f64 {
    tastebud_bench::median((0..5).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e3
    }))
}

fn run(cli: &Cli) -> Result<serde_json::Value, String> {
    let data =
        tastebud_data::load(&data_dir(cli), &Default::default()).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("bench-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let save = |name: &str| -> Result<PathBuf, String> {
        let (m, p) = fit(
            &ModelSpec::new(name).map_err(|e| e.to_string())?,
            &data,
            &NoProgress,
        )
        .map_err(|e| e.to_string())?;
        let path = dir.join(format!("{name}.tbm"));
        ModelFile::new(m, p, &data, true)
            .save(&path)
            .map_err(|e| e.to_string())?;
        Ok(path)
    };
    let model = save(&cli.model)?;

    // Load cost: the whole decode + validation against the checksum alone.
    let mut cost = Vec::new();
    for name in ["als", "ease"] {
        let p = if name == cli.model {
            model.clone()
        } else {
            save(name)?
        };
        let bytes = std::fs::read(&p).map_err(|e| e.to_string())?;
        let start = {
            let a = bytes.iter().position(|&b| b == b'\n').unwrap_or(0) + 1;
            a + bytes[a..].iter().position(|&b| b == b'\n').unwrap_or(0) + 1
        };
        let load = time_ms(|| {
            ModelFile::from_bytes(&p, &bytes).expect("loads");
        });
        let hash = time_ms(|| {
            std::hint::black_box(checksum(&bytes[start..]));
        });
        let validate = {
            let f = ModelFile::from_bytes(&p, &bytes).map_err(|e| e.to_string())?;
            time_ms(|| f.validate().expect("valid"))
        };
        cost.push(serde_json::json!({
            "model": name, "file_mb": bytes.len() as f64 / 1e6, "load_ms": load,
            "sha256_ms": hash, "validate_ms": validate,
        }));
    }

    let mut config = tastebud_server::Config::default();
    config.admin.api_key = Some("bench".into());
    config.cache.enabled = false;
    config.data_dir = dir.join("store");
    let app = tastebud_server::App::open(config, &model)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            let _ = app
                .serve_on(l, async {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    let addr = rx.recv().map_err(|e| e.to_string())?;
    let before = version(addr)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..cli.clients)
        .map(|t| {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut n = t as usize;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/v1/users/{}/recommendations?k=10", n % 943 + 1);
                    let t0 = Instant::now();
                    let ok = matches!(http(addr, "GET", &path, ""), Ok((200, _)));
                    lat.push(t0.elapsed().as_secs_f64() * 1e3);
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    n += cli_clients_stride();
                }
                lat
            })
        })
        .collect();
    let (mut refused, mut accepted, mut other) = (0u32, 0u32, 0u32);
    let total = cli.corrupt + cli.good;
    let mut good_left = cli.good;
    for k in 0..total {
        // Spread the good reloads between the corrupted ones.
        let offer_good = good_left > 0 && (k + 1) % (total / cli.good.max(1)).max(1) == 0;
        let path = if offer_good {
            good_left -= 1;
            model.clone()
        } else {
            let p = dir.join(format!("bad-{k}.tbm"));
            corrupt_copy(&model, &p, k as u64).map_err(|e| e.to_string())?;
            p
        };
        let body = serde_json::json!({ "path": path }).to_string();
        match http(addr, "POST", "/v1/admin/reload", &body) {
            Ok((422, _)) if !offer_good => refused += 1,
            Ok((200, _)) if offer_good => accepted += 1,
            r => {
                other += 1;
                eprintln!("unexpected reload answer for {}: {r:?}", path.display());
            }
        }
        std::thread::sleep(Duration::from_millis(cli.pause_ms));
    }
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<f64> = clients
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    lat.sort_by(f64::total_cmp);
    let after = version(addr)?;
    let (_, metrics) = http(addr, "GET", "/metrics", "").map_err(|e| e.to_string())?;
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("tastebud_model_load_failures_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    let _ = stop_tx.send(());
    let _ = server.join();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(serde_json::json!({
        "model": cli.model,
        "requests": sent.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed),
        "p50_ms": if lat.is_empty() { 0.0 } else { tastebud_bench::percentile(&lat, 0.5) },
        "p99_ms": if lat.is_empty() { 0.0 } else { tastebud_bench::percentile(&lat, 0.99) },
        "corrupt_offered": cli.corrupt, "refused_422": refused,
        "good_offered": cli.good, "accepted_200": accepted, "unexpected": other,
        "failures_metric": counted,
        "version_before": before, "version_after": after,
        "load_cost": cost,
    }))
}

/// Each client walks the users with a stride coprime to 943, so clients interleave.
fn cli_clients_stride() -> usize {
    7
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(r) => {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                println!(
                    "| model | requests | failed | p50 ms | p99 ms | corrupt offered -> 422 | good offered -> 200 | failures counted | version kept |"
                );
                println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
                println!(
                    "| {} | {} | {} | {:.1} | {:.1} | {} -> {} | {} -> {} | {} | {} |",
                    r["model"].as_str().unwrap_or("?"),
                    r["requests"],
                    r["failed"],
                    r["p50_ms"].as_f64().unwrap_or(0.0),
                    r["p99_ms"].as_f64().unwrap_or(0.0),
                    r["corrupt_offered"],
                    r["refused_422"],
                    r["good_offered"],
                    r["accepted_200"],
                    r["failures_metric"],
                    r["version_before"] == r["version_after"]
                );
                println!();
                println!(
                    "| model | file MB | load ms (decode + checksum + validation) | SHA-256 ms | validate ms |"
                );
                println!("|---|---:|---:|---:|---:|");
                for c in r["load_cost"].as_array().into_iter().flatten() {
                    println!(
                        "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                        c["model"].as_str().unwrap_or("?"),
                        c["file_mb"].as_f64().unwrap_or(0.0),
                        c["load_ms"].as_f64().unwrap_or(0.0),
                        c["sha256_ms"].as_f64().unwrap_or(0.0),
                        c["validate_ms"].as_f64().unwrap_or(0.0),
                    );
                }
            }
            if r["failed"] == 0 && r["unexpected"] == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench-reload: {e}");
            ExitCode::FAILURE
        }
    }
}
