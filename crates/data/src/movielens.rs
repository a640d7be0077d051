//! MovieLens readers: 100K (`u.data`, `u.item`, `u.user`), 1M (`::`-separated `.dat` files, Latin-1) and the
//! "latest" CSV layout shared by latest-small, 20M and 25M (`ratings.csv`, `movies.csv`, `tags.csv`).

use std::path::Path;

use tastebud_core::{Error, FeatureTable, Feedback, Result};

use crate::builder::DatasetBuilder;
use crate::delimited::{Columns, Delimiter, InteractionFormat};
use crate::source;

/// The 19 ML-100K genres in `u.genre` order (used when `u.genre` is absent).
pub const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The 18 genres shared by every MovieLens release (ML-100K's list without its `unknown`).
pub const MOVIELENS_GENRES: &[&str] = ML100K_GENRES.split_at(1).1;

/// ML-1M occupation codes (`users.dat`), as listed in its README.
pub const ML1M_OCCUPATIONS: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

/// The rating-file format of ML-100K (`u.data` and the `u1.base`… split files): tab-separated
/// `user item rating timestamp`, no header.
pub fn ml100k_format() -> InteractionFormat {
    InteractionFormat::positional(
        Delimiter::Byte(b'\t'),
        Columns::positional(0, 1, Some(2), Some(3)),
    )
}

/// The rating-file format of ML-1M and 10M (`ratings.dat`): `UserID::MovieID::Rating::Timestamp`.
pub fn ml1m_format() -> InteractionFormat {
    InteractionFormat::positional(
        Delimiter::Str("::".into()),
        Columns::positional(0, 1, Some(2), Some(3)),
    )
}

/// The rating-file format of the CSV releases (`ratings.csv`: `userId,movieId,rating,timestamp`).
pub fn latest_format() -> InteractionFormat {
    InteractionFormat::with_header(
        Delimiter::Byte(b','),
        Columns::parse_mapping("user=userId,item=movieId,rating=rating,time=timestamp")
            .expect("static mapping"),
    )
}

/// The year in a title such as `Toy Story (1995)` or `Babe (1995) `.
///
/// ```
/// assert_eq!(tastebud_data::movielens::year_from_title("Toy Story (1995)"), Some(1995.0));
/// assert_eq!(tastebud_data::movielens::year_from_title("Ready Player One"), None);
/// ```
pub fn year_from_title(title: &str) -> Option<f32> {
    let t = title.trim_end();
    let open = t.rfind('(')?;
    let inner = t[open + 1..].strip_suffix(')')?;
    let inner = inner.split('-').next()?; // "(2007-2013)" series ranges keep their start
    (inner.len() == 4 && inner.bytes().all(|c| c.is_ascii_digit()))
        .then(|| inner.parse().ok())
        .flatten()
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    bytes
        .split(|&c| c == b'\n')
        .enumerate()
        .map(|(k, l)| (k as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

fn parse_err(path: &Path, line: u64, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Loads ML-100K's item catalogue (`u.item`, Latin-1, `|`-separated) and genres (`u.genre`) into `b`.
pub fn ml100k_items(dir: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let genres: Vec<String> = match source::find(dir, "u.genre") {
        Some(p) => lines(&source::read_all(&p)?)
            .filter_map(|(_, l)| source::latin1(l).split('|').next().map(str::to_string))
            .filter(|g| !g.is_empty())
            .collect(),
        None => ML100K_GENRES.iter().map(|s| s.to_string()).collect(),
    };
    let path = source::require(dir, "u.item")?;
    let bytes = source::read_all(&path)?;
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for (line, l) in lines(&bytes) {
        let f: Vec<String> = source::latin1(l).split('|').map(str::to_string).collect();
        if f.len() != 5 + genres.len() {
            let err = parse_err(
                &path,
                line,
                format!(
                    "expected {} `|`-separated fields, found {}",
                    5 + genres.len(),
                    f.len()
                ),
            );
            b.bad.record(&b.opts, err)?;
            continue;
        }
        if f[0].trim().is_empty() {
            b.bad
                .record(&b.opts, parse_err(&path, line, "empty movie id"))?;
            continue;
        }
        rows.push((line, f));
    }
    for (_, f) in &rows {
        b.items.insert(f[0].trim());
    }
    let mut t = FeatureTable::new(b.items.len());
    let mut g = t.categorical_builder();
    for name in &genres {
        g.declare(name);
    }
    let mut titles = vec![None; b.items.len()];
    let mut years = vec![None; b.items.len()];
    let mut dates = vec![None; b.items.len()];
    for (line, f) in &rows {
        let i = b.items.get(f[0].trim()).expect("inserted above") as usize;
        titles[i] = Some(f[1].clone());
        // "01-Jan-1995": the year is the last dash-separated part; fall back to the title's "(1995)".
        years[i] = f[2]
            .rsplit('-')
            .next()
            .and_then(|y| y.parse::<f32>().ok())
            .or_else(|| year_from_title(&f[1]));
        dates[i] = (!f[2].is_empty()).then(|| f[2].clone());
        for (k, name) in genres.iter().enumerate() {
            match f[5 + k].trim() {
                "1" => g.push(i, name, 1.0),
                "0" => {}
                other => {
                    let err =
                        parse_err(&path, *line, format!("genre flag `{other}` is not 0 or 1"));
                    b.bad.record(&b.opts, err)?;
                }
            }
        }
    }
    t.add("genres", g.finish())?;
    t.add_text("title", titles)?;
    t.add_numeric("year", years)?;
    t.add_text("release_date", dates)?;
    b.item_features = Some(t);
    Ok(())
}

/// Loads ML-100K's users (`u.user`: `id|age|gender|occupation|zip`) into `b`.
pub fn ml100k_users(dir: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let Some(path) = source::find(dir, "u.user") else {
        return Ok(());
    };
    let bytes = source::read_all(&path)?;
    let mut rows = Vec::new();
    for (line, l) in lines(&bytes) {
        let f: Vec<String> = source::latin1(l).split('|').map(str::to_string).collect();
        if f.len() != 5 {
            b.bad.record(
                &b.opts,
                parse_err(
                    &path,
                    line,
                    format!("expected 5 `|`-separated fields, found {}", f.len()),
                ),
            )?;
            continue;
        }
        let Ok(age) = f[1].trim().parse::<f32>() else {
            b.bad.record(
                &b.opts,
                parse_err(&path, line, format!("age `{}` is not a number", f[1])),
            )?;
            continue;
        };
        rows.push((f, age));
    }
    for (f, _) in &rows {
        b.users.insert(f[0].trim());
    }
    let n = b.users.len();
    let mut t = FeatureTable::new(n);
    let mut gender = t.categorical_builder();
    let mut occ = t.categorical_builder();
    let mut ages = vec![None; n];
    let mut zips = vec![None; n];
    for (f, age) in rows {
        let u = b.users.get(f[0].trim()).expect("inserted above") as usize;
        ages[u] = Some(age);
        gender.push(u, f[2].trim(), 1.0);
        occ.push(u, f[3].trim(), 1.0);
        zips[u] = Some(f[4].trim().to_string());
    }
    t.add_numeric("age", ages)?;
    t.add("gender", gender.finish())?;
    t.add("occupation", occ.finish())?;
    t.add_text("zip", zips)?;
    b.user_features = Some(t);
    Ok(())
}

/// Loads ML-1M's `movies.dat` (`MovieID::Title::Genres`, Latin-1).
pub fn ml1m_items(dir: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let path = source::require(dir, "movies.dat")?;
    let bytes = source::read_all(&path)?;
    let mut rows = Vec::new();
    for (line, l) in lines(&bytes) {
        let text = source::latin1(l);
        let f: Vec<&str> = text.splitn(3, "::").collect();
        if f.len() != 3 || f[0].trim().is_empty() {
            b.bad.record(
                &b.opts,
                parse_err(&path, line, "expected `MovieID::Title::Genres`"),
            )?;
            continue;
        }
        rows.push((f[0].trim().to_string(), f[1].to_string(), f[2].to_string()));
    }
    items_with_genres(b, rows)
}

/// Shared by ML-1M and the CSV releases: `(id, title, genres joined by |)` rows.
fn items_with_genres(b: &mut DatasetBuilder, rows: Vec<(String, String, String)>) -> Result<()> {
    for (id, _, _) in &rows {
        b.items.insert(id);
    }
    let n = b.items.len();
    let mut t = FeatureTable::new(n);
    let mut g = t.categorical_builder();
    let mut titles = vec![None; n];
    let mut years = vec![None; n];
    for (id, title, genres) in rows {
        let i = b.items.get(&id).expect("inserted above") as usize;
        for genre in genres.split('|').map(str::trim) {
            if !genre.is_empty() && genre != "(no genres listed)" {
                g.push(i, genre, 1.0);
            }
        }
        years[i] = year_from_title(&title);
        titles[i] = Some(title);
    }
    t.add("genres", g.finish())?;
    t.add_text("title", titles)?;
    t.add_numeric("year", years)?;
    b.item_features = Some(t);
    Ok(())
}

/// Loads ML-1M's `users.dat` (`UserID::Gender::Age::Occupation::Zip-code`).
pub fn ml1m_users(dir: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let Some(path) = source::find(dir, "users.dat") else {
        return Ok(());
    };
    let bytes = source::read_all(&path)?;
    let mut rows = Vec::new();
    for (line, l) in lines(&bytes) {
        let text = source::latin1(l);
        let f: Vec<&str> = text.split("::").collect();
        let age = f.get(2).and_then(|a| a.trim().parse::<f32>().ok());
        let occ = f
            .get(3)
            .and_then(|o| o.trim().parse::<usize>().ok())
            .filter(|&o| o < ML1M_OCCUPATIONS.len());
        match (f.len(), age, occ) {
            (5, Some(age), Some(occ)) => rows.push((
                f[0].trim().to_string(),
                f[1].trim().to_string(),
                age,
                occ,
                f[4].trim().to_string(),
            )),
            _ => b.bad.record(
                &b.opts,
                parse_err(
                    &path,
                    line,
                    "expected `UserID::Gender::Age::Occupation(0-20)::Zip-code`",
                ),
            )?,
        }
    }
    for r in &rows {
        b.users.insert(&r.0);
    }
    let n = b.users.len();
    let mut t = FeatureTable::new(n);
    let mut gender = t.categorical_builder();
    let mut occupation = t.categorical_builder();
    let mut ages = vec![None; n];
    let mut zips = vec![None; n];
    for (id, g, age, occ, zip) in rows {
        let u = b.users.get(&id).expect("inserted above") as usize;
        gender.push(u, &g, 1.0);
        occupation.push(u, ML1M_OCCUPATIONS[occ], 1.0);
        ages[u] = Some(age);
        zips[u] = Some(zip);
    }
    t.add_numeric("age", ages)?;
    t.add("gender", gender.finish())?;
    t.add("occupation", occupation.finish())?;
    t.add_text("zip", zips)?;
    b.user_features = Some(t);
    Ok(())
}

/// Loads a CSV release's `movies.csv` (`movieId,title,genres`, quoted titles) and, when present, `tags.csv`
/// (`userId,movieId,tag,timestamp`) as a weighted `tags` feature (lower-cased tag, weight = times applied).
pub fn latest_items(dir: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let path = source::require(dir, "movies.csv")?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(source::open(&path)?);
    let headers = rdr.headers().map_err(|e| csv_err(&path, e))?.clone();
    let col = |name: &str| -> Result<usize> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| Error::BadInput {
                path: path.clone(),
                reason: format!("missing column `{name}`"),
            })
    };
    let (ci, ct, cg) = (col("movieId")?, col("title")?, col("genres")?);
    let mut rows = Vec::new();
    for rec in rdr.byte_records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                b.bad.record(&b.opts, csv_err(&path, e))?;
                continue;
            }
        };
        if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line());
        let field = |k: usize| {
            rec.get(k)
                .map(|f| std::str::from_utf8(f).map(str::to_string))
        };
        match (field(ci), field(ct), field(cg)) {
            (Some(Ok(id)), Some(Ok(title)), Some(Ok(genres))) if !id.trim().is_empty() => {
                rows.push((id.trim().to_string(), title, genres))
            }
            (Some(Err(_)), ..) | (_, Some(Err(_)), _) | (.., Some(Err(_))) => b
                .bad
                .record(&b.opts, parse_err(&path, line, "invalid UTF-8"))?,
            _ => b.bad.record(
                &b.opts,
                parse_err(&path, line, "missing movieId, title or genres"),
            )?,
        }
    }
    items_with_genres(b, rows)?;
    if let Some(tags) = source::find(dir, "tags.csv") {
        latest_tags(&tags, b)?;
    }
    Ok(())
}

fn latest_tags(path: &Path, b: &mut DatasetBuilder) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(source::open(path)?);
    let headers = rdr.headers().map_err(|e| csv_err(path, e))?.clone();
    let (Some(ci), Some(ct)) = (
        headers.iter().position(|h| h.trim() == "movieId"),
        headers.iter().position(|h| h.trim() == "tag"),
    ) else {
        return Err(Error::BadInput {
            path: path.to_path_buf(),
            reason: "missing column `movieId` or `tag`".into(),
        });
    };
    let mut counts: rustc_hash::FxHashMap<(u32, String), f32> = Default::default();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                b.bad.record(&b.opts, csv_err(path, e))?;
                continue;
            }
        };
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let (Some(id), Some(tag)) = (rec.get(ci), rec.get(ct)) else {
            continue;
        };
        // Tags on movies outside the catalogue are ignored: they cannot be attached to an item.
        if let Some(i) = b.items.get(id.trim()) {
            let tag = tag.trim().to_lowercase();
            if !tag.is_empty() {
                *counts.entry((i, tag)).or_default() += 1.0;
            }
        }
    }
    let t = b
        .item_features
        .get_or_insert_with(|| FeatureTable::new(b.items.len()));
    let mut tb = t.categorical_builder();
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for ((i, tag), w) in sorted {
        tb.push(i as usize, &tag, w);
    }
    t.add("tags", tb.finish())
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let reason = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        _ => e.to_string(),
    };
    Error::Parse {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// Natural feedback kind of MovieLens: explicit star ratings.
pub const KIND: Feedback = Feedback::Explicit;
