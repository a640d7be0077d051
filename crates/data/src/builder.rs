//! Accumulating interactions and features from readers into a [`Dataset`].

use tastebud_core::{
    Dataset, DatasetMeta, Error, FeatureTable, Feedback, IdMap, Interactions, ItemMap, Result,
    Triplets, UserMap,
};

/// How many malformed-line errors are kept as examples when bad lines are skipped.
pub const MAX_KEPT_ERRORS: usize = 10;

/// Options shared by every reader.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Skip malformed lines (counted and reported) instead of failing on the first one.
    pub skip_bad_lines: bool,
    /// Override the dataset's natural feedback kind (e.g. read MovieLens ratings as implicit).
    pub kind: Option<Feedback>,
}

/// Malformed lines met while loading (only when [`LoadOptions::skip_bad_lines`] is set).
#[derive(Debug, Default)]
pub struct BadLines {
    /// How many lines were skipped.
    pub count: u64,
    /// The first few, as errors naming file, line and reason.
    pub examples: Vec<Error>,
}

impl BadLines {
    /// Records one bad line: an error when skipping is off, a count otherwise.
    pub fn record(&mut self, opts: &LoadOptions, err: Error) -> Result<()> {
        if !opts.skip_bad_lines {
            return Err(err);
        }
        self.count += 1;
        if self.examples.len() < MAX_KEPT_ERRORS {
            self.examples.push(err);
        }
        Ok(())
    }
}

/// Collects interactions (in blocks), id maps and features, then builds a [`Dataset`].
///
/// Id maps may be filled before interactions (from an item catalogue such as `u.item`), which fixes the item
/// order to the catalogue's and keeps items nobody interacted with.
#[derive(Debug)]
pub struct DatasetBuilder {
    /// External user ids.
    pub users: IdMap,
    /// External item ids.
    pub items: IdMap,
    /// Interaction blocks in input order.
    pub blocks: Vec<Triplets>,
    /// Natural feedback kind of the source.
    pub kind: Feedback,
    /// Item side information, keyed by item index (grown to the final item count at build time).
    pub item_features: Option<FeatureTable>,
    /// User side information, keyed by user index.
    pub user_features: Option<FeatureTable>,
    /// Skipped lines.
    pub bad: BadLines,
    /// Options in force.
    pub opts: LoadOptions,
}

impl DatasetBuilder {
    /// An empty builder for a source of the given natural kind.
    pub fn new(kind: Feedback, opts: &LoadOptions) -> Self {
        DatasetBuilder {
            users: IdMap::new(),
            items: IdMap::new(),
            blocks: Vec::new(),
            kind,
            item_features: None,
            user_features: None,
            bad: BadLines::default(),
            opts: opts.clone(),
        }
    }

    /// Number of interaction rows collected so far (before deduplication).
    pub fn rows(&self) -> usize {
        self.blocks.iter().map(Triplets::len).sum()
    }

    /// Builds the dataset. Fails when no interaction was read (`source` names what was read).
    pub fn finish(self, name: &str, source: &str) -> Result<Dataset> {
        self.finish_inner(name, source, false)
    }

    /// Like [`Self::finish`] but an empty interaction set is allowed (a test file of a split may be empty).
    pub fn finish_allow_empty(self, name: &str, source: &str) -> Result<Dataset> {
        self.finish_inner(name, source, true)
    }

    fn finish_inner(self, name: &str, source: &str, allow_empty: bool) -> Result<Dataset> {
        if !allow_empty && self.rows() == 0 {
            return Err(Error::BadInput {
                path: source.into(),
                reason: "no interactions found (empty input?)".into(),
            });
        }
        let kind = self.opts.kind.unwrap_or(self.kind);
        let (n_users, n_items) = (self.users.len(), self.items.len());
        let x = Interactions::from_blocks(n_users, n_items, self.blocks, kind)?;
        let grow = |f: Option<FeatureTable>, n: usize| {
            f.map(|mut t| {
                t.grow(n);
                t
            })
        };
        Dataset::new(
            DatasetMeta {
                name: name.to_string(),
                source: source.to_string(),
                skipped_lines: self.bad.count,
            },
            UserMap(self.users),
            ItemMap(self.items),
            x,
            grow(self.item_features, n_items),
            grow(self.user_features, n_users),
        )
    }
}
