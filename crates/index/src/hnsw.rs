//! Approximate search with an HNSW graph (usearch).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use rayon::prelude::*;
use usearch::{MetricKind, ScalarKind};

use crate::error::{IndexError, Result, usearch};
use crate::format::{self, Header, Kind};
use crate::hnsw_params::check_expansion;
use crate::metric::{Metric, check_matrix, check_query};
use crate::simd;
use crate::{Filter, Hit, VectorIndex};

pub use crate::hnsw_params::HnswParams;

/// An HNSW graph over `f32` vectors: approximate search, 10-1000x faster than
/// [`ExactIndex`](crate::ExactIndex) on large catalogues at a recall@10 above 0.95 (see BENCHMARKS.md).
///
/// Wraps [usearch](https://github.com/unum-cloud/usearch) with `f32` storage (not its BF16 default) and
/// its inner-product metric; cosine rows and queries are normalised first, which makes the two the same.
/// usearch returns the distance `1 - q·x`, computed on the stored `f32` vectors, which this type turns back
/// into the similarity `q·x` (higher is better). That distance is computed by this crate's own kernel
/// (AVX2 + FMA where the CPU has them), installed through usearch's custom-metric hook: usearch's built-in
/// one runs on baseline SSE in this build (BENCHMARKS.md, "ANN vs FAISS").
///
/// Searches may run from any number of threads at once: usearch needs one scratch context per concurrent
/// call, so the index reserves [`threads`](Self::threads) of them and a further concurrent call waits for a
/// free one. A parallel build is not deterministic (insertion order follows thread scheduling); a saved
/// index is.
///
/// ```
/// use tastebud_index::{HnswIndex, HnswParams, Metric, VectorIndex};
/// let items: Vec<f32> = (0..1000).flat_map(|i| [(i as f32).cos(), (i as f32).sin()]).collect();
/// let index = HnswIndex::build(&items, 2, Metric::InnerProduct, &HnswParams::new())?;
/// let hits = index.search(&[1.0, 0.0], 3, Some(&|id| id != 0))?;
/// assert_eq!(hits.len(), 3);
/// assert!(hits.iter().all(|h| h.id != 0 && h.score > 0.99));
/// # Ok::<(), tastebud_index::IndexError>(())
/// ```
pub struct HnswIndex {
    inner: usearch::Index,
    dim: usize,
    metric: Metric,
    len: usize,
    params: HnswParams,
    slots: Slots,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dim", &self.dim)
            .field("metric", &self.metric)
            .field("len", &self.len)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// Builds a graph over `vectors`, a row-major `n x dim` matrix whose row `i` is item `i`, adding rows
    /// from all rayon threads. Fails on bad parameters, a bad shape, or a NaN or infinite value.
    pub fn build(vectors: &[f32], dim: usize, metric: Metric, params: &HnswParams) -> Result<Self> {
        Self::build_with_progress(vectors, dim, metric, params, &|_| {})
    }

    /// [`build`](Self::build), calling `progress` with the number of items added so far (every 1024 items
    /// and at the end, from any thread).
    pub fn build_with_progress(
        vectors: &[f32],
        dim: usize,
        metric: Metric,
        params: &HnswParams,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Self> {
        params.validate()?;
        let n = check_matrix(vectors, dim, "item")?;
        let mut index = Self::empty(dim, metric, params)?;
        index.install_metric();
        usearch(
            index
                .inner
                .reserve_capacity_and_threads(n, index.slots.total),
        )?;
        let done = AtomicU64::new(0);
        vectors
            .par_chunks_exact(dim)
            .enumerate()
            .try_for_each_init(
                || vec![0.0f32; dim],
                |buf, (i, row)| {
                    let row = match metric {
                        Metric::InnerProduct => row,
                        Metric::Cosine => {
                            buf.copy_from_slice(row);
                            metric.preprocess(buf);
                            &buf[..]
                        }
                    };
                    {
                        let _slot = index.slots.acquire();
                        usearch(index.inner.add(i as u64, row))?;
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if d.is_multiple_of(1024) || d == n as u64 {
                        progress(d);
                    }
                    Ok::<(), IndexError>(())
                },
            )?;
        Ok(HnswIndex { len: n, ..index })
    }

    /// A new, empty usearch index; `len` 0 and no capacity reserved.
    fn empty(dim: usize, metric: Metric, params: &HnswParams) -> Result<Self> {
        let options = usearch::IndexOptions {
            dimensions: dim,
            // Cosine is inner product on normalised rows; see the type's doc.
            metric: MetricKind::IP,
            // usearch's default is BF16, which would cost recall and break exact re-scoring.
            quantization: ScalarKind::F32,
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        };
        let inner = usearch(usearch::Index::new(&options))?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(rayon::current_num_threads());
        Ok(HnswIndex {
            inner,
            dim,
            metric,
            len: 0,
            params: params.clone(),
            slots: Slots::new(threads),
        })
    }

    /// Replaces usearch's built-in inner product (4-lane SSE without FMA in this build) with
    /// [`simd::ip_distance_fn`]: the same distance `1 - q·x`, on AVX2 + FMA where the CPU has them.
    fn install_metric(&mut self) {
        self.inner
            .change_metric::<f32>(simd::ip_distance_fn(self.dim));
    }

    /// The similarity this index ranks by.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The graph parameters, with the current `expansion_search`.
    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// How many searches (or adds) can run at once without waiting: the larger of the machine's
    /// parallelism and rayon's thread count when the index was built or loaded.
    pub fn threads(&self) -> usize {
        self.slots.total
    }

    /// Changes `ef`, the search-time candidate list size (see [`HnswParams::expansion_search`]).
    pub fn set_expansion_search(&mut self, ef: usize) -> Result<()> {
        check_expansion("expansion_search", ef)?;
        self.inner.change_expansion_search(ef);
        self.params.expansion_search = ef;
        Ok(())
    }

    /// Bytes of memory the graph and its vectors use, as usearch counts them.
    pub fn memory_usage(&self) -> usize {
        self.inner.memory_usage()
    }

    /// Writes the index to the folder `dir` (created if missing); see [`crate::format`](mod@crate::format).
    pub fn save(&self, dir: &Path) -> Result<()> {
        format::create_dir(dir)?;
        let path = dir.join(format::GRAPH_FILE);
        usearch(self.inner.save(utf8(&path)?))?;
        Header::new(
            Kind::Hnsw,
            self.dim,
            self.metric,
            self.len,
            Some(self.params.clone()),
        )
        .write(dir)
    }

    /// Reads an index that [`save`](Self::save) wrote.
    pub fn load(dir: &Path) -> Result<Self> {
        let header = Header::read(dir)?;
        header.expect_kind(dir, Kind::Hnsw)?;
        Self::load_with(dir, &header)
    }

    pub(crate) fn load_with(dir: &Path, header: &Header) -> Result<Self> {
        let params = header.hnsw.clone().ok_or_else(|| {
            IndexError::format(dir.join(format::HEADER_FILE), "no `hnsw` parameters")
        })?;
        params.validate()?;
        let path = dir.join(format::GRAPH_FILE);
        let path_str = utf8(&path)?;
        if !path.is_file() {
            return Err(IndexError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let meta = usearch::Index::metadata(path_str)
            .map_err(|e| IndexError::format(&path, format!("not a usearch file: {e}")))?;
        let expected = (header.dim as u64, header.len as u64);
        let found = (meta.dimensions, meta.count_present);
        if found != expected
            || meta.metric != MetricKind::IP
            || meta.quantization != ScalarKind::F32
            || meta.count_deleted != 0
        {
            return Err(IndexError::format(
                &path,
                format!(
                    "holds {} vectors of dimension {} ({:?}, {:?}), the header says {} of dimension {} \
                     (IP, F32)",
                    meta.count_present,
                    meta.dimensions,
                    meta.metric,
                    meta.quantization,
                    header.len,
                    header.dim
                ),
            ));
        }
        let mut index = Self::empty(header.dim, header.metric, &params)?;
        usearch(index.inner.load(path_str))?;
        // Loading restores usearch's built-in metric from the file's header; put ours back.
        index.install_metric();
        // The file stores neither ef value nor a thread count; restore both.
        index.inner.change_expansion_add(params.expansion_add);
        index.inner.change_expansion_search(params.expansion_search);
        usearch(
            index
                .inner
                .reserve_capacity_and_threads(header.len, index.slots.total),
        )?;
        index.len = index.inner.size();
        Ok(index)
    }
}

impl VectorIndex for HnswIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.len
    }

    fn search(&self, query: &[f32], k: usize, filter: Option<Filter<'_>>) -> Result<Vec<Hit>> {
        check_query(query, self.dim)?;
        // Clamped: usearch allocates `k` result slots up front.
        let k = k.min(self.len);
        if k == 0 {
            return Ok(Vec::new());
        }
        let normalised;
        let query = match self.metric {
            Metric::InnerProduct => query,
            Metric::Cosine => {
                let mut q = query.to_vec();
                self.metric.preprocess(&mut q);
                normalised = q;
                &normalised
            }
        };
        let matches = {
            let _slot = self.slots.acquire();
            match filter {
                None => usearch(self.inner.search(query, k))?,
                Some(allow) => usearch(
                    self.inner
                        .filtered_search(query, k, |key| allow(key as u32)),
                )?,
            }
        };
        let mut hits: Vec<Hit> = matches
            .keys
            .iter()
            .zip(&matches.distances)
            .map(|(&key, &distance)| Hit {
                id: key as u32,
                score: 1.0 - distance,
            })
            .collect();
        hits.sort_unstable_by(Hit::rank_cmp);
        Ok(hits)
    }
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| IndexError::format(path, "usearch needs a UTF-8 path and this one is not"))
}

/// A counting semaphore over usearch's per-thread scratch contexts: usearch fails a call ("Reserve
/// capacity ahead of searches!") rather than wait when all of them are taken.
struct Slots {
    total: usize,
    free: Mutex<usize>,
    released: Condvar,
}

struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn new(total: usize) -> Self {
        Slots {
            total,
            free: Mutex::new(total),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_validated() {
        assert!(HnswParams::new().validate().is_ok());
        for bad in [
            HnswParams::new().connectivity(1),
            HnswParams::new().connectivity(5000),
            HnswParams::new().expansion_add(0),
            HnswParams::new().expansion_search(0),
        ] {
            assert!(matches!(
                HnswIndex::build(&[1.0, 2.0], 2, Metric::Cosine, &bad),
                Err(IndexError::InvalidParam { .. })
            ));
        }
    }

    #[test]
    fn small_index_finds_everything_and_handles_edges() {
        // Distinct directions on an arc (under a full turn: no near-duplicates).
        let v: Vec<f32> = (0..200)
            .flat_map(|i| [(i as f32 * 0.03).cos(), (i as f32 * 0.03).sin(), 0.5])
            .collect();
        // Built on one thread: a parallel build's graph varies from run to run (insertion order), and an
        // approximate search of it missed up to 13 of 200 items under load; one thread makes it repeatable.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut index = one
            .install(|| HnswIndex::build(&v, 3, Metric::Cosine, &HnswParams::new()))
            .unwrap();
        assert_eq!(index.len(), 200);
        // k above n is clamped and returns (nearly) every allowed item, best first, each once.
        let all = index.search(&[1.0, 0.0, 0.0], 1000, None).unwrap();
        assert!(all.len() >= 190 && all.len() <= 200, "{}", all.len());
        assert!(all.windows(2).all(|w| w[0].rank_cmp(&w[1]).is_lt()));
        let odd = index
            .search(&[1.0, 0.0, 0.0], 1000, Some(&|id| id % 2 == 1))
            .unwrap();
        assert!(odd.len() >= 95 && odd.len() <= 100, "{}", odd.len());
        assert!(odd.iter().all(|h| h.id % 2 == 1));
        assert!(index.search(&[1.0, 0.0, 0.0], 0, None).unwrap().is_empty());
        assert!(matches!(
            index.search(&[1.0, 0.0], 1, None),
            Err(IndexError::Dimension { .. })
        ));
        assert!(matches!(
            index.search(&[f32::NAN, 0.0, 0.0], 1, None),
            Err(IndexError::NonFinite { .. })
        ));
        assert!(index.set_expansion_search(0).is_err());
        index.set_expansion_search(200).unwrap();
        assert_eq!(index.params().get_expansion_search(), 200);
        // Cosine scores: a unit-length row of the catalogue itself scores 1 against itself.
        let hit = index.search(&v[30..33], 1, None).unwrap()[0];
        assert_eq!(hit.id, 10);
        assert!((hit.score - 1.0).abs() < 1e-5);
    }

    #[test]
    fn empty_index_searches_to_nothing() {
        let index = HnswIndex::build(&[], 4, Metric::InnerProduct, &HnswParams::new()).unwrap();
        assert!(index.is_empty());
        assert!(index.search(&[0.0; 4], 5, None).unwrap().is_empty());
    }

    #[test]
    fn many_concurrent_searches_wait_for_a_slot() {
        let v: Vec<f32> = (0..500)
            .flat_map(|i| [(i as f32).cos(), (i as f32).sin()])
            .collect();
        let index = HnswIndex::build(&v, 2, Metric::InnerProduct, &HnswParams::new()).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 * index.threads() + 3 {
                s.spawn(|| {
                    for _ in 0..50 {
                        assert_eq!(index.search(&[1.0, 0.0], 5, None).unwrap().len(), 5);
                    }
                });
            }
        });
    }
}
