//! `bench-limits`: the server's resident memory against its `[server] memory_budget_mb` under requests for
//! new users and hot swaps, and how many slowloris connections outlive the header-read timeout.
//!
//! ```text
//! cargo build --release -p tastebud-cli
//! cargo run --release -p tastebud-bench --bin bench-limits -- \
//!     [--data DIR] [--model ease] [--budget-mb 256] [--users 20000] [--k 1000] [--swaps 50] \
//!     [--slowloris 1000] [--json]
//! ```
//!
//! It trains the model with the release `tastebud` binary (`--tastebud`, else `$TASTEBUD_BIN`, else
//! `tastebud` next to this program), starts `tastebud serve` on a free loopback port with the budget, and
//! reads the server's `VmRSS` and `VmHWM` from `/proc/PID/status`:
//!
//! 1. after startup;
//! 2. after `--users` requests `GET /v1/users/new-N/recommendations?k=K` for distinct new users (each a
//!    cold-start list of K items with titles and reasons: the response cache's worst case), sent over
//!    `--clients` keep-alive connections;
//! 3. after `--swaps` hot swaps (`POST /v1/admin/reload`, admin key) while the clients keep asking for new
//!    users;
//! 4. slowloris: `--slowloris` connections each send a partial header line and nothing more; after the
//!    header timeout plus 2 s, how many the server still holds open.
//!
//! The table goes to stdout (JSON with `--json`). Linux only (`/proc`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use tastebud_bench::{ChildGuard, Table, start_server, tastebud_binary};

/// The admin key the benchmark's server is configured with.
const ADMIN_KEY: &str = "bench-limits-key";

/// Resident memory of the Tastebud server against its memory budget, and slowloris.
#[derive(Parser, Debug)]
#[command(name = "bench-limits")]
struct Cli {
    /// ML-100K folder [default: ml-100k in $TASTEBUD_DATA, else in ../shared/data]
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The model to train and serve (ease, als, ...)
    #[arg(long, default_value = "ease")]
    model: String,
    /// `[server] memory_budget_mb` of the server
    #[arg(long, value_name = "MB", default_value_t = 256)]
    budget_mb: u64,
    /// `[server] max_connections` (each reserves its header buffer in the budget)
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// `[server] header_read_timeout_ms`
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Requests for distinct new users
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    users: u64,
    /// `k` of each request
    #[arg(long, default_value_t = 1000)]
    k: usize,
    /// Hot swaps under traffic
    #[arg(long, value_name = "N", default_value_t = 50)]
    swaps: u32,
    /// Client connections sending requests
    #[arg(long, value_name = "N", default_value_t = 8)]
    clients: usize,
    /// Slowloris connections (partial headers)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    slowloris: usize,
    /// The tastebud binary [default: $TASTEBUD_BIN, else next to this program]
    #[arg(long, value_name = "PATH")]
    tastebud: Option<PathBuf>,
    /// Keep the work directory (model, config, server log)
    #[arg(long)]
    keep: bool,
    /// Print the results as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// One measurement of the server process.
#[derive(Clone, Debug, Serialize)]
struct Row {
    /// What had happened.
    stage: String,
    /// `VmRSS`, MiB.
    rss_mb: f64,
    /// `VmHWM` (peak resident), MiB.
    hwm_mb: f64,
    /// Requests answered 200 in this stage.
    ok: u64,
    /// Other answers and failed exchanges in this stage.
    failed: u64,
    /// Seconds the stage took.
    secs: f64,
}

/// Everything measured.
#[derive(Debug, Serialize)]
struct Report {
    model: String,
    budget_mb: u64,
    k: usize,
    users: u64,
    swaps: u32,
    rows: Vec<Row>,
    slowloris_opened: usize,
    slowloris_open_after_timeout: usize,
    header_timeout_ms: u64,
    server_plan: String,
}

/// `VmRSS` and `VmHWM` of `pid`, MiB.
fn memory(pid: u32) -> Result<(f64, f64), String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A keep-alive HTTP/1.1 connection that reads each answer by its `Content-Length`.
struct Client {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None }
    }

    /// One exchange; the status code (a broken connection is reopened next time).
    fn call(&mut self, method: &str, path: &str, headers: &str) -> Result<u16, String> {
        let r = self.try_call(method, path, headers);
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    fn try_call(&mut self, method: &str, path: &str, headers: &str) -> Result<u16, String> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            self.stream = Some(BufReader::new(s));
        }
        let r = self.stream.as_mut().ok_or("no connection")?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        r.get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        r.read_line(&mut line).map_err(|e| e.to_string())?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: `{line}`"))?;
        let mut len = 0usize;
        loop {
            line.clear();
            r.read_line(&mut line).map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().map_err(|_| format!("bad length `{v}`"))?;
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).map_err(|e| e.to_string())?;
        Ok(status)
    }
}

/// Sends requests for new users `next..` until `stop` (or `until` users), over `clients` connections;
/// (answered 200, other).
fn new_user_load(
    addr: SocketAddr,
    clients: usize,
    k: usize,
    next: &Arc<AtomicU64>,
    until: u64,
    stop: &Arc<AtomicBool>,
) -> (u64, u64) {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (next, stop) = (next.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                let (mut ok, mut failed) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let u = next.fetch_add(1, Ordering::Relaxed);
                    if u >= until {
                        break;
                    }
                    let path = format!("/v1/users/bench-new-{u}/recommendations?k={k}");
                    match c.call("GET", &path, "") {
                        Ok(200) => ok += 1,
                        _ => failed += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().unwrap_or((0, 0)))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Opens `n` connections that each send a partial header line; after `wait`, how many are still open.
fn slowloris(addr: SocketAddr, n: usize, wait: Duration) -> Result<(usize, usize), String> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            continue;
        };
        if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: a")
            .is_ok()
        {
            conns.push(s);
        }
    }
    let opened = conns.len();
    std::thread::sleep(wait);
    let mut open = 0;
    for s in &conns {
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut b = [0u8; 1];
        match s.peek(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            // A response (the server would answer 408) or a reset: not held open either way.
            Ok(_) | Err(_) => {}
        }
    }
    Ok((opened, open))
}

/// Starts `tastebud serve` and waits for its `listening on http://ADDR` line.
fn start(
    tastebud: &Path,
    model: &Path,
    config: &Path,
    store: &Path,
    log: &Path,
) -> Result<(ChildGuard, SocketAddr), String> {
    let err =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut cmd = Command::new(tastebud);
    cmd.arg("serve")
        .arg("--model")
        .arg(model)
        .arg("--config")
        .arg(config)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(store)
        .env("RUST_LOG", "info")
        .stderr(err);
    let (proc, addr) = start_server(cmd, log)?;
    let addr = addr
        .parse()
        .map_err(|e| format!("unexpected address `{addr}`: {e}"))?;
    Ok((proc, addr))
}

fn run(cli: Cli) -> Result<Report, String> {
    let data = cli
        .data
        .clone()
        .unwrap_or_else(|| tastebud_data::data_root(None).join("ml-100k"));
    let tastebud = tastebud_binary(cli.tastebud.clone());
    let work = std::env::temp_dir().join(format!("bench-limits-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let model = work.join(format!("{}.tbm", cli.model));
    let status = Command::new(&tastebud)
        .arg("train")
        .arg("--data")
        .arg(&data)
        .args(["--model", &cli.model, "--out"])
        .arg(&model)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", tastebud.display()))?;
    if !status.success() {
        return Err(format!("tastebud train --model {} failed", cli.model));
    }
    let config = work.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nmemory_budget_mb = {}\nmax_connections = {}\nheader_read_timeout_ms = {}\n\
             [admin]\napi_key = \"{ADMIN_KEY}\"\n",
            cli.budget_mb, cli.max_connections, cli.header_timeout_ms
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = work.join("serve.log");
    let (mut proc, addr) = start(&tastebud, &model, &config, &work.join("store"), &log)?;
    let pid = proc.child_mut().id();
    let mut rows = Vec::new();
    let mut row = |stage: &str, ok: u64, failed: u64, secs: f64| -> Result<(), String> {
        let (rss, hwm) = memory(pid)?;
        eprintln!("{stage}: VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB ({ok} ok, {failed} failed)");
        rows.push(Row {
            stage: stage.to_string(),
            rss_mb: rss,
            hwm_mb: hwm,
            ok,
            failed,
            secs,
        });
        Ok(())
    };
    row("started", 0, 0, 0.0)?;

    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let t = Instant::now();
    let (ok, failed) = new_user_load(addr, cli.clients, cli.k, &next, cli.users, &stop);
    row(
        &format!("after {} new users at k={}", cli.users, cli.k),
        ok,
        failed,
        t.elapsed().as_secs_f64(),
    )?;

    let t = Instant::now();
    let load = {
        let (next, stop) = (next.clone(), stop.clone());
        let (clients, k) = (cli.clients.max(2) / 2, cli.k);
        std::thread::spawn(move || new_user_load(addr, clients, k, &next, u64::MAX, &stop))
    };
    let mut admin = Client::new(addr);
    let mut swapped = 0u64;
    let mut swap_failed = 0u64;
    for _ in 0..cli.swaps {
        match admin.call(
            "POST",
            "/v1/admin/reload",
            &format!("X-Api-Key: {ADMIN_KEY}\r\n"),
        ) {
            Ok(200) => swapped += 1,
            _ => swap_failed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap_or((0, 0));
    eprintln!("{swapped} swaps ({swap_failed} failed) under {ok} requests ({failed} failed)");
    row(
        &format!("after {} hot swaps under new-user traffic", cli.swaps),
        ok + swapped,
        failed + swap_failed,
        t.elapsed().as_secs_f64(),
    )?;

    let wait = Duration::from_millis(cli.header_timeout_ms) + Duration::from_secs(2);
    let t = Instant::now();
    let (opened, open) = slowloris(addr, cli.slowloris, wait)?;
    row(
        &format!("{opened} slowloris connections, timeout + 2 s"),
        0,
        0,
        t.elapsed().as_secs_f64(),
    )?;
    let mut health = Client::new(addr);
    let healthy = health.call("GET", "/healthz", "") == Ok(200);
    if !healthy {
        eprintln!("warning: /healthz did not answer 200 after the slowloris stage");
    }
    proc.kill();
    let plan = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .find(|l| l.contains("memory budget"))
        .map_or(String::new(), |l| {
            l.split_once("memory budget")
                .map_or(l, |(_, r)| r)
                .trim()
                .to_string()
        });
    if cli.keep {
        eprintln!("work directory kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(Report {
        model: cli.model,
        budget_mb: cli.budget_mb,
        k: cli.k,
        users: cli.users,
        swaps: cli.swaps,
        rows,
        slowloris_opened: opened,
        slowloris_open_after_timeout: open,
        header_timeout_ms: cli.header_timeout_ms,
        server_plan: format!("memory budget {plan}"),
    })
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
                let mut t = Table::new(&[
                    "stage",
                    "VmRSS MiB",
                    "VmHWM MiB",
                    "budget MiB",
                    "ok",
                    "failed",
                    "s",
                ]);
                for row in &r.rows {
                    t.row([
                        row.stage.clone(),
                        format!("{:.0}", row.rss_mb),
                        format!("{:.0}", row.hwm_mb),
                        r.budget_mb.to_string(),
                        row.ok.to_string(),
                        row.failed.to_string(),
                        format!("{:.1}", row.secs),
                    ]);
                }
                println!("model {}, {}\n", r.model, r.server_plan);
                print!("{t}");
                println!(
                    "\nslowloris: {} of {} partial-header connections still open {} ms + 2 s later",
                    r.slowloris_open_after_timeout, r.slowloris_opened, r.header_timeout_ms
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-limits: {e}");
            ExitCode::FAILURE
        }
    }
}
