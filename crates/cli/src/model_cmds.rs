//! `tastebud train`, `recommend` and `similar`: fit a model into a file, then serve it from the command line.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use tastebud_core::{ItemIdx, Scored};
use tastebud_models::file::ModelFile;
use tastebud_models::knowledge::{ItemReason, KnowledgeQuery, Outcome};
use tastebud_models::reason::{Reason, RenderContext, reason_for};
use tastebud_models::registry::{self, ModelSpec};
use tastebud_models::{Explanation, Query};

use crate::DataArgs;
use crate::progress::Bar;

/// Flags of `tastebud train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model name (see `tastebud evaluate --help` for the list).
    #[arg(long)]
    model: String,
    /// A hyperparameter, `key=value`; repeatable (e.g. `--param factors=64 --param iterations=15`).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Output model file.
    #[arg(long)]
    out: PathBuf,
    /// Do not store the training interactions in the file (smaller; `recommend --user` then needs
    /// `--history`).
    #[arg(long)]
    no_history: bool,
    /// Print the model file's header as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `train`.
pub fn train(args: &TrainArgs, out: &mut impl Write) -> Result<()> {
    let mut spec = ModelSpec::new(&args.model)?;
    for p in &args.params {
        spec = spec.param(p)?;
    }
    let data = args.data.load()?;
    let bar = Bar::new();
    let t = Instant::now();
    let (model, params) = registry::fit(&spec, &data, &bar)?;
    bar.finish();
    let secs = t.elapsed().as_secs_f64();
    let file = ModelFile::new(model, params, &data, !args.no_history);
    file.save(&args.out)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&file.header)?)?;
    } else {
        writeln!(
            out,
            "trained {} on {} ({} users, {} items, {} interactions) in {secs:.2} s -> {}\nparams: {}",
            file.header.model,
            file.header.dataset,
            file.header.n_users,
            file.header.n_items,
            file.header.n_interactions,
            args.out.display(),
            file.header.params
        )?;
    }
    Ok(())
}

/// Flags of `tastebud recommend`.
#[derive(Args, Debug)]
pub struct RecommendArgs {
    /// Model file written by `tastebud train`.
    #[arg(long)]
    model: PathBuf,
    /// External user id (their training history is the query).
    #[arg(long)]
    user: Option<String>,
    /// Extra or ad-hoc history: comma-separated `ITEM[:VALUE]` (added to the user's, or alone for a new
    /// user). Without a value an item counts as a top rating for explicit data (the largest training value)
    /// and as 1 for implicit data.
    #[arg(long, value_delimiter = ',')]
    history: Vec<String>,
    /// How many items.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// The verb the reasons use for consumption ("because you watched ...", "people who bought ...").
    #[arg(long, default_value = "watched")]
    verb: String,
    /// A knowledge-based constraint on item features, `COLUMN OP VALUE`, repeatable; only items meeting
    /// all of them are recommended: `--where "genres = Comedy" --where "year >= 1990"`. OP: `=` (any of
    /// `a|b`), `!=`, `<`, `<=`, `>`, `>=`, `in LO..HI`, `~` (contains). When none qualifies, the minimal
    /// relaxations are printed.
    #[arg(long = "where", value_name = "CONSTRAINT")]
    constraints: Vec<String>,
    /// A soft preference ranking the qualifying items, repeatable: a constraint, or `COLUMN high`,
    /// `COLUMN low`, `COLUMN near V`, each with an optional weight `^W` (`--prefer "genres = Drama^2"`).
    #[arg(long = "prefer", value_name = "PREFERENCE")]
    preferences: Vec<String>,
    /// Weight of the model's score against the preferences' utility, in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    blend: f32,
    /// When no item meets every constraint, recommend from the first minimal relaxation.
    #[arg(long)]
    relax: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One recommended item, as printed.
#[derive(serde::Serialize)]
struct Row {
    rank: usize,
    item: String,
    title: Option<String>,
    score: f32,
    because: Vec<String>,
    /// Why, in words ("because you rated Toy Story (1995) 5 stars").
    reason: String,
    /// Why, as data.
    reason_data: Reason,
    /// The constraints met and the preferences' values, for a knowledge-based request.
    #[serde(skip_serializing_if = "Option::is_none")]
    knowledge: Option<ItemReason>,
}

/// `recommend --json` with constraints: what they found, and the items.
#[derive(serde::Serialize)]
struct KnowledgeOutput<'a> {
    knowledge: &'a Outcome,
    items: &'a [Row],
}

/// Runs `recommend`.
pub fn recommend(args: &RecommendArgs, out: &mut impl Write) -> Result<()> {
    let file = ModelFile::load(&args.model)?;
    let ctx = &file.context;
    let mut history: Vec<(ItemIdx, f32)> = Vec::new();
    // The order of events for the sequential models: the training sequence, then --history in order.
    let mut sequence: Vec<ItemIdx> = Vec::new();
    let mut user = None;
    if let Some(id) = &args.user {
        let u = ctx
            .users
            .get(id)
            .with_context(|| format!("unknown user `{id}` (give --history for a new user)"))?;
        let train = ctx.train.as_ref().with_context(|| {
            "the model file has no training histories (trained with --no-history); give --history".to_string()
        })?;
        history = train.history(u);
        sequence = train.sequence(u);
        user = Some(u);
    }
    let default_value = match ctx.train.as_ref() {
        Some(t) if t.kind() == tastebud_core::Feedback::Explicit => {
            t.values().iter().copied().fold(1.0f32, f32::max)
        }
        _ => 1.0,
    };
    for entry in &args.history {
        let (id, value) = match entry.rsplit_once(':') {
            Some((id, v)) => (
                id,
                v.parse::<f32>()
                    .with_context(|| format!("`{entry}`: `{v}` is not a number"))?,
            ),
            None => (entry.as_str(), default_value),
        };
        let i = ctx
            .items
            .get(id)
            .with_context(|| format!("unknown item `{id}` in --history"))?;
        history.push((i, value));
        sequence.push(i);
    }
    let knowledge = if args.constraints.is_empty() && args.preferences.is_empty() {
        None
    } else {
        let features = ctx.item_features.as_ref().with_context(
            || "--where and --prefer need item features, and this model's dataset has none",
        )?;
        let q = KnowledgeQuery::parse(features, &args.constraints, &args.preferences, args.blend)?;
        Some((q.relaxing(args.relax), features))
    };
    if args.user.is_none() && history.is_empty() && knowledge.is_none() {
        bail!(
            "give --user ID or --history ITEM,ITEM,... (an empty history gets the cold-start list), or --where"
        );
    }
    let m = file.model.as_recommender();
    let mut q = Query::new(&history).sequence(&sequence);
    if let Some(u) = user {
        q = q.user(u);
    }
    // Knowledge-based: the model scores only the qualifying items, then the utility blend ranks them.
    let mut outcome = None;
    let recs = match &knowledge {
        None => m.recommend(&q, args.k)?,
        Some((kq, features)) => {
            let seen: std::collections::HashSet<ItemIdx> =
                history.iter().map(|&(i, _)| i).collect();
            let n = m.n_items().min(features.len()) as u32;
            let sel = kq.select(features, (0..n).map(ItemIdx).filter(|i| !seen.contains(i)));
            let scored = if sel.items.is_empty() {
                Vec::new()
            } else {
                m.recommend(&q.candidates(&sel.items), sel.items.len())?
            };
            let mut ranked = kq.rank(features, &sel.items, &scored);
            ranked.truncate(args.k);
            outcome = Some(sel.outcome);
            ranked
        }
    };
    let title = |i: ItemIdx| {
        ctx.item_features
            .as_ref()
            .and_then(|f| f.text("title", i.get()))
            .map(str::to_string)
    };
    let name = |i: ItemIdx| title(i).unwrap_or_else(|| ctx.items.id(i).unwrap_or("?").to_string());
    let explicit = ctx
        .train
        .as_ref()
        .is_some_and(|t| t.kind() == tastebud_core::Feedback::Explicit);
    let render = RenderContext::new(&name)
        .explicit(explicit)
        .verb(&args.verb);
    let rows: Vec<Row> = recs
        .iter()
        .enumerate()
        .map(|(r, s)| {
            let because = match m.explain(&q, s.item, 3) {
                Ok(Some(Explanation { because })) => {
                    because.iter().map(|(i, _)| name(*i)).collect()
                }
                _ => Vec::new(),
            };
            let reason = reason_for(m, &q, s.item)?;
            let mut text = reason.render(&render);
            let mut knowledge_reason = None;
            if let (Some((kq, features)), Some(o)) = (&knowledge, &outcome) {
                let k = kq.reason(features, s.item, &o.relaxed);
                text = format!("{}; {text}", k.render());
                knowledge_reason = Some(k);
            }
            Ok(Row {
                rank: r + 1,
                item: ctx.items.id(s.item).unwrap_or("?").to_string(),
                title: title(s.item),
                score: s.score,
                because,
                reason: text,
                reason_data: reason,
                knowledge: knowledge_reason,
            })
        })
        .collect::<Result<_>>()?;
    if args.json {
        let json = match &outcome {
            Some(o) => serde_json::to_string_pretty(&KnowledgeOutput {
                knowledge: o,
                items: &rows,
            })?,
            None => serde_json::to_string_pretty(&rows)?,
        };
        writeln!(out, "{json}")?;
        return Ok(());
    }
    if let Some(o) = &outcome {
        writeln!(out, "{}", o.message)?;
        if o.satisfying == 0 && !o.relaxations.is_empty() {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_header(vec!["relaxation", "drop", "items"]);
            for (k, r) in o.relaxations.iter().enumerate() {
                t.add_row(vec![
                    (k + 1).to_string(),
                    r.drop.join(" and "),
                    r.items.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        if rows.is_empty() {
            return Ok(());
        }
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["#", "item", "title", "score", "why"]);
    for r in rows {
        t.add_row(vec![
            r.rank.to_string(),
            r.item,
            r.title.unwrap_or_default(),
            format!("{:.4}", r.score),
            r.reason,
        ]);
    }
    writeln!(
        out,
        "{} for {} ({} history items)\n{t}",
        file.header.model,
        args.user.as_deref().unwrap_or("a new user"),
        history.len()
    )?;
    Ok(())
}

/// Flags of `tastebud similar`.
#[derive(Args, Debug)]
pub struct SimilarArgs {
    /// Model file written by `tastebud train`.
    #[arg(long)]
    model: PathBuf,
    /// External item id.
    #[arg(long)]
    item: String,
    /// How many items.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `similar`.
pub fn similar(args: &SimilarArgs, out: &mut impl Write) -> Result<()> {
    let file = ModelFile::load(&args.model)?;
    let ctx = &file.context;
    let i = ctx
        .items
        .get(&args.item)
        .with_context(|| format!("unknown item `{}`", args.item))?;
    let sims: Vec<Scored> = file.model.as_recommender().similar_items(i, args.k)?;
    let title = |i: ItemIdx| {
        ctx.item_features
            .as_ref()
            .and_then(|f| f.text("title", i.get()))
            .map(str::to_string)
    };
    if args.json {
        let v: Vec<serde_json::Value> = sims
            .iter()
            .map(|s| serde_json::json!({"item": ctx.items.id(s.item), "title": title(s.item), "score": s.score}))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    if sims.is_empty() {
        writeln!(
            out,
            "{} has no notion of item similarity",
            file.header.model
        )?;
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["#", "item", "title", "similarity"]);
    for (r, s) in sims.iter().enumerate() {
        t.add_row(vec![
            (r + 1).to_string(),
            ctx.items.id(s.item).unwrap_or("?").to_string(),
            title(s.item).unwrap_or_default(),
            format!("{:.4}", s.score),
        ]);
    }
    writeln!(
        out,
        "items similar to {} {}\n{t}",
        args.item,
        title(i).unwrap_or_default()
    )?;
    Ok(())
}
