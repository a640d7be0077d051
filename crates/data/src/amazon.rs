//! Amazon reviews as published by Julian McAuley's lab (2014, 2018 and 2023 releases).
//!
//! - **Ratings-only CSV**, no header, 4 fields: `user,item,rating,timestamp` in 2014 (`ratings_Books.csv`,
//!   e.g. `A2SUAM1J3GNN3B,0000013714,5.0,1393545600`) and `item,user,rating,timestamp` in 2018 (`Books.csv`).
//!   The column order is told from the ids of the first lines: reviewer ids are `A` plus 11 or more
//!   upper-case letters and digits, ASINs are 10 characters (an ISBN-10 or `B…`). The 2023 benchmark CSVs,
//!   with a header `user_id,parent_asin,rating,timestamp[,history]` and millisecond timestamps, are read too.
//! - **Reviews**, JSON lines (`reviews_Books_5.json.gz`, `Books.json.gz`, `Books.jsonl`): keys `reviewerID`,
//!   `asin`, `overall`, `unixReviewTime` (2014, 2018) or `user_id`, `parent_asin` (falling back to `asin`),
//!   `rating`, `timestamp` (2023, in milliseconds: converted to seconds). Other keys are ignored.
//! - **Metadata**, JSON lines (`meta_Books.json.gz`, `meta_Books.jsonl`): `asin` / `parent_asin`, `title`,
//!   `categories` (a list of lists in 2014, a list in 2023) or `category` (a list, 2018), `brand` (2014,
//!   2018) or `store` (2023), `main_cat` / `main_category`, `price` (a number, or text such as `$12.99`).
//!   They become the item features `title` (text), `categories`, `brand`, `main_category` (categorical)
//!   and `price` (numeric). The first record of an item wins when an item is listed twice. Strict JSON only:
//!   the 2014 metadata, written as Python literals, is rejected line by line with a hint on converting it.
//! - A folder is read whole: metadata files first (so the item order is the catalogue's), then every
//!   ratings and reviews file, sorted by name.
//!
//! JSON files are read in 8 MiB chunks parsed in parallel; rows keep file order, and error line numbers are
//! exact.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use tastebud_core::{Error, FeatureTable, Result, Triplets};

use crate::builder::DatasetBuilder;
use crate::delimited::{Columns, Delimiter, InteractionFormat, read_interactions};
use crate::source;

/// Rows per interaction block handed to the builder.
const BLOCK_ROWS: usize = 1 << 20;
/// Bytes per chunk of a JSON-lines file parsed by one task.
const CHUNK: usize = 8 << 20;
/// Data lines looked at to tell the column order of a ratings CSV.
const SNIFF_LINES: usize = 100;
/// Timestamps at or above this are milliseconds (1e11 s is in the year 5138; 1e11 ms is in 1973).
const MS_THRESHOLD: i64 = 100_000_000_000;

/// What an Amazon file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Headerless ratings CSV (2014 or 2018; the column order is sniffed when reading).
    RatingsCsv,
    /// The 2023 CSV with a `user_id,parent_asin,rating,timestamp` header and millisecond timestamps.
    Ratings2023Csv,
    /// JSON-lines reviews.
    Reviews,
    /// JSON-lines item metadata (`meta_*`).
    Meta,
}

/// True when `path` is an Amazon ratings CSV or reviews JSON-lines file, or a folder holding one.
pub fn detect(path: &Path) -> bool {
    if path.is_dir() {
        return folder_files(path).iter().any(|(_, k)| *k != FileKind::Meta);
    }
    classify(path).is_some_and(|k| k != FileKind::Meta)
}

/// Tells what an Amazon file holds from its name and first line; `None` when it is not one.
pub fn classify(path: &Path) -> Option<FileKind> {
    if !path.is_file() {
        return None;
    }
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let base = name.strip_suffix(".gz").unwrap_or(&name);
    if base.ends_with(".json") || base.ends_with(".jsonl") {
        if base.starts_with("meta_") {
            return Some(FileKind::Meta);
        }
        let first = first_line(path)?;
        let has = |k: &str| first.contains(&format!("\"{k}\""));
        return (has("reviewerID") || has("user_id")).then_some(FileKind::Reviews);
    }
    if base.ends_with(".csv") {
        let first = first_line(path)?;
        let first = first.trim_start_matches('\u{feff}');
        if first.starts_with("user_id,parent_asin,rating,timestamp") {
            return Some(FileKind::Ratings2023Csv);
        }
        let f: Vec<&str> = first.split(',').map(str::trim).collect();
        let numeric = |s: &str| s.parse::<f64>().is_ok_and(f64::is_finite);
        let ok = f.len() == 4
            && numeric(f[2])
            && numeric(f[3])
            && (is_reviewer_id(f[0]) || is_reviewer_id(f[1]));
        return ok.then_some(FileKind::RatingsCsv);
    }
    None
}

/// The first line of a (possibly gzipped) file, at most 1 MiB of it, lossily decoded.
fn first_line(path: &Path) -> Option<String> {
    let mut line = Vec::new();
    BufReader::new(source::open(path).ok()?.take(1 << 20))
        .read_until(b'\n', &mut line)
        .ok()?;
    let s = String::from_utf8_lossy(&line);
    Some(s.trim_end_matches(['\n', '\r']).to_string())
}

/// An Amazon reviewer id: `A` then 11 or more upper-case ASCII letters or digits.
fn is_reviewer_id(s: &str) -> bool {
    s.len() >= 12
        && s.starts_with('A')
        && s.bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// An ASIN: 10 characters, an ISBN-10 (digits, maybe a final `X`) or upper-case alphanumerics from `B`.
fn is_asin(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && (b[..9].iter().all(u8::is_ascii_digit) && (b[9].is_ascii_digit() || b[9] == b'X')
            || b[0] == b'B'
                && b.iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
}

/// The Amazon files of a folder with their kinds: metadata first, then by name.
fn folder_files(dir: &Path) -> Vec<(PathBuf, FileKind)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, FileKind)> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| classify(&p).map(|k| (p, k)))
        .collect();
    files.sort_by(|a, b| (a.1 != FileKind::Meta, &a.0).cmp(&(b.1 != FileKind::Meta, &b.0)));
    files
}

/// Reads an Amazon file, or every Amazon file of a folder (metadata first), into `b`.
pub fn load(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let files = if path.is_dir() {
        let files = folder_files(path);
        if !files.iter().any(|(_, k)| *k != FileKind::Meta) {
            return Err(Error::BadInput {
                path: path.to_path_buf(),
                reason: "no Amazon ratings CSV or reviews JSON-lines file in this folder".into(),
            });
        }
        files
    } else {
        match classify(path) {
            Some(FileKind::Meta) => {
                return Err(Error::BadInput {
                    path: path.to_path_buf(),
                    reason: "this is item metadata only; load the folder holding it together with \
                             a ratings or reviews file"
                        .into(),
                });
            }
            Some(k) => vec![(path.to_path_buf(), k)],
            None => {
                return Err(Error::BadInput {
                    path: path.to_path_buf(),
                    reason: "not an Amazon ratings CSV (`user,item,rating,timestamp`, no header) or \
                             reviews JSON-lines file (`*.json[l][.gz]` with `reviewerID` or `user_id`)"
                        .into(),
                });
            }
        }
    };
    read_all_meta(&files, b)?;
    for (p, k) in &files {
        match k {
            FileKind::Meta => {}
            FileKind::RatingsCsv => {
                read_interactions(p, &ratings_csv_format(p)?, b)?;
            }
            FileKind::Ratings2023Csv => {
                let first_block = b.blocks.len();
                read_interactions(p, &ratings_2023_format(), b)?;
                for block in &mut b.blocks[first_block..] {
                    for t in &mut block.times {
                        *t = to_seconds(*t);
                    }
                }
            }
            FileKind::Reviews => read_reviews(p, b)?,
        }
    }
    Ok(())
}

/// Reads the metadata files (`meta_*.json[l][.gz]`) of the folder at `path` into `b` (nothing for a file).
/// Used by [`load`], and on its own before reading train/test rating files into the catalogue's id space.
pub fn catalogue(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    if path.is_dir() {
        read_all_meta(&folder_files(path), b)?;
    }
    Ok(())
}

fn read_all_meta(files: &[(PathBuf, FileKind)], b: &mut DatasetBuilder) -> Result<()> {
    let mut meta = MetaAccumulator::default();
    let mut any_meta = false;
    for (p, k) in files {
        if *k == FileKind::Meta {
            read_meta(p, b, &mut meta)?;
            any_meta = true;
        }
    }
    if any_meta {
        meta.finish(b)?;
    }
    Ok(())
}

/// Unix seconds from seconds or milliseconds (see [`MS_THRESHOLD`]).
fn to_seconds(t: i64) -> i64 {
    if t.abs() >= MS_THRESHOLD {
        t.div_euclid(1000)
    } else {
        t
    }
}

/// The format of a headerless ratings CSV, its column order (user or item first) told from its first lines.
pub fn ratings_csv_format(path: &Path) -> Result<InteractionFormat> {
    let mut r = BufReader::new(source::open(path)?);
    let (mut user_first, mut item_first) = (0usize, 0usize);
    let mut line = Vec::new();
    for _ in 0..SNIFF_LINES {
        line.clear();
        if r.read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?
            == 0
        {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let mut f = text.split(',').map(str::trim);
        let (Some(a), Some(b)) = (f.next(), f.next()) else {
            continue;
        };
        user_first += usize::from(is_reviewer_id(a)) + usize::from(is_asin(b));
        item_first += usize::from(is_asin(a)) + usize::from(is_reviewer_id(b));
    }
    let (user, item) = if item_first > user_first {
        (1, 0)
    } else {
        (0, 1)
    };
    Ok(InteractionFormat::positional(
        Delimiter::Byte(b','),
        Columns::positional(user, item, Some(2), Some(3)),
    ))
}

/// The format of a 2023 benchmark CSV (`user_id,parent_asin,rating,timestamp[,history]`).
pub fn ratings_2023_format() -> InteractionFormat {
    InteractionFormat::with_header(
        Delimiter::Byte(b','),
        Columns::parse_mapping("user=user_id,item=parent_asin,rating=rating,time=timestamp")
            .expect("static mapping"),
    )
}

/// The keys of a review line that matter (2014/2018 names as aliases of the 2023 ones).
#[derive(Deserialize)]
struct ReviewLine {
    #[serde(alias = "reviewerID")]
    user_id: Option<String>,
    asin: Option<String>,
    parent_asin: Option<String>,
    #[serde(alias = "overall")]
    rating: Option<f32>,
    #[serde(rename = "unixReviewTime")]
    unix_review_time: Option<i64>,
    timestamp: Option<i64>,
}

/// The keys of a metadata line that matter.
#[derive(Deserialize)]
struct MetaLine {
    asin: Option<String>,
    parent_asin: Option<String>,
    title: Option<serde_json::Value>,
    categories: Option<serde_json::Value>,
    category: Option<serde_json::Value>,
    #[serde(alias = "store")]
    brand: Option<serde_json::Value>,
    #[serde(alias = "main_cat")]
    main_category: Option<serde_json::Value>,
    price: Option<serde_json::Value>,
}

/// Why a line is not JSON, with a hint for the 2014 metadata's Python literals.
fn json_reason(line: &[u8], e: &serde_json::Error) -> String {
    let t = line.trim_ascii_start();
    if t.starts_with(b"{'") || t.starts_with(b"{ '") {
        "not JSON (the 2014 metadata is Python literal syntax; convert with \
         `python3 -c \"import ast,json,sys; [print(json.dumps(ast.literal_eval(l))) for l in sys.stdin]\"`)"
            .to_string()
    } else {
        format!("not JSON: {e}")
    }
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses one review line into (user, item, rating, Unix seconds).
fn parse_review(line: &[u8]) -> std::result::Result<(String, String, f32, i64), String> {
    let r: ReviewLine = serde_json::from_slice(line).map_err(|e| json_reason(line, &e))?;
    let user = nonempty(r.user_id).ok_or("missing `reviewerID` / `user_id`")?;
    let item = nonempty(r.parent_asin)
        .or_else(|| nonempty(r.asin))
        .ok_or("missing `asin` / `parent_asin`")?;
    crate::delimited::check_id_len("user id", &user)?;
    crate::delimited::check_id_len("item id", &item)?;
    let rating = r
        .rating
        .filter(|v| v.is_finite())
        .ok_or("missing `overall` / `rating`")?;
    let time = match (r.unix_review_time, r.timestamp) {
        (Some(t), _) => t,
        (None, Some(t)) => to_seconds(t),
        (None, None) => return Err("missing `unixReviewTime` / `timestamp`".into()),
    };
    Ok((user, item, rating, time))
}

/// Reads a JSON-lines reviews file into `b`.
fn read_reviews(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let mut block = Triplets::default();
    for_each_chunk(path, b, parse_review, |b, rows| {
        for (user, item, rating, time) in rows {
            let u = b.users.insert(&user);
            let i = b.items.insert(&item);
            block.push(u, i, rating, Some(time));
            if block.len() >= BLOCK_ROWS {
                b.blocks.push(std::mem::take(&mut block));
            }
        }
    })?;
    if !block.is_empty() {
        block.shrink();
        b.blocks.push(block);
    }
    Ok(())
}

/// One item's metadata.
struct MetaRow {
    id: String,
    title: Option<String>,
    categories: Vec<String>,
    brand: Option<String>,
    main_category: Option<String>,
    price: Option<f32>,
}

/// A JSON string value, trimmed, `None` when absent, empty or not a string.
fn text(v: Option<serde_json::Value>) -> Option<String> {
    match v {
        Some(serde_json::Value::String(s)) => nonempty(Some(s)),
        _ => None,
    }
}

/// All strings in a value (a string, or nested lists of strings), in order.
fn flatten_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| flatten_strings(x, out)),
        _ => {}
    }
}

/// A price: a number, or text such as `$1,299.99` (ranges and other text give `None`).
fn price(v: Option<serde_json::Value>) -> Option<f32> {
    let p = match v? {
        serde_json::Value::Number(n) => n.as_f64()? as f32,
        serde_json::Value::String(s) => {
            let s: String = s.trim().trim_start_matches('$').replace(',', "");
            s.trim().parse::<f32>().ok()?
        }
        _ => return None,
    };
    p.is_finite().then_some(p)
}

/// Parses one metadata line.
fn parse_meta(line: &[u8]) -> std::result::Result<MetaRow, String> {
    let m: MetaLine = serde_json::from_slice(line).map_err(|e| json_reason(line, &e))?;
    let id = nonempty(m.parent_asin)
        .or_else(|| nonempty(m.asin))
        .ok_or("missing `asin` / `parent_asin`")?;
    let mut categories = Vec::new();
    for v in [&m.categories, &m.category].into_iter().flatten() {
        flatten_strings(v, &mut categories);
    }
    Ok(MetaRow {
        id,
        title: text(m.title),
        categories,
        brand: text(m.brand),
        main_category: text(m.main_category),
        price: price(m.price),
    })
}

/// Item metadata gathered from every metadata file, by item index.
#[derive(Default)]
struct MetaAccumulator {
    rows: Vec<Option<MetaRow>>,
}

impl MetaAccumulator {
    fn add(&mut self, b: &mut DatasetBuilder, row: MetaRow) {
        let i = b.items.insert(&row.id) as usize;
        if self.rows.len() <= i {
            self.rows.resize_with(i + 1, || None);
        }
        if self.rows[i].is_none() {
            self.rows[i] = Some(row);
        }
    }

    fn finish(self, b: &mut DatasetBuilder) -> Result<()> {
        let n = b.items.len();
        let mut t = FeatureTable::new(n);
        let mut categories = t.categorical_builder();
        let mut brand = t.categorical_builder();
        let mut main = t.categorical_builder();
        let mut titles = vec![None; n];
        let mut prices = vec![None; n];
        for (i, row) in self.rows.into_iter().enumerate() {
            let Some(row) = row else { continue };
            for c in &row.categories {
                categories.push(i, c, 1.0);
            }
            if let Some(x) = &row.brand {
                brand.push(i, x, 1.0);
            }
            if let Some(x) = &row.main_category {
                main.push(i, x, 1.0);
            }
            titles[i] = row.title;
            prices[i] = row.price;
        }
        t.add_text("title", titles)?;
        t.add("categories", categories.finish())?;
        t.add("brand", brand.finish())?;
        t.add("main_category", main.finish())?;
        t.add_numeric("price", prices)?;
        b.item_features = Some(t);
        Ok(())
    }
}

/// Reads a JSON-lines metadata file into `meta`.
fn read_meta(path: &Path, b: &mut DatasetBuilder, meta: &mut MetaAccumulator) -> Result<()> {
    for_each_chunk(path, b, parse_meta, |b, rows| {
        for row in rows {
            meta.add(b, row);
        }
    })
}

/// One parsed chunk: rows in order, errors as (0-based line offset in the chunk, reason), line count.
struct Parsed<R> {
    rows: Vec<R>,
    errors: Vec<(u64, String)>,
    lines: u64,
}

fn parse_chunk<R, P>(chunk: &[u8], parse: &P) -> Parsed<R>
where
    P: Fn(&[u8]) -> std::result::Result<R, String>,
{
    let mut out = Parsed {
        rows: Vec::new(),
        errors: Vec::new(),
        lines: 0,
    };
    if chunk.is_empty() {
        return out;
    }
    let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
    for (k, l) in body.split(|&c| c == b'\n').enumerate() {
        out.lines += 1;
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(l) {
            Ok(r) => out.rows.push(r),
            Err(reason) => out.errors.push((k as u64, reason)),
        }
    }
    out
}

/// Reads `path` line by line in chunks parsed in parallel; errors go through `b.bad` with exact line
/// numbers, and `sink` receives each chunk's rows in file order. Fails on an empty file.
fn for_each_chunk<R, P, S>(path: &Path, b: &mut DatasetBuilder, parse: P, mut sink: S) -> Result<()>
where
    R: Send,
    P: Fn(&[u8]) -> std::result::Result<R, String> + Sync,
    S: FnMut(&mut DatasetBuilder, Vec<R>),
{
    let mut r = BufReader::with_capacity(1 << 20, source::open(path)?);
    let threads = rayon::current_num_threads().max(1);
    let mut next_line = 1u64;
    let mut eof = false;
    let mut any = false;
    while !eof {
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(2 * threads);
        while batch.len() < 2 * threads && !eof {
            let mut chunk = Vec::with_capacity(CHUNK + (64 << 10));
            while chunk.len() < CHUNK {
                let n = r
                    .read_until(b'\n', &mut chunk)
                    .map_err(|e| Error::io(path, e))?;
                if n == 0 {
                    eof = true;
                    break;
                }
            }
            if !chunk.is_empty() {
                any |= !chunk.iter().all(u8::is_ascii_whitespace);
                batch.push(chunk);
            }
        }
        let outs: Vec<Parsed<R>> = batch.par_iter().map(|c| parse_chunk(c, &parse)).collect();
        for out in outs {
            for (off, reason) in out.errors {
                let err = Error::Parse {
                    path: path.to_path_buf(),
                    line: next_line + off,
                    reason,
                };
                b.bad.record(&b.opts, err)?;
            }
            sink(b, out.rows);
            next_line += out.lines;
        }
    }
    if !any {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        });
    }
    Ok(())
}
