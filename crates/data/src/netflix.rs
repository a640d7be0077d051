//! The Netflix Prize training data: `combined_data_1.txt` … `combined_data_4.txt` (as on Kaggle; `.gz`
//! accepted) or the original `training_set/mv_0000001.txt` … files, plus `movie_titles.csv`.
//!
//! - A rating file is a sequence of blocks: a line `MovieID:` followed by lines `CustomerID,Rating,Date`
//!   (`Date` is `YYYY-MM-DD`, read as midnight UTC). A rating line before any `MovieID:` line is an error
//!   naming file and line.
//! - `movie_titles.csv` has lines `MovieID,YearOfRelease,Title`, Latin-1, **not quoted**: the title is
//!   everything after the second comma and may itself contain commas; the year may be `NULL`. It fixes the
//!   item order (catalogue order) and gives the `title` (text) and `year` (numeric) features.
//! - When both layouts are present, only `combined_data_*` is read (they hold the same ratings).
//! - Files are streamed line by line: a 500 MB file is never held in memory. Movie ids are normalised to
//!   their decimal value (`0001` and `1` are the same movie).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use tastebud_core::{Error, FeatureTable, Result, Triplets};

use crate::builder::DatasetBuilder;
use crate::delimited::parse_time;
use crate::source;

/// Rows per interaction block handed to the builder.
const BLOCK_ROWS: usize = 1 << 20;

/// True when `path` is a folder with `combined_data_N.txt[.gz]` files or a `training_set/` folder.
pub fn detect(path: &Path) -> bool {
    path.is_dir() && (!combined_files(path).is_empty() || path.join("training_set").is_dir())
}

/// The `combined_data_1..4.txt[.gz]` files present in `dir`, in order.
fn combined_files(dir: &Path) -> Vec<PathBuf> {
    (1..=4)
        .filter_map(|k| source::find(dir, &format!("combined_data_{k}.txt")))
        .collect()
}

/// The `training_set/mv_*.txt[.gz]` files, sorted by name (which is by movie id: names are zero-padded).
fn training_set_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let ts = dir.join("training_set");
    if !ts.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ts)
        .map_err(|e| Error::io(&ts, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("mv_") && (n.ends_with(".txt") || n.ends_with(".txt.gz"))
                })
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads the Netflix Prize folder at `path` into `b`: `movie_titles.csv` first (when present), then every
/// rating file.
pub fn load(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let mut files = combined_files(path);
    if files.is_empty() {
        files = training_set_files(path)?;
    }
    if files.is_empty() {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "no rating files: expected `combined_data_1.txt` … `combined_data_4.txt` (or `.gz`) \
                     or `training_set/mv_*.txt`"
                .into(),
        });
    }
    catalogue(path, b)?;
    let mut block = Triplets::default();
    for f in &files {
        read_ratings(f, b, &mut block)?;
    }
    if !block.is_empty() {
        block.shrink();
        b.blocks.push(block);
    }
    Ok(())
}

/// Reads `movie_titles.csv` of the folder at `path` into `b`, when present. Used by [`load`], and on its
/// own before reading train/test rating files into the catalogue's id space.
pub fn catalogue(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    match source::find(path, "movie_titles.csv") {
        Some(titles) => movie_titles(&titles, b),
        None => Ok(()),
    }
}

fn parse_err(path: &Path, line: u64, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// `text` as a canonical movie id (its decimal value), or `None` when it is not a whole number.
fn movie_id(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
        .then(|| t.parse::<u64>().ok().map(|v| v.to_string()))
        .flatten()
}

/// Reads `movie_titles.csv` (Latin-1, `MovieID,YearOfRelease,Title`, titles unquoted).
pub fn movie_titles(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let bytes = source::read_all(path)?;
    let mut rows: Vec<(u32, Option<f32>, String)> = Vec::new();
    for (k, raw) in bytes.split(|&c| c == b'\n').enumerate() {
        let line = k as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = source::latin1(raw);
        let mut parts = text.splitn(3, ',');
        let (Some(id), Some(year), Some(title)) = (parts.next(), parts.next(), parts.next()) else {
            let err = parse_err(path, line, "expected `MovieID,YearOfRelease,Title`");
            b.bad.record(&b.opts, err)?;
            continue;
        };
        let Some(id) = movie_id(id) else {
            let err = parse_err(path, line, format!("movie id `{id}` is not a number"));
            b.bad.record(&b.opts, err)?;
            continue;
        };
        let year = match year.trim() {
            "" | "NULL" => None,
            y => match y.parse::<f32>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    let err =
                        parse_err(path, line, format!("year `{y}` is not a number or `NULL`"));
                    b.bad.record(&b.opts, err)?;
                    continue;
                }
            },
        };
        let i = b.items.insert(&id);
        rows.push((i, year, title.trim().to_string()));
    }
    let n = b.items.len();
    let mut titles = vec![None; n];
    let mut years = vec![None; n];
    for (i, year, title) in rows {
        let k = i as usize;
        years[k] = year;
        titles[k] = (!title.is_empty()).then_some(title);
    }
    let mut t = FeatureTable::new(n);
    t.add_text("title", titles)?;
    t.add_numeric("year", years)?;
    b.item_features = Some(t);
    Ok(())
}

/// The movie whose block the reader is in.
enum Current {
    /// No `MovieID:` line seen yet.
    None,
    /// A valid movie (its item index).
    Movie(u32),
    /// The last `MovieID:` line (at this line number) was invalid.
    Invalid(u64),
}

/// Streams one rating file into `block`, pushing full blocks into `b`.
fn read_ratings(path: &Path, b: &mut DatasetBuilder, block: &mut Triplets) -> Result<()> {
    let mut r = BufReader::with_capacity(1 << 20, source::open(path)?);
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    let mut line = 0u64;
    let mut current = Current::None;
    let mut saw_any = false;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        let mut l: &[u8] = &buf;
        if let Some(s) = l.strip_suffix(b"\n") {
            l = s;
        }
        if let Some(s) = l.strip_suffix(b"\r") {
            l = s;
        }
        if l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        saw_any = true;
        let trimmed = l.trim_ascii();
        if let Some(head) = trimmed.strip_suffix(b":")
            && !head.contains(&b',')
        {
            current = match std::str::from_utf8(head).ok().and_then(movie_id) {
                Some(id) => Current::Movie(b.items.insert(&id)),
                None => {
                    let err = parse_err(
                        path,
                        line,
                        format!(
                            "`{}` is not a `MovieID:` line (the id must be a number)",
                            String::from_utf8_lossy(trimmed)
                        ),
                    );
                    b.bad.record(&b.opts, err)?;
                    Current::Invalid(line)
                }
            };
            continue;
        }
        let item = match current {
            Current::Movie(i) => i,
            Current::None => {
                let err = parse_err(path, line, "rating line before any `MovieID:` line");
                b.bad.record(&b.opts, err)?;
                continue;
            }
            Current::Invalid(at) => {
                let err = parse_err(
                    path,
                    line,
                    format!("rating line under the invalid `MovieID:` line {at}"),
                );
                b.bad.record(&b.opts, err)?;
                continue;
            }
        };
        match parse_row(l) {
            Ok((user, value, time)) => {
                let u = b.users.insert(user);
                block.push(u, item, value, Some(time));
                if block.len() >= BLOCK_ROWS {
                    b.blocks.push(std::mem::take(block));
                }
            }
            Err(reason) => b.bad.record(&b.opts, parse_err(path, line, reason))?,
        }
    }
    if !saw_any {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        });
    }
    Ok(())
}

/// Parses `CustomerID,Rating,Date`.
fn parse_row(l: &[u8]) -> std::result::Result<(&str, f32, i64), String> {
    let text = std::str::from_utf8(l).map_err(|_| "invalid UTF-8".to_string())?;
    let mut f = text.split(',');
    let (Some(user), Some(rating), Some(date), None) = (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(format!(
            "expected `CustomerID,Rating,Date`, found {} fields",
            text.split(',').count()
        ));
    };
    let user = user.trim();
    if user.is_empty() {
        return Err("empty customer id".into());
    }
    crate::delimited::check_id_len("customer id", user)?;
    let value = rating
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("rating `{rating}` is not a finite number"))?;
    let time = parse_time(date).ok_or_else(|| format!("date `{date}` is not YYYY-MM-DD"))?;
    Ok((user, value, time))
}
