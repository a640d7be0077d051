//! TREC run and qrels files, so any outside tool (trec_eval, pytrec_eval, ranx) can recompute the numbers.
//!
//! - run: `user Q0 item rank score run_name`, one line per recommended item, best first;
//! - qrels: `user 0 item grade`, one line per relevant test item.
//!
//! Users and items are written with their external ids. trec_eval re-sorts each query's documents by
//! score (breaking ties by document id), so the score column holds `list length - rank + 1` rather than the
//! model's raw score: that keeps our exact order (including our tie rule) for every tool.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use tastebud_core::{Dataset, Error, ItemIdx, Result, UserIdx};

use crate::evaluator::RankedList;
use crate::metrics::Relevant;

/// Writes recommendation lists as a TREC run.
pub fn write_run(path: &Path, ids: &Dataset, lists: &[RankedList], run_name: &str) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::new(f);
    let io = |e| Error::io(path, e);
    let name: String = run_name
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    for l in lists {
        let uid = ids.users.id(l.user).unwrap_or_default();
        let n = l.items.len();
        for (r, i) in l.items.iter().enumerate() {
            let iid = ids.items.id(*i).unwrap_or_default();
            writeln!(w, "{uid} Q0 {iid} {} {} {name}", r + 1, n - r).map_err(io)?;
        }
    }
    w.flush().map_err(io)
}

/// Writes relevance judgments as TREC qrels (grades rounded to integers, at least 1).
pub fn write_qrels(path: &Path, ids: &Dataset, rel: &[(UserIdx, Relevant)]) -> Result<()> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::new(f);
    let io = |e| Error::io(path, e);
    for (u, r) in rel {
        let uid = ids.users.id(*u).unwrap_or_default();
        for (i, g) in r.items().iter().zip(r.grades()) {
            let iid = ids.items.id(*i).unwrap_or_default();
            writeln!(w, "{uid} 0 {iid} {}", (g.round() as i64).max(1)).map_err(io)?;
        }
    }
    w.flush().map_err(io)
}

/// Reads a TREC run into lists (best first: by score descending, ties by document id descending, as
/// trec_eval orders them). Unknown users or items are errors naming the line.
pub fn read_run(path: &Path, ids: &Dataset) -> Result<Vec<RankedList>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut by_user: BTreeMap<UserIdx, Vec<(f32, String, ItemIdx)>> = BTreeMap::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let bad = |reason: String| Error::Parse {
            path: path.to_path_buf(),
            line: n as u64 + 1,
            reason,
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 5 {
            return Err(bad(format!(
                "expected `user Q0 item rank score [run]`, found {} fields",
                fields.len()
            )));
        }
        let u = ids
            .user(fields[0])
            .ok_or_else(|| bad(format!("unknown user `{}`", fields[0])))?;
        let i = ids
            .item(fields[2])
            .ok_or_else(|| bad(format!("unknown item `{}`", fields[2])))?;
        let score: f32 = fields[4]
            .parse()
            .map_err(|_| bad(format!("score `{}` is not a number", fields[4])))?;
        if !score.is_finite() {
            return Err(bad(format!("score `{}` is not finite", fields[4])));
        }
        by_user
            .entry(u)
            .or_default()
            .push((score, fields[2].to_string(), i));
    }
    Ok(by_user
        .into_iter()
        .map(|(u, mut v)| {
            v.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
            v.dedup_by(|a, b| a.2 == b.2);
            RankedList {
                user: u,
                items: v.iter().map(|x| x.2).collect(),
                scores: v.iter().map(|x| x.0).collect(),
            }
        })
        .collect())
}
