//! Nearest-neighbour search over item embeddings: the top-k items whose vectors score highest against a
//! query vector (a user's factors, or an item's for "similar items").
//!
//! - [`VectorIndex`] is the one search interface: `search(query, k, filter)` returns [`Hit`]s, **higher
//!   score first, equal scores by lower id**; the filter says which ids may be returned (to skip what a
//!   user has already seen).
//! - [`ExactIndex`] is brute force over a row-major matrix: the reference every approximate index is
//!   measured against, and the right choice for small catalogues.
//! - [`HnswIndex`] is an HNSW graph (the [usearch](https://github.com/unum-cloud/usearch) library, `f32`
//!   storage) configured by [`HnswParams`], with recall measured against [`ExactIndex`] in the tests and in
//!   the `bench-ann` program (crate `tastebud-bench`).
//! - [`AnyIndex`] picks one of the two by catalogue size ([`IndexOptions`]) and gives one `save`/`load`
//!   (see [`format`](mod@format) for the on-disk layout).
//! - [`Metric`] is the similarity: inner product (MIPS, for matrix-factorisation models) or cosine.
//!
//! ```
//! use tastebud_index::{AnyIndex, IndexOptions, Metric, VectorIndex};
//! // Three 2-d item vectors, row-major.
//! let items = vec![1.0, 0.0,   0.6, 0.8,   0.0, 1.0];
//! let index = AnyIndex::build(items, 2, Metric::Cosine, &IndexOptions::default())?;
//! let hits = index.search(&[0.0, 2.0], 2, None)?;
//! assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2, 1]);
//! assert!((hits[0].score - 1.0).abs() < 1e-6);
//! // Skip item 2 (say, the user has seen it).
//! let hits = index.search(&[0.0, 2.0], 1, Some(&|id| id != 2))?;
//! assert_eq!(hits[0].id, 1);
//! # Ok::<(), tastebud_index::IndexError>(())
//! ```

pub mod any;
pub mod error;
pub mod exact;
pub mod format;
pub mod hnsw;
mod hnsw_params;
pub mod metric;
mod simd;

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use any::{AnyIndex, IndexOptions};
pub use error::{IndexError, Result};
pub use exact::ExactIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use metric::{Metric, dot};

/// One search result: an item id (the row of its vector) and its similarity. **Higher is better.**
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The item's id: the row of its vector in the matrix the index was built from.
    pub id: u32,
    /// Its similarity to the query under the index's [`Metric`].
    pub score: f32,
}

impl Hit {
    /// `Less` when `self` ranks before `other`: higher score first, then lower id.
    #[inline]
    pub fn rank_cmp(&self, other: &Hit) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.id.cmp(&other.id))
    }
}

/// Which ids a search may return: `true` for allowed ids.
pub type Filter<'a> = &'a (dyn Fn(u32) -> bool + Sync);

/// A searchable set of item vectors.
pub trait VectorIndex: Send + Sync {
    /// The vectors' dimension.
    fn dim(&self) -> usize;

    /// The number of items.
    fn len(&self) -> usize;

    /// True when the index holds no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (up to) `k` best items for `query` among those `filter` allows, best first, equal scores by
    /// lower id. A `k` larger than the catalogue returns every allowed item (an approximate index returns
    /// those it reaches, which for a connected graph is all of them).
    ///
    /// Fails, without panicking, when `query` does not have [`dim`](Self::dim) values or holds a NaN or
    /// infinity.
    fn search(&self, query: &[f32], k: usize, filter: Option<Filter<'_>>) -> Result<Vec<Hit>>;

    /// [`search`](Self::search) for each row of a row-major batch of queries, in parallel.
    fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<Filter<'_>>,
    ) -> Result<Vec<Vec<Hit>>> {
        let dim = self.dim();
        if dim == 0 || !queries.len().is_multiple_of(dim) {
            return Err(IndexError::Shape(format!(
                "{} query values is not a whole number of {dim}-dimensional vectors",
                queries.len()
            )));
        }
        queries
            .par_chunks_exact(dim)
            .enumerate()
            .map(|(row, q)| {
                self.search(q, k, filter).map_err(|e| match e {
                    IndexError::NonFinite { what, .. } => IndexError::NonFinite { what, row },
                    other => other,
                })
            })
            .collect()
    }
}

/// Recall@k of `approx` against `exact`: the fraction of the exact top-k ids the approximate answer
/// found, averaged over queries (a query with an empty exact answer counts as 1).
pub fn recall_at_k(approx: &[Vec<Hit>], exact: &[Vec<Hit>], k: usize) -> f64 {
    assert_eq!(approx.len(), exact.len(), "one answer per query");
    if exact.is_empty() {
        return 1.0;
    }
    let total: f64 = approx
        .iter()
        .zip(exact)
        .map(|(a, e)| {
            let e = &e[..e.len().min(k)];
            if e.is_empty() {
                return 1.0;
            }
            let a = &a[..a.len().min(k)];
            let found = e.iter().filter(|h| a.iter().any(|x| x.id == h.id)).count();
            found as f64 / e.len() as f64
        })
        .sum();
    total / exact.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The indexes can be shared across threads (a server holds them in an `Arc`).
    #[test]
    fn indexes_are_send_and_sync() {
        fn is<T: Send + Sync>() {}
        is::<ExactIndex>();
        is::<HnswIndex>();
        is::<AnyIndex>();
        is::<Box<dyn VectorIndex>>();
    }

    #[test]
    fn recall_counts_found_ids() {
        let h = |id| Hit { id, score: 0.0 };
        let exact = vec![vec![h(1), h(2)], vec![h(3)], vec![]];
        let approx = vec![vec![h(2), h(9)], vec![h(3)], vec![h(4)]];
        assert_eq!(recall_at_k(&approx, &exact, 2), (0.5 + 1.0 + 1.0) / 3.0);
    }
}
