//! Brute-force search: the reference implementation.

use std::path::Path;

use rayon::prelude::*;
use tastebud_core::{ItemIdx, TopK};

use crate::error::Result;
use crate::format::{self, Header, Kind};
use crate::metric::{Metric, check_matrix, check_query, dot};
use crate::{Filter, Hit, VectorIndex};

/// Exact search: scores every item against the query and keeps the best `k` in a bounded heap.
///
/// One query costs `n x dim` multiply-adds (a 1M x 64 catalogue is about 10 ms on one core), so use it
/// for catalogues up to some tens of thousands of items, and as the ground truth for
/// [`HnswIndex`](crate::HnswIndex). [`search_batch`](VectorIndex::search_batch) runs queries in parallel.
///
/// ```
/// use tastebud_index::{ExactIndex, Metric, VectorIndex};
/// let index = ExactIndex::new(vec![1.0, 2.0, 3.0, 1.0, 0.5, 0.5], 2, Metric::InnerProduct)?;
/// let hits = index.search(&[1.0, 1.0], 2, None)?;
/// assert_eq!((hits[0].id, hits[0].score), (1, 4.0));
/// assert_eq!((hits[1].id, hits[1].score), (0, 3.0));
/// # Ok::<(), tastebud_index::IndexError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ExactIndex {
    dim: usize,
    metric: Metric,
    /// Row-major `n x dim`, already [`Metric::preprocess`]ed.
    vectors: Vec<f32>,
}

impl ExactIndex {
    /// An index over `vectors`, a row-major `n x dim` matrix whose row `i` is item `i`. Fails when the
    /// length is not a multiple of `dim`, `dim` is 0, or a value is NaN or infinite. Cosine normalises
    /// the rows in place.
    pub fn new(mut vectors: Vec<f32>, dim: usize, metric: Metric) -> Result<Self> {
        check_matrix(&vectors, dim, "item")?;
        if metric != Metric::InnerProduct {
            vectors
                .chunks_exact_mut(dim)
                .for_each(|row| metric.preprocess(row));
        }
        Ok(ExactIndex {
            dim,
            metric,
            vectors,
        })
    }

    /// The similarity this index ranks by.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The stored row-major vectors (unit length under cosine).
    pub fn vectors(&self) -> &[f32] {
        &self.vectors
    }

    /// The stored vector of item `id`, if there is one.
    pub fn vector(&self, id: u32) -> Option<&[f32]> {
        let start = (id as usize).checked_mul(self.dim)?;
        self.vectors.get(start..start + self.dim)
    }

    /// Writes the index to the folder `dir` (created if missing); see [`crate::format`](mod@crate::format).
    pub fn save(&self, dir: &Path) -> Result<()> {
        format::create_dir(dir)?;
        format::write_f32s(&dir.join(format::VECTORS_FILE), &self.vectors)?;
        Header::new(Kind::Exact, self.dim, self.metric, self.len(), None).write(dir)
    }

    /// Reads an index that [`save`](Self::save) wrote.
    pub fn load(dir: &Path) -> Result<Self> {
        let header = Header::read(dir)?;
        header.expect_kind(dir, Kind::Exact)?;
        Self::load_with(dir, &header)
    }

    pub(crate) fn load_with(dir: &Path, header: &Header) -> Result<Self> {
        let path = dir.join(format::VECTORS_FILE);
        let vectors = format::read_f32s(&path, header.len * header.dim)?;
        let n = check_matrix(&vectors, header.dim, "item")?;
        debug_assert_eq!(n, header.len);
        Ok(ExactIndex {
            dim: header.dim,
            metric: header.metric,
            vectors,
        })
    }
}

impl VectorIndex for ExactIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.vectors.len() / self.dim
    }

    fn search(&self, query: &[f32], k: usize, filter: Option<Filter<'_>>) -> Result<Vec<Hit>> {
        check_query(query, self.dim)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = query.to_vec();
        self.metric.preprocess(&mut q);
        let mut top = TopK::new(k.min(self.len()));
        let rows = self.vectors.chunks_exact(self.dim).enumerate();
        match filter {
            None => rows.for_each(|(i, row)| top.push(ItemIdx(i as u32), dot(&q, row))),
            Some(allow) => rows
                .filter(|&(i, _)| allow(i as u32))
                .for_each(|(i, row)| top.push(ItemIdx(i as u32), dot(&q, row))),
        }
        Ok(top
            .into_sorted()
            .into_iter()
            .map(|s| Hit {
                id: s.item.0,
                score: s.score,
            })
            .collect())
    }

    /// Scores a block of up to 8 queries in one pass over the catalogue, so that a large catalogue is
    /// read from memory once per block rather than once per query (a 1M x 64 catalogue is 256 MB, and
    /// one query's pass is bound by memory bandwidth). Blocks run in parallel; the answers are identical
    /// to [`search`](VectorIndex::search)'s.
    fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<Filter<'_>>,
    ) -> Result<Vec<Vec<Hit>>> {
        let dim = self.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(crate::IndexError::Shape(format!(
                "{} query values is not a whole number of {dim}-dimensional vectors",
                queries.len()
            )));
        }
        let mut qs = queries.to_vec();
        for (row, q) in qs.chunks_exact_mut(dim).enumerate() {
            check_query(q, dim).map_err(|_| crate::IndexError::NonFinite { what: "query", row })?;
            self.metric.preprocess(q);
        }
        let nq = qs.len() / dim;
        if k == 0 || self.is_empty() {
            return Ok(vec![Vec::new(); nq]);
        }
        const MAX_BLOCK: usize = 8;
        let block = nq
            .div_ceil(rayon::current_num_threads())
            .clamp(1, MAX_BLOCK);
        let k = k.min(self.len());
        let answers: Vec<Vec<Vec<Hit>>> = qs
            .par_chunks(block * dim)
            .map(|block| {
                let mut tops: Vec<TopK> = (0..block.len() / dim).map(|_| TopK::new(k)).collect();
                for (i, row) in self.vectors.chunks_exact(dim).enumerate() {
                    if filter.is_some_and(|allow| !allow(i as u32)) {
                        continue;
                    }
                    for (top, q) in tops.iter_mut().zip(block.chunks_exact(dim)) {
                        top.push(ItemIdx(i as u32), dot(q, row));
                    }
                }
                tops.into_iter()
                    .map(|top| {
                        top.into_sorted()
                            .into_iter()
                            .map(|s| Hit {
                                id: s.item.0,
                                score: s.score,
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Ok(answers.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::IndexError;

    /// Sort-and-truncate oracle, scores in f64 to be independent of the kernel.
    fn oracle(v: &[f32], dim: usize, q: &[f32], k: usize, allow: &dyn Fn(u32) -> bool) -> Vec<u32> {
        let mut all: Vec<(f32, u32)> = v
            .chunks_exact(dim)
            .enumerate()
            .filter(|&(i, _)| allow(i as u32))
            .map(|(i, r)| (dot(q, r), i as u32))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(k).map(|(_, i)| i).collect()
    }

    #[test]
    fn equals_sort_and_truncate_on_random_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for case in 0..200 {
            let dim = rng.random_range(1..40);
            let n = rng.random_range(0..300);
            // Small integers make many exact ties, which exercises the id tie-break.
            let v: Vec<f32> = (0..n * dim)
                .map(|_| rng.random_range(-3..=3) as f32)
                .collect();
            let q: Vec<f32> = (0..dim).map(|_| rng.random_range(-3..=3) as f32).collect();
            let k = rng.random_range(0..n + 5);
            let modulus = rng.random_range(1..5u32);
            let index = ExactIndex::new(v.clone(), dim, Metric::InnerProduct).unwrap();
            let allow = move |id: u32| !id.is_multiple_of(modulus) || modulus == 1;
            let got: Vec<u32> = index
                .search(&q, k, Some(&allow))
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            assert_eq!(got, oracle(&v, dim, &q, k, &allow), "case {case}");
            let got: Vec<u32> = index
                .search(&q, k, None)
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            assert_eq!(got, oracle(&v, dim, &q, k, &|_| true), "case {case}");
        }
    }

    #[test]
    fn ties_by_lower_id_k_zero_and_k_above_n() {
        let index =
            ExactIndex::new(vec![1.0, 2.0, 1.0, 1.0, 2.0], 1, Metric::InnerProduct).unwrap();
        let ids = |k| -> Vec<u32> {
            index
                .search(&[1.0], k, None)
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect()
        };
        assert_eq!(ids(3), vec![1, 4, 0]);
        assert_eq!(ids(0), Vec::<u32>::new());
        assert_eq!(ids(100), vec![1, 4, 0, 2, 3]);
        let every_other = index
            .search(&[1.0], 100, Some(&|id| id.is_multiple_of(2)))
            .unwrap();
        assert_eq!(
            every_other.iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![4, 0, 2]
        );
        let none = index.search(&[1.0], 100, Some(&|_| false)).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn bad_queries_and_matrices_are_errors() {
        let index = ExactIndex::new(vec![1.0; 6], 3, Metric::Cosine).unwrap();
        assert!(matches!(
            index.search(&[1.0, 2.0], 1, None),
            Err(IndexError::Dimension {
                expected: 3,
                got: 2
            })
        ));
        assert!(matches!(
            index.search(&[1.0, f32::NAN, 0.0], 1, None),
            Err(IndexError::NonFinite { what: "query", .. })
        ));
        assert!(matches!(
            index.search_batch(&[1.0, 0.0, 0.0, 1.0, f32::INFINITY, 0.0], 1, None),
            Err(IndexError::NonFinite {
                what: "query",
                row: 1
            })
        ));
        assert!(matches!(
            ExactIndex::new(vec![1.0; 5], 3, Metric::Cosine),
            Err(IndexError::Shape(_))
        ));
        assert!(matches!(
            ExactIndex::new(vec![], 0, Metric::Cosine),
            Err(IndexError::Shape(_))
        ));
        assert!(matches!(
            ExactIndex::new(vec![0.0, 1.0, f32::NAN, 0.0], 2, Metric::Cosine),
            Err(IndexError::NonFinite {
                what: "item",
                row: 1
            })
        ));
    }

    #[test]
    fn cosine_scores_are_cosines() {
        let index =
            ExactIndex::new(vec![3.0, 4.0, 0.0, 0.0, -1.0, 0.0], 2, Metric::Cosine).unwrap();
        let hits = index.search(&[10.0, 0.0], 3, None).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!((hits[0].score - 0.6).abs() < 1e-6);
        assert_eq!(hits[1].score, 0.0);
        assert!((hits[2].score + 1.0).abs() < 1e-6);
    }

    #[test]
    fn batch_equals_single() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let v: Vec<f32> = (0..500 * 8).map(|_| rng.random::<f32>() - 0.5).collect();
        let qs: Vec<f32> = (0..21 * 8).map(|_| rng.random::<f32>() - 0.5).collect();
        for metric in [Metric::InnerProduct, Metric::Cosine] {
            let index = ExactIndex::new(v.clone(), 8, metric).unwrap();
            let odd = |id: u32| id % 2 == 1;
            for (k, filter) in [
                (7, None),
                (7, Some(&odd as Filter<'_>)),
                (600, Some(&odd)),
                (0, None),
            ] {
                let batch = index.search_batch(&qs, k, filter).unwrap();
                assert_eq!(batch.len(), 21);
                for (q, b) in qs.chunks_exact(8).zip(&batch) {
                    assert_eq!(&index.search(q, k, filter).unwrap(), b);
                }
            }
        }
    }
}
