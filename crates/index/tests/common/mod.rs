//! The tests' synthetic catalogue: the generator of `tastebud_bench::synth::Clustered` (what `bench-ann`
//! searches) with its default noise and spread, kept here so the library exposes no test data.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// `items` clustered vectors of dimension `dim` around `clusters` centres (skewed sizes, log-normal
/// lengths) and `queries` queries near the same centres, row-major, seeded.
pub fn clustered(
    items: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
    queries: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (item_noise, query_noise, norm_spread) = (1.0f32, 0.5f32, 0.5f32);
    let clusters = clusters.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scale = 1.0 / (dim as f32).sqrt();
    let gauss = |rng: &mut ChaCha8Rng| rng.sample::<f32, _>(StandardNormal) * scale;
    let centres: Vec<f32> = (0..clusters * dim).map(|_| gauss(&mut rng)).collect();
    let pick = |rng: &mut ChaCha8Rng| {
        let u: f32 = rng.random();
        ((u * u * clusters as f32) as usize).min(clusters - 1)
    };
    let mut out = Vec::with_capacity(items * dim);
    for _ in 0..items {
        let c = &centres[pick(&mut rng) * dim..][..dim];
        let s = (norm_spread * rng.sample::<f32, _>(StandardNormal)).exp();
        for &x in c {
            out.push(s * (x + item_noise * gauss(&mut rng)));
        }
    }
    let mut qs = Vec::with_capacity(queries * dim);
    for _ in 0..queries {
        let c = &centres[pick(&mut rng) * dim..][..dim];
        for &x in c {
            qs.push(x + query_noise * gauss(&mut rng));
        }
    }
    (out, qs)
}
