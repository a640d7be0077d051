//! Side information about items and users: categorical (genres, tags), numeric (year, age) and text columns.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::IdMap;

/// The values of one feature column, one entry per entity (item or user) in index order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureValues {
    /// Zero or more labels per entity from a vocabulary, each with a weight (1 for flags such as genres,
    /// a count for user-applied tags). Single-valued categoricals (gender, occupation) have one label.
    Categorical {
        /// Label names; a label's index is its position here.
        vocab: IdMap,
        /// `offsets[e]..offsets[e + 1]` indexes entity `e`'s labels in `labels`/`weights`.
        offsets: Vec<usize>,
        /// Label index of each entry.
        labels: Vec<u32>,
        /// Weight of each entry.
        weights: Vec<f32>,
    },
    /// A number per entity, `None` when missing (a film with no release date).
    Numeric(Vec<Option<f32>>),
    /// Free text per entity (titles, descriptions), `None` when missing.
    Text(Vec<Option<String>>),
}

/// One named column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    /// Column name, e.g. `genres`, `year`, `title`.
    pub name: String,
    /// Its values.
    pub values: FeatureValues,
}

/// A table of feature columns for `n` entities.
///
/// ```
/// use tastebud_core::FeatureTable;
/// let mut t = FeatureTable::new(2);
/// let mut genres = t.categorical_builder();
/// genres.push(0, "Comedy", 1.0);
/// genres.push(0, "Drama", 1.0);
/// genres.push(1, "Drama", 1.0);
/// t.add("genres", genres.finish())?;
/// t.add_text("title", vec![Some("A".into()), Some("B".into())])?;
/// assert_eq!(t.labels("genres", 0).unwrap(), vec!["Comedy", "Drama"]);
/// assert_eq!(t.text("title", 1), Some("B"));
/// # Ok::<(), tastebud_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct FeatureTable {
    n: usize,
    columns: Vec<FeatureColumn>,
}

/// Accumulates a categorical column entity by entity (entities may come in any order).
#[derive(Debug)]
pub struct CategoricalBuilder {
    n: usize,
    vocab: IdMap,
    rows: Vec<Vec<(u32, f32)>>,
}

impl CategoricalBuilder {
    /// Adds label `label` with `weight` to entity `e` (ignored when `e` is out of range).
    pub fn push(&mut self, e: usize, label: &str, weight: f32) {
        if e < self.n {
            let l = self.vocab.insert(label);
            self.rows[e].push((l, weight));
        }
    }
    /// Registers a label without assigning it (keeps a fixed vocabulary order, e.g. ML-100K's 19 genres).
    pub fn declare(&mut self, label: &str) {
        self.vocab.insert(label);
    }
    /// The finished column.
    pub fn finish(self) -> FeatureValues {
        let mut offsets = Vec::with_capacity(self.n + 1);
        offsets.push(0);
        let mut labels = Vec::new();
        let mut weights = Vec::new();
        for row in self.rows {
            for (l, w) in row {
                labels.push(l);
                weights.push(w);
            }
            offsets.push(labels.len());
        }
        FeatureValues::Categorical {
            vocab: self.vocab,
            offsets,
            labels,
            weights,
        }
    }
}

impl FeatureTable {
    /// An empty table for `n` entities.
    pub fn new(n: usize) -> Self {
        FeatureTable {
            n,
            columns: Vec::new(),
        }
    }
    /// Number of entities.
    pub fn len(&self) -> usize {
        self.n
    }
    /// True when the table has no column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
    /// A builder for a categorical column of this table's length.
    pub fn categorical_builder(&self) -> CategoricalBuilder {
        CategoricalBuilder {
            n: self.n,
            vocab: IdMap::new(),
            rows: vec![Vec::new(); self.n],
        }
    }
    /// Adds (or replaces) a column; its length must match.
    pub fn add(&mut self, name: &str, values: FeatureValues) -> Result<()> {
        let len = match &values {
            FeatureValues::Categorical { offsets, .. } => offsets.len().saturating_sub(1),
            FeatureValues::Numeric(v) => v.len(),
            FeatureValues::Text(v) => v.len(),
        };
        if len != self.n {
            return Err(Error::Shape(format!(
                "feature `{name}` has {len} rows, table has {}",
                self.n
            )));
        }
        self.columns.retain(|c| c.name != name);
        self.columns.push(FeatureColumn {
            name: name.to_string(),
            values,
        });
        Ok(())
    }
    /// Adds a text column.
    pub fn add_text(&mut self, name: &str, values: Vec<Option<String>>) -> Result<()> {
        self.add(name, FeatureValues::Text(values))
    }
    /// Adds a numeric column.
    pub fn add_numeric(&mut self, name: &str, values: Vec<Option<f32>>) -> Result<()> {
        self.add(name, FeatureValues::Numeric(values))
    }
    /// All columns.
    pub fn columns(&self) -> &[FeatureColumn] {
        &self.columns
    }
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&FeatureValues> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.values)
    }
    /// Labels of entity `e` in categorical column `name`.
    pub fn labels(&self, name: &str, e: usize) -> Option<Vec<&str>> {
        match self.column(name)? {
            FeatureValues::Categorical {
                vocab,
                offsets,
                labels,
                ..
            } if e < self.n => Some(
                labels[offsets[e]..offsets[e + 1]]
                    .iter()
                    .filter_map(|&l| vocab.id(l))
                    .collect(),
            ),
            _ => None,
        }
    }
    /// Vocabulary size of categorical column `name`.
    pub fn vocab_len(&self, name: &str) -> Option<usize> {
        match self.column(name)? {
            FeatureValues::Categorical { vocab, .. } => Some(vocab.len()),
            FeatureValues::Numeric(_) | FeatureValues::Text(_) => None,
        }
    }
    /// Text of entity `e` in text column `name`.
    pub fn text(&self, name: &str, e: usize) -> Option<&str> {
        match self.column(name)? {
            FeatureValues::Text(v) => v.get(e)?.as_deref(),
            FeatureValues::Categorical { .. } | FeatureValues::Numeric(_) => None,
        }
    }
    /// Number of entity `e` in numeric column `name`.
    pub fn number(&self, name: &str, e: usize) -> Option<f32> {
        match self.column(name)? {
            FeatureValues::Numeric(v) => *v.get(e)?,
            FeatureValues::Categorical { .. } | FeatureValues::Text(_) => None,
        }
    }
    /// Grows the table to `n` entities, new ones having no labels and missing values.
    pub fn grow(&mut self, n: usize) {
        if n <= self.n {
            return;
        }
        for c in &mut self.columns {
            match &mut c.values {
                FeatureValues::Categorical {
                    offsets, labels, ..
                } => offsets.resize(n + 1, labels.len()),
                FeatureValues::Numeric(v) => v.resize(n, None),
                FeatureValues::Text(v) => v.resize(n, None),
            }
        }
        self.n = n;
    }
    /// Checks a table decoded from a file: every column has one entry per entity, categorical offsets are
    /// monotone and in bounds, labels index the vocabulary, weights and numbers are finite.
    pub fn validate(&self) -> Result<()> {
        use crate::validate as v;
        for c in &self.columns {
            let what = format!("feature column `{}`", c.name);
            match &c.values {
                FeatureValues::Categorical {
                    vocab,
                    offsets,
                    labels,
                    weights,
                } => {
                    v::offsets(&what, offsets, self.n, labels.len())?;
                    v::len(&format!("{what} weights"), weights.len(), labels.len())?;
                    v::indices(&format!("{what} labels"), labels, vocab.len())?;
                    v::finite_f32(&format!("{what} weights"), weights)?;
                    vocab.validate(&what)?;
                }
                FeatureValues::Numeric(x) => {
                    v::len(&what, x.len(), self.n)?;
                    v::ensure(x.iter().flatten().all(|f| f.is_finite()), || {
                        format!("{what} holds a number that is not finite")
                    })?;
                }
                FeatureValues::Text(x) => v::len(&what, x.len(), self.n)?,
            }
        }
        Ok(())
    }

    /// Rebuilds the vocabularies' reverse indices after deserialisation.
    pub fn rebuild_index(&mut self) {
        for c in &mut self.columns {
            if let FeatureValues::Categorical { vocab, .. } = &mut c.values {
                vocab.rebuild_index();
            }
        }
    }
}
