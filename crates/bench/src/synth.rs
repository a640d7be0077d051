//! Seeded synthetic catalogues of embedding-like vectors for `bench-ann` (the index crate's recall tests
//! keep their own copy in `crates/index/tests/common/`).
//!
//! Real item embeddings (matrix-factorisation factors, text embeddings) are clustered and their norms vary
//! (popular items get longer factors), which is what makes inner-product search hard for a graph; i.i.d.
//! Gaussian vectors have neither property.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A clustered catalogue and the user-like queries that go with it.
///
/// Cluster centres are `N(0, I/dim)` (length about 1). Item `i` picks centre `c` (skewed: centre
/// `⌊clusters·u²⌋` for uniform `u`, so low-numbered clusters are larger) and is
/// `s · (c + item_noise · z)` with `z ~ N(0, I/dim)` and a log-normal length factor
/// `s = exp(norm_spread · N(0, 1))`. A query is `c + query_noise · z` around a centre picked the same way.
///
/// ```
/// use tastebud_bench::synth::Clustered;
/// let (items, queries) = Clustered::new(1000, 16).clusters(10).generate(5);
/// assert_eq!((items.len(), queries.len()), (1000 * 16, 5 * 16));
/// assert_eq!(items, Clustered::new(1000, 16).clusters(10).generate(5).0); // seeded
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Clustered {
    items: usize,
    dim: usize,
    clusters: usize,
    item_noise: f32,
    query_noise: f32,
    norm_spread: f32,
    seed: u64,
}

impl Clustered {
    /// `items` vectors of dimension `dim`, with the defaults below.
    pub fn new(items: usize, dim: usize) -> Self {
        Clustered {
            items,
            dim,
            clusters: 256,
            item_noise: 1.0,
            query_noise: 0.5,
            norm_spread: 0.5,
            seed: 42,
        }
    }

    /// Number of cluster centres (at least 1). By default, 256.
    pub fn clusters(mut self, n: usize) -> Self {
        self.clusters = n.max(1);
        self
    }

    /// Spread of items around their centre, relative to the centre's length (1: as long as the
    /// centre, so clusters overlap). By default, 1.0.
    pub fn item_noise(mut self, x: f32) -> Self {
        self.item_noise = x;
        self
    }

    /// Spread of queries around their centre. By default, 0.5.
    pub fn query_noise(mut self, x: f32) -> Self {
        self.query_noise = x;
        self
    }

    /// Standard deviation of the log of the items' length factor (0: no variation). By default, 0.5.
    pub fn norm_spread(mut self, x: f32) -> Self {
        self.norm_spread = x;
        self
    }

    /// The random seed. By default, 42.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The items (row-major `items x dim`) and `queries` queries (row-major `queries x dim`).
    pub fn generate(&self, queries: usize) -> (Vec<f32>, Vec<f32>) {
        let dim = self.dim;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let scale = 1.0 / (dim as f32).sqrt();
        let gauss = |rng: &mut ChaCha8Rng| rng.sample::<f32, _>(StandardNormal) * scale;
        let centres: Vec<f32> = (0..self.clusters * dim).map(|_| gauss(&mut rng)).collect();
        let pick = |rng: &mut ChaCha8Rng| {
            let u: f32 = rng.random();
            ((u * u * self.clusters as f32) as usize).min(self.clusters - 1)
        };
        let mut items = Vec::with_capacity(self.items * dim);
        for _ in 0..self.items {
            let c = &centres[pick(&mut rng) * dim..][..dim];
            let s = (self.norm_spread * rng.sample::<f32, _>(StandardNormal)).exp();
            for &x in c {
                items.push(s * (x + self.item_noise * gauss(&mut rng)));
            }
        }
        let mut qs = Vec::with_capacity(queries * dim);
        for _ in 0..queries {
            let c = &centres[pick(&mut rng) * dim..][..dim];
            for &x in c {
                qs.push(x + self.query_noise * gauss(&mut rng));
            }
        }
        (items, qs)
    }
}
