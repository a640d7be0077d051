//! One index type for callers that should not care which kind they hold.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::exact::ExactIndex;
use crate::format::{Header, Kind};
use crate::hnsw::{HnswIndex, HnswParams};
use crate::metric::Metric;
use crate::{Filter, Hit, VectorIndex};

/// How [`AnyIndex::build`] chooses and configures an index.
///
/// ```
/// use tastebud_index::{HnswParams, IndexOptions};
/// let opts = IndexOptions::new().ann_min_items(50_000).hnsw(HnswParams::new().expansion_search(128));
/// assert_eq!(opts.get_ann_min_items(), 50_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndexOptions {
    ann_min_items: usize,
    hnsw: HnswParams,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            ann_min_items: 20_000,
            hnsw: HnswParams::default(),
        }
    }
}

impl IndexOptions {
    /// The defaults: brute force below 20,000 items, [`HnswParams::default`] from there.
    pub fn new() -> Self {
        Self::default()
    }

    /// Catalogues with fewer items than this are searched exactly: below a few tens of thousands of items,
    /// brute force is about as fast as a graph, exact, and needs no build. `usize::MAX` always searches
    /// exactly; 0 always builds a graph. By default, 20,000.
    pub fn ann_min_items(mut self, n: usize) -> Self {
        self.ann_min_items = n;
        self
    }

    /// Parameters of the graph, when one is built. By default, [`HnswParams::default`].
    pub fn hnsw(mut self, params: HnswParams) -> Self {
        self.hnsw = params;
        self
    }

    /// The exact/approximate threshold.
    pub fn get_ann_min_items(&self) -> usize {
        self.ann_min_items
    }

    /// The graph parameters.
    pub fn get_hnsw(&self) -> &HnswParams {
        &self.hnsw
    }
}

/// An [`ExactIndex`] or an [`HnswIndex`], chosen by catalogue size, with one `save`/`load`.
#[derive(Debug)]
pub enum AnyIndex {
    /// Brute force.
    Exact(ExactIndex),
    /// An HNSW graph.
    Hnsw(HnswIndex),
}

impl AnyIndex {
    /// Builds an exact index when `vectors` (row-major, `n x dim`) has fewer than
    /// [`ann_min_items`](IndexOptions::ann_min_items) rows, an HNSW graph otherwise. The graph parameters
    /// are checked first either way, so a bad configuration fails on a small catalogue too.
    pub fn build(
        vectors: Vec<f32>,
        dim: usize,
        metric: Metric,
        opts: &IndexOptions,
    ) -> Result<Self> {
        opts.hnsw.validate()?;
        let n = vectors.len().checked_div(dim).unwrap_or(0);
        if n < opts.ann_min_items {
            ExactIndex::new(vectors, dim, metric).map(AnyIndex::Exact)
        } else {
            HnswIndex::build(&vectors, dim, metric, &opts.hnsw).map(AnyIndex::Hnsw)
        }
    }

    /// `"exact"` or `"hnsw"`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyIndex::Exact(_) => "exact",
            AnyIndex::Hnsw(_) => "hnsw",
        }
    }

    /// The similarity this index ranks by.
    pub fn metric(&self) -> Metric {
        match self {
            AnyIndex::Exact(i) => i.metric(),
            AnyIndex::Hnsw(i) => i.metric(),
        }
    }

    /// Writes the index to the folder `dir`; see [`crate::format`](mod@crate::format).
    pub fn save(&self, dir: &Path) -> Result<()> {
        match self {
            AnyIndex::Exact(i) => i.save(dir),
            AnyIndex::Hnsw(i) => i.save(dir),
        }
    }

    /// Reads an index of either kind that `save` wrote.
    pub fn load(dir: &Path) -> Result<Self> {
        let header = Header::read(dir)?;
        match header.kind {
            Kind::Exact => ExactIndex::load_with(dir, &header).map(AnyIndex::Exact),
            Kind::Hnsw => HnswIndex::load_with(dir, &header).map(AnyIndex::Hnsw),
        }
    }

    fn inner(&self) -> &dyn VectorIndex {
        match self {
            AnyIndex::Exact(i) => i,
            AnyIndex::Hnsw(i) => i,
        }
    }
}

impl VectorIndex for AnyIndex {
    fn dim(&self) -> usize {
        self.inner().dim()
    }

    fn len(&self) -> usize {
        self.inner().len()
    }

    fn search(&self, query: &[f32], k: usize, filter: Option<Filter<'_>>) -> Result<Vec<Hit>> {
        self.inner().search(query, k, filter)
    }
}
