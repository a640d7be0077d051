//! `tastebud`: the command-line entry point. Subcommands only parse arguments into a validated plan and
//! call the library crates; no recommender logic lives here.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use tastebud_core::{Dataset, DatasetStats, Feedback};
use tastebud_data::delimited::{Columns, Delimiter};
use tastebud_data::{Format, GenericSpec, LoadOptions};

mod evaluate;
mod experiment_cmds;
mod healthcheck;
mod import_cmds;
mod info;
mod model_cmds;
mod progress;
mod quickstart_data;
mod serve_cmds;
mod simulate;

/// Tastebud: from raw interaction data to personalised recommendations.
#[derive(Parser, Debug)]
#[command(name = "tastebud", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Find, fetch, generate and inspect datasets.
    #[command(subcommand)]
    Datasets(DatasetsCmd),
    /// Evaluate models (or TREC runs) offline on a split: ranking, beyond-accuracy and significance.
    Evaluate(Box<evaluate::EvaluateArgs>),
    /// Fit a model on a dataset and save it to a model file.
    Train(Box<model_cmds::TrainArgs>),
    /// Recommend items for a user (or an ad-hoc history) from a model file, with explanations.
    Recommend(model_cmds::RecommendArgs),
    /// Items similar to an item, from a model file.
    Similar(model_cmds::SimilarArgs),
    /// Serve a model over HTTP: real-time, batch or hybrid recommendations, events, admin.
    Serve(Box<serve_cmds::ServeArgs>),
    /// Precompute every user's top-N (into the server's store or a JSON-lines file).
    Batch(serve_cmds::BatchArgs),
    /// Find (or fetch, or synthesise) MovieLens 100K, evaluate, train and serve: the five-minute tour.
    Quickstart(serve_cmds::QuickstartArgs),
    /// Retrain from the base data and the event log, gate against the current model, promote in the registry.
    Retrain(serve_cmds::RetrainArgs),
    /// The model registry: list versions, roll back.
    #[command(subcommand)]
    Registry(serve_cmds::RegistryCmd),
    /// Online experiments of a running server: create, list, report, stop.
    #[command(subcommand)]
    Experiment(experiment_cmds::ExperimentCmd),
    /// Rehearse an experiment on simulated users with known preferences: A/A error rates, A/B power.
    #[command(subcommand)]
    Simulate(simulate::SimulateCmd),
    /// GET a server's /readyz (or --url): exit 0 on a 2xx answer, 1 otherwise (a container health check).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Import a model trained elsewhere (Spark MLlib ALS) as a Tastebud model file.
    #[command(subcommand)]
    Import(import_cmds::ImportCmd),
    /// Write a model file in another format (ONNX: EASE, Mult-VAE, Mult-DAE).
    #[command(subcommand)]
    Export(import_cmds::ExportCmd),
}

#[derive(Subcommand, Debug)]
enum DatasetsCmd {
    /// List the dataset formats Tastebud reads and the datasets it can download.
    List {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Download a published dataset into the cache (`$TASTEBUD_CACHE` or ~/.cache/tastebud).
    Download {
        /// Dataset name: ml-100k, ml-1m, ml-latest-small, ml-20m, ml-25m, goodbooks-10k.
        name: String,
        /// Download and unpack again even when cached.
        #[arg(long)]
        force: bool,
        /// Fetch from this URL instead of the published one (a mirror).
        #[arg(long)]
        url: Option<String>,
        /// Expected SHA-256 of the archive, overriding the built-in checksum.
        #[arg(long)]
        sha256: Option<String>,
        /// Cache folder (default `$TASTEBUD_CACHE` or ~/.cache/tastebud).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Generate a seeded synthetic dataset in the MovieLens CSV layout (ratings.csv, movies.csv).
    Synth {
        /// Number of users.
        #[arg(long, default_value_t = 1_000)]
        users: u32,
        /// Number of items.
        #[arg(long, default_value_t = 1_700)]
        items: u32,
        /// Number of interactions (rows of ratings.csv).
        #[arg(long, default_value_t = 100_000)]
        interactions: u64,
        /// Random seed; the same seed gives byte-identical files.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Split a dataset (seeded) and write train/test files with external ids, for any tool to read.
    Split {
        #[command(flatten)]
        data: DataArgs,
        /// Protocol: random:0.2, user:0.2, last:1, time:UNIX, time-ratio:0.8, kfold:5, users:0.1:0.2, cold-items:0.2.
        #[arg(long, default_value = "user:0.2")]
        split: String,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output folder (train.tsv, test.tsv [, fold_in.tsv], or fold1/ ... for k-fold, and split.json).
        #[arg(long)]
        out: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print counts, density, rating histogram, activity quantiles and long-tail share of a dataset.
    Info {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// How to find and read a dataset; shared by every command that takes `--data`.
#[derive(Args, Debug, Clone)]
pub(crate) struct DataArgs {
    /// A dataset folder (recognised by its files) or a single ratings file.
    #[arg(value_name = "PATH", required_unless_present = "data")]
    path: Option<PathBuf>,
    /// The same as PATH, as a flag.
    #[arg(long, value_name = "PATH", conflicts_with = "path")]
    data: Option<PathBuf>,
    /// Column mapping for a generic file, e.g. `user=userId,item=movieId,rating=rating,time=timestamp`.
    #[arg(long)]
    columns: Option<String>,
    /// Field delimiter for a generic file (`,`, `tab`, `::`, `;`, `|`); sniffed when absent.
    #[arg(long)]
    delimiter: Option<String>,
    /// Treat values as implicit feedback (duplicates summed) instead of ratings.
    #[arg(long)]
    implicit: bool,
    /// Skip malformed lines (counted and reported) instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

impl DataArgs {
    pub(crate) fn path(&self) -> &std::path::Path {
        self.path
            .as_deref()
            .or(self.data.as_deref())
            .expect("clap requires PATH or --data")
    }

    pub(crate) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            skip_bad_lines: self.skip_bad_lines,
            kind: self.implicit.then_some(Feedback::Implicit),
        }
    }

    pub(crate) fn load(&self) -> Result<Dataset> {
        let path = self.path();
        let opts = self.load_options();
        let format = if self.columns.is_some() || self.delimiter.is_some() {
            Format::Generic(GenericSpec {
                delimiter: self
                    .delimiter
                    .as_deref()
                    .map(Delimiter::parse)
                    .transpose()?,
                columns: self
                    .columns
                    .as_deref()
                    .map(Columns::parse_mapping)
                    .transpose()?,
                header: None,
                kind: opts.kind,
            })
        } else {
            tastebud_data::detect(path)?
        };
        let d = tastebud_data::load_as(path, &format, &opts)
            .with_context(|| format!("loading {}", path.display()))?;
        if d.meta.skipped_lines > 0 {
            eprintln!(
                "warning: skipped {} malformed line(s)",
                d.meta.skipped_lines
            );
        }
        for w in tastebud_data::warnings(&d) {
            eprintln!("warning: {w}");
        }
        Ok(d)
    }
}

fn run(cli: Cli) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Evaluate(args) => evaluate::run(&args, &mut out)?,
        Command::Train(args) => model_cmds::train(&args, &mut out)?,
        Command::Recommend(args) => model_cmds::recommend(&args, &mut out)?,
        Command::Similar(args) => model_cmds::similar(&args, &mut out)?,
        Command::Serve(args) => serve_cmds::serve(&args)?,
        Command::Batch(args) => serve_cmds::batch(&args, &mut out)?,
        Command::Quickstart(args) => serve_cmds::quickstart(&args, &mut out)?,
        Command::Retrain(args) => serve_cmds::retrain(&args, &mut out)?,
        Command::Registry(cmd) => serve_cmds::registry(&cmd, &mut out)?,
        Command::Experiment(cmd) => experiment_cmds::run(&cmd, &mut out)?,
        Command::Simulate(cmd) => simulate::run(&cmd, &mut out)?,
        Command::Healthcheck(args) => healthcheck::run(&args, &mut out)?,
        Command::Import(cmd) => import_cmds::run(&cmd, &mut out)?,
        Command::Export(cmd) => import_cmds::export(&cmd, &mut out)?,
        Command::Datasets(cmd) => match cmd {
            DatasetsCmd::List { json } => info::list(&mut out, json)?,
            DatasetsCmd::Download {
                name,
                force,
                url,
                sha256,
                cache,
            } => {
                let remote = tastebud_data::download::find(&name).with_context(|| {
                    let names: Vec<&str> = tastebud_data::download::known()
                        .iter()
                        .map(|r| r.name)
                        .collect();
                    format!("unknown dataset `{name}`; known: {}", names.join(", "))
                })?;
                let mut opts = tastebud_data::download::DownloadOptions::default();
                if let Some(c) = cache {
                    opts.cache_dir = c;
                }
                opts.url = url;
                opts.sha256 = sha256;
                opts.force = force;
                opts.progress = true;
                let dir = tastebud_data::download::download(remote, &opts)?;
                writeln!(out, "{}", dir.display())?;
            }
            DatasetsCmd::Synth {
                users,
                items,
                interactions,
                seed,
                out: dir,
                json,
            } => {
                let params =
                    tastebud_data::synth::SynthParams::new(users, items, interactions, seed);
                let summary = tastebud_data::synth::generate(&params, &dir, true)?;
                if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
                } else {
                    writeln!(
                        out,
                        "wrote {} interactions of {} users on {} items (seed {}) to {}",
                        summary.interactions,
                        summary.users,
                        summary.items,
                        summary.seed,
                        dir.display()
                    )?;
                }
            }
            DatasetsCmd::Split {
                data,
                split,
                seed,
                out: dir,
                json,
            } => {
                let spec: tastebud_core::SplitSpec = split.parse()?;
                let d = data.load()?;
                let splits = spec.apply(&d.interactions, seed)?;
                let m = tastebud_data::write::write_splits(&dir, &d, &spec, seed, &splits)?;
                if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&m)?)?;
                } else {
                    info::print_split(&mut out, &m)?;
                }
            }
            DatasetsCmd::Info { data, json } => {
                let d = data.load()?;
                let stats = DatasetStats::of(&d);
                if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?;
                } else {
                    info::print(&mut out, &stats)?;
                }
            }
        },
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`tastebud ... | head`) is not a failure.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every subcommand (a clash such as a `version` argument under
    /// `propagate_version` otherwise only shows when that subcommand runs).
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
