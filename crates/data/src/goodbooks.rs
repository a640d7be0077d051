//! Goodbooks-10k (Zygmunt Zając, CC BY-SA 4.0): a folder with `books.csv` (the catalogue), `ratings.csv`
//! (`user_id,book_id,rating`), `to_read.csv` (`user_id,book_id`), `book_tags.csv`
//! (`goodreads_book_id,tag_id,count`) and `tags.csv` (`tag_id,tag_name`).
//!
//! - Items are keyed by `book_id` (1–10000) in `books.csv` order, with features `title` (text), `authors`
//!   (categorical, split on `", "`), `year` (from `original_publication_year`, e.g. `2008.0`; negative for
//!   antiquity), `language` (categorical, from `language_code`) and `tags` (categorical, weight = how many
//!   users put the book on that shelf).
//! - `book_tags.csv` is keyed by **`goodreads_book_id`**, not `book_id`: tags are attached through the
//!   catalogue's `goodreads_book_id` column. Tags of books outside the catalogue are ignored; tags missing
//!   from `tags.csv` are labelled with their id.
//! - `ratings.csv` gives explicit 1–5 ratings (no timestamps). Without it, `to_read.csv` is read as implicit
//!   feedback (one "to read" mark = 1). Without either the folder is rejected, naming `ratings.csv`.

use std::path::Path;

use rustc_hash::FxHashMap;
use tastebud_core::{Error, FeatureTable, Feedback, Result};

use crate::builder::DatasetBuilder;
use crate::delimited::{Columns, Delimiter, InteractionFormat, read_interactions};
use crate::source;

/// True when `path` is a folder holding `books.csv` (or `books.csv.gz`).
pub fn detect(path: &Path) -> bool {
    path.is_dir() && source::find(path, "books.csv").is_some()
}

/// The format of `ratings.csv`: `user_id,book_id,rating` with a header.
pub fn ratings_format() -> InteractionFormat {
    InteractionFormat::with_header(
        Delimiter::Byte(b','),
        Columns::parse_mapping("user=user_id,item=book_id,rating=rating").expect("static mapping"),
    )
}

/// The format of `to_read.csv`: `user_id,book_id` with a header (each row weighs 1).
pub fn to_read_format() -> InteractionFormat {
    InteractionFormat::with_header(
        Delimiter::Byte(b','),
        Columns::parse_mapping("user=user_id,item=book_id").expect("static mapping"),
    )
}

/// Reads the Goodbooks-10k folder at `path` into `b`: catalogue and tags first, then ratings (or to-read
/// marks as implicit feedback when `ratings.csv` is absent).
pub fn load(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    // Fail before parsing anything when there is nothing to learn from.
    let (file, format) = if let Some(r) = source::find(path, "ratings.csv") {
        (r, ratings_format())
    } else if let Some(t) = source::find(path, "to_read.csv") {
        b.kind = Feedback::Implicit;
        (t, to_read_format())
    } else {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "missing `ratings.csv` (and no `to_read.csv` to read as implicit feedback): \
                     this folder has the book catalogue only; the ratings are published at \
                     https://github.com/zygmuntz/goodbooks-10k/releases"
                .into(),
        });
    };
    catalogue(path, b)?;
    read_interactions(&file, &format, b)?;
    Ok(())
}

/// Reads the catalogue of the folder at `path` into `b`: `books.csv` (required) and, when present,
/// `book_tags.csv` with the names in `tags.csv`. Used by [`load`], and on its own before reading train/test
/// rating files into the catalogue's id space.
pub fn catalogue(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let goodreads = books(&source::require(path, "books.csv")?, b)?;
    if let Some(bt) = source::find(path, "book_tags.csv") {
        let names = match source::find(path, "tags.csv") {
            Some(t) => tag_names(&t, b)?,
            None => FxHashMap::default(),
        };
        book_tags(&bt, &goodreads, &names, b)?;
    }
    Ok(())
}

fn parse_err(path: &Path, line: u64, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

fn csv_err(path: &Path, e: &csv::Error) -> Error {
    let line = e.position().map_or(0, csv::Position::line);
    let reason = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        _ => e.to_string(),
    };
    parse_err(path, line, reason)
}

/// A CSV reader over a (possibly gzipped) file.
type CsvReader = csv::Reader<Box<dyn std::io::Read + Send>>;

/// A CSV reader over `path` (gzip-aware) and its header names.
///
/// Records end at `\n` only (a `\r` before it is trimmed with the field): with the csv crate's default CRLF
/// terminator, record positions in CRLF files (`tags.csv`, `book_tags.csv`) are one line too low.
fn csv_reader(path: &Path) -> Result<(CsvReader, Vec<String>)> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(source::open(path)?);
    let headers = rdr
        .byte_headers()
        .map_err(|e| csv_err(path, &e))?
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect::<Vec<_>>();
    if headers.iter().all(String::is_empty) {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        });
    }
    Ok((rdr, headers))
}

/// True when every field is whitespace (a blank line, `\r` included).
fn blank<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> bool {
    fields.all(|f| f.iter().all(u8::is_ascii_whitespace))
}

fn column(headers: &[String], name: &str, path: &Path) -> Result<usize> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| Error::BadInput {
            path: path.to_path_buf(),
            reason: format!(
                "missing column `{name}`; the header has: {}",
                headers.join(", ")
            ),
        })
}

/// One catalogue row.
struct Book {
    id: String,
    goodreads: Option<String>,
    title: Option<String>,
    authors: Vec<String>,
    year: Option<f32>,
    language: Option<String>,
}

/// Reads `books.csv` into the item map and features; returns `goodreads_book_id` → item index.
fn books(path: &Path, b: &mut DatasetBuilder) -> Result<FxHashMap<String, u32>> {
    let (mut rdr, headers) = csv_reader(path)?;
    let c_id = column(&headers, "book_id", path)?;
    let opt = |name: &str| headers.iter().position(|h| h == name);
    let (c_gr, c_title, c_orig, c_authors, c_year, c_lang) = (
        opt("goodreads_book_id"),
        opt("title"),
        opt("original_title"),
        opt("authors"),
        opt("original_publication_year"),
        opt("language_code"),
    );
    let mut rows: Vec<Book> = Vec::new();
    for rec in rdr.byte_records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                b.bad.record(&b.opts, csv_err(path, &e))?;
                continue;
            }
        };
        if blank(rec.iter()) {
            continue;
        }
        let line = rec.position().map_or(0, csv::Position::line);
        let Ok(rec) = csv::StringRecord::from_byte_record(rec) else {
            b.bad
                .record(&b.opts, parse_err(path, line, "invalid UTF-8"))?;
            continue;
        };
        let field = |c: Option<usize>| {
            c.and_then(|k| rec.get(k))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(id) = field(Some(c_id)) else {
            b.bad
                .record(&b.opts, parse_err(path, line, "empty `book_id`"))?;
            continue;
        };
        if b.items.get(id).is_some() {
            b.bad.record(
                &b.opts,
                parse_err(path, line, format!("duplicate book_id `{id}`")),
            )?;
            continue;
        }
        let year = match field(c_year) {
            None => None,
            Some(y) => match y.parse::<f32>() {
                Ok(v) if v.is_finite() => Some(v.trunc()),
                _ => {
                    let err = parse_err(
                        path,
                        line,
                        format!("original_publication_year `{y}` is not a number"),
                    );
                    b.bad.record(&b.opts, err)?;
                    continue;
                }
            },
        };
        b.items.insert(id);
        rows.push(Book {
            id: id.to_string(),
            goodreads: field(c_gr).map(str::to_string),
            title: field(c_title).or(field(c_orig)).map(str::to_string),
            authors: field(c_authors)
                .map(|a| {
                    a.split(", ")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            year,
            language: field(c_lang).map(str::to_string),
        });
    }
    let n = b.items.len();
    let mut t = FeatureTable::new(n);
    let mut authors = t.categorical_builder();
    let mut language = t.categorical_builder();
    let mut titles = vec![None; n];
    let mut years = vec![None; n];
    let mut goodreads = FxHashMap::default();
    for book in rows {
        let i = b.items.get(&book.id).expect("inserted above");
        let k = i as usize;
        for a in &book.authors {
            authors.push(k, a, 1.0);
        }
        if let Some(l) = &book.language {
            language.push(k, l, 1.0);
        }
        if let Some(g) = book.goodreads {
            goodreads.entry(g).or_insert(i);
        }
        titles[k] = book.title;
        years[k] = book.year;
    }
    t.add_text("title", titles)?;
    t.add("authors", authors.finish())?;
    t.add_numeric("year", years)?;
    t.add("language", language.finish())?;
    b.item_features = Some(t);
    Ok(goodreads)
}

/// Reads `tags.csv` (`tag_id,tag_name`) into a map.
fn tag_names(path: &Path, b: &mut DatasetBuilder) -> Result<FxHashMap<String, String>> {
    let (mut rdr, headers) = csv_reader(path)?;
    let (c_id, c_name) = (
        column(&headers, "tag_id", path)?,
        column(&headers, "tag_name", path)?,
    );
    let mut names = FxHashMap::default();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                b.bad.record(&b.opts, csv_err(path, &e))?;
                continue;
            }
        };
        if blank(rec.iter().map(str::as_bytes)) {
            continue;
        }
        match (rec.get(c_id).map(str::trim), rec.get(c_name).map(str::trim)) {
            (Some(id), Some(name)) if !id.is_empty() && !name.is_empty() => {
                names.insert(id.to_string(), name.to_string());
            }
            _ => {
                let line = rec.position().map_or(0, csv::Position::line);
                b.bad
                    .record(&b.opts, parse_err(path, line, "expected `tag_id,tag_name`"))?;
            }
        }
    }
    Ok(names)
}

/// Reads `book_tags.csv` (`goodreads_book_id,tag_id,count`) into the `tags` feature, keeping file order and
/// summing repeated (book, tag) rows. Counts of zero or below carry no signal and are ignored.
fn book_tags(
    path: &Path,
    goodreads: &FxHashMap<String, u32>,
    names: &FxHashMap<String, String>,
    b: &mut DatasetBuilder,
) -> Result<()> {
    let (mut rdr, headers) = csv_reader(path)?;
    let (c_book, c_tag, c_count) = (
        column(&headers, "goodreads_book_id", path)?,
        column(&headers, "tag_id", path)?,
        column(&headers, "count", path)?,
    );
    let mut rows: Vec<(u32, String, f32)> = Vec::new();
    let mut seen: FxHashMap<(u32, String), usize> = FxHashMap::default();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                b.bad.record(&b.opts, csv_err(path, &e))?;
                continue;
            }
        };
        if blank(rec.iter().map(str::as_bytes)) {
            continue;
        }
        let line = rec.position().map_or(0, csv::Position::line);
        let (Some(book), Some(tag), Some(count)) = (
            rec.get(c_book).map(str::trim),
            rec.get(c_tag).map(str::trim),
            rec.get(c_count).map(str::trim),
        ) else {
            let err = parse_err(path, line, "expected `goodreads_book_id,tag_id,count`");
            b.bad.record(&b.opts, err)?;
            continue;
        };
        let count = match count.parse::<f32>() {
            Ok(c) if c.is_finite() => c,
            _ => {
                let err = parse_err(path, line, format!("count `{count}` is not a number"));
                b.bad.record(&b.opts, err)?;
                continue;
            }
        };
        if tag.is_empty() {
            b.bad
                .record(&b.opts, parse_err(path, line, "empty `tag_id`"))?;
            continue;
        }
        let Some(&i) = goodreads.get(book) else {
            continue; // a book outside the catalogue: nothing to attach the tag to
        };
        if count <= 0.0 {
            continue;
        }
        let label = names.get(tag).cloned().unwrap_or_else(|| tag.to_string());
        match seen.get(&(i, label.clone())) {
            Some(&k) => rows[k].2 += count,
            None => {
                seen.insert((i, label.clone()), rows.len());
                rows.push((i, label, count));
            }
        }
    }
    let t = b
        .item_features
        .get_or_insert_with(|| FeatureTable::new(b.items.len()));
    let mut tags = t.categorical_builder();
    for (i, label, w) in rows {
        tags.push(i as usize, &label, w);
    }
    t.add("tags", tags.finish())
}
