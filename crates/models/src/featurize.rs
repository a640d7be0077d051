//! Turning a [`FeatureTable`] into sparse feature rows, shared by the content and hybrid models.
//!
//! Each column becomes a block of named features:
//! - **categorical** (genres, tags, gender): one feature per label, with the label's weight;
//! - **numeric** (year, age): one feature per bucket of width `bucket` (`year=1990..2000`), weight 1, plus
//!   half weight on the two neighbouring buckets so that 1989 and 1991 share something;
//! - **text** (titles): Unicode words (UAX #29 word boundaries, `unicode-segmentation`), lower-cased, numbers
//!   dropped, stemmed with the Snowball English stemmer (`rust-stemmers`); a token's weight is its count.

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tastebud_core::{Error, FeatureTable, FeatureValues, Result};
use unicode_segmentation::UnicodeSegmentation;

/// Sparse rows (CSR): `offsets[e]..offsets[e + 1]` indexes entity `e`'s `(feature, weight)` pairs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SparseRows {
    pub offsets: Vec<usize>,
    pub cols: Vec<u32>,
    pub vals: Vec<f32>,
}

impl SparseRows {
    pub fn from_rows(rows: Vec<Vec<(u32, f32)>>) -> Self {
        let mut s = SparseRows {
            offsets: Vec::with_capacity(rows.len() + 1),
            ..Default::default()
        };
        s.offsets.push(0);
        for r in rows {
            for (c, v) in r {
                s.cols.push(c);
                s.vals.push(v);
            }
            s.offsets.push(s.cols.len());
        }
        s
    }
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    pub fn row(&self, e: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.offsets[e], self.offsets[e + 1]);
        (&self.cols[a..b], &self.vals[a..b])
    }
}

/// The kind of a feature column.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Categorical,
    Numeric,
    Text,
}

/// One encoded column: feature names and each entity's `(local feature, weight)` pairs.
pub(crate) struct Block {
    pub kind: Kind,
    pub names: Vec<String>,
    pub rows: Vec<Vec<(u32, f32)>>,
}

/// Text columns used by `auto` (other text columns, such as release dates or zip codes, are not words).
const AUTO_TEXT: &[&str] = &["title", "description", "overview", "plot", "summary"];

/// The columns a spec names: `auto` (every categorical and numeric column, plus the text columns named
/// title/description/overview/plot/summary when `with_text`), `none` or an empty string (no column), or a
/// comma-separated list of column names (each must exist).
pub(crate) fn select(
    table: Option<&FeatureTable>,
    spec: &str,
    with_text: bool,
    param: &'static str,
) -> Result<Vec<String>> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "none" {
        return Ok(Vec::new());
    }
    let Some(t) = table else {
        return if spec == "auto" {
            Ok(Vec::new())
        } else {
            Err(Error::InvalidParam {
                name: param,
                reason: format!("the dataset has no features, so `{spec}` cannot be used"),
            })
        };
    };
    if spec == "auto" {
        return Ok(t
            .columns()
            .iter()
            .filter(|c| match &c.values {
                FeatureValues::Categorical { .. } | FeatureValues::Numeric(_) => true,
                FeatureValues::Text(_) => with_text && AUTO_TEXT.contains(&c.name.as_str()),
            })
            .map(|c| c.name.clone())
            .collect());
    }
    let mut out = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if t.column(name).is_none() {
            let have: Vec<&str> = t.columns().iter().map(|c| c.name.as_str()).collect();
            return Err(Error::InvalidParam {
                name: param,
                reason: format!(
                    "no feature column `{name}`; the dataset has: {}",
                    have.join(", ")
                ),
            });
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// The tokens of a text: Unicode words, lower-cased, numbers and one-letter words dropped, stemmed.
pub(crate) fn tokens(text: &str, stemmer: &Stemmer) -> Vec<String> {
    text.unicode_words()
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 1 && !w.chars().all(|c| c.is_numeric()))
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
}

/// The English Snowball stemmer.
pub(crate) fn english() -> Stemmer {
    Stemmer::create(Algorithm::English)
}

/// Encodes column `name` of `table` (see the module documentation). `bucket` is the numeric bucket width.
pub(crate) fn encode(table: &FeatureTable, name: &str, bucket: f32) -> Result<Block> {
    let n = table.len();
    let values = table
        .column(name)
        .ok_or_else(|| Error::Shape(format!("no feature column `{name}`")))?;
    Ok(match values {
        FeatureValues::Categorical {
            vocab,
            offsets,
            labels,
            weights,
        } => Block {
            kind: Kind::Categorical,
            names: (0..vocab.len() as u32)
                .map(|l| format!("{name}={}", vocab.id(l).unwrap_or("?")))
                .collect(),
            rows: (0..n)
                .map(|e| {
                    let r = offsets[e]..offsets[e + 1];
                    labels[r.clone()]
                        .iter()
                        .zip(&weights[r])
                        .filter(|(_, w)| w.is_finite() && **w != 0.0)
                        .map(|(&l, &w)| (l, w))
                        .collect()
                })
                .collect(),
        },
        FeatureValues::Numeric(v) => {
            let finite = || v.iter().flatten().filter(|x| x.is_finite());
            let lo = finite().fold(f32::INFINITY, |a, &b| a.min(b));
            let hi = finite().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let (first, count) = if lo.is_finite() {
                let first = (lo / bucket).floor() as i64;
                (first, ((hi / bucket).floor() as i64 - first + 1) as usize)
            } else {
                (0, 0)
            };
            let names = (0..count)
                .map(|b| {
                    let start = (first + b as i64) as f32 * bucket;
                    format!("{name}={start}..{}", start + bucket)
                })
                .collect();
            let rows = v
                .iter()
                .map(|x| match x {
                    Some(x) if x.is_finite() => {
                        let b = ((x / bucket).floor() as i64 - first) as usize;
                        let mut r = vec![(b as u32, 1.0)];
                        if b > 0 {
                            r.insert(0, (b as u32 - 1, 0.5));
                        }
                        if b + 1 < count {
                            r.push((b as u32 + 1, 0.5));
                        }
                        r
                    }
                    _ => Vec::new(),
                })
                .collect();
            Block {
                kind: Kind::Numeric,
                names,
                rows,
            }
        }
        FeatureValues::Text(v) => {
            let stemmer = english();
            let mut vocab: HashMap<String, u32> = HashMap::new();
            let mut names = Vec::new();
            let rows = v
                .iter()
                .map(|t| {
                    let mut counts: Vec<(u32, f32)> = Vec::new();
                    for tok in tokens(t.as_deref().unwrap_or(""), &stemmer) {
                        let id = *vocab.entry(tok.clone()).or_insert_with(|| {
                            names.push(format!("{name}~{tok}"));
                            names.len() as u32 - 1
                        });
                        match counts.iter_mut().find(|c| c.0 == id) {
                            Some(c) => c.1 += 1.0,
                            None => counts.push((id, 1.0)),
                        }
                    }
                    counts.sort_by_key(|c| c.0);
                    counts
                })
                .collect();
            Block {
                kind: Kind::Text,
                names,
                rows,
            }
        }
    })
}

impl SparseRows {
    /// Checks rows decoded from a file: monotone offsets, columns `< n_cols`, finite values.
    pub fn validate(&self, what: &str, n_cols: usize) -> Result<()> {
        use tastebud_core::validate as v;
        v::ensure(!self.offsets.is_empty(), || {
            format!("{what} have no offsets")
        })?;
        v::offsets(what, &self.offsets, self.len(), self.cols.len())?;
        v::len(&format!("{what} values"), self.vals.len(), self.cols.len())?;
        v::indices(&format!("{what} columns"), &self.cols, n_cols)?;
        v::finite_f32(&format!("{what} values"), &self.vals)
    }
}

/// Features of one side (users or items): the CSR rows over the feature vocabulary, weights summing to 1.
pub(crate) fn feature_rows(
    table: Option<&FeatureTable>,
    spec: &str,
    param: &'static str,
    n: usize,
    identity: bool,
    bucket: f32,
) -> Result<(Vec<String>, SparseRows)> {
    let cols = select(table, spec, false, param)?;
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    if let Some(t) = table {
        for c in &cols {
            let b = encode(t, c, bucket)?;
            let base = names.len() as u32;
            for (r, br) in rows.iter_mut().zip(b.rows) {
                r.extend(br.into_iter().map(|(f, w)| (base + f, w)));
            }
            names.extend(b.names);
        }
    }
    if identity {
        let base = names.len() as u32;
        for (e, r) in rows.iter_mut().enumerate() {
            r.push((base + e as u32, 1.0));
        }
        names.extend((0..n).map(|e| format!("identity:{e}")));
    }
    for r in &mut rows {
        let s: f32 = r.iter().map(|x| x.1.abs()).sum();
        if s > 0.0 {
            r.iter_mut().for_each(|x| x.1 /= s);
        }
    }
    if names.is_empty() {
        return Err(Error::InvalidParam {
            name: param,
            reason: "no features at all: keep the identity features on or name feature columns"
                .into(),
        });
    }
    Ok((names, SparseRows::from_rows(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> FeatureTable {
        let mut t = FeatureTable::new(3);
        let mut g = t.categorical_builder();
        g.push(0, "Comedy", 1.0);
        g.push(1, "Drama", 1.0);
        g.push(1, "Comedy", 1.0);
        t.add("genres", g.finish()).unwrap();
        t.add_numeric("year", vec![Some(1995.0), Some(1971.0), None])
            .unwrap();
        t.add_text(
            "title",
            vec![
                Some("Toy Story (1995)".into()),
                Some("Running Men, The (1971)".into()),
                None,
            ],
        )
        .unwrap();
        t.add_text("release_date", vec![None, None, None]).unwrap();
        t
    }

    #[test]
    fn select_columns() {
        let t = table();
        assert_eq!(
            select(Some(&t), "auto", false, "f").unwrap(),
            ["genres", "year"]
        );
        assert_eq!(
            select(Some(&t), "auto", true, "f").unwrap(),
            ["genres", "year", "title"]
        );
        assert!(select(Some(&t), "none", true, "f").unwrap().is_empty());
        assert_eq!(
            select(Some(&t), "title, genres", true, "f").unwrap(),
            ["title", "genres"]
        );
        assert!(select(Some(&t), "colour", true, "f").is_err());
        assert!(select(None, "auto", true, "f").unwrap().is_empty());
        assert!(select(None, "genres", true, "f").is_err());
    }

    #[test]
    fn encodes_each_kind() {
        let t = table();
        let g = encode(&t, "genres", 10.0).unwrap();
        assert_eq!(g.names, ["genres=Comedy", "genres=Drama"]);
        assert_eq!(g.rows[1], [(1, 1.0), (0, 1.0)]);
        let y = encode(&t, "year", 10.0).unwrap();
        // 1970..1980, 1980..1990, 1990..2000.
        assert_eq!(y.names.len(), 3);
        assert_eq!(y.names[0], "year=1970..1980");
        assert_eq!(y.rows[0], [(1, 0.5), (2, 1.0)]);
        assert_eq!(y.rows[1], [(0, 1.0), (1, 0.5)]);
        assert!(y.rows[2].is_empty());
        let s = encode(&t, "title", 10.0).unwrap();
        // Numbers and one-letter words dropped; "running" and "men" stemmed.
        assert_eq!(
            s.names,
            [
                "title~toy",
                "title~stori",
                "title~run",
                "title~men",
                "title~the"
            ]
        );
        assert!(s.rows[2].is_empty());
        assert_eq!(
            tokens("Men's  RUNNING, runs!", &english()),
            ["men", "run", "run"]
        );
    }
}
