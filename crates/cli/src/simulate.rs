//! `tastebud simulate`: rehearse an online experiment on a simulated user population whose true
//! click probabilities come from a model fitted on the dataset (see the `tastebud-sim` crate).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use tastebud_experiment::report::Report;
use tastebud_experiment::stats::{Effect, sample_size_proportions};
use tastebud_models::registry::ModelSpec;
use tastebud_sim::ab::{AbConfig, Simulation};
use tastebud_sim::study::{Rate, Rejections, summarise};
use tastebud_sim::truth::TruthParams;
use tastebud_sim::world::World;

use crate::progress::Bar;

/// Which rehearsal.
#[derive(Subcommand, Debug)]
pub enum SimulateCmd {
    /// A/A tests (the same policy in both arms): how often each test rejects, with its interval.
    Aa(AaArgs),
    /// An A/B test of two policies: each arm's CTR, the lift, its interval and the p-value;
    /// with `--experiments N`, the simulated power beside the calculator's.
    Ab(AbArgs),
}

/// The simulated world, shared by `aa` and `ab`.
#[derive(Args, Debug)]
pub struct WorldArgs {
    /// Dataset whose users and truth drive the simulation (default: `$TASTEBUD_DATA/ml-100k`,
    /// else `../shared/data/ml-100k`).
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// Model that defines the users' true preferences.
    #[arg(long, default_value = "als")]
    truth: String,
    /// Truth-model hyperparameter `key=value` (repeatable).
    #[arg(long = "truth-param", value_name = "KEY=VALUE")]
    truth_params: Vec<String>,
    /// Logistic intercept of the true click probability.
    #[arg(long, default_value_t = TruthParams::default().intercept, allow_negative_numbers = true)]
    intercept: f64,
    /// Logistic slope on the standardised truth score.
    #[arg(long, default_value_t = TruthParams::default().slope)]
    slope: f64,
    /// Items per slate.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Simulated users per experiment, each visiting once (default 4000).
    #[arg(long)]
    users: Option<usize>,
    /// Days per experiment (daily looks for the peeking rows).
    #[arg(long, default_value_t = 14)]
    days: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Significance level.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Planned relative minimum detectable effect on CTR (the report's planned sample size and
    /// the mSPRT's mixing variance).
    #[arg(long, default_value_t = 0.1)]
    mde: f64,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// `tastebud simulate aa`.
#[derive(Args, Debug)]
pub struct AaArgs {
    #[command(flatten)]
    world: WorldArgs,
    /// Policy served in both arms.
    #[arg(long, default_value = "ease")]
    model: String,
    /// Number of simulated experiments.
    #[arg(long, default_value_t = 200)]
    experiments: u64,
}

/// `tastebud simulate ab`.
#[derive(Args, Debug)]
pub struct AbArgs {
    #[command(flatten)]
    world: WorldArgs,
    /// Control policy (a model name: pop, ease, als, itemknn, ...).
    #[arg(long, default_value = "pop")]
    control: String,
    /// Treatment policy.
    #[arg(long, default_value = "ease")]
    treatment: String,
    /// Number of simulated experiments (more than 1 adds power by simulation).
    #[arg(long, default_value_t = 1)]
    experiments: u64,
}

fn default_data() -> PathBuf {
    std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"))
        .join("ml-100k")
}

impl WorldArgs {
    fn check(&self, experiments: u64) -> Result<()> {
        if experiments == 0 {
            bail!("--experiments must be at least 1");
        }
        if self.days == 0 {
            bail!("--days must be at least 1");
        }
        if self.users == Some(0) {
            bail!("--users must be at least 1");
        }
        if self.k == 0 {
            bail!("-k must be at least 1");
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            bail!("--alpha must be in (0, 1)");
        }
        if !(self.mde.is_finite() && self.mde != 0.0) {
            bail!("--mde must be finite and non-zero");
        }
        Ok(())
    }

    fn world(&self) -> Result<World> {
        ModelSpec::new(&self.truth)?;
        let path = self.data.clone().unwrap_or_else(default_data);
        if !path.exists() {
            bail!(
                "dataset not found at {} (pass --data or set TASTEBUD_DATA)",
                path.display()
            );
        }
        let data = tastebud_data::load(&path, &Default::default())
            .with_context(|| format!("loading {}", path.display()))?;
        let truth = TruthParams {
            model: self.truth.clone(),
            params: self.truth_params.clone(),
            intercept: self.intercept,
            slope: self.slope,
        };
        eprintln!(
            "fitting the truth ({}) on {} ...",
            self.truth,
            path.display()
        );
        Ok(World::new(data, &truth, self.k)?)
    }

    fn config(&self, users: usize) -> AbConfig {
        let mut cfg = AbConfig::new(2, users, self.days, self.seed);
        cfg.alpha = self.alpha;
        cfg.mde = self.mde;
        cfg
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn rate_cells(r: &Rate) -> Vec<String> {
    vec![
        format!("{} / {}", r.count, r.n),
        pct(r.rate),
        format!("[{}, {}]", pct(r.ci.low), pct(r.ci.high)),
    ]
}

#[derive(Serialize)]
struct AaOutput<'a> {
    model: &'a str,
    truth: &'a str,
    users: usize,
    days: usize,
    slate_size: usize,
    #[serde(flatten)]
    rejections: &'a Rejections,
}

/// Runs `tastebud simulate`.
pub fn run(cmd: &SimulateCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        SimulateCmd::Aa(args) => aa(args, out),
        SimulateCmd::Ab(args) => ab(args, out),
    }
}

fn aa(args: &AaArgs, out: &mut impl Write) -> Result<()> {
    let w = &args.world;
    w.check(args.experiments)?;
    ModelSpec::new(&args.model)?;
    let world = w.world()?;
    let policy = world.arm(&args.model, &[])?;
    let users = w.users.unwrap_or(4_000);
    let sim = Simulation::new(
        &world,
        vec![("a1".into(), &policy), ("a2".into(), &policy)],
        w.config(users),
    )?;
    let bar = Bar::new();
    let runs = sim.runs(args.experiments, &bar)?;
    bar.finish();
    let s = summarise(&sim, &runs)?;
    if w.json {
        let o = AaOutput {
            model: policy.model(),
            truth: &w.truth,
            users,
            days: w.days,
            slate_size: w.k,
            rejections: &s,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&o)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "A/A: {} experiments of {users} users over {} days, {} in both arms (true CTR {}), truth {}, alpha {}",
        s.experiments,
        w.days,
        policy.model(),
        pct(s.true_ctr[0]),
        w.truth,
        s.alpha
    )?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "test",
        "rejections",
        "rate",
        "95% interval",
        "nominal",
    ]);
    let nominal = pct(s.alpha);
    for (name, r, expected) in [
        (
            "CTR per user (Welch on clicks per visit)",
            &s.ctr_user_level,
            nominal.clone(),
        ),
        (
            "conversion z-test (per user)",
            &s.conversion,
            nominal.clone(),
        ),
        (
            "CTR z-test per impression (the report's)",
            &s.ctr,
            format!(
                "{nominal}; {} predicted by design effect {:.3}",
                pct(s.ctr_null_rate_predicted),
                s.design_effect
            ),
        ),
        (
            "CTR per user, peeking daily",
            &s.naive_peeking,
            format!("{nominal} (if peeking were harmless)"),
        ),
        (
            "mSPRT per user, peeking daily",
            &s.msprt_peeking,
            format!("at most {nominal}"),
        ),
        (
            "SRM flagged",
            &s.srm,
            pct(tastebud_experiment::stats::SRM_ALPHA),
        ),
    ] {
        let mut row = vec![name.to_owned()];
        row.extend(rate_cells(r));
        row.push(expected);
        t.add_row(row);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

#[derive(Serialize)]
struct AbOutput<'a> {
    control: &'a str,
    treatment: &'a str,
    truth: &'a str,
    users: usize,
    days: usize,
    slate_size: usize,
    true_ctr: Vec<f64>,
    true_lift: f64,
    planned_power: Option<f64>,
    users_for_80_percent_power: Option<u64>,
    report: &'a Report,
    simulated_power: Option<Rate>,
}

fn ab(args: &AbArgs, out: &mut impl Write) -> Result<()> {
    let w = &args.world;
    w.check(args.experiments)?;
    ModelSpec::new(&args.control)?;
    ModelSpec::new(&args.treatment)?;
    let world = w.world()?;
    let control = world.arm(&args.control, &[])?;
    let treatment = world.arm(&args.treatment, &[])?;
    let users = w.users.unwrap_or(4_000);
    let sim = Simulation::new(
        &world,
        vec![
            (format!("control:{}", control.model()), &control),
            (format!("treatment:{}", treatment.model()), &treatment),
        ],
        w.config(users),
    )?;
    let ctr = sim.true_ctrs();
    let planned = sim.planned_power().ok();
    let users_80 = sample_size_proportions(ctr[0], Effect::Absolute(ctr[1] - ctr[0]), w.alpha, 0.8)
        .ok()
        .map(|n| 2 * n.per_arm.div_ceil(w.k as u64));
    let bar = Bar::new();
    let runs = sim.runs(args.experiments, &bar)?;
    bar.finish();
    let power = if args.experiments > 1 {
        Some(summarise(&sim, &runs)?.ctr)
    } else {
        None
    };
    let report = &runs[0].report;
    if w.json {
        let o = AbOutput {
            control: control.model(),
            treatment: treatment.model(),
            truth: &w.truth,
            users,
            days: w.days,
            slate_size: w.k,
            true_lift: ctr[1] / ctr[0] - 1.0,
            true_ctr: ctr,
            planned_power: planned,
            users_for_80_percent_power: users_80,
            report,
            simulated_power: power,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&o)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "A/B: {} (control) vs {} (treatment), {users} users over {} days, slates of {}, truth {}",
        control.model(),
        treatment.model(),
        w.days,
        w.k,
        w.truth
    )?;
    writeln!(
        out,
        "true CTR: control {}, treatment {} (lift {:+.2}%)",
        pct(ctr[0]),
        pct(ctr[1]),
        100.0 * (ctr[1] / ctr[0] - 1.0)
    )?;
    writeln!(out, "\nsimulated experiment 1 of {}:", args.experiments)?;
    writeln!(out, "{}", report.to_table())?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["power of the CTR test", "value"]);
    t.add_row(vec![
        "planned (calculator, true CTRs, these users)".to_owned(),
        planned.map_or("-".to_owned(), pct),
    ]);
    if let Some(p) = &power {
        t.add_row(vec![
            format!("simulated ({} experiments)", p.n),
            format!(
                "{} [{}, {}] ({} detections)",
                pct(p.rate),
                pct(p.ci.low),
                pct(p.ci.high),
                p.count
            ),
        ]);
    }
    t.add_row(vec![
        "users for 80% power".to_owned(),
        users_80.map_or("-".to_owned(), |n| n.to_string()),
    ]);
    writeln!(out, "{t}")?;
    Ok(())
}
