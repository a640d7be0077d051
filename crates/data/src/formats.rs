//! Dataset formats: recognising a folder or file by its contents, and loading it.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use tastebud_core::{Dataset, Error, Feedback, Interactions, Result};

use crate::builder::{DatasetBuilder, LoadOptions};
use crate::delimited::{Columns, Delimiter, InteractionFormat, read_interactions};
use crate::{amazon, goodbooks, movielens, netflix, source};

/// A generic delimited file: what to override in the sniffed format.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenericSpec {
    /// Field separator; sniffed from the first line when `None`.
    pub delimiter: Option<Delimiter>,
    /// Column mapping; `user,item[,rating[,time]]` by position when `None`.
    pub columns: Option<Columns>,
    /// Whether the first line is a header; sniffed when `None` (a header when named columns are used, or
    /// when the first line's rating or time field is not a number).
    pub header: Option<bool>,
    /// Explicit ratings or implicit weights. By default, explicit when there is a rating column.
    pub kind: Option<Feedback>,
}

/// A known dataset layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Format {
    /// MovieLens 100K: `u.data`, `u.item`, `u.user`, `u.genre`.
    Ml100k,
    /// MovieLens 1M (and 10M): `ratings.dat`, `movies.dat`, `users.dat`.
    Ml1m,
    /// MovieLens CSV releases (latest-small, 20M, 25M): `ratings.csv`, `movies.csv`, `tags.csv`.
    MlLatest,
    /// Goodbooks-10k: `ratings.csv`, `books.csv`, `to_read.csv`, `book_tags.csv`, `tags.csv`.
    Goodbooks,
    /// Netflix Prize: `combined_data_*.txt` with `MovieID:` blocks, `movie_titles.csv`.
    Netflix,
    /// Amazon reviews: ratings-only CSV or JSON-lines reviews and metadata.
    Amazon,
    /// Any delimited file with a column mapping.
    Generic(GenericSpec),
    /// A Parquet file or a folder of Parquet parts (Spark, pandas), with a column mapping (feature
    /// `parquet`; the delimiter and header settings do not apply).
    Parquet(GenericSpec),
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Ml100k => "movielens-100k",
            Format::Ml1m => "movielens-1m",
            Format::MlLatest => "movielens-csv",
            Format::Goodbooks => "goodbooks-10k",
            Format::Netflix => "netflix-prize",
            Format::Amazon => "amazon-reviews",
            Format::Generic(_) => "generic-delimited",
            Format::Parquet(_) => "parquet",
        })
    }
}

/// What `datasets list` shows: the formats Tastebud recognises.
#[derive(Clone, Debug, Serialize)]
pub struct FormatInfo {
    /// Format name.
    pub name: &'static str,
    /// Files that identify it.
    pub recognised_by: &'static str,
}

/// The recognised formats, for `tastebud datasets list`.
pub fn formats() -> Vec<FormatInfo> {
    vec![
        FormatInfo {
            name: "movielens-100k",
            recognised_by: "u.data (+ u.item, u.user, u.genre)",
        },
        FormatInfo {
            name: "movielens-1m",
            recognised_by: "movies.dat / ratings.dat (+ users.dat)",
        },
        FormatInfo {
            name: "movielens-csv",
            recognised_by: "ratings.csv + movies.csv (+ tags.csv)",
        },
        FormatInfo {
            name: "goodbooks-10k",
            recognised_by: "books.csv (+ ratings.csv, to_read.csv, book_tags.csv, tags.csv)",
        },
        FormatInfo {
            name: "netflix-prize",
            recognised_by: "combined_data_*.txt (+ movie_titles.csv)",
        },
        FormatInfo {
            name: "amazon-reviews",
            recognised_by: "ratings CSV without header or *.json[l][.gz] reviews",
        },
        FormatInfo {
            name: "parquet",
            recognised_by: "*.parquet, or a folder of *.parquet parts (Spark, pandas), with --columns",
        },
        FormatInfo {
            name: "generic-delimited",
            recognised_by: "any other file, with --columns",
        },
    ]
}

/// Recognises the dataset at `path` (a folder of a known dataset, or a single file).
pub fn detect(path: &Path) -> Result<Format> {
    if !path.exists() {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "no such file or folder".into(),
        });
    }
    if path.is_dir() {
        let has = |n: &str| source::find(path, n).is_some();
        if has("u.data") {
            return Ok(Format::Ml100k);
        }
        if has("ratings.dat") || has("movies.dat") {
            return Ok(Format::Ml1m);
        }
        if has("movies.csv") {
            return Ok(Format::MlLatest);
        }
        if goodbooks::detect(path) {
            return Ok(Format::Goodbooks);
        }
        if netflix::detect(path) {
            return Ok(Format::Netflix);
        }
        if amazon::detect(path) {
            return Ok(Format::Amazon);
        }
        if source::is_parquet(path) {
            return Ok(Format::Parquet(GenericSpec::default()));
        }
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "not a known dataset folder (see `tastebud datasets list`); pass a ratings file with --columns"
                .into(),
        });
    }
    if source::is_parquet(path) {
        return Ok(Format::Parquet(GenericSpec::default()));
    }
    if amazon::detect(path) {
        return Ok(Format::Amazon);
    }
    Ok(Format::Generic(GenericSpec::default()))
}

/// Recognises and loads the dataset at `path`.
///
/// ```no_run
/// let d = tastebud_data::load(std::path::Path::new("../shared/data/ml-100k"), &Default::default())?;
/// assert_eq!(d.interactions.nnz(), 100_000);
/// # Ok::<(), tastebud_core::Error>(())
/// ```
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Dataset> {
    load_as(path, &detect(path)?, opts)
}

fn name_of(path: &Path, fallback: &str) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .map_or_else(|| fallback.to_string(), str::to_string)
}

/// Loads the dataset at `path` in a given format.
pub fn load_as(path: &Path, format: &Format, opts: &LoadOptions) -> Result<Dataset> {
    let mut b = metadata(path, format, opts)?;
    let name = name_of(path, &format.to_string());
    match format {
        Format::Ml100k => {
            read_interactions(
                &source::require(path, "u.data")?,
                &movielens::ml100k_format(),
                &mut b,
            )?;
        }
        Format::Ml1m => {
            read_interactions(
                &source::require(path, "ratings.dat")?,
                &movielens::ml1m_format(),
                &mut b,
            )?;
        }
        Format::MlLatest => {
            read_interactions(
                &source::require(path, "ratings.csv")?,
                &movielens::latest_format(),
                &mut b,
            )?;
        }
        Format::Goodbooks => goodbooks::load(path, &mut b)?,
        Format::Netflix => netflix::load(path, &mut b)?,
        Format::Amazon => amazon::load(path, &mut b)?,
        Format::Parquet(spec) => read_parquet(path, spec, &mut b)?,
        Format::Generic(spec) if source::is_parquet(path) => read_parquet(path, spec, &mut b)?,
        Format::Generic(spec) => {
            let fmt = sniff(path, spec)?;
            if spec.kind.is_none() && fmt.columns.value.is_none() {
                b.kind = Feedback::Implicit;
            }
            read_interactions(path, &fmt, &mut b)?;
        }
    }
    let d = b.finish(&name, &path.display().to_string())?;
    for w in warnings(&d) {
        tracing::warn!("{w}");
    }
    Ok(d)
}

/// Reads Parquet interactions (implicit unless a rating column is mapped or present).
#[cfg(feature = "parquet")]
fn read_parquet(path: &Path, spec: &GenericSpec, b: &mut DatasetBuilder) -> Result<()> {
    let has_value = match &spec.columns {
        Some(c) => c.value.is_some(),
        None => true,
    };
    if spec.kind.is_none() && !has_value {
        b.kind = Feedback::Implicit;
    }
    crate::parquet::read_interactions(path, spec.columns.as_ref(), b).map(|_| ())
}

/// Without the `parquet` feature: a clear error instead of reading Parquet as text.
#[cfg(not(feature = "parquet"))]
fn read_parquet(path: &Path, _spec: &GenericSpec, _b: &mut DatasetBuilder) -> Result<()> {
    Err(Error::BadInput {
        path: path.to_path_buf(),
        reason: "Parquet input needs Tastebud built with the `parquet` feature \
                 (cargo install --path crates/cli --features parquet)"
            .into(),
    })
}

/// Values at or above this (about March 1973 as a unix time) are not ratings but look like timestamps.
pub const TIMESTAMP_LIKE: f32 = 1e8;

/// Problems with a loaded dataset that do not stop loading but probably mean a wrong column mapping,
/// one sentence each naming the source: today, a rating column that looks like unix timestamps (at least
/// half of the values at or above 10^8, which no rating scale reaches), as when a stray delimiter shifts
/// the columns. Loaders log them with `tracing::warn!`; the CLI prints them.
pub fn warnings(d: &Dataset) -> Vec<String> {
    let mut out = Vec::new();
    let v = d.interactions.values();
    let huge = v.iter().filter(|&&x| x >= TIMESTAMP_LIKE).count();
    if !v.is_empty() && 2 * huge >= v.len() {
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        out.push(format!(
            "{}: the rating column looks like unix timestamps ({huge} of {} values >= 1e8, mean {mean:.0}); \
             check the delimiter and the column order (--columns)",
            d.meta.source,
            v.len()
        ));
    }
    out
}

/// A builder with the format's natural kind and its catalogue and user features already loaded.
fn metadata(path: &Path, format: &Format, opts: &LoadOptions) -> Result<DatasetBuilder> {
    let kind = match format {
        Format::Generic(spec) | Format::Parquet(spec) => spec.kind.unwrap_or(Feedback::Explicit),
        Format::Ml100k
        | Format::Ml1m
        | Format::MlLatest
        | Format::Goodbooks
        | Format::Netflix
        | Format::Amazon => Feedback::Explicit,
    };
    let mut b = DatasetBuilder::new(kind, opts);
    match format {
        Format::Ml100k => {
            movielens::ml100k_items(path, &mut b)?;
            movielens::ml100k_users(path, &mut b)?;
        }
        Format::Ml1m => {
            movielens::ml1m_items(path, &mut b)?;
            movielens::ml1m_users(path, &mut b)?;
        }
        Format::MlLatest => movielens::latest_items(path, &mut b)?,
        Format::Goodbooks
        | Format::Netflix
        | Format::Amazon
        | Format::Generic(_)
        | Format::Parquet(_) => {}
    }
    Ok(b)
}

/// The interaction-file format of a known dataset's rating files (for `--train/--test` files).
fn rating_format(format: &Format, file: &Path) -> Result<InteractionFormat> {
    Ok(match format {
        Format::Ml100k => movielens::ml100k_format(),
        Format::Ml1m => movielens::ml1m_format(),
        Format::MlLatest => movielens::latest_format(),
        Format::Goodbooks | Format::Netflix | Format::Amazon => {
            sniff(file, &GenericSpec::default())?
        }
        Format::Generic(spec) | Format::Parquet(spec) => sniff(file, spec)?,
    })
}

/// Loads an explicit train/test pair (e.g. ML-100K's `u1.base`/`u1.test`) into one id space.
///
/// When `dataset` names a known dataset folder, its catalogue and user features are loaded first and the
/// files are read in that dataset's rating format; otherwise the files' format is sniffed. Ids that appear only
/// in the test file are added to the maps (they are cold users or items for the model).
pub fn load_pair(
    dataset: Option<&Path>,
    train: &Path,
    test: &Path,
    opts: &LoadOptions,
) -> Result<(Dataset, Interactions)> {
    let format = match dataset {
        Some(d) => detect(d)?,
        None => Format::Generic(GenericSpec::default()),
    };
    let mut b = match dataset {
        Some(d) => metadata(d, &format, opts)?,
        None => DatasetBuilder::new(Feedback::Explicit, opts),
    };
    if let Some(d) = dataset {
        // These formats load their catalogue inside `load`, not in `metadata`.
        match format {
            Format::Goodbooks => goodbooks::catalogue(d, &mut b)?,
            Format::Netflix => netflix::catalogue(d, &mut b)?,
            Format::Amazon => amazon::catalogue(d, &mut b)?,
            Format::Ml100k
            | Format::Ml1m
            | Format::MlLatest
            | Format::Generic(_)
            | Format::Parquet(_) => {}
        }
    }
    let fmt = rating_format(&format, train)?;
    if fmt.columns.value.is_none() && opts.kind.is_none() {
        b.kind = Feedback::Implicit;
    }
    read_interactions(train, &fmt, &mut b)?;
    let train_blocks = std::mem::take(&mut b.blocks);
    read_interactions(test, &fmt, &mut b)?;
    let test_blocks = std::mem::replace(&mut b.blocks, train_blocks);
    let kind = opts.kind.unwrap_or(b.kind);
    let (n_users, n_items) = (b.users.len(), b.items.len());
    let files = format!("{} / {}", name_of(train, "train"), name_of(test, "test"));
    let name = match dataset {
        Some(d) => format!("{} ({files})", name_of(d, "dataset")),
        None => files,
    };
    let ds = b.finish(&name, &train.display().to_string())?;
    let test = Interactions::from_blocks(n_users, n_items, test_blocks, kind)?;
    Ok((ds, test))
}

/// Works out a generic file's delimiter, header and columns from its first line.
pub fn sniff(path: &Path, spec: &GenericSpec) -> Result<InteractionFormat> {
    use std::io::BufRead;
    let mut first = Vec::new();
    std::io::BufReader::new(source::open(path)?)
        .read_until(b'\n', &mut first)
        .map_err(|e| Error::io(path, e))?;
    let line = String::from_utf8_lossy(&first);
    let line = line
        .trim_end_matches(['\n', '\r'])
        .trim_start_matches('\u{feff}');
    if line.trim().is_empty() {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        });
    }
    let delimiter = match &spec.delimiter {
        Some(d) => d.clone(),
        None => ["::", "\t", ",", ";", "|", " "]
            .iter()
            .find(|d| line.contains(**d))
            .map(|d| Delimiter::parse(d))
            .transpose()?
            .ok_or_else(|| Error::BadInput {
                path: path.to_path_buf(),
                reason: "cannot tell the delimiter (no tab, comma, ::, ;, | or space in the first line); use --delimiter"
                    .into(),
            })?,
    };
    let sep = match &delimiter {
        Delimiter::Byte(b) => (*b as char).to_string(),
        Delimiter::Str(s) => s.clone(),
    };
    let fields: Vec<&str> = line
        .split(sep.as_str())
        .map(|f| f.trim().trim_matches('"'))
        .collect();
    let columns = match &spec.columns {
        Some(c) => c.clone(),
        None => Columns::positional(
            0,
            1,
            (fields.len() > 2).then_some(2),
            (fields.len() > 3).then_some(3),
        ),
    };
    let named = [
        Some(&columns.user),
        Some(&columns.item),
        columns.value.as_ref(),
        columns.time.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|c| matches!(c, crate::delimited::ColumnRef::Name(_)));
    let header = spec.header.unwrap_or_else(|| {
        named || {
            let numeric = |c: &Option<crate::delimited::ColumnRef>| match c {
                Some(crate::delimited::ColumnRef::Index(k)) => {
                    fields.get(*k).is_none_or(|f| f.parse::<f64>().is_ok())
                }
                _ => true,
            };
            !(numeric(&columns.value) && numeric(&columns.time))
                || (columns.value.is_none()
                    && ["user", "userid", "user_id"].contains(&fields[0].to_lowercase().as_str()))
        }
    });
    Ok(InteractionFormat {
        delimiter,
        header,
        columns,
        default_value: 1.0,
    })
}
