//! `tastebud serve`, `batch` and `quickstart`: the server and its batch precomputation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tastebud_server::{App, Config, Mode, Serving, batch};

/// Flags of `tastebud serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Model file written by `tastebud train`.
    #[arg(long)]
    model: PathBuf,
    /// Configuration file (TOML); every key optional.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the config), e.g. 127.0.0.1:8080.
    #[arg(long)]
    bind: Option<String>,
    /// realtime, batch or hybrid (overrides the config).
    #[arg(long)]
    mode: Option<String>,
    /// Directory of the embedded store (overrides the config's data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    shared: SharedArgs,
}

/// The shared backends, overriding `[store] url` and `[cache] redis_url`.
#[derive(Args, Debug, Default, Clone)]
pub struct SharedArgs {
    /// PostgreSQL for events, flags, privacy records and documents, shared by replicas
    /// (postgres://user@host:port/database; default: the embedded store in the data directory).
    #[arg(long, env = "TASTEBUD_STORE_URL")]
    store_url: Option<String>,
    /// Redis for precomputed lists and the response cache shared by replicas (redis://host:port/db).
    #[arg(long, env = "TASTEBUD_REDIS_URL")]
    redis_url: Option<String>,
}

impl SharedArgs {
    fn apply(&self, c: &mut Config) {
        if let Some(u) = &self.store_url {
            c.store.url = Some(u.clone());
        }
        if let Some(u) = &self.redis_url {
            c.cache.redis_url = Some(u.clone());
        }
    }
}

fn parse_mode(s: &str) -> Result<Mode> {
    match s {
        "realtime" => Ok(Mode::Realtime),
        "batch" => Ok(Mode::Batch),
        "hybrid" => Ok(Mode::Hybrid),
        other => bail!("unknown mode `{other}` (realtime, batch or hybrid)"),
    }
}

fn load_config(
    path: Option<&Path>,
    bind: Option<&str>,
    mode: Option<&str>,
    data_dir: Option<&Path>,
    shared: &SharedArgs,
) -> Result<Config> {
    let mut c = match path {
        Some(p) => Config::load(p).map_err(|e| anyhow!(e))?,
        None => Config::default(),
    };
    if let Some(b) = bind {
        c.bind = b.to_string();
    }
    if let Some(m) = mode {
        c.mode = parse_mode(m)?;
    }
    if let Some(d) = data_dir {
        c.data_dir = d.to_path_buf();
    }
    shared.apply(&mut c);
    c.validate().map_err(|e| anyhow!(e))?;
    Ok(c)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `serve` until Ctrl-C or SIGTERM.
pub fn serve(args: &ServeArgs) -> Result<()> {
    let config = load_config(
        args.config.as_deref(),
        args.bind.as_deref(),
        args.mode.as_deref(),
        args.data_dir.as_deref(),
        &args.shared,
    )?;
    init_logging();
    let app = App::open(config, &args.model).map_err(|e| anyhow!(e))?;
    run_server(app, &[])
}

fn run_server(app: App, hints: &[String]) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let s = app.state.serving();
    let bind = app.state.config.bind.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        // Scripts (and tests) read this line to find the port.
        let store = match app.state.config.store_url() {
            Some(u) => tastebud_server::config::redact_url(&u),
            None => app.state.config.data_dir.display().to_string(),
        };
        println!(
            "listening on http://{addr} (model {}, mode {:?}, store {store})",
            s.version, app.state.config.mode,
        );
        for h in hints {
            println!("{}", h.replace("{addr}", &addr.to_string()));
        }
        drop(s);
        app.serve_on(listener, tastebud_server::shutdown_signal())
            .await
            .map_err(|e| anyhow!(e))
    })?;
    eprintln!("server stopped; every acknowledged event is committed");
    Ok(())
}

/// Flags of `tastebud batch`.
#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Model file.
    #[arg(long)]
    model: PathBuf,
    /// `store` (the server's store in --data-dir, for serve --mode batch|hybrid), a `.jsonl` file, or a
    /// `.parquet` file (long format: user, rank, item, score; needs the `parquet` feature).
    #[arg(long)]
    out: String,
    /// Items per user.
    #[arg(short, long, default_value_t = 100)]
    k: usize,
    /// Configuration file (for data_dir).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the embedded store (overrides the config).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    shared: SharedArgs,
    /// Compute one shard of the users, `i/N` (0-based; users by a stable hash of their id), and store
    /// it in the shared store; the batch becomes visible when its N shards are stored. Needs
    /// --store-url and --batch-name.
    #[arg(long)]
    shard: Option<tastebud_store::Shard>,
    /// The name every shard of one batch run shares (e.g. the scheduled job's name), with --shard.
    #[arg(long)]
    batch_name: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `batch`.
pub fn batch(args: &BatchArgs, out: &mut impl Write) -> Result<()> {
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    let config = load_config(
        args.config.as_deref(),
        None,
        None,
        args.data_dir.as_deref(),
        &args.shared,
    )?;
    let t = Instant::now();
    let serving = Serving::load(&args.model, &config.ann).map_err(|e| anyhow!(e))?;
    let to_store = args.out == "store";
    let parquet = args.out.ends_with(".parquet");
    if !to_store && !args.out.ends_with(".jsonl") && !parquet {
        bail!(
            "--out must be `store`, a .jsonl or a .parquet file (got `{}`)",
            args.out
        );
    }
    if parquet && !cfg!(feature = "parquet") {
        bail!(
            "this build has no Parquet support: rebuild with `cargo build --release -p tastebud-cli \
             --features parquet`, or use --out lists.jsonl"
        );
    }
    let shard = match (args.shard, &args.batch_name) {
        (Some(s), Some(name)) => {
            if !to_store || config.store_url().is_none() {
                bail!("--shard {s} writes to a shared store: use --out store with --store-url");
            }
            Some((s, name.clone()))
        }
        (Some(s), None) => bail!(
            "--shard {s} needs --batch-name NAME, the same for every shard of the run (e.g. the job's name)"
        ),
        (None, Some(_)) => bail!("--batch-name goes with --shard"),
        (None, None) => None,
    };
    // The store holds events too: the lists include every event logged so far.
    let storage = tastebud_server::open_storage(&config).map_err(|e| anyhow!(e))?;
    let bar = ProgressBar::new(batch::user_count(&serving));
    if let Ok(style) = ProgressStyle::with_template(
        "batch [{bar:30}] {pos}/{len} users {elapsed_precise} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    // The configured pipeline: event weights, freshness rules and re-ranker as `serve` applies them.
    let pipeline = tastebud_serve::Pipeline::new(config.pipeline()).map_err(|e| anyhow!(e))?;
    let (lists, hwm) = batch::compute_lists_shard(
        &pipeline,
        &serving,
        Some(storage.users.as_ref()),
        args.k,
        shard.as_ref().map(|s| s.0),
        &|n| bar.inc(n),
    )
    .map_err(|e| anyhow!(e))?;
    bar.finish_and_clear();
    let mut published = true;
    let summary = if let Some((s, name)) = &shard {
        let (summary, done) = batch::write_store_shard(
            storage.lists.as_ref(),
            name,
            *s,
            &serving,
            lists,
            hwm,
            args.k,
            t,
        )
        .map_err(|e| anyhow!(e))?;
        published = done;
        summary
    } else if to_store {
        batch::write_store(storage.lists.as_ref(), &serving, lists, hwm, args.k, t)
            .map_err(|e| anyhow!(e))?
    } else {
        let path = PathBuf::from(&args.out);
        if parquet {
            write_parquet(&path, &lists)?;
        } else {
            batch::write_jsonl(&path, &lists).map_err(|e| anyhow!(e))?;
        }
        batch::BatchSummary {
            users: lists.len() as u64,
            k: args.k,
            event_seq: hwm,
            model_version: serving.version.clone(),
            seconds: t.elapsed().as_secs_f64(),
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some((s, name)) = &shard {
            v["shard"] = serde_json::json!(s.to_string());
            v["batch_name"] = serde_json::json!(name);
            v["published"] = serde_json::json!(published);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        let dest = match (&shard, config.store_url()) {
            _ if !to_store => args.out.clone(),
            (Some((s, name)), Some(u)) => format!(
                "{} (batch `{name}` shard {s}: {})",
                tastebud_server::config::redact_url(&u),
                if published {
                    "the last one, batch published"
                } else {
                    "stored, waiting for the other shards"
                }
            ),
            (None, Some(u)) => tastebud_server::config::redact_url(&u),
            (_, None) => config.data_dir.join("events.redb").display().to_string(),
        };
        writeln!(
            out,
            "precomputed top-{} for {} users with {} (events up to #{}) in {:.2} s -> {dest}",
            summary.k, summary.users, summary.model_version, summary.event_seq, summary.seconds,
        )?;
    }
    Ok(())
}

#[cfg(feature = "parquet")]
fn write_parquet(path: &Path, lists: &[batch::UserList]) -> Result<()> {
    batch::write_parquet(path, lists).map_err(|e| anyhow!(e))
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(_: &Path, _: &[batch::UserList]) -> Result<()> {
    bail!("built without the `parquet` feature")
}

/// Flags of `tastebud quickstart`.
#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Model to train.
    #[arg(long, default_value = "ease")]
    model: String,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Where to put the model file and the store.
    #[arg(long, default_value = "tastebud-quickstart")]
    dir: PathBuf,
    /// Use this dataset instead of looking for ML-100K (in $TASTEBUD_DATA or ../shared/data, then the
    /// download cache).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Stop after training and evaluating (do not serve).
    #[arg(long)]
    no_serve: bool,
    /// Do not try to download ML-100K.
    #[arg(long)]
    offline: bool,
}

/// Runs `quickstart`: data, evaluation table, training, then the server.
pub fn quickstart(args: &QuickstartArgs, out: &mut impl Write) -> Result<()> {
    let (dir, how) = crate::quickstart_data::find(args.data.as_deref(), args.offline, &args.dir)?;
    writeln!(out, "[1/4] data: {how}")?;
    let data = tastebud_data::load(&dir, &tastebud_data::LoadOptions::default())
        .with_context(|| format!("loading {}", dir.display()))?;
    writeln!(
        out,
        "      {} users, {} items, {} interactions",
        data.n_users(),
        data.n_items(),
        data.interactions.nnz()
    )?;
    writeln!(
        out,
        "[2/4] evaluating popularity and {} on a per-user 80/20 split (top 10)",
        args.model
    )?;
    let split: tastebud_core::SplitSpec = "user:0.2".parse()?;
    let splits = split.apply(&data.interactions, 42)?;
    let opts = tastebud_eval::evaluator::EvalOptions {
        beyond: false,
        ..Default::default()
    };
    let plan = tastebud_eval::run::EvalPlan {
        models: vec![
            tastebud_models::registry::ModelSpec::new("popularity")?,
            tastebud_models::registry::ModelSpec::new(&args.model)?,
        ],
        runs: Vec::new(),
        opts,
        split: "user:0.2".into(),
        seed: 42,
        keep_lists: false,
        pretrained: Vec::new(),
    };
    let bar = crate::progress::Bar::new();
    let output = tastebud_eval::run::run(&data, &splits, &plan, &bar)?;
    bar.finish();
    write!(out, "{}", output.report.to_text())?;
    writeln!(out, "[3/4] training {} on all the data", args.model)?;
    let spec = tastebud_models::registry::ModelSpec::new(&args.model)?;
    let bar = crate::progress::Bar::new();
    let (model, params) = tastebud_models::registry::fit(&spec, &data, &bar)?;
    bar.finish();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let model_path = args.dir.join(format!("{}.tbm", args.model));
    tastebud_models::file::ModelFile::new(model, params, &data, true).save(&model_path)?;
    writeln!(out, "      saved {}", model_path.display())?;
    if args.no_serve {
        writeln!(
            out,
            "[4/4] not serving (--no-serve); run: tastebud serve --model {}",
            model_path.display()
        )?;
        return Ok(());
    }
    let user = data
        .users
        .id(tastebud_core::UserIdx(0))
        .unwrap_or("1")
        .to_string();
    let item = data
        .items
        .id(tastebud_core::ItemIdx(0))
        .unwrap_or("1")
        .to_string();
    let config = Config {
        bind: args.bind.clone(),
        data_dir: args.dir.join("store"),
        ..Config::default()
    };
    writeln!(out, "[4/4] serving (Ctrl-C to stop)")?;
    out.flush()?;
    init_logging();
    let app = App::open(config, &model_path).map_err(|e| anyhow!(e))?;
    let hints = vec![
        "try:".to_string(),
        format!("  curl 'http://{{addr}}/v1/users/{user}/recommendations?k=5'"),
        format!("  curl 'http://{{addr}}/v1/items/{item}/similar?k=5'"),
        format!(
            "  curl -X POST http://{{addr}}/v1/events -H 'content-type: application/json' \\\n       -d '{{\"user\": \"{user}\", \"item\": \"{item}\", \"type\": \"click\", \"timestamp\": {}}}'",
            tastebud_server::now_unix()
        ),
        "  curl -X POST http://{addr}/v1/recommendations -H 'content-type: application/json' \\\n       -d '{\"history\": [\"50\", \"181\"], \"k\": 5}'".to_string(),
        "  curl http://{addr}/openapi.json".to_string(),
    ];
    run_server(app, &hints)
}

/// Flags of `tastebud retrain`.
#[derive(Args, Debug)]
pub struct RetrainArgs {
    /// `retrain.toml`: base data, registry, model and params, feedback rules, gate, triggers.
    #[arg(long)]
    config: PathBuf,
    /// Directory of the server's store (its event log); the server must not be running (the store is
    /// locked while it is; use its background loop instead).
    #[arg(long, default_value = "tastebud-data")]
    data_dir: PathBuf,
    /// The shared store (PostgreSQL) the replicas log to, instead of --data-dir: servers may run. The
    /// registry's index then lives in it (its model files stay in the registry folder, a shared
    /// volume), and every replica swaps in a promoted model within seconds.
    #[command(flatten)]
    shared: SharedArgs,
    /// Retrain only when a trigger fires.
    #[arg(long)]
    if_triggered: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `retrain`.
pub fn retrain(args: &RetrainArgs, out: &mut impl Write) -> Result<()> {
    let cfg = tastebud_lifecycle::retrain::RetrainConfig::load(&args.config)?;
    let mut config = Config {
        data_dir: args.data_dir.clone(),
        ..Config::default()
    };
    args.shared.apply(&mut config);
    config.validate().map_err(|e| anyhow!(e))?;
    let storage = tastebud_server::open_storage(&config).map_err(|e| anyhow!(e))?;
    let index = config.store_url().map(|_| storage.documents.clone());
    let bar = crate::progress::Bar::new();
    let report = tastebud_lifecycle::retrain::run_with_index(
        &cfg,
        storage.events.as_ref(),
        storage.users.as_ref(),
        index,
        args.if_triggered,
        tastebud_server::now_unix(),
        &bar,
    )?;
    bar.finish();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    if !report.triggers.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["trigger", "fired", "value", "threshold", "detail"]);
        for v in &report.triggers {
            t.add_row([
                v.name.clone(),
                if v.fired { "yes".into() } else { "no".into() },
                format!("{:.4}", v.value),
                format!("{:.4}", v.threshold),
                v.detail.clone(),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    if report.skipped {
        writeln!(out, "not retrained: {}", report.reason)?;
        return Ok(());
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["model", "version", "ndcg@k", "recall@k", "holdout users"]);
    let row = |name: &str, v: Option<&String>, s: Option<&tastebud_lifecycle::retrain::Score>| {
        vec![
            name.to_string(),
            v.cloned().unwrap_or_else(|| "-".into()),
            s.map_or("-".into(), |s| format!("{:.4}", s.ndcg)),
            s.map_or("-".into(), |s| format!("{:.4}", s.recall)),
            s.map_or("-".into(), |s| s.users.to_string()),
        ]
    };
    t.add_row(row(
        "current",
        report.current_version.as_ref(),
        report.current.as_ref(),
    ));
    t.add_row(row(
        "candidate",
        report.candidate_version.as_ref(),
        report.candidate.as_ref(),
    ));
    writeln!(out, "holdout: {}\n{t}", report.holdout)?;
    writeln!(
        out,
        "{}: {} ({} events used, log up to #{}, {:.1} s)",
        if report.promoted {
            "PROMOTED"
        } else {
            "REJECTED"
        },
        report.reason,
        report.events_used,
        report.event_seq,
        report.seconds
    )?;
    Ok(())
}

/// `tastebud registry` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum RegistryCmd {
    /// List the versions with their status and metrics.
    List {
        /// Registry folder.
        #[arg(long)]
        dir: PathBuf,
        /// The index in the shared store (what `retrain --store-url` writes).
        #[command(flatten)]
        shared: SharedArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make an earlier version current again (a server watching `current.tbm` swaps to it).
    Rollback {
        /// Registry folder.
        #[arg(long)]
        dir: PathBuf,
        /// The index in the shared store (what `retrain --store-url` writes); every replica swaps.
        #[command(flatten)]
        shared: SharedArgs,
        /// The version to restore.
        #[arg(value_name = "VERSION")]
        target: String,
    },
}

/// Opens the registry in `dir`, its index in the shared store when `shared` names one.
fn open_registry(
    dir: &Path,
    shared: &SharedArgs,
) -> Result<tastebud_lifecycle::registry::Registry> {
    let mut config = Config::default();
    shared.apply(&mut config);
    if config.store_url().is_none() {
        return Ok(tastebud_lifecycle::registry::Registry::open(dir)?);
    }
    config.validate().map_err(|e| anyhow!(e))?;
    let storage = tastebud_server::open_storage(&config).map_err(|e| anyhow!(e))?;
    Ok(tastebud_lifecycle::registry::Registry::open_with(
        dir,
        storage.documents,
    )?)
}

/// Runs `registry`.
pub fn registry(cmd: &RegistryCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        RegistryCmd::List { dir, shared, json } => {
            let r = open_registry(dir, shared)?;
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(r.entries())?)?;
                return Ok(());
            }
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(["version", "status", "created", "metrics", "parent", "note"]);
            for e in r.entries() {
                let metrics: Vec<String> = e
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .collect();
                t.add_row([
                    e.version.clone(),
                    format!("{:?}", e.status).to_lowercase(),
                    e.created_unix.to_string(),
                    metrics.join(", "),
                    e.lineage
                        .as_ref()
                        .and_then(|l| l.parent.clone())
                        .unwrap_or_default(),
                    e.note.clone(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        RegistryCmd::Rollback {
            dir,
            shared,
            target: version,
        } => {
            let mut r = open_registry(dir, shared)?;
            r.rollback(version)?;
            writeln!(out, "current: {version} ({})", r.current_path().display())?;
        }
    }
    Ok(())
}
