//! `tastebud experiment create|list|report|stop`: online experiments of a running server, through its
//! REST API (`/v1/experiments`). The server owns the event log, so these commands talk to it rather
//! than to its data directory.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};

/// Where the server is and the admin key (create and stop need it).
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "TASTEBUD_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Admin API key (create, stop).
    #[arg(long, env = "TASTEBUD_ADMIN_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// Subcommands of `tastebud experiment`.
#[derive(Subcommand, Debug)]
pub enum ExperimentCmd {
    /// Create an experiment: arms as NAME=WEIGHT or NAME=WEIGHT:MODEL_FILE, or a JSON definition.
    Create(Box<CreateArgs>),
    /// List the server's experiments.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An experiment's report: per arm CTR, conversion, dwell, bounce, lifts, tests, SRM, decision.
    Report {
        /// Experiment id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
        /// table (default), json, or html (a page with charts over time).
        #[arg(long, default_value = "table", value_parser = ["table", "json", "html"])]
        format: String,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Significance level.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// Planned relative minimum detectable effect on CTR (sample size, mSPRT scale).
        #[arg(long, default_value_t = 0.1)]
        mde: f64,
        /// Also break the results down by this user attribute (the `attrs` events carry).
        #[arg(long)]
        segment_by: Option<String>,
    },
    /// Stop an experiment: nobody is assigned from now on; its report stays.
    Stop {
        /// Experiment id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `tastebud experiment create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Experiment id.
    #[arg(long, required_unless_present = "file")]
    pub id: Option<String>,
    /// An arm, NAME=WEIGHT or NAME=WEIGHT:MODEL_FILE (the first is the control); repeat for each arm.
    #[arg(long = "arm", value_name = "NAME=WEIGHT[:MODEL]")]
    pub arms: Vec<String>,
    /// Traffic allocation: fixed (hash by weight), thompson, ucb1, or epsilon:E.
    #[arg(long, default_value = "fixed")]
    pub allocation: String,
    /// Layer (experiments of one layer are mutually exclusive).
    #[arg(long)]
    pub layer: Option<String>,
    /// Share of the layer's traffic, in (0, 1].
    #[arg(long)]
    pub layer_share: Option<f64>,
    /// Salt of the arm hash (defaults to the id).
    #[arg(long)]
    pub salt: Option<String>,
    /// Only new or only returning users.
    #[arg(long, value_parser = ["new", "returning"])]
    pub segment: Option<String>,
    /// Stop assigning after this many days.
    #[arg(long)]
    pub days: Option<f64>,
    /// A JSON experiment definition instead of the flags above.
    #[arg(long, conflicts_with_all = ["id", "arms"])]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn allocation(s: &str) -> Result<Value> {
    Ok(match s {
        "fixed" => json!({"kind": "fixed"}),
        "thompson" => json!({"kind": "thompson"}),
        "ucb1" => json!({"kind": "ucb1"}),
        other => match other.strip_prefix("epsilon:") {
            Some(e) => {
                let epsilon: f64 = e
                    .parse()
                    .with_context(|| format!("--allocation {other}: `{e}` is not a number"))?;
                json!({"kind": "epsilon_greedy", "epsilon": epsilon})
            }
            None => bail!("--allocation {other}: expected fixed, thompson, ucb1 or epsilon:E"),
        },
    })
}

fn arm(spec: &str) -> Result<Value> {
    let (name, rest) = spec
        .split_once('=')
        .with_context(|| format!("--arm {spec}: expected NAME=WEIGHT[:MODEL]"))?;
    let (weight, model) = match rest.split_once(':') {
        Some((w, m)) => (w, Some(m)),
        None => (rest, None),
    };
    let weight: f64 = weight
        .parse()
        .with_context(|| format!("--arm {spec}: weight `{weight}` is not a number"))?;
    let mut v = json!({"name": name, "weight": weight});
    if let Some(m) = model {
        // The server loads the file: make the path absolute so it does not depend on its directory.
        let p = std::path::Path::new(m);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()?.join(p)
        };
        v["model"] = json!(abs.display().to_string());
    }
    Ok(v)
}

/// The definition `create` sends.
pub fn definition(a: &CreateArgs) -> Result<Value> {
    if let Some(f) = &a.file {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        return serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not JSON", f.display()));
    }
    if a.arms.len() < 2 {
        bail!("an experiment needs at least two --arm NAME=WEIGHT[:MODEL]");
    }
    let mut v = json!({
        "id": a.id.clone().unwrap_or_default(),
        "arms": a.arms.iter().map(|s| arm(s)).collect::<Result<Vec<_>>>()?,
        "allocation": allocation(&a.allocation)?,
    });
    if let Some(l) = &a.layer {
        v["layer"] = json!(l);
    }
    if let Some(s) = a.layer_share {
        v["layer_share"] = json!(s);
    }
    if let Some(s) = &a.salt {
        v["salt"] = json!(s);
    }
    if let Some(s) = &a.segment {
        v["target"] = json!({"segment": s});
    }
    if let Some(d) = a.days {
        if !(d > 0.0 && d.is_finite()) {
            bail!("--days {d}: must be positive");
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        v["start_unix"] = json!(now);
        v["end_unix"] = json!(now + (d * 86_400.0) as i64);
    }
    Ok(v)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .build()
        .into()
}

/// Reads a response: the body on 2xx, the server's JSON error message otherwise.
fn body(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Result<String> {
    let mut resp = resp.with_context(|| format!("{what}: the server did not answer"))?;
    let status = resp.status();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        bail!("{what}: {status}: {msg}");
    }
    Ok(text)
}

fn admin(
    req: ureq::RequestBuilder<ureq::typestate::WithBody>,
    s: &ServerArgs,
) -> Result<ureq::RequestBuilder<ureq::typestate::WithBody>> {
    let key = s
        .api_key
        .as_deref()
        .context("this needs the admin key: --api-key or TASTEBUD_ADMIN_KEY")?;
    Ok(req.header("x-api-key", key))
}

fn url(s: &ServerArgs, path: &str) -> String {
    format!("{}{path}", s.server.trim_end_matches('/'))
}

fn print_defs(out: &mut dyn Write, defs: &[Value]) -> Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "id",
        "status",
        "allocation",
        "layer",
        "share",
        "arms",
        "start",
        "end",
    ]);
    for d in defs {
        let arms: Vec<String> = d["arms"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|a| {
                        let m = a["model"]
                            .as_str()
                            .map_or(String::new(), |m| format!(" ({m})"));
                        format!("{}={}{}", a["name"].as_str().unwrap_or("?"), a["weight"], m)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let kind = d["allocation"]["kind"]
            .as_str()
            .unwrap_or("fixed")
            .to_owned();
        let alloc = match d["allocation"]["epsilon"].as_f64() {
            Some(e) => format!("{kind} ({e})"),
            None => kind,
        };
        t.add_row([
            d["id"].as_str().unwrap_or("?").to_owned(),
            d["status"].as_str().unwrap_or("?").to_owned(),
            alloc,
            d["layer"].as_str().unwrap_or("").to_owned(),
            d["layer_share"].to_string(),
            arms.join(", "),
            d["start_unix"].to_string(),
            d["end_unix"].as_i64().map_or("-".into(), |e| e.to_string()),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

/// Runs `tastebud experiment ...`.
pub fn run(cmd: &ExperimentCmd, out: &mut dyn Write) -> Result<()> {
    let agent = agent();
    match cmd {
        ExperimentCmd::Create(a) => {
            let def = definition(a)?;
            let req = admin(agent.post(&url(&a.server, "/v1/experiments")), &a.server)?;
            let text = body(
                req.header("content-type", "application/json")
                    .send(def.to_string()),
                "create",
            )?;
            let created: Value = serde_json::from_str(&text)?;
            writeln!(
                out,
                "created experiment `{}`",
                created["id"].as_str().unwrap_or("?")
            )?;
            print_defs(out, &[created])?;
        }
        ExperimentCmd::List { server, json } => {
            let text = body(agent.get(&url(server, "/v1/experiments")).call(), "list")?;
            if *json {
                writeln!(out, "{text}")?;
            } else {
                let defs: Vec<Value> = serde_json::from_str(&text)?;
                if defs.is_empty() {
                    writeln!(out, "no experiments")?;
                } else {
                    print_defs(out, &defs)?;
                }
            }
        }
        ExperimentCmd::Report {
            id,
            server,
            format,
            out: file,
            alpha,
            mde,
            segment_by,
        } => {
            let mut path =
                format!("/v1/experiments/{id}/report?format={format}&alpha={alpha}&mde={mde}");
            if let Some(k) = segment_by {
                if !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    bail!("--segment-by {k}: letters, digits, _ and - only");
                }
                path.push_str(&format!("&segment_by={k}"));
            }
            let text = body(agent.get(&url(server, &path)).call(), "report")?;
            match file {
                Some(f) => {
                    std::fs::write(f, &text).with_context(|| format!("writing {}", f.display()))?;
                    writeln!(out, "wrote {}", f.display())?;
                }
                None => write!(out, "{text}")?,
            }
        }
        ExperimentCmd::Stop { id, server } => {
            let req = admin(
                agent.post(&url(server, &format!("/v1/experiments/{id}/stop"))),
                server,
            )?;
            let text = body(req.send_empty(), "stop")?;
            let d: Value = serde_json::from_str(&text)?;
            writeln!(out, "stopped experiment `{}` (end {})", id, d["end_unix"])?;
        }
    }
    Ok(())
}
