//! Seeded simulations of the A/B statistics: false-positive rate, power, peeking, SRM, CUPED.
//! Run with `--nocapture` to see the measured rates.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, Normal};
use tastebud_experiment::stats::*;

/// 99 % normal-approximation interval of a binomial rate `p` over `n` trials.
fn binomial_99(p: f64, n: usize) -> (f64, f64) {
    let half = 2.576 * (p * (1.0 - p) / n as f64).sqrt();
    (p - half, p + half)
}

fn draw(rng: &mut ChaCha8Rng, n: u64, p: f64) -> Proportion {
    let s = Binomial::new(n, p).unwrap().sample(rng);
    Proportion::new(s, n).unwrap()
}

#[test]
fn aa_false_positive_rate_is_nominal() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let runs = 2000;
    let mut rejections = 0;
    for _ in 0..runs {
        let c = draw(&mut rng, 10_000, 0.1);
        let t = draw(&mut rng, 10_000, 0.1);
        if two_proportion_ztest(c, t, 0.95).unwrap().p_value < 0.05 {
            rejections += 1;
        }
    }
    let rate = rejections as f64 / runs as f64;
    let (lo, hi) = binomial_99(0.05, runs);
    eprintln!("A/A z-test false-positive rate: {rate:.4} (99% band [{lo:.4}, {hi:.4}])");
    assert!(lo <= rate && rate <= hi, "{rate}");
}

#[test]
fn planned_ab_has_planned_power() {
    let (base, effect) = (0.10, Effect::Relative(0.10));
    let n = sample_size_proportions(base, effect, 0.05, 0.8)
        .unwrap()
        .per_arm;
    let planned = power_proportions(base, effect, n as f64, 0.05).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let runs = 2000;
    let mut hits = 0;
    for _ in 0..runs {
        let c = draw(&mut rng, n, 0.10);
        let t = draw(&mut rng, n, 0.11);
        if two_proportion_ztest(c, t, 0.95).unwrap().p_value < 0.05 {
            hits += 1;
        }
    }
    let power = hits as f64 / runs as f64;
    eprintln!("n = {n} per arm: simulated power {power:.4}, calculator {planned:.4}");
    assert!((power - planned).abs() < 0.03, "{power} vs {planned}");
}

/// A/A experiments looked at 50 times: stopping at the first naive p < 0.05 inflates the
/// false-positive rate; the always-valid mSPRT p-value does not.
#[test]
fn peeking_inflates_naive_rate_but_not_msprt() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let (runs, looks, batch, p) = (1000, 50, 200u64, 0.1);
    let (mut naive, mut seq) = (0, 0);
    for _ in 0..runs {
        let (mut sc, mut st, mut n) = (0, 0, 0);
        let mut msprt = Msprt::new(0.01f64.powi(2), 0.05).unwrap();
        let (mut naive_hit, mut seq_hit) = (false, false);
        for _ in 0..looks {
            let bc = Binomial::new(batch, p).unwrap().sample(&mut rng);
            let bt = Binomial::new(batch, p).unwrap().sample(&mut rng);
            (sc, st, n) = (sc + bc, st + bt, n + batch);
            let (c, t) = (
                Proportion::new(sc, n).unwrap(),
                Proportion::new(st, n).unwrap(),
            );
            naive_hit |= two_proportion_ztest(c, t, 0.95).unwrap().p_value < 0.05;
            seq_hit |= msprt.observe_proportions(c, t).unwrap().reject;
        }
        naive += naive_hit as usize;
        seq += seq_hit as usize;
    }
    let (naive, seq) = (naive as f64 / runs as f64, seq as f64 / runs as f64);
    let (_, hi) = binomial_99(0.05, runs);
    eprintln!("50 peeks, A/A: naive z-test false-positive rate {naive:.3}, mSPRT {seq:.3}");
    assert!(naive > 0.15, "naive peeking should inflate: {naive}");
    assert!(seq <= hi, "mSPRT should stay at or below 5%: {seq}");
}

#[test]
fn msprt_detects_a_real_effect() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let runs = 200;
    let mut detected = 0;
    for _ in 0..runs {
        let mut m = Msprt::new(0.02f64.powi(2), 0.05).unwrap();
        let (mut sc, mut st, mut n) = (0, 0, 0);
        for _ in 0..50 {
            sc += Binomial::new(200, 0.10).unwrap().sample(&mut rng);
            st += Binomial::new(200, 0.12).unwrap().sample(&mut rng);
            n += 200;
            let look = m
                .observe_proportions(
                    Proportion::new(sc, n).unwrap(),
                    Proportion::new(st, n).unwrap(),
                )
                .unwrap();
            if look.reject {
                detected += 1;
                assert!(
                    look.ci.low > 0.0,
                    "rejecting look must exclude 0: {:?}",
                    look.ci
                );
                break;
            }
        }
    }
    let rate = detected as f64 / runs as f64;
    eprintln!("mSPRT power for 10% → 12% within 10,000 per arm: {rate:.3}");
    assert!(rate > 0.7, "{rate}");
}

#[test]
fn srm_fires_on_biased_split_only() {
    // The brief's example: 5000 vs 5300 on a 50/50 design is p ≈ 0.0031 — an SRM at α = 0.01
    // but not at the conventional 0.001. Ten times the traffic makes it unmistakable.
    let r = srm_test(&[5000, 5300], &[0.5, 0.5]).unwrap();
    assert!((r.p_value - 0.003_116_693_839_866_867).abs() < 1e-12);
    assert!(srm_flag(r.p_value, 0.01) && !r.flagged());
    assert!(srm_test(&[50_000, 53_000], &[0.5, 0.5]).unwrap().flagged());
    assert!(!srm_test(&[5000, 5080], &[0.5, 0.5]).unwrap().flagged());

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let runs = 1000;
    let n = 20_000;
    let (mut fair, mut biased) = (0, 0);
    for _ in 0..runs {
        let a = Binomial::new(n, 0.5).unwrap().sample(&mut rng);
        fair += srm_test(&[a, n - a], &[1.0, 1.0]).unwrap().flagged() as usize;
        let b = Binomial::new(n, 0.52).unwrap().sample(&mut rng);
        biased += srm_test(&[b, n - b], &[1.0, 1.0]).unwrap().flagged() as usize;
    }
    let (fair, biased) = (fair as f64 / runs as f64, biased as f64 / runs as f64);
    eprintln!("SRM flag rate: fair 50/50 split {fair:.3}, 52/48 split {biased:.3} (n = {n})");
    assert!(fair <= 0.005, "{fair}");
    assert!(biased >= 0.95, "{biased}");
}

#[test]
fn cuped_narrows_the_interval_without_bias() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let noise = Normal::new(0.0, 1.0).unwrap();
    let (reps, n, effect) = (200, 1000, 0.1);
    let (mut covered, mut sum_est, mut sum_vr, mut width_ratio) = (0, 0.0, 0.0, 0.0);
    for _ in 0..reps {
        let arms: Vec<(Vec<f64>, Vec<f64>)> = [0.0, effect]
            .iter()
            .map(|e| {
                let x: Vec<f64> = (0..n).map(|_| 5.0 + 2.0 * noise.sample(&mut rng)).collect();
                let y = x
                    .iter()
                    .map(|xi| e + 0.8 * xi + noise.sample(&mut rng))
                    .collect();
                (x, y)
            })
            .collect();
        let pooled_y: Vec<f64> = arms.iter().flat_map(|(_, y)| y.clone()).collect();
        let pooled_x: Vec<f64> = arms.iter().flat_map(|(x, _)| x.clone()).collect();
        let cuped = Cuped::fit(&pooled_y, &pooled_x).unwrap();
        let adj: Vec<Vec<f64>> = arms
            .iter()
            .map(|(x, y)| cuped.adjust(y, x).unwrap())
            .collect();
        let raw = welch_t_test_samples(&arms[0].1, &arms[1].1, 0.95).unwrap();
        let cup = welch_t_test_samples(&adj[0], &adj[1], 0.95).unwrap();
        let all_adj = cuped.adjust(&pooled_y, &pooled_x).unwrap();
        sum_vr += variance_reduction(&pooled_y, &all_adj).unwrap();
        covered += cup.ci.contains(effect) as usize;
        sum_est += cup.difference;
        width_ratio += cup.ci.width() / raw.ci.width();
    }
    let r = reps as f64;
    let (coverage, mean_est, vr, width_ratio) =
        (covered as f64 / r, sum_est / r, sum_vr / r, width_ratio / r);
    eprintln!(
        "CUPED over {reps} A/B tests: variance reduction {vr:.3}, CI width ratio {width_ratio:.3}, \
         mean estimate {mean_est:.4} (true {effect}), coverage {coverage:.3}"
    );
    // Var(Y) = 0.64·4 + 1 = 3.56 and Var(Y | X) = 1: expect 1 - 1/3.56 ≈ 0.72 less variance
    // and intervals √(1/3.56) ≈ 0.53 as wide
    assert!((vr - 0.719).abs() < 0.02, "{vr}");
    assert!((width_ratio - 0.53).abs() < 0.03, "{width_ratio}");
    // sd of one estimate ≈ √(2/1000) ≈ 0.045; of the mean of 200 ≈ 0.0032
    assert!((mean_est - effect).abs() < 0.01, "{mean_est}");
    let (lo, hi) = binomial_99(0.95, reps);
    assert!(lo <= coverage && coverage <= hi, "{coverage}");
}
